// Conversions of the scalar types (bool, integers, floats, strings, bytea, uuid, json,
// jsonb), the type-name table, and parameter construction.
#include <qail/client/detail/types_numeric.hpp>
#include <qail/client/detail/types_wire.hpp>
#include <qail/client/types.hpp>

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace qail::client {
namespace {

using boost::system::in_place_value;
using boost::system::result;
using detail::mismatch;

[[nodiscard]] constexpr std::int32_t effective(std::int32_t type_oid, std::int32_t natural) {
    return type_oid == 0 ? natural : type_oid;
}

[[nodiscard]] int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

constexpr std::string_view hex_digits = "0123456789abcdef";

void append_hex(std::string& out, unsigned char b) {
    out.push_back(hex_digits[b >> 4U]);
    out.push_back(hex_digits[b & 0x0FU]);
}

// ---------------------------------------------------------------------------------
// Integers.

/// int2in/int4in/int8in/oidin syntax: surrounding spaces, an optional sign, decimal digits.
[[nodiscard]] bool parse_int64(std::string_view text, std::int64_t& v) noexcept {
    text = detail::wire::trim_space(text);
    if (!text.empty() && text.front() == '+') {
        text.remove_prefix(1);
        if (!text.empty() && text.front() == '-')
            return false;
    }
    const char* end = text.data() + text.size();
    const auto [p, ec] = std::from_chars(text.data(), end, v);
    return ec == std::errc{} && p == end;
}

/// The binary width of an integer type; 0 for a type integers do not read.
[[nodiscard]] constexpr std::size_t int_width(std::int32_t type_oid) noexcept {
    switch (type_oid) {
    case oid::int2:
        return 2;
    case oid::int4:
    case oid::oid:
        return 4;
    case oid::int8:
        return 8;
    default:
        return 0;
    }
}

template <class T>
[[nodiscard]] result<T> narrow_int(std::int64_t v) noexcept {
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
        return mismatch;
    return {in_place_value, static_cast<T>(v)};
}

template <class T>
void int_to_text(T v, std::string& out) {
    std::array<char, 24> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), r.ptr);
}

template <class T>
[[nodiscard]] result<T> int_from_text(std::string_view text, std::int32_t type_oid) noexcept {
    if (int_width(effective(type_oid, value_traits<T>::oid)) == 0)
        return mismatch;
    std::int64_t v = 0;
    if (!parse_int64(text, v))
        return mismatch;
    return narrow_int<T>(v);
}

template <class T>
[[nodiscard]] result<T> int_from_binary(std::string_view bytes, std::int32_t type_oid) noexcept {
    const auto t = effective(type_oid, value_traits<T>::oid);
    const auto width = int_width(t);
    if (width == 0 || bytes.size() != width)
        return mismatch;
    std::int64_t v = 0;
    if (t == oid::int2)
        v = detail::wire::load_i16(bytes.data());
    else if (t == oid::int4)
        v = detail::wire::load_i32(bytes.data());
    else if (t == oid::oid)
        v = detail::wire::load_be<std::uint32_t>(bytes.data()); // oid is unsigned
    else
        v = detail::wire::load_i64(bytes.data());
    return narrow_int<T>(v);
}

// ---------------------------------------------------------------------------------
// Floats.

/// float4in/float8in's special spellings: NaN, [+-]Infinity, [+-]inf, in any case.
template <class F>
[[nodiscard]] bool parse_special_float(std::string_view text, F& v) noexcept {
    if (detail::wire::iequals(text, "nan")) {
        v = std::numeric_limits<F>::quiet_NaN();
        return true;
    }
    bool negative = false;
    if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
        negative = text.front() == '-';
        text.remove_prefix(1);
    }
    if (detail::wire::iequals(text, "infinity") || detail::wire::iequals(text, "inf")) {
        v = negative ? -std::numeric_limits<F>::infinity() : std::numeric_limits<F>::infinity();
        return true;
    }
    return false;
}

