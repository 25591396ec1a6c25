// Value conversions: text and binary round trips, hand-written golden encodings,
// PostgreSQL's special values and extremes, type mismatches, NULL handling, and random
// or truncated input for every decoder.
#include "test_support.hpp"

#include <qail/client/detail/types_numeric.hpp>
#include <qail/client/types.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace qail::client {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;
using protocol::format_code;

// ---------------------------------------------------------------------------------
// Helpers.

/// "0003 0001" -> the bytes 00 03 00 01 (spaces ignored).
std::string unhex(std::string_view h) {
    std::string out;
    int pending = -1;
    for (const char c : h) {
        if (c == ' ')
            continue;
        const int v = c <= '9' ? c - '0' : c - 'a' + 10;
        if (pending < 0) {
            pending = v;
        } else {
            out.push_back(static_cast<char>(static_cast<unsigned char>(pending * 16 + v)));
            pending = -1;
        }
    }
    REQUIRE(pending < 0);
    return out;
}

/// The bytes as lowercase hex, grouped in pairs of bytes like the goldens.
std::string hex(std::string_view bytes) {
    static constexpr std::string_view digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i != 0 && i % 2 == 0)
            out.push_back(' ');
        const auto b = static_cast<unsigned char>(bytes[i]);
        out.push_back(digits[b >> 4U]);
        out.push_back(digits[b & 0xFU]);
    }
    return out;
}

template <class T>
std::string text_of(const T& v) {
    std::string out;
    value_traits<T>::to_text(v, out);
    return out;
}

template <class T>
std::string binary_of(const T& v) {
    std::string out;
    value_traits<T>::to_binary(v, out);
    return out;
}

template <class T>
T from_text(std::string_view s, std::int32_t type_oid = 0) {
    auto r = value_traits<T>::from_text(s, type_oid);
    INFO("text: ", std::string(s));
    REQUIRE(r.has_value());
    return *r;
}

template <class T>
T from_binary(std::string_view s, std::int32_t type_oid = 0) {
    auto r = value_traits<T>::from_binary(s, type_oid);
    INFO("bytes: ", hex(s));
    REQUIRE(r.has_value());
    return *r;
}

template <class R>
bool is_error(const R& r, errc e) {
    return r.has_error() && r.error() == make_error_code(e);
}

template <class T>
bool text_refused(std::string_view s, std::int32_t type_oid = 0) {
    return is_error(value_traits<T>::from_text(s, type_oid), errc::type_mismatch);
}

template <class T>
bool binary_refused(std::string_view s, std::int32_t type_oid = 0) {
    return is_error(value_traits<T>::from_binary(s, type_oid), errc::type_mismatch);
}

/// Both formats decode back to the value, with the type's own OID and with 0.
template <class T>
void round_trip(const T& v) {
    CHECK(from_text<T>(text_of(v), value_traits<T>::oid) == v);
    CHECK(from_binary<T>(binary_of(v), value_traits<T>::oid) == v);
    CHECK(from_text<T>(text_of(v)) == v);
    CHECK(from_binary<T>(binary_of(v)) == v);
}

/// Every strict prefix of an exact-length binary encoding is refused.
template <class T>
void prefixes_refused(std::string_view bytes, std::int32_t type_oid = 0) {
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        INFO("prefix length ", n, " of ", hex(bytes));
        CHECK(binary_refused<T>(bytes.substr(0, n), type_oid));
    }
}

template <class F>
bool same_float(F a, F b) {
    if (std::isnan(a) || std::isnan(b))
        return std::isnan(a) && std::isnan(b);
    return a == b && std::signbit(a) == std::signbit(b);
}

constexpr std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();

// ---------------------------------------------------------------------------------
// OIDs and names.

static_assert(oid::array_of(oid::int4) == oid::_int4);
static_assert(oid::array_of(oid::_int4) == 0);
static_assert(oid::element_of(oid::_jsonb) == oid::jsonb);
static_assert(oid::element_of(oid::int4) == 0);
static_assert(value_traits<std::vector<std::optional<std::string>>>::oid == oid::_text);
static_assert(value_traits<std::optional<double>>::oid == oid::float8);
static_assert(pg_value<std::vector<timestamptz>>);
static_assert(!pg_value<char>);
static_assert(nullable_value<std::optional<int>>);
static_assert(!nullable_value<int>);

TEST_CASE("types: every element OID maps to its array OID and back, names as pg_type") {
    const std::vector<std::pair<std::int32_t, std::int32_t>> pairs{
        {oid::bool_, 1000},   {oid::bytea, 1001},  {oid::int2, 1005},      {oid::int4, 1007},
        {oid::int8, 1016},    {oid::text, 1009},   {oid::varchar, 1015},   {oid::float4, 1021},
        {oid::float8, 1022},  {oid::date, 1182},   {oid::timestamp, 1115}, {oid::timestamptz, 1185},
        {oid::numeric, 1231}, {oid::uuid, 2951},   {oid::json, 199},       {oid::jsonb, 3807},
        {oid::name, 1003},    {oid::bpchar, 1014}, {oid::oid, 1028},
    };
    for (const auto& [element, array] : pairs) {
        CHECK(oid::array_of(element) == array);
        CHECK(oid::element_of(array) == element);
        CHECK(type_name(array) == "_"s + std::string(type_name(element)));
    }
    CHECK(oid::bool_ == 16);
    CHECK(oid::unknown == 705);
    CHECK(type_name(oid::int4) == "int4");
    CHECK(type_name(oid::bool_) == "bool");
    CHECK(type_name(oid::timestamptz) == "timestamptz");
    CHECK(type_name(oid::unknown) == "unknown");
    CHECK(type_name(123456) == "unknown");
    CHECK(type_name(0) == "unknown");
}

// ---------------------------------------------------------------------------------
// bool

TEST_CASE("types: bool text, binary and boolin's spellings") {
    CHECK(text_of(true) == "t");
    CHECK(text_of(false) == "f");
    CHECK(binary_of(true) == "\x01"s);
    CHECK(binary_of(false) == "\x00"s);
    round_trip(true);
    round_trip(false);
    for (const auto* s : {"t", "true", "TRUE", "True", "tr", "y", "yes", "on", "ON", "1", " t "})
        CHECK(from_text<bool>(s, oid::bool_) == true);
    for (const auto* s : {"f", "false", "FALSE", "fa", "n", "no", "off", "of", "0", "\tf\n"})
        CHECK(from_text<bool>(s, oid::bool_) == false);
    for (const auto* s : {"", "o", "2", "tx", "truex", "yess", "-1", "nope"})
        CHECK(text_refused<bool>(s, oid::bool_));
    CHECK(from_binary<bool>("\x02"s, oid::bool_) == true); // boolrecv: any nonzero byte
    CHECK(binary_refused<bool>(""));
    CHECK(binary_refused<bool>("\x01\x00"s));
    CHECK(text_refused<bool>("t", oid::text));
    CHECK(binary_refused<bool>("\x01"s, oid::int2));
}

// ---------------------------------------------------------------------------------
// Integers

TEST_CASE("types: integers in both formats, goldens and extremes") {
    CHECK(hex(binary_of(std::int16_t{-2})) == "fffe");
    CHECK(hex(binary_of(std::int32_t{0x01020304})) == "0102 0304");
    CHECK(hex(binary_of(i64_min)) == "8000 0000 0000 0000");
    CHECK(hex(binary_of(i64_max)) == "7fff ffff ffff ffff");
    CHECK(text_of(i64_min) == "-9223372036854775808");
    CHECK(text_of(std::int16_t{-32768}) == "-32768");
    for (const std::int16_t v :
         {std::int16_t{0}, std::int16_t{-1}, std::int16_t{32767}, std::int16_t{-32768}})
        round_trip(v);
    for (const std::int32_t v : {0, 1, -1, std::numeric_limits<std::int32_t>::max(),
                                 std::numeric_limits<std::int32_t>::min()})
        round_trip(v);
    for (const std::int64_t v : {std::int64_t{0}, std::int64_t{42}, i64_min, i64_max})
        round_trip(v);
}

