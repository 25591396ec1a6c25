// Result -> JSON for the HTTP API: PostgreSQL text output mapped to JSON values by type
// OID (numbers kept exact, bytea as base64, ISO-8601 times, arrays parsed recursively).
#include "json_result.hpp"

#include <qail/client/types.hpp>
#include <qail/protocol/base64.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qail::proxy::http {

namespace {

namespace oid = client::oid;

// Types the driver's oid table does not name but results commonly carry.
constexpr std::int32_t oid_time = 1083;
constexpr std::int32_t oid_timetz = 1266;
constexpr std::int32_t oid_interval = 1186;
constexpr std::int32_t oid_time_array = 1183;
constexpr std::int32_t oid_timetz_array = 1270;
constexpr std::int32_t oid_interval_array = 1187;

struct extra_type {
    std::int32_t type_oid;
    std::string_view name;
    std::int32_t element; ///< for array types, else 0
};

constexpr std::array<extra_type, 16> extra_types{{
    {oid_time, "time", 0},
    {oid_timetz, "timetz", 0},
    {oid_interval, "interval", 0},
    {oid_time_array, "_time", oid_time},
    {oid_timetz_array, "_timetz", oid_timetz},
    {oid_interval_array, "_interval", oid_interval},
    {869, "inet", 0},
    {650, "cidr", 0},
    {829, "macaddr", 0},
    {790, "money", 0},
    {1560, "bit", 0},
    {1562, "varbit", 0},
    {3614, "tsvector", 0},
    {2205, "regclass", 0},
    {2249, "record", 0},
    {2278, "void", 0},
}};

/// The element type of an array type, 0 when `type_oid` is not a known array type.
std::int32_t element_type(std::int32_t type_oid) noexcept {
    if (const std::int32_t e = oid::element_of(type_oid); e != 0)
        return e;
    for (const auto& t : extra_types)
        if (t.type_oid == type_oid)
            return t.element;
    return 0;
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

/// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view s) noexcept {
    std::size_t i = 0;
    const auto digits = [&] {
        const std::size_t start = i;
        while (i < s.size() && is_digit(s[i]))
            ++i;
        return i - start;
    };
    if (i < s.size() && s[i] == '-')
        ++i;
    if (i < s.size() && s[i] == '0') {
        ++i;
    } else if (digits() == 0) {
        return false;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (digits() == 0)
            return false;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-'))
            ++i;
        if (digits() == 0)
            return false;
    }
    return i == s.size();
}

/// Whether a numeric_out text (no exponent) is a decimal a double holds exactly enough
/// to print it back: at most 15 significant digits, magnitude well inside double range.
bool numeric_fits_double(std::string_view s) noexcept {
    if (!is_json_number(s))
        return false; // NaN, Infinity
    if (!s.empty() && s.front() == '-')
        s.remove_prefix(1);
    const std::size_t point = s.find('.');
    const std::string_view int_part = s.substr(0, point);
    const std::string_view frac_part =
        point == std::string_view::npos ? std::string_view{} : s.substr(point + 1);
    std::string digits;
    digits.reserve(int_part.size() + frac_part.size());
    digits.append(int_part);
    digits.append(frac_part);
    const std::size_t first = digits.find_first_not_of('0');
    if (first == std::string::npos)
        return true; // zero
    const std::size_t last = digits.find_last_not_of('0');
    const std::size_t significant = last - first + 1;
    // first < int_part.size(): the magnitude is 10^(int digits); else 10^-(leading zeros).
    return significant <= 15 && int_part.size() <= 300 && first <= 300;
}

bool int8_fits_double(std::string_view s) noexcept {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size())
        return false;
    constexpr std::int64_t limit = std::int64_t{1} << 53;
    return v >= -limit && v <= limit;
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// bytea_out's hex ("\x0a0b") or escape ("a\\b\001") format to the bytes.
std::optional<std::string> decode_bytea(std::string_view text) {
    std::string out;
    if (text.size() >= 2 && text[0] == '\\' && text[1] == 'x') {
        text.remove_prefix(2);
        if (text.size() % 2 != 0)
            return std::nullopt;
        out.reserve(text.size() / 2);
        for (std::size_t i = 0; i < text.size(); i += 2) {
            const int hi = hex_value(text[i]);
            const int lo = hex_value(text[i + 1]);
            if (hi < 0 || lo < 0)
                return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
        }
        return out;
    }
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            out.push_back(text[i]);
        } else if (i + 1 < text.size() && text[i + 1] == '\\') {
            out.push_back('\\');
            ++i;
        } else if (i + 3 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '3' &&
                   text[i + 2] >= '0' && text[i + 2] <= '7' && text[i + 3] >= '0' &&
                   text[i + 3] <= '7') {
            out.push_back(static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                                            (text[i + 3] - '0')));
            i += 3;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

/// Date/time text to ISO-8601: 'T' between date and time, a bare "+HH" offset as "+HH:MM".
std::string iso8601(std::string_view text, bool has_date, bool has_zone) {
    std::string out(text);
    std::size_t time_start = 0;
    if (has_date) {
        const std::size_t space = out.find(' ');
        if (space != std::string::npos && space > 0 && space + 1 < out.size() &&
            is_digit(out[space - 1]) && is_digit(out[space + 1])) {
            out[space] = 'T';
            time_start = space + 1;
        } else {
            return out; // infinity, or a date only
        }
    }
    if (has_zone) {
        const std::size_t sign = out.find_last_of("+-");
        if (sign != std::string::npos && sign > time_start && out.size() - sign == 3 &&
            is_digit(out[sign + 1]) && is_digit(out[sign + 2]))
            out += ":00";
    }
    return out;
}

void append_quoted(std::string& out, std::string_view text) {
    append_json_string(out, text);
}

/// array_out text -> JSON array. Returns false (leaving `out` partly written) when the
/// text is not a well-formed array literal.
bool append_array(std::string& out, std::string_view text, std::size_t& pos, std::int32_t element,
                  int depth) {
    if (depth > 6 || pos >= text.size() || text[pos] != '{')
        return false;
    ++pos;
    out.push_back('[');
    bool first = true;
    std::string value;
    for (;;) {
        while (pos < text.size() && text[pos] == ' ')
            ++pos;
        if (pos >= text.size())
            return false;
        if (first && text[pos] == '}') {
            ++pos;
            break;
        }
        if (!first)
            out.push_back(',');
        first = false;
        if (text[pos] == '{') {
            if (!append_array(out, text, pos, element, depth + 1))
                return false;
        } else {
            value.clear();
            bool quoted = false;
            if (text[pos] == '"') {
                quoted = true;
                ++pos;
                for (;;) {
                    if (pos >= text.size())
                        return false;
                    const char c = text[pos++];
                    if (c == '"')
                        break;
                    if (c == '\\') {
                        if (pos >= text.size())
                            return false;
                        value.push_back(text[pos++]);
                    } else {
                        value.push_back(c);
                    }
                }
            } else {
                while (pos < text.size() && text[pos] != ',' && text[pos] != '}') {
                    if (text[pos] == '\\' && pos + 1 < text.size())
                        ++pos;
                    value.push_back(text[pos++]);
                }
                while (!value.empty() && value.back() == ' ')
                    value.pop_back();
            }
            if (!quoted && value.size() == 4 && (value[0] == 'N' || value[0] == 'n') &&
                (value[1] == 'U' || value[1] == 'u') && (value[2] == 'L' || value[2] == 'l') &&
                (value[3] == 'L' || value[3] == 'l')) {
                out += "null";
            } else {
                append_json_value(out, element, value);
            }
        }
        while (pos < text.size() && text[pos] == ' ')
            ++pos;
        if (pos >= text.size())
            return false;
        if (text[pos] == ',') {
            ++pos;
            continue;
        }
        if (text[pos] == '}') {
            ++pos;
            break;
        }
        return false;
    }
    out.push_back(']');
    return true;
}

/// Length of the UTF-8 sequence starting at s[i] if it is valid, else 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0u) == 0x80u; };
    const unsigned char c = b(0);
    if (c < 0x80u)
        return 1;
    if (c >= 0xC2u && c <= 0xDFu)
        return cont(1) ? 2 : 0;
    if (c >= 0xE0u && c <= 0xEFu) {
        if (!cont(1) || !cont(2))
            return 0;
        if ((c == 0xE0u && b(1) < 0xA0u) || (c == 0xEDu && b(1) > 0x9Fu))
            return 0; // overlong, surrogate
        return 3;
    }
    if (c >= 0xF0u && c <= 0xF4u) {
        if (!cont(1) || !cont(2) || !cont(3))
            return 0;
        if ((c == 0xF0u && b(1) < 0x90u) || (c == 0xF4u && b(1) > 0x8Fu))
            return 0;
        return 4;
    }
    return 0;
}

} // namespace