/// Decimal text (fixed or scientific) or a special spelling; out-of-range is refused as
/// float4in/float8in refuse it (subnormals are accepted).
template <class F>
[[nodiscard]] bool parse_float(std::string_view text, F& v) noexcept {
    text = detail::wire::trim_space(text);
    if (parse_special_float(text, v))
        return true;
    if (!text.empty() && text.front() == '+') {
        text.remove_prefix(1);
        if (!text.empty() && text.front() == '-')
            return false;
    }
    const char* end = text.data() + text.size();
    const auto [p, ec] = std::from_chars(text.data(), end, v, std::chars_format::general);
    return ec == std::errc{} && p == end;
}

/// A double as float: NaN and infinities carry over, finite values must round to a finite
/// float (below FLT_MAX plus half an ulp).
[[nodiscard]] result<float> narrow_float(double d) noexcept {
    if (std::isnan(d))
        return {in_place_value, std::numeric_limits<float>::quiet_NaN()};
    if (std::isinf(d))
        return {in_place_value, d > 0 ? std::numeric_limits<float>::infinity()
                                      : -std::numeric_limits<float>::infinity()};
    constexpr double limit = static_cast<double>(std::numeric_limits<float>::max()) +
                             0x1p103; // half an ulp of FLT_MAX (2^127 * 2^-24)
    if (!(std::fabs(d) < limit))
        return mismatch;
    return {in_place_value, static_cast<float>(d)};
}

template <class F>
void float_to_text(F v, std::string& out) {
    if (std::isnan(v)) {
        out.append("NaN");
    } else if (std::isinf(v)) {
        out.append(v > 0 ? "Infinity" : "-Infinity");
    } else {
        std::array<char, 64> buf{};
        const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
        out.append(buf.data(), r.ptr);
    }
}

template <class F>
[[nodiscard]] result<F> float_from_text_as(std::string_view text) noexcept {
    F v{};
    if (!parse_float(text, v))
        return mismatch;
    return {in_place_value, v};
}

/// A binary numeric as F, through its exact decimal text.
template <class F>
[[nodiscard]] result<F> float_from_numeric_binary(std::string_view bytes) {
    std::string text;
    if (!detail::numeric_binary_to_text(bytes, text))
        return mismatch;
    return float_from_text_as<F>(text);
}

[[nodiscard]] double load_double(const char* p) noexcept {
    return std::bit_cast<double>(detail::wire::load_be<std::uint64_t>(p));
}
[[nodiscard]] float load_float(const char* p) noexcept {
    return std::bit_cast<float>(detail::wire::load_be<std::uint32_t>(p));
}

// ---------------------------------------------------------------------------------
// Strings.

/// Types whose binary form is their text (textsend and friends).
[[nodiscard]] constexpr bool is_textual_binary(std::int32_t type_oid) noexcept {
    switch (type_oid) {
    case oid::text:
    case oid::varchar:
    case oid::bpchar:
    case oid::name:
    case oid::char_:
    case oid::json:
    case oid::xml:
    case oid::unknown:
        return true;
    default:
        return false;
    }
}

/// The text inside a binary value of a textual type, or inside jsonb's version-1 envelope.
[[nodiscard]] result<std::string_view> text_of_binary(std::string_view bytes,
                                                      std::int32_t type_oid) noexcept {
    const auto t = effective(type_oid, oid::text);
    if (t == oid::jsonb) {
        if (bytes.empty() || bytes.front() != '\x01')
            return mismatch;
        return {in_place_value, bytes.substr(1)};
    }
    if (!is_textual_binary(t))
        return mismatch;
    return {in_place_value, bytes};
}

// ---------------------------------------------------------------------------------
// bytea.

/// byteain's hex format after the "\x": pairs of hex digits, whitespace between pairs.
[[nodiscard]] bool bytea_hex_decode(std::string_view hex, std::string& out) {
    out.reserve(hex.size() / 2);
    std::size_t i = 0;
    while (i < hex.size()) {
        const char c = hex[i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            ++i;
            continue;
        }
        if (i + 1 >= hex.size())
            return false;
        const int hi = hex_value(c);
        const int lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out.push_back(static_cast<char>(static_cast<unsigned char>(hi * 16 + lo)));
        i += 2;
    }
    return true;
}