TEST_CASE("types: integers read every integer type, range-checked") {
    // Wider reads narrower, in both formats.
    CHECK(from_binary<std::int64_t>("\xff\xfe"s, oid::int2) == -2);
    CHECK(from_binary<std::int64_t>("\xff\xff\xff\xfe"s, oid::int4) == -2);
    CHECK(from_binary<std::int64_t>("\xff\xff\xff\xff"s, oid::oid) == 4294967295);
    CHECK(from_text<std::int64_t>("4294967295", oid::oid) == 4294967295);
    CHECK(from_text<std::int32_t>("-7", oid::int2) == -7);
    // Narrower reads wider when the value fits.
    CHECK(from_binary<std::int16_t>(binary_of(std::int64_t{300}), oid::int8) == 300);
    CHECK(from_text<std::int32_t>("2147483647", oid::int8) == 2147483647);
    CHECK(binary_refused<std::int16_t>("\x00\x01\x00\x00"s, oid::int4));
    CHECK(binary_refused<std::int32_t>("\xff\xff\xff\xff"s, oid::oid));
    CHECK(text_refused<std::int32_t>("2147483648", oid::int8));
    CHECK(text_refused<std::int16_t>("-32769", oid::int4));
    // Text syntax: spaces and a plus sign as int4in allows; nothing else.
    CHECK(from_text<std::int32_t>("  42 ", oid::int4) == 42);
    CHECK(from_text<std::int32_t>("+7", oid::int4) == 7);
    CHECK(from_text<std::int64_t>("-9223372036854775808", oid::int8) == i64_min);
    for (const auto* s : {"", " ", "+", "-", "+-1", "1.0", "1e3", "0x10", "12a",
                          "9223372036854775808", "--1", "1 2"})
        CHECK(text_refused<std::int64_t>(s, oid::int8));
    // The binary width must match the declared type.
    CHECK(binary_refused<std::int64_t>("\x00\x00\x00\x01"s, oid::int8));
    CHECK(binary_refused<std::int32_t>("\x00\x01"s, oid::int4));
    CHECK(binary_refused<std::int32_t>(""));
    // Not integers.
    CHECK(text_refused<std::int32_t>("1", oid::text));
    CHECK(text_refused<std::int32_t>("1", oid::numeric));
    CHECK(binary_refused<std::int32_t>("\x00\x00\x00\x01"s, oid::float4));
    CHECK(binary_refused<std::int64_t>("\x01"s, oid::bool_));
}

// ---------------------------------------------------------------------------------
// Floats

TEST_CASE("types: floats print the shortest round-trip form and PostgreSQL's specials") {
    CHECK(text_of(0.1) == "0.1");
    CHECK(text_of(1.5) == "1.5");
    CHECK(text_of(1e20) == "1e+20");
    CHECK(text_of(1e-5) == "1e-05");
    CHECK(text_of(-0.0) == "-0");
    CHECK(text_of(0.1f) == "0.1");
    CHECK(text_of(std::numeric_limits<double>::quiet_NaN()) == "NaN");
    CHECK(text_of(std::numeric_limits<double>::infinity()) == "Infinity");
    CHECK(text_of(-std::numeric_limits<double>::infinity()) == "-Infinity");
    CHECK(text_of(-std::numeric_limits<float>::infinity()) == "-Infinity");
    CHECK(text_of(std::numeric_limits<double>::denorm_min()) == "5e-324");
    CHECK(hex(binary_of(1.5)) == "3ff8 0000 0000 0000");
    CHECK(hex(binary_of(1.5f)) == "3fc0 0000");
    CHECK(hex(binary_of(-0.0)) == "8000 0000 0000 0000");
}

TEST_CASE("types: floats round-trip exactly, including extremes") {
    const std::vector<double> doubles{0.0,
                                      -0.0,
                                      0.1,
                                      1.0 / 3.0,
                                      -123456.789e-300,
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::lowest(),
                                      std::numeric_limits<double>::min(),
                                      std::numeric_limits<double>::denorm_min(),
                                      -std::numeric_limits<double>::denorm_min(),
                                      std::numeric_limits<double>::infinity(),
                                      -std::numeric_limits<double>::infinity(),
                                      std::numeric_limits<double>::quiet_NaN()};
    for (const double v : doubles) {
        INFO(text_of(v));
        CHECK(same_float(from_text<double>(text_of(v), oid::float8), v));
        CHECK(same_float(from_binary<double>(binary_of(v), oid::float8), v));
    }
    const std::vector<float> floats{0.0F,
                                    -0.0F,
                                    0.1F,
                                    16777217.0F,
                                    std::numeric_limits<float>::max(),
                                    std::numeric_limits<float>::lowest(),
                                    std::numeric_limits<float>::denorm_min(),
                                    std::numeric_limits<float>::infinity(),
                                    std::numeric_limits<float>::quiet_NaN()};
    for (const float v : floats) {
        INFO(text_of(v));
        CHECK(same_float(from_text<float>(text_of(v), oid::float4), v));
        CHECK(same_float(from_binary<float>(binary_of(v), oid::float4), v));
        // double from float4 is the widened float, in either format.
        CHECK(same_float(from_text<double>(text_of(v), oid::float4), static_cast<double>(v)));
        CHECK(same_float(from_binary<double>(binary_of(v), oid::float4), static_cast<double>(v)));
    }
}

TEST_CASE("types: float input spellings, numeric columns, narrowing and refusals") {
    for (const auto* s : {"Infinity", "infinity", "+Infinity", "inf", "+INF"})
        CHECK(from_text<double>(s, oid::float8) == std::numeric_limits<double>::infinity());
    for (const auto* s : {"-Infinity", "-inf", "-INFINITY"})
        CHECK(from_text<double>(s, oid::float8) == -std::numeric_limits<double>::infinity());
    for (const auto* s : {"NaN", "nan", "NAN"})
        CHECK(std::isnan(from_text<double>(s, oid::float8)));
    CHECK(from_text<double>(" 1.5e3 ", oid::float8) == 1500.0);
    CHECK(from_text<double>("+.5", oid::float8) == 0.5);
    for (const auto* s : {"", "1e400", "1e-400", "abc", "1.5x", "+-1", "0x1p3", "Infinityx", "--1"})
        CHECK(text_refused<double>(s, oid::float8));
    // numeric values, both formats.
    CHECK(from_text<double>("12345.678", oid::numeric) == 12345.678);
    CHECK(std::isnan(from_text<double>("NaN", oid::numeric)));
    CHECK(from_text<double>("-Infinity", oid::numeric) == -std::numeric_limits<double>::infinity());
    CHECK(from_binary<double>(unhex("0003 0001 0000 0003 0001 0929 1a7c"), oid::numeric) ==
          12345.678);
    CHECK(from_binary<float>(unhex("0003 0001 0000 0003 0001 0929 1a7c"), oid::numeric) ==
          12345.678F);
    CHECK(from_text<float>("0.1", oid::numeric) == 0.1F);
    CHECK(binary_refused<double>(unhex("0001 0000 0000 0000 2710"), oid::numeric)); // digit 10000
    // float from float8: values beyond float's range are refused; NaN and infinities carry.
    CHECK(from_binary<float>(binary_of(0.5), oid::float8) == 0.5F);
    CHECK(from_text<float>("3.4028235e+38", oid::float8) == std::numeric_limits<float>::max());
    CHECK(binary_refused<float>(binary_of(1e300), oid::float8));
    CHECK(text_refused<float>("-1e39", oid::float8));
    CHECK(std::isnan(from_binary<float>(binary_of(std::nan("")), oid::float8)));
    CHECK(from_text<float>("-Infinity", oid::float8) == -std::numeric_limits<float>::infinity());
    // Not floats.
    CHECK(text_refused<double>("1", oid::int4));
    CHECK(binary_refused<double>(binary_of(1.0), oid::int8));
    CHECK(binary_refused<double>(binary_of(1.0F), oid::float8));
    CHECK(binary_refused<float>(binary_of(1.0), oid::float4));
}

// ---------------------------------------------------------------------------------
// Strings