std::string_view column_type_name(std::int32_t type_oid) noexcept {
    const std::string_view known = client::type_name(type_oid);
    if (known != "unknown")
        return known;
    for (const auto& t : extra_types)
        if (t.type_oid == type_oid)
            return t.name;
    return "unknown";
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr std::string_view hex = "0123456789abcdef";
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        const char c = s[i];
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x80u) {
            const std::size_t n = utf8_sequence(s, i);
            if (n == 0) {
                out += "\xEF\xBF\xBD"; // U+FFFD
                ++i;
            } else {
                out.append(s.substr(i, n));
                i += n;
            }
            continue;
        }
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (u < 0x20u) {
                out += "\\u00";
                out.push_back(hex[u >> 4]);
                out.push_back(hex[u & 0xFu]);
            } else {
                out.push_back(c);
            }
        }
        ++i;
    }
    out.push_back('"');
}

void append_json_value(std::string& out, std::int32_t type_oid, std::string_view text) {
    switch (type_oid) {
    case oid::int2:
    case oid::int4:
    case oid::oid:
    case oid::float4:
    case oid::float8:
        if (is_json_number(text))
            out.append(text);
        else
            append_quoted(out, text); // NaN, Infinity, -Infinity
        return;
    case oid::int8:
        if (int8_fits_double(text))
            out.append(text);
        else
            append_quoted(out, text);
        return;
    case oid::numeric:
        if (numeric_fits_double(text))
            out.append(text);
        else
            append_quoted(out, text);
        return;
    case oid::bool_:
        if (text == "t")
            out += "true";
        else if (text == "f")
            out += "false";
        else
            append_quoted(out, text);
        return;
    case oid::json:
    case oid::jsonb:
        // The server validated it on input; json keeps the text exactly as written.
        if (text.empty())
            out += "null";
        else
            out.append(text);
        return;
    case oid::bytea:
        if (const auto bytes = decode_bytea(text))
            append_quoted(out, protocol::base64_encode(std::string_view{*bytes}));
        else
            append_quoted(out, text);
        return;
    case oid::date:
        append_quoted(out, text);
        return;
    case oid::timestamp:
        append_quoted(out, iso8601(text, true, false));
        return;
    case oid::timestamptz:
        append_quoted(out, iso8601(text, true, true));
        return;
    case oid_timetz:
        append_quoted(out, iso8601(text, false, true));
        return;
    default:
        break;
    }
    if (const std::int32_t element = element_type(type_oid); element != 0) {
        const std::size_t mark = out.size();
        std::size_t pos = 0;
        // A lower-bound decoration "[0:2]={...}" comes first when the bounds are not 1.
        if (!text.empty() && text.front() == '[') {
            const std::size_t eq = text.find('=');
            pos = eq == std::string_view::npos ? text.size() : eq + 1;
        }
        if (append_array(out, text, pos, element, 0) && pos == text.size())
            return;
        out.resize(mark);
    }
    append_quoted(out, text);
}