/// byteain's legacy escape format: \ooo octal (first digit 0-3), \\ for a backslash, every
/// other byte literal.
[[nodiscard]] bool bytea_escape_decode(std::string_view text, std::string& out) {
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (c != '\\') {
            out.push_back(c);
            ++i;
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '\\') {
            out.push_back('\\');
            i += 2;
            continue;
        }
        if (i + 3 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '3' && text[i + 2] >= '0' &&
            text[i + 2] <= '7' && text[i + 3] >= '0' && text[i + 3] <= '7') {
            const int v = (text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0');
            out.push_back(static_cast<char>(static_cast<unsigned char>(v)));
            i += 4;
            continue;
        }
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------
// Type names.

struct type_name_entry {
    std::int32_t type_oid;
    std::string_view name;
};

constexpr std::array<type_name_entry, 42> type_names{{
    {oid::bool_, "bool"},
    {oid::bytea, "bytea"},
    {oid::char_, "char"},
    {oid::name, "name"},
    {oid::int8, "int8"},
    {oid::int2, "int2"},
    {oid::int4, "int4"},
    {oid::text, "text"},
    {oid::oid, "oid"},
    {oid::json, "json"},
    {oid::xml, "xml"},
    {oid::float4, "float4"},
    {oid::float8, "float8"},
    {oid::unknown, "unknown"},
    {oid::bpchar, "bpchar"},
    {oid::varchar, "varchar"},
    {oid::date, "date"},
    {oid::timestamp, "timestamp"},
    {oid::timestamptz, "timestamptz"},
    {oid::numeric, "numeric"},
    {oid::uuid, "uuid"},
    {oid::jsonb, "jsonb"},
    {oid::_json, "_json"},
    {oid::_bool, "_bool"},
    {oid::_bytea, "_bytea"},
    {oid::_char, "_char"},
    {oid::_name, "_name"},
    {oid::_int2, "_int2"},
    {oid::_int4, "_int4"},
    {oid::_text, "_text"},
    {oid::_bpchar, "_bpchar"},
    {oid::_varchar, "_varchar"},
    {oid::_int8, "_int8"},
    {oid::_float4, "_float4"},
    {oid::_float8, "_float8"},
    {oid::_oid, "_oid"},
    {oid::_timestamp, "_timestamp"},
    {oid::_date, "_date"},
    {oid::_timestamptz, "_timestamptz"},
    {oid::_numeric, "_numeric"},
    {oid::_uuid, "_uuid"},
    {oid::_jsonb, "_jsonb"},
}};

} // namespace

std::string_view type_name(std::int32_t type_oid) noexcept {
    for (const auto& e : type_names)
        if (e.type_oid == type_oid)
            return e.name;
    return "unknown";
}

// ---------------------------------------------------------------------------------
// bool

void value_traits<bool>::to_text(const bool& v, std::string& out) {
    out.push_back(v ? 't' : 'f');
}

void value_traits<bool>::to_binary(const bool& v, std::string& out) {
    out.push_back(v ? '\x01' : '\x00');
}

result<bool> value_traits<bool>::from_text(std::string_view text, std::int32_t type_oid) {
    if (effective(type_oid, oid) != oid)
        return mismatch;
    // parse_bool_with_len: a word or any unique prefix of it, in any case.
    text = detail::wire::trim_space(text);
    if (text.empty())
        return mismatch;
    const auto prefix_of = [&](std::string_view word, std::size_t min_length) {
        if (text.size() < min_length || text.size() > word.size())
            return false;
        for (std::size_t i = 0; i < text.size(); ++i)
            if (detail::wire::ascii_lower(text[i]) != word[i])
                return false;
        return true;
    };
    if (prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || text == "1")
        return {in_place_value, true};
    if (prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || text == "0")
        return {in_place_value, false};
    return mismatch;
}

result<bool> value_traits<bool>::from_binary(std::string_view bytes, std::int32_t type_oid) {
    if (effective(type_oid, oid) != oid || bytes.size() != 1)
        return mismatch;
    return {in_place_value, bytes.front() != '\0'}; // boolrecv: any nonzero byte is true
}

// ---------------------------------------------------------------------------------
// Integers

void value_traits<std::int16_t>::to_text(const std::int16_t& v, std::string& out) {
    int_to_text(v, out);
}
void value_traits<std::int16_t>::to_binary(const std::int16_t& v, std::string& out) {
    detail::wire::put_i16(out, v);
}
result<std::int16_t> value_traits<std::int16_t>::from_text(std::string_view text,
                                                           std::int32_t type_oid) {
    return int_from_text<std::int16_t>(text, type_oid);
}
result<std::int16_t> value_traits<std::int16_t>::from_binary(std::string_view bytes,
                                                             std::int32_t type_oid) {
    return int_from_binary<std::int16_t>(bytes, type_oid);
}

void value_traits<std::int32_t>::to_text(const std::int32_t& v, std::string& out) {
    int_to_text(v, out);
}
void value_traits<std::int32_t>::to_binary(const std::int32_t& v, std::string& out) {
    detail::wire::put_i32(out, v);
}
result<std::int32_t> value_traits<std::int32_t>::from_text(std::string_view text,
                                                           std::int32_t type_oid) {
    return int_from_text<std::int32_t>(text, type_oid);
}
result<std::int32_t> value_traits<std::int32_t>::from_binary(std::string_view bytes,
                                                             std::int32_t type_oid) {
    return int_from_binary<std::int32_t>(bytes, type_oid);
}

void value_traits<std::int64_t>::to_text(const std::int64_t& v, std::string& out) {
    int_to_text(v, out);
}
void value_traits<std::int64_t>::to_binary(const std::int64_t& v, std::string& out) {
    detail::wire::put_i64(out, v);
}
result<std::int64_t> value_traits<std::int64_t>::from_text(std::string_view text,
                                                           std::int32_t type_oid) {
    return int_from_text<std::int64_t>(text, type_oid);
}
result<std::int64_t> value_traits<std::int64_t>::from_binary(std::string_view bytes,
                                                             std::int32_t type_oid) {
    return int_from_binary<std::int64_t>(bytes, type_oid);
}

// ---------------------------------------------------------------------------------
// Floats

void value_traits<float>::to_text(const float& v, std::string& out) {
    float_to_text(v, out);
}

void value_traits<float>::to_binary(const float& v, std::string& out) {
    detail::wire::put_be(out, std::bit_cast<std::uint32_t>(v));
}

result<float> value_traits<float>::from_text(std::string_view text, std::int32_t type_oid) {
    switch (effective(type_oid, oid)) {
    case oid::float4:
    case oid::numeric:
        return float_from_text_as<float>(text); // rounds once, from decimal
    case oid::float8: {
        const auto d = float_from_text_as<double>(text);
        if (!d)
            return mismatch;
        return narrow_float(*d);
    }
    default:
        return mismatch;
    }
}

result<float> value_traits<float>::from_binary(std::string_view bytes, std::int32_t type_oid) {
    switch (effective(type_oid, oid)) {
    case oid::float4:
        if (bytes.size() != 4)
            return mismatch;
        return {in_place_value, load_float(bytes.data())};
    case oid::float8:
        if (bytes.size() != 8)
            return mismatch;
        return narrow_float(load_double(bytes.data()));
    case oid::numeric:
        return float_from_numeric_binary<float>(bytes);
    default:
        return mismatch;
    }
}

void value_traits<double>::to_text(const double& v, std::string& out) {
    float_to_text(v, out);
}

void value_traits<double>::to_binary(const double& v, std::string& out) {
    detail::wire::put_be(out, std::bit_cast<std::uint64_t>(v));
}

result<double> value_traits<double>::from_text(std::string_view text, std::int32_t type_oid) {
    switch (effective(type_oid, oid)) {
    case oid::float8:
    case oid::numeric:
        return float_from_text_as<double>(text);
    case oid::float4: {
        // Parse as float4in does, then widen: the same double the binary form gives.
        const auto f = float_from_text_as<float>(text);
        if (!f)
            return mismatch;
        return {in_place_value, static_cast<double>(*f)};
    }
    default:
        return mismatch;
    }
}

result<double> value_traits<double>::from_binary(std::string_view bytes, std::int32_t type_oid) {
    switch (effective(type_oid, oid)) {
    case oid::float8:
        if (bytes.size() != 8)
            return mismatch;
        return {in_place_value, load_double(bytes.data())};
    case oid::float4:
        if (bytes.size() != 4)
            return mismatch;
        return {in_place_value, static_cast<double>(load_float(bytes.data()))};
    case oid::numeric:
        return float_from_numeric_binary<double>(bytes);
    default:
        return mismatch;
    }
}

// ---------------------------------------------------------------------------------
// Strings

void value_traits<std::string>::to_text(const std::string& v, std::string& out) {
    out.append(v);
}
void value_traits<std::string>::to_binary(const std::string& v, std::string& out) {
    out.append(v);
}
result<std::string> value_traits<std::string>::from_text(std::string_view text,
                                                         std::int32_t /*type_oid*/) {
    return {in_place_value, text}; // every type's text form is a string
}
result<std::string> value_traits<std::string>::from_binary(std::string_view bytes,
                                                           std::int32_t type_oid) {
    const auto t = text_of_binary(bytes, type_oid);
    if (!t)
        return mismatch;
    return {in_place_value, *t};
}

void value_traits<std::string_view>::to_text(const std::string_view& v, std::string& out) {
    out.append(v);
}
void value_traits<std::string_view>::to_binary(const std::string_view& v, std::string& out) {
    out.append(v);
}
result<std::string_view> value_traits<std::string_view>::from_text(std::string_view text,
                                                                   std::int32_t /*type_oid*/) {
    return {in_place_value, text};
}
result<std::string_view> value_traits<std::string_view>::from_binary(std::string_view bytes,
                                                                     std::int32_t type_oid) {
    return text_of_binary(bytes, type_oid);
}

// ---------------------------------------------------------------------------------
// bytea

void value_traits<bytea>::to_text(const bytea& v, std::string& out) {
    out.reserve(out.size() + 2 + v.bytes.size() * 2);
    out.append("\\x");
    for (const char c : v.bytes)
        append_hex(out, static_cast<unsigned char>(c));
}

void value_traits<bytea>::to_binary(const bytea& v, std::string& out) {
    out.append(v.bytes);
}

result<bytea> value_traits<bytea>::from_text(std::string_view text, std::int32_t type_oid) {
    if (effective(type_oid, oid) != oid)
        return mismatch;
    bytea v;
    const bool ok = text.starts_with("\\x") ? bytea_hex_decode(text.substr(2), v.bytes)
                                            : bytea_escape_decode(text, v.bytes);
    if (!ok)
        return mismatch;
    return {in_place_value, std::move(v)};
}

result<bytea> value_traits<bytea>::from_binary(std::string_view bytes, std::int32_t type_oid) {
    if (effective(type_oid, oid) != oid)
        return mismatch;
    return {in_place_value, bytea{std::string(bytes)}};
}

// ---------------------------------------------------------------------------------
// uuid

result<uuid> uuid::parse(std::string_view text) noexcept {
    // string_to_uuid: optional braces, a '-' allowed after every second byte but the last.
    uuid u;
    std::size_t i = 0;
    const bool braces = !text.empty() && text.front() == '{';
    if (braces)
        ++i;
    for (std::size_t b = 0; b < u.bytes.size(); ++b) {
        if (i + 1 >= text.size())
            return mismatch;
        const int hi = hex_value(text[i]);
        const int lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0)
            return mismatch;
        u.bytes[b] = static_cast<std::uint8_t>(hi * 16 + lo);
        i += 2;
        if (i < text.size() && text[i] == '-' && b % 2 == 1 && b < u.bytes.size() - 1)
            ++i;
    }
    if (braces) {
        if (i >= text.size() || text[i] != '}')
            return mismatch;
        ++i;
    }
    if (i != text.size())
        return mismatch;
    return {in_place_value, u};
}