TEST_CASE("types: strings carry any bytes, read any type as text, textual types as binary") {
    const std::string unicode = "h\xc3\xa9llo, \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x90\x98";
    round_trip(unicode);
    round_trip(std::string{});
    round_trip("with \"quotes\", \\ and {braces}"s);
    CHECK(binary_of(unicode) == unicode);
    CHECK(text_of(unicode) == unicode);
    // Text format: every type's text is a string.
    CHECK(from_text<std::string>("42", oid::int4) == "42");
    CHECK(from_text<std::string>("{1,2}", oid::_int4) == "{1,2}");
    CHECK(from_text<std::string>("\\x00", oid::bytea) == "\\x00");
    // Binary format: the textual types; jsonb loses its version byte.
    for (const auto t : {oid::text, oid::varchar, oid::bpchar, oid::name, oid::json, oid::unknown,
                         oid::xml, oid::char_})
        CHECK(from_binary<std::string>("abc", t) == "abc");
    CHECK(from_binary<std::string>("\x01{\"a\": 1}"s, oid::jsonb) == "{\"a\": 1}");
    CHECK(binary_refused<std::string>("\x02{}"s, oid::jsonb));
    CHECK(binary_refused<std::string>("", oid::jsonb));
    CHECK(binary_refused<std::string>("\x00\x00\x00\x01"s, oid::int4));
    CHECK(binary_refused<std::string>("abc", oid::bytea));
    CHECK(binary_refused<std::string>("abc", 16384)); // an extension type: ask for text
}

TEST_CASE("types: string_view decodes as a view into the input") {
    const std::string input = "\x01[1, 2]"s;
    const auto v = from_binary<std::string_view>(input, oid::jsonb);
    CHECK(v == "[1, 2]");
    CHECK(v.data() == input.data() + 1);
    const auto t = from_text<std::string_view>(input, oid::int4);
    CHECK(t.data() == input.data());
    CHECK(text_of("abc"sv) == "abc");
    CHECK(binary_of("abc"sv) == "abc");
    CHECK(binary_refused<std::string_view>("\x00\x01"s, oid::int2));
    // Views of binary array elements point into the array bytes.
    const auto array = binary_of(std::vector<std::string>{"ab", "cd"});
    const auto views = from_binary<std::vector<std::string_view>>(array, oid::_text);
    REQUIRE(views.size() == 2);
    CHECK(views[1] == "cd");
    CHECK(views[1].data() == array.data() + array.size() - 2);
}

// ---------------------------------------------------------------------------------
// bytea

TEST_CASE("types: bytea hex text, escape-format input, raw binary") {
    CHECK(text_of(bytea{}) == "\\x");
    CHECK(text_of(bytea{"\0\0\0"s}) == "\\x000000");
    CHECK(text_of(bytea{"\xde\xad\xbe\xef\x01"s}) == "\\xdeadbeef01");
    CHECK(binary_of(bytea{"a\0b"s}) == "a\0b"s);
    round_trip(bytea{});
    round_trip(bytea{"\0"s});
    std::string all;
    for (int i = 0; i < 256; ++i)
        all.push_back(static_cast<char>(static_cast<unsigned char>(i)));
    round_trip(bytea{all});
    CHECK(from_text<bytea>("\\xDEADbeef").bytes == "\xde\xad\xbe\xef"s);
    CHECK(from_text<bytea>("\\x de ad\n\tbe\ref ").bytes == "\xde\xad\xbe\xef"s);
    for (const auto* s : {"\\x0", "\\xzz", "\\x0 0", "\\x00g"})
        CHECK(text_refused<bytea>(s));
    // Escape format: \ooo (first digit 0-3) and \\; everything else literal.
    CHECK(from_text<bytea>("abc").bytes == "abc");
    CHECK(from_text<bytea>("a\\000b\\\\c\\377").bytes == "a\0b\\c\xff"s);
    CHECK(from_text<bytea>("").bytes.empty());
    for (const auto* s : {"\\", "\\q", "\\400", "\\08", "\\00", "a\\"})
        CHECK(text_refused<bytea>(s));
    CHECK(text_refused<bytea>("\\x00", oid::text));
    CHECK(binary_refused<bytea>("x", oid::text));
}

// ---------------------------------------------------------------------------------
// uuid