void append_result_json(std::string& out, const client::result_set& rs, row_format format) {
    const auto& columns = rs.columns();
    out += R"({"columns":[)";
    for (std::size_t i = 0; i < columns.size(); ++i) {
        if (i > 0)
            out.push_back(',');
        out += R"({"name":)";
        append_json_string(out, columns[i].name);
        out += R"(,"type":)";
        append_json_string(out, column_type_name(columns[i].type_oid));
        out.push_back('}');
    }
    out += R"(],"rows":[)";
    std::size_t n = 0;
    for (const client::row r : rs) {
        if (n++ > 0)
            out.push_back(',');
        out.push_back(format == row_format::objects ? '{' : '[');
        for (std::size_t i = 0; i < columns.size(); ++i) {
            if (i > 0)
                out.push_back(',');
            if (format == row_format::objects) {
                append_json_string(out, columns[i].name);
                out.push_back(':');
            }
            const auto raw = r.raw(i);
            if (!raw)
                out += "null";
            else
                append_json_value(out, columns[i].type_oid, *raw);
        }
        out.push_back(format == row_format::objects ? '}' : ']');
    }
    const std::uint64_t count = std::max<std::uint64_t>(rs.rows_affected(), rs.size());
    out += R"(],"count":)";
    out += std::to_string(count);
    out += R"(,"command":)";
    append_json_string(out, rs.command_tag());
    out.push_back('}');
}

} // namespace qail::proxy::http