std::string uuid::to_string() const {
    std::string out;
    out.reserve(36);
    for (std::size_t b = 0; b < bytes.size(); ++b) {
        if (b == 4 || b == 6 || b == 8 || b == 10)
            out.push_back('-');
        append_hex(out, bytes[b]);
    }
    return out;
}

void value_traits<uuid>::to_text(const uuid& v, std::string& out) {
    out.append(v.to_string());
}

void value_traits<uuid>::to_binary(const uuid& v, std::string& out) {
    for (const auto b : v.bytes)
        out.push_back(static_cast<char>(b));
}

result<uuid> value_traits<uuid>::from_text(std::string_view text, std::int32_t type_oid) {
    if (effective(type_oid, oid) != oid)
        return mismatch;
    return uuid::parse(text);
}

result<uuid> value_traits<uuid>::from_binary(std::string_view bytes, std::int32_t type_oid) {
    if (effective(type_oid, oid) != oid || bytes.size() != 16)
        return mismatch;
    uuid u;
    for (std::size_t b = 0; b < u.bytes.size(); ++b)
        u.bytes[b] = static_cast<std::uint8_t>(bytes[b]);
    return {in_place_value, u};
}

// ---------------------------------------------------------------------------------
// json, jsonb: each reads both types.

namespace {
[[nodiscard]] bool is_json_type(std::int32_t type_oid) noexcept {
    return type_oid == oid::json || type_oid == oid::jsonb;
}
[[nodiscard]] result<std::string> json_from_binary(std::string_view bytes, std::int32_t type_oid) {
    if (!is_json_type(type_oid))
        return mismatch;
    const auto t = text_of_binary(bytes, type_oid);
    if (!t)
        return mismatch;
    return {in_place_value, *t};
}
} // namespace