TEST_CASE("types: uuid canonical text, uuid_in's accepted forms, 16 binary bytes") {
    const auto u = uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    REQUIRE(u.has_value());
    CHECK(u->bytes[0] == 0xa0);
    CHECK(u->bytes[15] == 0x11);
    CHECK(u->to_string() == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    CHECK(hex(binary_of(*u)) == "a0ee bc99 9c0b 4ef8 bb6d 6bb9 bd38 0a11");
    round_trip(*u);
    round_trip(uuid{});
    CHECK(text_of(uuid{}) == "00000000-0000-0000-0000-000000000000");
    for (const auto* s :
         {"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
          "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
          "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}"}) {
        INFO(s);
        const auto p = uuid::parse(s);
        REQUIRE(p.has_value());
        CHECK(*p == *u);
    }
    for (const auto* s :
         {"", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
          "a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11", "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
          "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
          "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
          "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11"}) {
        INFO(s);
        CHECK(text_refused<uuid>(s));
    }
    CHECK(binary_refused<uuid>(std::string(15, '\0')));
    CHECK(binary_refused<uuid>(std::string(17, '\0')));
    CHECK(binary_refused<uuid>(std::string(16, '\0'), oid::bytea));
    CHECK(uuid{} < *u);
}

// ---------------------------------------------------------------------------------
// numeric

struct numeric_golden {
    std::string_view text;  // what numeric_out prints
    std::string_view bytes; // what numeric_send sends
};

// Hand-computed: ndigits, weight, sign, dscale, then base-10000 digits.
constexpr numeric_golden numeric_goldens[] = {
    {"12345.678", "0003 0001 0000 0003 0001 0929 1a7c"},
    {"-0.0001", "0001 ffff 4000 0004 0001"},
    {"0", "0000 0000 0000 0000"},
    {"0.00", "0000 0000 0000 0002"},
    {"NaN", "0000 0000 c000 0000"},
    {"Infinity", "0000 0000 d000 0020"}, // numeric_send's dscale quirk, see types_numeric.cpp
    {"-Infinity", "0000 0000 f000 0020"},
    {"1.500", "0002 0000 0000 0003 0001 1388"},
    {"10000", "0001 0001 0000 0000 0001"},
    {"0.00012", "0002 ffff 0000 0005 0001 07d0"},
    {"-1500", "0001 0000 4000 0000 05dc"},
    {"1", "0001 0000 0000 0000 0001"},
    {"9999", "0001 0000 0000 0000 270f"},
    {"123456789012345678901234567890.123456789",
     "000b 0007 0000 0009 000c 0d80 1ed2 04d2 162e 2334 0d80 1ed2 04d2 162e 2328"},
    {"-99999999.99999999", "0004 0001 4000 0008 270f 270f 270f 270f"},
};

TEST_CASE("types: numeric golden binary encodings, both directions") {
    for (const auto& g : numeric_goldens) {
        INFO(g.text);
        const numeric n{std::string(g.text)};
        CHECK(hex(binary_of(n)) == g.bytes);
        CHECK(from_binary<numeric>(unhex(g.bytes), oid::numeric).text == g.text);
        CHECK(text_of(n) == g.text);
        round_trip(n);
        prefixes_refused<numeric>(unhex(g.bytes), oid::numeric);
    }
}

TEST_CASE("types: numeric input syntax and canonical form") {
    const std::vector<std::pair<std::string_view, std::string_view>> cases{
        {"  1.50e2 ", "150"},
        {"1.500", "1.500"},
        {"-0.000", "0.000"},
        {".5", "0.5"},
        {"5.", "5"},
        {"-.5", "-0.5"},
        {"+7", "7"},
        {"007.50", "7.50"},
        {"1e-3", "0.001"},
        {"1.500e1", "15.00"},
        {"1E+2", "100"},
        {"12e-1", "1.2"},
        {"inf", "Infinity"},
        {"-INF", "-Infinity"},
        {"+infinity", "Infinity"},
        {"nan", "NaN"},
        {"0e5", "0"},
        {"-0", "0"},
        {"0.0000000001", "0.0000000001"},
    };
    for (const auto& [in, canonical] : cases) {
        INFO(in);
        const auto n = numeric::parse(in);
        REQUIRE(n.has_value());
        CHECK(n->text == canonical);
    }
    for (const auto* s : {"", " ", ".", "-", "+", "e5", "1e", "1e+", "1.2.3", "--1", "+-1", "-NaN",
                          "NaNx", "1 2", "0x10", "1_000", "Infinityy", "1e1000001"}) {
        INFO(s);
        CHECK(is_error(numeric::parse(s), errc::type_mismatch));
        CHECK(text_refused<numeric>(s, oid::numeric));
    }
    // Overflowing the format: more than 16383 fraction digits, weight beyond Int16.
    CHECK(is_error(numeric::parse("1e-16384"), errc::type_mismatch));
    CHECK(numeric::parse("1e-16383").has_value());
    CHECK(numeric::parse("1e131071").has_value());
    CHECK(is_error(numeric::parse("1e131072"), errc::type_mismatch));
}

TEST_CASE("types: numeric from integers, malformed text becomes a value the server refuses") {
    CHECK(from_text<numeric>("-42", oid::int4).text == "-42");
    CHECK(from_binary<numeric>(binary_of(i64_min), oid::int8).text == "-9223372036854775808");
    CHECK(from_binary<numeric>("\x00\x07"s, oid::int2).text == "7");
    CHECK(text_refused<numeric>("1.5", oid::float8));
    CHECK(binary_refused<numeric>(binary_of(1.5), oid::float8));
    // Binary encoding cannot fail, so bad text gets numeric_recv's "invalid sign" error.
    CHECK(hex(binary_of(numeric{"12abc"})) == "0000 0000 ffff 0000");
    CHECK(binary_refused<numeric>(binary_of(numeric{"12abc"}), oid::numeric));
}

TEST_CASE("types: numeric binary decoding normalises as numeric_recv and refuses bad bytes") {
    // Leading zero digits are stripped; digits below dscale are truncated.
    CHECK(from_binary<numeric>(unhex("0002 0001 0000 0000 0000 0005")).text == "5");
    CHECK(from_binary<numeric>(unhex("0001 ffff 0000 0002 1388")).text == "0.50");
    CHECK(from_binary<numeric>(unhex("0001 ffff 0000 0001 1388")).text == "0.5");
    CHECK(from_binary<numeric>(unhex("0001 ffff 4000 0002 0005")).text == "0.00");
    CHECK(from_binary<numeric>(unhex("0000 0005 4000 0000")).text == "0");
    CHECK(from_binary<numeric>(unhex("0001 0002 0000 0001 0001")).text == "100000000.0");
    // The largest weight: 1 followed by 131068 zeros.
    const auto big = from_binary<numeric>(unhex("0001 7fff 0000 0000 0001"));
    CHECK(big.text.size() == 131069);
    CHECK(big.text.find_first_not_of('0', 1) == std::string::npos);
    CHECK(hex(binary_of(big)) == "0001 7fff 0000 0000 0001");
    // The smallest: weight -32768.
    const auto tiny = from_binary<numeric>(unhex("0001 8000 0000 3fff 0001"));
    CHECK(tiny.text.size() == 2 + 16383);
    CHECK(hex(binary_of(tiny)) == "0000 0000 0000 3fff"); // below dscale: zero
    for (const auto* h : {"0001 0000 0000 0000 2710",     // digit 10000
                          "0001 0000 0000 0000 ffff",     // digit -1
                          "0000 0000 0000 4000",          // dscale beyond 0x3FFF
                          "0000 0000 8000 0000",          // sign
                          "0000 0000 0001 0000",          // sign
                          "0001 0000 0000 0000",          // missing digit
                          "0000 0000 0000 0000 0001",     // extra bytes
                          "0000 0000 0000"}) {
        INFO(h);
        CHECK(binary_refused<numeric>(unhex(h), oid::numeric));
    }
}

/// numeric_out of numeric_in for plain decimals: integer part without leading zeros (at
/// least "0"), the fraction as written, no sign on zero.
std::string reference_canonical(bool negative, const std::string& integer,
                                const std::string& fraction) {
    std::string i = integer.substr(std::min(integer.find_first_not_of('0'), integer.size()));
    if (i.empty())
        i = "0";
    std::string s = fraction.empty() ? i : i + "." + fraction;
    const bool zero = (integer + fraction).find_first_not_of('0') == std::string::npos;
    return negative && !zero ? "-" + s : s;
}

TEST_CASE("types: numeric random decimals match a reference and are stable") {
    std::mt19937 rng(20240615);
    const auto digits = [&](std::size_t max) {
        std::string s(std::uniform_int_distribution<std::size_t>(0, max)(rng), '0');
        for (auto& c : s) // skew towards zeros to exercise stripping
            c = static_cast<char>('0' + (rng() % 3 == 0 ? 0 : rng() % 10));
        return s;
    };
    for (int i = 0; i < 3000; ++i) {
        const bool negative = rng() % 2 == 0;
        const std::string integer = digits(25);
        const std::string fraction = digits(25);
        if (integer.empty() && fraction.empty())
            continue;
        const std::string in = (negative ? "-" : "") + integer +
                               (fraction.empty() && rng() % 2 == 0 ? "" : "." + fraction);
        INFO(in);
        const auto expected = reference_canonical(negative, integer, fraction);
        std::string bytes;
        REQUIRE(detail::numeric_text_to_binary(in, bytes));
        std::string out;
        REQUIRE(detail::numeric_binary_to_text(bytes, out));
        CHECK(out == expected);
        std::string again;
        REQUIRE(detail::numeric_text_to_binary(out, again));
        CHECK(again == bytes);
        CHECK(from_binary<double>(bytes, oid::numeric) == from_text<double>(out, oid::float8));
    }
}

TEST_CASE("types: numeric random valid binaries decode to text that re-encodes normalised") {
    std::mt19937 rng(77);
    for (int i = 0; i < 3000; ++i) {
        std::string bytes;
        const auto n = static_cast<unsigned>(rng() % 6);
        const auto push16 = [&](std::uint_fast32_t v) {
            bytes.push_back(static_cast<char>((v >> 8U) & 0xFFU));
            bytes.push_back(static_cast<char>(v & 0xFFU));
        };
        push16(n);
        push16(static_cast<unsigned>(static_cast<int>(rng() % 21) - 10) & 0xFFFFU);
        push16(rng() % 2 == 0 ? 0x0000U : 0x4000U);
        push16(rng() % 30);
        for (unsigned k = 0; k < n; ++k)
            push16(rng() % 3 == 0 ? 0 : rng() % 10000);
        INFO(hex(bytes));
        std::string text;
        REQUIRE(detail::numeric_binary_to_text(bytes, text));
        std::string normalised;
        REQUIRE(detail::numeric_text_to_binary(text, normalised));
        std::string text2;
        REQUIRE(detail::numeric_binary_to_text(normalised, text2));
        CHECK(text2 == text);
    }
}

// ---------------------------------------------------------------------------------
// date

TEST_CASE("types: date goldens, BC, infinity and the valid range") {
    CHECK(hex(binary_of(date{0})) == "0000 0000");
    CHECK(text_of(date{0}) == "2000-01-01");
    CHECK(text_of(date{-1}) == "1999-12-31");
    CHECK(text_of(date{8825}) == "2024-02-29");
    CHECK(text_of(date{-10957}) == "1970-01-01");
    CHECK(text_of(date{-730119}) == "0001-01-01");
    CHECK(text_of(date{-730120}) == "0001-12-31 BC");
    CHECK(text_of(date{-2451545}) == "4714-11-24 BC");
    CHECK(text_of(date::infinity()) == "infinity");
    CHECK(text_of(date::minus_infinity()) == "-infinity");
    CHECK(hex(binary_of(date::infinity())) == "7fff ffff");
    CHECK(hex(binary_of(date::minus_infinity())) == "8000 0000");
    for (const auto d : {0, -1, 8825, -730119, -730120, -2451545, 2145031948, 100000})
        round_trip(date{d});
    round_trip(date::infinity());
    round_trip(date::minus_infinity());
    CHECK(from_text<date>("2024-02-29").days_since_2000 == 8825);
    CHECK(from_text<date>(" 2024-02-29 ").days_since_2000 == 8825);
    CHECK(from_text<date>("0001-12-31 bc").days_since_2000 == -730120);
    CHECK(from_text<date>("5874897-12-31").days_since_2000 == 2145031948);
    CHECK(from_text<date>("+infinity") == date::infinity());
    CHECK(from_text<date>("-INFINITY") == date::minus_infinity());
    for (const auto* s : {"", "2024-02-30", "2023-02-29", "2024-13-01", "2024-00-10", "0000-01-01",
                          "24-01-01", "2024-1-01", "2024-01-1", "2024-01-01 00:00:00",
                          "2024-01-01 AD", "2024-01-01 BCX", "5874898-01-01", "4714-11-23 BC",
                          "1900-02-29", "2024/01/01", "infinityx", "01/02/2024"}) {
        INFO(s);
        CHECK(text_refused<date>(s));
    }
    CHECK(from_text<date>("2000-02-29").days_since_2000 == 59);  // 2000 is a leap year
    CHECK(from_text<date>("0005-02-29 BC").days_since_2000 < 0); // 5 BC is year -4: leap
    CHECK(text_refused<date>("0004-02-29 BC"));
    CHECK(binary_refused<date>(unhex("7fff fffe"))); // beyond the range
    CHECK(binary_refused<date>(unhex("0000 00")));
    CHECK(binary_refused<date>(unhex("0000 0000"), oid::timestamp));
    CHECK(text_refused<date>("2000-01-01", oid::text));
}

TEST_CASE("types: date <-> std::chrono::sys_days") {
    using namespace std::chrono;
    const auto d = date::from_sys_days(sys_days{2024y / February / 29});
    REQUIRE(d.has_value());
    CHECK(d->days_since_2000 == 8825);
    CHECK(d->to_sys_days().value() == sys_days{2024y / February / 29});
    CHECK(date{-10957}.to_sys_days().value() == sys_days{});
    CHECK(is_error(date::infinity().to_sys_days(), errc::type_mismatch));
    CHECK(is_error(date::from_sys_days(sys_days{days{std::numeric_limits<int>::max()}}),
                   errc::type_mismatch));
    CHECK(date::parse("2024-02-29").value() == *d);
    CHECK(d->to_string() == "2024-02-29");
}

// ---------------------------------------------------------------------------------
// timestamp, timestamptz

TEST_CASE("types: timestamp goldens with fractions, BC, infinity") {
    CHECK(text_of(timestamp{0}) == "2000-01-01 00:00:00");
    CHECK(text_of(timestamp{500000}) == "2000-01-01 00:00:00.5");
    CHECK(hex(binary_of(timestamp{500000})) == "0000 0000 0007 a120");
    CHECK(text_of(timestamp{-1}) == "1999-12-31 23:59:59.999999");
    CHECK(text_of(timestamp{0x2b6b1fd64b4c0}) == "2024-03-15 13:45:30.123456");
    CHECK(text_of(timestamp{0x2b6b1fd64b4c0 - 456}) == "2024-03-15 13:45:30.123");
    CHECK(text_of(timestamp{-211813488000000000}) == "4714-11-24 00:00:00 BC");
    CHECK(text_of(timestamp{9223371331199999999}) == "294276-12-31 23:59:59.999999");
    CHECK(text_of(timestamp::infinity()) == "infinity");
    CHECK(text_of(timestamp::minus_infinity()) == "-infinity");
    CHECK(hex(binary_of(timestamp::minus_infinity())) == "8000 0000 0000 0000");
    CHECK(hex(binary_of(timestamp::infinity())) == "7fff ffff ffff ffff");
    for (const std::int64_t v :
         {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1}, std::int64_t{0x2b6b1fd64b4c0},
          std::int64_t{-211813488000000000}, std::int64_t{9223371331199999999},
          std::int64_t{-63113904000000000}})
        round_trip(timestamp{v});
    round_trip(timestamp::infinity());
    round_trip(timestamp::minus_infinity());
}

TEST_CASE("types: timestamp input forms and refusals") {
    CHECK(from_text<timestamp>("2024-03-15T13:45:30.123456").micros_since_2000 == 0x2b6b1fd64b4c0);
    CHECK(from_text<timestamp>("2000-01-01 00:01").micros_since_2000 == 60000000);
    // More than six fraction digits round as ParseFractionalSecond does: rint(double * 1e6).
    CHECK(from_text<timestamp>("2000-01-01 00:00:00.1234565").micros_since_2000 == 123456);
    CHECK(from_text<timestamp>("2000-01-01 00:00:00.1234575").micros_since_2000 == 123458);
    CHECK(from_text<timestamp>("2000-01-01 00:00:00.0000005").micros_since_2000 == 0);
    CHECK(from_text<timestamp>("2000-01-01 00:00:00.9999995").micros_since_2000 == 1000000);
    CHECK(from_text<timestamp>("2000-01-01 00:00:00.1234564999").micros_since_2000 == 123456);
    CHECK(from_text<timestamp>("2000-01-01 24:00:00").micros_since_2000 == 86400000000);
    CHECK(from_text<timestamp>("2000-01-01 23:59:60").micros_since_2000 == 86400000000);
    CHECK(from_text<timestamp>("2000-01-01 12:30:60.5").micros_since_2000 == 45060500000);
    CHECK(text_refused<timestamp>("2000-01-01 23:59:60.5"));
    CHECK(text_refused<timestamp>("2000-01-01 24:00:00.000001"));
    CHECK(from_text<timestamp>("0001-01-01 00:00:00 BC").micros_since_2000 == -63113904000000000);
    for (const auto* s :
         {"2000-01-01", "2000-01-01 00:00:00+00", "2000-01-01 00:00:00Z", "2000-01-01 25:00:00",
          "2000-01-01 24:00:01", "2000-01-01 00:60:00", "2000-01-01 00:00:61", "2000-01-01 0:00:00",
          "2000-01-01 00:00:00.", "2000-01-01  00:00:00", "294277-01-01 00:00:00",
          "4714-11-23 23:59:59 BC", "2000-01-01 00:00:00  BC", "x"}) {
        INFO(s);
        CHECK(text_refused<timestamp>(s));
    }
    CHECK(binary_refused<timestamp>(binary_of(std::int64_t{9223371331200000000})));
    CHECK(binary_refused<timestamp>(binary_of(std::int64_t{-211813488000000001})));
    CHECK(binary_refused<timestamp>(binary_of(std::int32_t{0})));
    CHECK(binary_refused<timestamp>(binary_of(std::int64_t{0}), oid::timestamptz));
    CHECK(text_refused<timestamp>("2000-01-01 00:00:00", oid::timestamptz));
}

TEST_CASE("types: timestamptz offsets normalise to UTC, output is UTC") {
    CHECK(text_of(timestamptz{0}) == "2000-01-01 00:00:00+00");
    CHECK(text_of(timestamptz{1}) == "2000-01-01 00:00:00.000001+00");
    CHECK(text_of(timestamptz{-63113904000000000}) == "0001-01-01 00:00:00+00 BC");
    CHECK(text_of(timestamptz::infinity()) == "infinity");
    for (const auto* s : {"2000-01-01 00:00:00+00", "2000-01-01 05:30:00+05:30",
                          "1999-12-31 19:00:00-05", "2000-01-01 00:00:00Z", "2000-01-01T00:00:00z",
                          "2000-01-01 05:30:00+0530", "2000-01-01 05:30:15+05:30:15"}) {
        INFO(s);
        CHECK(from_text<timestamptz>(s).micros_since_2000_utc == 0);
    }
    CHECK(from_text<timestamptz>("1999-12-31 08:00:00.000000-15:59:59").micros_since_2000_utc ==
          -1000000);
    CHECK(text_refused<timestamptz>("1999-12-31 08:00:00-16")); // beyond PostgreSQL's 15:59:59
    // PostgreSQL prints LMT offsets with seconds for old dates.
    CHECK(text_of(from_text<timestamptz>("1800-01-01 00:00:00-04:56:02")) ==
          "1800-01-01 04:56:02+00");
    CHECK(text_of(from_text<timestamptz>("2024-03-15 13:45:30.5+01")) ==
          "2024-03-15 12:45:30.5+00");
    CHECK(from_text<timestamptz>("0001-01-01 00:00:00+00 BC").micros_since_2000_utc ==
          -63113904000000000);
    for (const auto* s :
         {"2000-01-01 00:00:00", "2000-01-01 00:00:00+", "2000-01-01 00:00:00+5",
          "2000-01-01 00:00:00+05:3", "2000-01-01 00:00:00+05:60", "2000-01-01 00:00:00 +00",
          "2000-01-01 00:00:00+00 PST", "2000-01-01 00:00:00 UTC"}) {
        INFO(s);
        CHECK(text_refused<timestamptz>(s));
    }
    for (const std::int64_t v :
         {std::int64_t{0}, std::int64_t{-1}, std::int64_t{0x2b6b1fd64b4c0},
          std::int64_t{-211813488000000000}, std::int64_t{9223371331199999999}})
        round_trip(timestamptz{v});
    round_trip(timestamptz::minus_infinity());
    // The offset may carry the value in or out of range.
    CHECK(from_text<timestamptz>("4714-11-23 23:00:00-01 BC").micros_since_2000_utc ==
          -211813488000000000);
    CHECK(text_refused<timestamptz>("4714-11-24 00:00:00+01 BC"));
}