void value_traits<json>::to_text(const json& v, std::string& out) {
    out.append(v.text);
}
void value_traits<json>::to_binary(const json& v, std::string& out) {
    out.append(v.text);
}
result<json> value_traits<json>::from_text(std::string_view text, std::int32_t type_oid) {
    if (!is_json_type(effective(type_oid, oid)))
        return mismatch;
    return {in_place_value, json{std::string(text)}};
}
result<json> value_traits<json>::from_binary(std::string_view bytes, std::int32_t type_oid) {
    auto t = json_from_binary(bytes, effective(type_oid, oid));
    if (!t)
        return mismatch;
    return {in_place_value, json{std::move(*t)}};
}

void value_traits<jsonb>::to_text(const jsonb& v, std::string& out) {
    out.append(v.text);
}
void value_traits<jsonb>::to_binary(const jsonb& v, std::string& out) {
    out.push_back('\x01'); // jsonb_send's format version
    out.append(v.text);
}
result<jsonb> value_traits<jsonb>::from_text(std::string_view text, std::int32_t type_oid) {
    if (!is_json_type(effective(type_oid, oid)))
        return mismatch;
    return {in_place_value, jsonb{std::string(text)}};
}
result<jsonb> value_traits<jsonb>::from_binary(std::string_view bytes, std::int32_t type_oid) {
    auto t = json_from_binary(bytes, effective(type_oid, oid));
    if (!t)
        return mismatch;
    return {in_place_value, jsonb{std::move(*t)}};
}

// ---------------------------------------------------------------------------------
// Parameters

param to_param(const char* v, protocol::format_code format) {
    if (v == nullptr)
        return {oid::text, format, std::nullopt};
    return to_param(std::string_view{v}, format);
}

param text_param(std::string_view text, std::int32_t type_oid) {
    return {type_oid, protocol::format_code::text, std::string(text)};
}

param null_param(std::int32_t type_oid) {
    return {type_oid, protocol::format_code::text, std::nullopt};
}

} // namespace qail::client