TEST_CASE("types: timestamp(tz) <-> std::chrono::sys_time") {
    using namespace std::chrono;
    const sys_time<microseconds> t = sys_days{2024y / March / 15} + 13h + 45min + 30s + 123456us;
    const auto ts = timestamptz::from_sys_time(t);
    REQUIRE(ts.has_value());
    CHECK(ts->micros_since_2000_utc == 0x2b6b1fd64b4c0);
    CHECK(ts->to_sys_time().value() == t);
    CHECK(timestamp::from_sys_time(t).value().micros_since_2000 == 0x2b6b1fd64b4c0);
    CHECK(timestamp{0}.to_sys_time().value() == sys_days{2000y / 1 / 1});
    CHECK(is_error(timestamptz::infinity().to_sys_time(), errc::type_mismatch));
    CHECK(is_error(timestamp::minus_infinity().to_sys_time(), errc::type_mismatch));
    // PostgreSQL's last microsecond does not fit sys_time<microseconds> from 1970.
    CHECK(is_error(timestamp{9223371331199999999}.to_sys_time(), errc::type_mismatch));
    CHECK(is_error(timestamp::from_sys_time(sys_time<microseconds>::min()), errc::type_mismatch));
    // sys_time's last microsecond (294247 AD) is within PostgreSQL's range.
    const auto last = timestamptz::from_sys_time(sys_time<microseconds>::max());
    REQUIRE(last.has_value());
    CHECK(last->to_sys_time().value() == sys_time<microseconds>::max());
    CHECK(timestamptz::parse("2024-03-15 14:45:30.123456+01").value() == *ts);
    CHECK(ts->to_string() == "2024-03-15 13:45:30.123456+00");
    CHECK(timestamp{0}.to_string() == "2000-01-01 00:00:00");
}

TEST_CASE("types: random timestamps and dates round-trip through text") {
    std::mt19937_64 rng(5);
    std::uniform_int_distribution<std::int64_t> micros(-211813488000000000, 9223371331199999999);
    std::uniform_int_distribution<std::int32_t> days(-2451545, 2145031948);
    for (int i = 0; i < 5000; ++i) {
        const timestamp t{micros(rng)};
        INFO(text_of(t));
        CHECK(from_text<timestamp>(text_of(t)) == t);
        const timestamptz z{t.micros_since_2000};
        CHECK(from_text<timestamptz>(text_of(z)) == z);
        const date d{days(rng)};
        INFO(text_of(d));
        CHECK(from_text<date>(text_of(d)) == d);
    }
}

// ---------------------------------------------------------------------------------
// json, jsonb

TEST_CASE("types: json and jsonb, and each reads the other") {
    const json j{R"({"a": [1, 2, "\u00e9"]})"};
    const jsonb b{R"({"a": [1, 2, "é"]})"};
    round_trip(j);
    round_trip(b);
    round_trip(json{});
    CHECK(binary_of(j) == j.text);
    CHECK(binary_of(b) == "\x01"s + b.text);
    CHECK(from_binary<json>("\x01[]"s, oid::jsonb).text == "[]");
    CHECK(from_binary<jsonb>("[]", oid::json).text == "[]");
    CHECK(from_text<json>("[]", oid::jsonb).text == "[]");
    CHECK(binary_refused<jsonb>("[]", oid::jsonb)); // no version byte
    CHECK(binary_refused<jsonb>("\x02[]"s, oid::jsonb));
    CHECK(text_refused<json>("[]", oid::text));
    CHECK(binary_refused<jsonb>("[]", oid::text));
}

// ---------------------------------------------------------------------------------
// NULL and std::optional

TEST_CASE("types: NULL is std::nullopt, elsewhere it is unexpected_null") {
    CHECK(decode_value<std::optional<std::int32_t>>(std::nullopt, format_code::binary, oid::int4)
              .value() == std::nullopt);
    CHECK(is_error(decode_value<std::int32_t>(std::nullopt, format_code::binary, oid::int4),
                   errc::unexpected_null));
    CHECK(is_error(decode_value<bool>(std::nullopt, format_code::text, oid::bool_),
                   errc::unexpected_null));
    CHECK(decode_value<std::optional<std::int32_t>>("5"sv, format_code::text, oid::int4).value() ==
          5);
    CHECK(
        decode_value<std::int32_t>("\x00\x00\x00\x05"sv, format_code::binary, oid::int4).value() ==
        5);
    CHECK(is_error(decode_value<std::optional<std::int32_t>>("x"sv, format_code::text, oid::int4),
                   errc::type_mismatch));
    round_trip(std::optional<std::string>{"x"});
    CHECK(text_of(std::optional<std::int32_t>{7}) == "7");
    std::string out;
    CHECK_FALSE(encode_value(std::optional<std::int32_t>{}, format_code::binary, out));
    CHECK(out.empty());
    CHECK(encode_value(std::optional<std::int32_t>{1}, format_code::binary, out));
    CHECK(hex(out) == "0000 0001");
}

// ---------------------------------------------------------------------------------
// Arrays

TEST_CASE("types: array text quoting follows array_out") {
    const std::vector<std::string> v{"a",           "",   "b c", "NULL",  "null",  "x\"y",
                                     "back\\slash", "{}", "a,b", "plain", "tab\t", "Nul",
                                     "\xc3\xa9"};
    CHECK(text_of(v) == R"({a,"","b c","NULL","null","x\"y","back\\slash","{}","a,b",plain,)"
                        "\"tab\t\",Nul,\xc3\xa9}");
    round_trip(v);
    CHECK(text_of(std::vector<std::optional<std::string>>{"x", std::nullopt, "NULL"}) ==
          R"({x,NULL,"NULL"})");
    CHECK(text_of(std::vector<std::int32_t>{}) == "{}");
    CHECK(text_of(std::vector<std::int32_t>{1, -2, 3}) == "{1,-2,3}");
    CHECK(text_of(std::vector<bytea>{bytea{"\x00\xff"s}}) == R"({"\\x00ff"})");
    CHECK(text_of(std::vector<timestamp>{timestamp{0}}) == R"({"2000-01-01 00:00:00"})");
    CHECK(text_of(std::vector<date>{date{0}, date::infinity()}) == "{2000-01-01,infinity}");
    CHECK(text_of(std::vector<bool>{true, false}) == "{t,f}");
    CHECK(text_of(std::vector<double>{1.5, std::numeric_limits<double>::quiet_NaN()}) ==
          "{1.5,NaN}");
    CHECK(text_of(std::vector<json>{json{R"({"a":1})"}}) == R"({"{\"a\":1}"})");
}

TEST_CASE("types: array text input follows array_in") {
    using strings = std::vector<std::string>;
    using maybe_strings = std::vector<std::optional<std::string>>;
    CHECK(from_text<std::vector<std::int32_t>>("{1, 2 ,3}", oid::_int4) ==
          std::vector<std::int32_t>{1, 2, 3});
    CHECK(from_text<std::vector<std::int32_t>>(" { } ", oid::_int4).empty());
    CHECK(from_text<std::vector<std::int32_t>>("[0:2]={1,2,3}", oid::_int4).size() == 3);
    CHECK(from_text<std::vector<std::int32_t>>("[3]={1,2,3}", oid::_int4).size() == 3);
    CHECK(from_text<std::vector<std::int64_t>>("{1,2}", oid::_int4).size() == 2);
    CHECK(from_text<strings>(R"({"a\"b","c\\d",e\,f,"NULL"})", oid::_text) ==
          strings{"a\"b", "c\\d", "e,f", "NULL"});
    CHECK(from_text<strings>(R"({  a b  ,\ x\ })", oid::_text) == strings{"a b", " x "});
    CHECK(from_text<strings>(R"({"",""})", oid::_text) == strings{"", ""});
    CHECK(from_text<maybe_strings>(R"({NULL,null,"NULL",\NULL})", oid::_text) ==
          maybe_strings{std::nullopt, std::nullopt, "NULL", "NULL"});
    CHECK(is_error(value_traits<std::vector<std::int32_t>>::from_text("{1,NULL}", oid::_int4),
                   errc::unexpected_null));
    CHECK(from_text<std::vector<std::optional<std::int32_t>>>("{1,NULL}", oid::_int4) ==
          std::vector<std::optional<std::int32_t>>{1, std::nullopt});
    CHECK(
        from_text<std::vector<timestamp>>(R"({"2000-01-01 00:00:00",infinity})", oid::_timestamp) ==
        std::vector<timestamp>{timestamp{0}, timestamp::infinity()});
    CHECK(from_text<std::vector<bytea>>(R"({"\\x00ff","\\x"})", oid::_bytea) ==
          std::vector<bytea>{bytea{"\x00\xff"s}, bytea{}});
    CHECK(from_text<std::vector<bool>>("{t,f,true}", oid::_bool) ==
          std::vector<bool>{true, false, true});
    CHECK(from_text<std::vector<numeric>>("{1.50,NaN}", oid::_numeric) ==
          std::vector<numeric>{numeric{"1.50"}, numeric{"NaN"}});
    for (const auto* s : {"",
                          "{",
                          "}",
                          "{1,2",
                          "{1,,2}",
                          "{,}",
                          "{1,}",
                          "{{1,2},{3,4}}",
                          "[1:2][1:2]={{1,2},{3,4}}",
                          "[1:3]={1,2}",
                          "[2:1]={}",
                          "[1:2]{1,2}",
                          R"({"a"b})",
                          R"({a"b"})",
                          "{1} x",
                          "x{1}",
                          R"({"a)",
                          "{a\\",
                          "{a{b}",
                          "{1}}"}) {
        INFO(s);
        CHECK(text_refused<std::vector<std::string>>(s, oid::_text));
    }
    CHECK(from_text<std::vector<std::string>>("{1 2}", oid::_text) == strings{"1 2"});
    CHECK(text_refused<std::vector<std::int32_t>>("{1 2}", oid::_int4));
    CHECK(text_refused<std::vector<std::int32_t>>("{a}", oid::_int4));
    CHECK(text_refused<std::vector<std::int32_t>>("{1}", oid::int4)); // not an array type
    CHECK(text_refused<std::vector<std::int32_t>>("{1}", oid::_float8));
    CHECK(text_refused<std::vector<std::int32_t>>("{1}", 1187)); // _interval: not in the table
}

TEST_CASE("types: array binary goldens follow array_send") {
    CHECK(hex(binary_of(std::vector<std::optional<std::int32_t>>{1, 2, std::nullopt})) ==
          "0000 0001 0000 0001 0000 0017 0000 0003 0000 0001 "
          "0000 0004 0000 0001 0000 0004 0000 0002 ffff ffff");
    CHECK(hex(binary_of(std::vector<std::int32_t>{1, 2})) ==
          "0000 0001 0000 0000 0000 0017 0000 0002 0000 0001 "
          "0000 0004 0000 0001 0000 0004 0000 0002");
    CHECK(hex(binary_of(std::vector<std::int32_t>{})) == "0000 0000 0000 0000 0000 0017");
    CHECK(hex(binary_of(std::vector<std::string>{"", "ab"})) ==
          "0000 0001 0000 0000 0000 0019 0000 0002 0000 0001 0000 0000 0000 0002 6162");
    CHECK(hex(binary_of(std::vector<jsonb>{jsonb{"1"}})) ==
          "0000 0001 0000 0000 0000 0eda 0000 0001 0000 0001 0000 0002 0131");
    const auto golden = unhex("0000 0001 0000 0001 0000 0017 0000 0003 0000 0001 "
                              "0000 0004 0000 0001 0000 0004 0000 0002 ffff ffff");
    CHECK(from_binary<std::vector<std::optional<std::int32_t>>>(golden, oid::_int4) ==
          std::vector<std::optional<std::int32_t>>{1, 2, std::nullopt});
    CHECK(from_binary<std::vector<std::optional<std::int64_t>>>(golden, oid::_int4) ==
          std::vector<std::optional<std::int64_t>>{1, 2, std::nullopt});
    CHECK(is_error(value_traits<std::vector<std::int32_t>>::from_binary(golden, oid::_int4),
                   errc::unexpected_null));
    prefixes_refused<std::vector<std::optional<std::int32_t>>>(golden, oid::_int4);
    // Lower bounds other than 1 are accepted (and dropped).
    CHECK(from_binary<std::vector<std::int32_t>>(
              unhex("0000 0001 0000 0000 0000 0017 0000 0001 ffff fffb 0000 0004 0000 0009"),
              oid::_int4) == std::vector<std::int32_t>{9});
}

TEST_CASE("types: array binary input refuses what array_recv refuses") {
    using ints = std::vector<std::int32_t>;
    for (const auto* h : {
             "0000 0002 0000 0000 0000 0017 0000 0001 0000 0001 0000 0001 0000 0001", // ndim 2
             "ffff ffff 0000 0000 0000 0017",                                         // ndim -1
             "0000 0000 0000 0002 0000 0017",                                         // flags 2
             "0000 0000 0000 0000 0000 0019",                     // element type text
             "0000 0001 0000 0000 0000 0017 ffff ffff 0000 0001", // negative length
             "0000 0001 0000 0000 0000 0017 7fff ffff 0000 0001", // count beyond bytes
             "0000 0001 0000 0000 0000 0017 0000 0001 7fff ffff 0000 0004 0000 0001", // ub overflow
             "0000 0001 0000 0000 0000 0017 0000 0001 0000 0001 0000 0002 0001",      // int4 of 2
             "0000 0001 0000 0000 0000 0017 0000 0001 0000 0001 ffff fffe",           // length -2
             "0000 0001 0000 0000 0000 0017 0000 0001 0000 0001 0000 0004 0000 0001 00", // trailing
             "0000 0000 0000 0000 0000 0017 00",                                         // trailing
         }) {
        INFO(h);
        CHECK(binary_refused<ints>(unhex(h), oid::_int4));
    }
    const auto empty = unhex("0000 0000 0000 0000 0000 0017");
    CHECK(from_binary<ints>(empty, oid::_int4).empty());
    CHECK(from_binary<ints>(unhex("0000 0001 0000 0000 0000 0017 0000 0000 0000 0001"), oid::_int4)
              .empty());
    CHECK(binary_refused<ints>(empty, oid::int4));  // not an array type
    CHECK(binary_refused<ints>(empty, oid::_int8)); // header says int4
    CHECK(from_binary<ints>(empty, 0).empty());     // type unknown: trust the header
}

TEST_CASE("types: arrays of every element type round-trip") {
    round_trip(std::vector<bool>{true, false, true});
    round_trip(std::vector<std::int16_t>{-1, 0, 32767});
    round_trip(std::vector<std::int32_t>{});
    round_trip(std::vector<std::int64_t>{i64_min, i64_max});
    round_trip(std::vector<float>{1.5F, -0.25F});
    round_trip(std::vector<double>{0.1, 1e300, -std::numeric_limits<double>::infinity()});
    round_trip(
        std::vector<std::string>{"", "NULL", " x ", "\"", "\\", "{", "}", ",", "\xf0\x9f\x90\x98"});
    round_trip(std::vector<std::optional<std::string>>{std::nullopt, "", std::nullopt});
    round_trip(std::vector<bytea>{bytea{}, bytea{"\0\\\""s}});
    round_trip(std::vector<uuid>{uuid{}, uuid::parse("a0eebc999c0b4ef8bb6d6bb9bd380a11").value()});
    round_trip(std::vector<numeric>{numeric{"-1.500"}, numeric{"NaN"}, numeric{"0.00"}});
    round_trip(std::vector<date>{date{0}, date{-730120}, date::minus_infinity()});
    round_trip(std::vector<timestamp>{timestamp{1}, timestamp{-63113904000000000}});
    round_trip(std::vector<std::optional<timestamptz>>{timestamptz{5}, std::nullopt});
    round_trip(std::vector<json>{json{"{\"a\": [1, \"x,y\"]}"}, json{"null"}});
    round_trip(std::vector<jsonb>{jsonb{"[]"}, jsonb{"\"NULL\""}});
}

// ---------------------------------------------------------------------------------
// Parameters

TEST_CASE("types: parameters carry the natural OID, the format and the bytes") {
    CHECK(to_param(std::int32_t{42}) == param{oid::int4, format_code::binary, "\0\0\0*"s});
    CHECK(to_param(std::int32_t{42}, format_code::text) ==
          param{oid::int4, format_code::text, "42"});
    CHECK(to_param("abc") == param{oid::text, format_code::binary, "abc"});
    CHECK(to_param(static_cast<const char*>(nullptr)) ==
          param{oid::text, format_code::binary, std::nullopt});
    CHECK(to_param("abc"s, format_code::text) == param{oid::text, format_code::text, "abc"});
    CHECK(to_param(std::optional<double>{}) ==
          param{oid::float8, format_code::binary, std::nullopt});
    CHECK(to_param(std::vector<std::int16_t>{}).type_oid == oid::_int2);
    CHECK(to_param(true).bytes == "\x01"s);
    CHECK(to_param(numeric{"1.5"}).type_oid == oid::numeric);
    CHECK(text_param("12") == param{0, format_code::text, "12"});
    CHECK(text_param("12", oid::int8) == param{oid::int8, format_code::text, "12"});
    CHECK(null_param() == param{0, format_code::text, std::nullopt});
    CHECK(null_param(oid::int4).type_oid == oid::int4);
    CHECK_FALSE(null_param(oid::int4).bytes.has_value());
}

// ---------------------------------------------------------------------------------
// Garbage

/// Copies `in` into an exactly-sized heap block so any over-read hits ASan's redzone.
std::unique_ptr<char[]> exact_copy(const std::string& in) {
    auto p = std::make_unique<char[]>(in.size() + (in.empty() ? 1 : 0));
    std::memcpy(p.get(), in.data(), in.size());
    return p;
}

using decoder = std::function<void(std::string_view, std::int32_t)>;

template <class T>
decoder both_formats() {
    return [](std::string_view s, std::int32_t type_oid) {
        (void)value_traits<T>::from_binary(s, type_oid);
        (void)value_traits<T>::from_text(s, type_oid);
        (void)decode_value<std::optional<T>>(s, format_code::binary, type_oid);
    };
}

template <class T>
decoder binary_only() {
    return [](std::string_view s, std::int32_t type_oid) {
        (void)value_traits<T>::from_binary(s, type_oid);
    };
}

std::vector<decoder> all_decoders() {
    return {both_formats<bool>(),
            both_formats<std::int16_t>(),
            both_formats<std::int32_t>(),
            both_formats<std::int64_t>(),
            both_formats<float>(),
            both_formats<double>(),
            both_formats<std::string>(),
            binary_only<std::string_view>(),
            both_formats<bytea>(),
            both_formats<uuid>(),
            both_formats<numeric>(),
            both_formats<date>(),
            both_formats<timestamp>(),
            both_formats<timestamptz>(),
            both_formats<json>(),
            both_formats<jsonb>(),
            both_formats<std::vector<std::int32_t>>(),
            both_formats<std::vector<std::optional<std::string>>>(),
            both_formats<std::vector<numeric>>(),
            both_formats<std::vector<std::optional<timestamptz>>>(),
            both_formats<std::vector<bytea>>(),
            binary_only<std::vector<std::string_view>>(),
            [](std::string_view s, std::int32_t) {
                std::string out;
                (void)detail::numeric_binary_to_text(s, out);
                (void)detail::numeric_text_to_binary(s, out);
            }};
}

constexpr std::int32_t garbage_oids[] = {0,
                                         oid::bool_,
                                         oid::int2,
                                         oid::int4,
                                         oid::int8,
                                         oid::oid,
                                         oid::float4,
                                         oid::float8,
                                         oid::text,
                                         oid::bytea,
                                         oid::numeric,
                                         oid::date,
                                         oid::timestamp,
                                         oid::timestamptz,
                                         oid::uuid,
                                         oid::json,
                                         oid::jsonb,
                                         oid::_int4,
                                         oid::_text,
                                         oid::_numeric,
                                         oid::_timestamptz,
                                         oid::_bytea,
                                         12345};

TEST_CASE("types: random bytes never crash a decoder") {
    const auto decoders = all_decoders();
    std::mt19937 rng(1234);
    // Bytes that matter to some grammar, so the parsers get past their first check.
    constexpr std::string_view interesting = "0123456789-+.:eE {}\",\\NULLnaInfity[]=xTZBC\x01";
    for (int i = 0; i < 50000; ++i) {
        std::string s(rng() % 48, '\0');
        const bool text_like = rng() % 2 == 0;
        for (auto& c : s)
            c = text_like ? interesting[rng() % interesting.size()]
                          : static_cast<char>(static_cast<unsigned char>(rng()));
        const auto copy = exact_copy(s);
        const std::string_view view{copy.get(), s.size()};
        const auto type_oid = garbage_oids[rng() % std::size(garbage_oids)];
        decoders[rng() % decoders.size()](view, type_oid);
    }
}

TEST_CASE("types: mutated and truncated valid encodings never crash a decoder") {
    const auto decoders = all_decoders();
    std::vector<std::string> samples;
    for (const auto& g : numeric_goldens)
        samples.push_back(unhex(g.bytes));
    samples.push_back(binary_of(std::vector<std::optional<std::int32_t>>{1, std::nullopt, 3}));
    samples.push_back(binary_of(std::vector<std::optional<std::string>>{"a", std::nullopt}));
    samples.push_back(binary_of(std::vector<numeric>{numeric{"12.5"}, numeric{"-0.001"}}));
    samples.push_back(binary_of(std::vector<std::optional<timestamptz>>{timestamptz{0}}));
    samples.push_back(
        text_of(std::vector<std::optional<std::string>>{"a b", std::nullopt, "\"\\"}));
    samples.push_back(text_of(std::vector<numeric>{numeric{"12.5"}, numeric{"-1e3"}}));
    samples.push_back(text_of(timestamptz{0x2b6b1fd64b4c0}));
    samples.push_back(text_of(date{-730120}));
    samples.push_back("[0:1]={\"x\",NULL}");
    std::mt19937 rng(99);
    for (const auto& sample : samples) {
        for (std::size_t n = 0; n <= sample.size(); ++n) {
            const std::string prefix = sample.substr(0, n);
            const auto copy = exact_copy(prefix);
            for (const auto& d : decoders)
                for (const auto type_oid : garbage_oids)
                    d(std::string_view{copy.get(), n}, type_oid);
        }
        for (int i = 0; i < 300; ++i) {
            std::string m = sample;
            const auto flips = 1 + rng() % 3;
            for (unsigned f = 0; f < flips && !m.empty(); ++f)
                m[rng() % m.size()] = static_cast<char>(static_cast<unsigned char>(rng()));
            const auto copy = exact_copy(m);
            decoders[rng() % decoders.size()](std::string_view{copy.get(), m.size()},
                                              garbage_oids[rng() % std::size(garbage_oids)]);
        }
    }
}

} // namespace
} // namespace qail::client
