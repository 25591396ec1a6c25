// PostgreSQL value conversions: type OIDs, value wrappers, and the value_traits that
// encode and decode C++ values in PostgreSQL's text and binary wire formats.
#pragma once

#include <qail/client/error.hpp>
#include <qail/protocol/simple_query.hpp>

#include <array>
#include <boost/system/result.hpp>
#include <chrono>
#include <compare>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qail::client {

namespace detail {
struct array_type_pair {
    std::int32_t element;
    std::int32_t array;
};
} // namespace detail

/// OIDs of the built-in types this driver converts. They are fixed in PostgreSQL's
/// pg_type.dat, so they are the same on every server version.
namespace oid {
inline constexpr std::int32_t bool_ = 16;
inline constexpr std::int32_t bytea = 17;
inline constexpr std::int32_t char_ = 18; ///< "char": one byte, carried as text
inline constexpr std::int32_t name = 19;
inline constexpr std::int32_t int8 = 20;
inline constexpr std::int32_t int2 = 21;
inline constexpr std::int32_t int4 = 23;
inline constexpr std::int32_t text = 25;
inline constexpr std::int32_t oid = 26;
inline constexpr std::int32_t json = 114;
inline constexpr std::int32_t xml = 142;
inline constexpr std::int32_t float4 = 700;
inline constexpr std::int32_t float8 = 701;
inline constexpr std::int32_t unknown = 705;
inline constexpr std::int32_t bpchar = 1042;
inline constexpr std::int32_t varchar = 1043;
inline constexpr std::int32_t date = 1082;
inline constexpr std::int32_t timestamp = 1114;
inline constexpr std::int32_t timestamptz = 1184;
inline constexpr std::int32_t numeric = 1700;
inline constexpr std::int32_t uuid = 2950;
inline constexpr std::int32_t jsonb = 3802;

inline constexpr std::int32_t _json = 199;
inline constexpr std::int32_t _bool = 1000;
inline constexpr std::int32_t _bytea = 1001;
inline constexpr std::int32_t _char = 1002;
inline constexpr std::int32_t _name = 1003;
inline constexpr std::int32_t _int2 = 1005;
inline constexpr std::int32_t _int4 = 1007;
inline constexpr std::int32_t _text = 1009;
inline constexpr std::int32_t _bpchar = 1014;
inline constexpr std::int32_t _varchar = 1015;
inline constexpr std::int32_t _int8 = 1016;
inline constexpr std::int32_t _float4 = 1021;
inline constexpr std::int32_t _float8 = 1022;
inline constexpr std::int32_t _oid = 1028;
inline constexpr std::int32_t _timestamp = 1115;
inline constexpr std::int32_t _date = 1182;
inline constexpr std::int32_t _timestamptz = 1185;
inline constexpr std::int32_t _numeric = 1231;
inline constexpr std::int32_t _uuid = 2951;
inline constexpr std::int32_t _jsonb = 3807;

/// pg_type.typarray of every element type above that has an array type.
inline constexpr std::array<detail::array_type_pair, 20> array_types{{
    {bool_, _bool},      {bytea, _bytea},         {name, _name},
    {int2, _int2},       {int4, _int4},           {int8, _int8},
    {text, _text},       {varchar, _varchar},     {bpchar, _bpchar},
    {oid, _oid},         {float4, _float4},       {float8, _float8},
    {date, _date},       {timestamp, _timestamp}, {timestamptz, _timestamptz},
    {numeric, _numeric}, {uuid, _uuid},           {json, _json},
    {jsonb, _jsonb},     {char_, _char},
}};

/// The array type whose elements have type `element`; 0 when the table has none.
[[nodiscard]] constexpr std::int32_t array_of(std::int32_t element) noexcept {
    for (const auto& p : array_types)
        if (p.element == element)
            return p.array;
    return 0;
}

/// The element type of array type `array`; 0 when `array` is not an array in the table.
[[nodiscard]] constexpr std::int32_t element_of(std::int32_t array) noexcept {
    for (const auto& p : array_types)
        if (p.array == array)
            return p.element;
    return 0;
}
} // namespace oid

/// pg_type.typname of a type in the oid table ("int4", "_text", ...); "unknown" for
/// an OID the table does not hold.
[[nodiscard]] std::string_view type_name(std::int32_t type_oid) noexcept;

// ---------------------------------------------------------------------------------
// Value wrappers for types without a natural C++ counterpart.

/// bytea: arbitrary bytes (a std::string so string_view input copies in one step).
struct bytea {
    std::string bytes;
    bool operator==(const bytea&) const = default;
};

/// uuid: 16 bytes in network order (the order of the canonical text form).
struct uuid {
    std::array<std::uint8_t, 16> bytes{};

    /// Accepts what uuid_in accepts: 32 hex digits of either case, optionally in braces,
    /// with an optional '-' after any group of four digits.
    [[nodiscard]] static boost::system::result<uuid> parse(std::string_view text) noexcept;
    /// The canonical lowercase 8-4-4-4-12 form uuid_out prints.
    [[nodiscard]] std::string to_string() const;
    auto operator<=>(const uuid&) const = default;
};

/// numeric: the exact decimal text, as numeric_out prints it ("-12.500", "NaN",
/// "Infinity", "-Infinity"). Binary encoding parses the text; text that numeric_in would
/// refuse is sent as a binary value the server rejects (an invalid sign), never as
/// some other number. Prefer numeric::parse to catch such text early.
struct numeric {
    std::string text;

    /// Checks `text` against numeric_in's syntax (surrounding spaces, sign, digits with
    /// an optional point, optional exponent, NaN, [+-]Infinity / inf in any case) and
    /// returns the canonical form numeric_out would print ("1.50e2" -> "150", keeping the
    /// scale: "1.500" stays "1.500").
    [[nodiscard]] static boost::system::result<numeric> parse(std::string_view text);
    bool operator==(const numeric&) const = default;
};

/// date: days since 2000-01-01 (PostgreSQL's epoch). INT32_MIN/INT32_MAX are
/// -infinity/infinity. Valid finite dates run from 4714-11-24 BC to 5874897-12-31 AD
/// in the proleptic Gregorian calendar, as in PostgreSQL.
struct date {
    std::int32_t days_since_2000 = 0;

    [[nodiscard]] static constexpr date infinity() noexcept {
        return {std::numeric_limits<std::int32_t>::max()};
    }
    [[nodiscard]] static constexpr date minus_infinity() noexcept {
        return {std::numeric_limits<std::int32_t>::min()};
    }
    [[nodiscard]] constexpr bool is_infinite() const noexcept {
        return days_since_2000 == std::numeric_limits<std::int32_t>::max() ||
               days_since_2000 == std::numeric_limits<std::int32_t>::min();
    }
    /// type_mismatch outside PostgreSQL's date range.
    [[nodiscard]] static boost::system::result<date>
    from_sys_days(std::chrono::sys_days d) noexcept;
    /// type_mismatch for +-infinity.
    [[nodiscard]] boost::system::result<std::chrono::sys_days> to_sys_days() const noexcept;
    /// "YYYY-MM-DD" (4 or more year digits) with an optional " BC", or [+-]infinity:
    /// the ISO DateStyle that PostgreSQL prints.
    [[nodiscard]] static boost::system::result<date> parse(std::string_view text) noexcept;
    /// As date_out prints with DateStyle ISO.
    [[nodiscard]] std::string to_string() const;
    auto operator<=>(const date&) const = default;
};

/// timestamp (without time zone): microseconds since 2000-01-01 00:00:00 of an unzoned
/// wall clock. INT64_MIN/INT64_MAX are -infinity/infinity. The sys_time conversions read
/// the wall clock as if it were UTC.
struct timestamp {
    std::int64_t micros_since_2000 = 0;

    [[nodiscard]] static constexpr timestamp infinity() noexcept {
        return {std::numeric_limits<std::int64_t>::max()};
    }
    [[nodiscard]] static constexpr timestamp minus_infinity() noexcept {
        return {std::numeric_limits<std::int64_t>::min()};
    }
    [[nodiscard]] constexpr bool is_infinite() const noexcept {
        return micros_since_2000 == std::numeric_limits<std::int64_t>::max() ||
               micros_since_2000 == std::numeric_limits<std::int64_t>::min();
    }
    /// type_mismatch outside PostgreSQL's timestamp range (4714-11-24 BC to 294276 AD).
    [[nodiscard]] static boost::system::result<timestamp>
    from_sys_time(std::chrono::sys_time<std::chrono::microseconds> t) noexcept;
    /// type_mismatch for +-infinity and for values sys_time cannot hold.
    [[nodiscard]] boost::system::result<std::chrono::sys_time<std::chrono::microseconds>>
    to_sys_time() const noexcept;
    /// "YYYY-MM-DD HH:MM[:SS[.ffffff]]" ('T' also accepted as separator, more than six
    /// fraction digits rounded) with an optional " BC", or [+-]infinity. A zone offset is
    /// refused: it has no meaning for this type.
    [[nodiscard]] static boost::system::result<timestamp> parse(std::string_view text) noexcept;
    /// As timestamp_out prints with DateStyle ISO ("2000-01-01 12:00:00.5").
    [[nodiscard]] std::string to_string() const;
    auto operator<=>(const timestamp&) const = default;
};

/// timestamptz: microseconds since 2000-01-01 00:00:00 UTC. INT64_MIN/INT64_MAX are
/// -infinity/infinity.
struct timestamptz {
    std::int64_t micros_since_2000_utc = 0;

    [[nodiscard]] static constexpr timestamptz infinity() noexcept {
        return {std::numeric_limits<std::int64_t>::max()};
    }
    [[nodiscard]] static constexpr timestamptz minus_infinity() noexcept {
        return {std::numeric_limits<std::int64_t>::min()};
    }
    [[nodiscard]] constexpr bool is_infinite() const noexcept {
        return micros_since_2000_utc == std::numeric_limits<std::int64_t>::max() ||
               micros_since_2000_utc == std::numeric_limits<std::int64_t>::min();
    }
    /// type_mismatch outside PostgreSQL's timestamp range.
    [[nodiscard]] static boost::system::result<timestamptz>
    from_sys_time(std::chrono::sys_time<std::chrono::microseconds> t) noexcept;
    /// type_mismatch for +-infinity and for values sys_time cannot hold.
    [[nodiscard]] boost::system::result<std::chrono::sys_time<std::chrono::microseconds>>
    to_sys_time() const noexcept;
    /// As timestamp::parse, plus a required zone offset: Z, +HH, +HHMM, +HH:MM or
    /// +HH:MM:SS (PostgreSQL prints the session TimeZone's offset); normalised to UTC.
    [[nodiscard]] static boost::system::result<timestamptz> parse(std::string_view text) noexcept;
    /// In UTC, as timestamptz_out prints with TimeZone=UTC ("2000-01-01 00:00:00+00").
    [[nodiscard]] std::string to_string() const;
    auto operator<=>(const timestamptz&) const = default;
};

/// json: the document text, as the server stores it.
struct json {
    std::string text;
    bool operator==(const json&) const = default;
};

/// jsonb: the document text (the server normalises it; binary adds a version byte).
struct jsonb {
    std::string text;
    bool operator==(const jsonb&) const = default;
};

// ---------------------------------------------------------------------------------
// Conversion traits.

/// How a C++ type maps to a PostgreSQL type. Each specialisation has
///   static constexpr std::int32_t oid;   // the type OID a bound parameter declares
///   static void to_text(const T&, std::string& out);     // appends the text form
///   static void to_binary(const T&, std::string& out);   // appends the binary form
///   static result<T> from_text(std::string_view, std::int32_t type_oid);
///   static result<T> from_binary(std::string_view, std::int32_t type_oid);
/// from_* accept every type_oid whose values convert without changing meaning (narrower
/// integers range-checked) and refuse others with errc::type_mismatch, as they refuse
/// malformed input. type_oid 0 means "not known": the trait's own oid is assumed.
/// Nullable types (std::optional) add is_null() and null().
template <class T>
struct value_traits;

namespace detail {
/// Converts to any result<T> holding `code`. Returning an error_code directly does not
/// compile for result<bool>, since bool is constructible from error_code.
struct failure {
    errc code;
    template <class T>
    operator boost::system::result<T>() const { // NOLINT(google-explicit-constructor)
        return {boost::system::in_place_error, make_error_code(code)};
    }
};
inline constexpr failure mismatch{errc::type_mismatch};

template <class T>
[[nodiscard]] boost::system::result<T> propagate(const boost::system::error_code& ec) {
    return {boost::system::in_place_error, ec};
}
} // namespace detail

/// A C++ type with a value_traits specialisation.
template <class T>
concept pg_value = requires(const T& v, std::string& out) {
    { value_traits<T>::oid } -> std::convertible_to<std::int32_t>;
    value_traits<T>::to_text(v, out);
    value_traits<T>::to_binary(v, out);
};

/// A pg_value that can be NULL (std::optional<T>).
template <class T>
concept nullable_value = pg_value<T> && requires(const T& v) {
    { value_traits<T>::is_null(v) } -> std::same_as<bool>;
    { value_traits<T>::null() } -> std::same_as<T>;
};

#define QAIL_CLIENT_DECLARE_VALUE_TRAITS(T, OID)                                                   \
    template <>                                                                                    \
    struct value_traits<T> {                                                                       \
        static constexpr std::int32_t oid = OID;                                                   \
        static void to_text(const T& v, std::string& out);                                         \
        static void to_binary(const T& v, std::string& out);                                       \
        [[nodiscard]] static boost::system::result<T> from_text(std::string_view text,             \
                                                                std::int32_t type_oid);            \
        [[nodiscard]] static boost::system::result<T> from_binary(std::string_view bytes,          \
                                                                  std::int32_t type_oid);          \
    }

/// bool: t/f; input also takes true/false/yes/no/on/off/1/0 and unique prefixes.
QAIL_CLIENT_DECLARE_VALUE_TRAITS(bool, oid::bool_);
/// Integers read int2/int4/int8/oid values; a value that does not fit is type_mismatch.
QAIL_CLIENT_DECLARE_VALUE_TRAITS(std::int16_t, oid::int2);
QAIL_CLIENT_DECLARE_VALUE_TRAITS(std::int32_t, oid::int4);
QAIL_CLIENT_DECLARE_VALUE_TRAITS(std::int64_t, oid::int8);
/// Floats read float4, float8 and numeric (float from float8: type_mismatch when the value
/// exceeds float's range). Text is the shortest round-trip form; NaN, Infinity, -Infinity.
QAIL_CLIENT_DECLARE_VALUE_TRAITS(float, oid::float4);
QAIL_CLIENT_DECLARE_VALUE_TRAITS(double, oid::float8);
/// Strings read any type in text format, and the textual types (text, varchar, bpchar,
/// name, "char", json, jsonb, xml, unknown) in binary format.
QAIL_CLIENT_DECLARE_VALUE_TRAITS(std::string, oid::text);
/// Like std::string, but decoding returns a view into the input bytes.
QAIL_CLIENT_DECLARE_VALUE_TRAITS(std::string_view, oid::text);
/// bytea: hex text "\x0aff" (input also takes the legacy escape format).
QAIL_CLIENT_DECLARE_VALUE_TRAITS(bytea, oid::bytea);
QAIL_CLIENT_DECLARE_VALUE_TRAITS(uuid, oid::uuid);
/// numeric also reads int2/int4/int8 values.
QAIL_CLIENT_DECLARE_VALUE_TRAITS(numeric, oid::numeric);
QAIL_CLIENT_DECLARE_VALUE_TRAITS(date, oid::date);
QAIL_CLIENT_DECLARE_VALUE_TRAITS(timestamp, oid::timestamp);
QAIL_CLIENT_DECLARE_VALUE_TRAITS(timestamptz, oid::timestamptz);
/// json and jsonb each read both json and jsonb values.
QAIL_CLIENT_DECLARE_VALUE_TRAITS(json, oid::json);
QAIL_CLIENT_DECLARE_VALUE_TRAITS(jsonb, oid::jsonb);

#undef QAIL_CLIENT_DECLARE_VALUE_TRAITS

/// std::optional<T>: NULL is std::nullopt. Non-NULL values convert as T.
template <class T>
struct value_traits<std::optional<T>> {
    static_assert(!nullable_value<T>, "std::optional<std::optional<T>>: SQL has one NULL");
    static constexpr std::int32_t oid = value_traits<T>::oid;

    [[nodiscard]] static bool is_null(const std::optional<T>& v) noexcept { return !v; }
    [[nodiscard]] static std::optional<T> null() noexcept { return std::nullopt; }
    /// Appends nothing for NULL: callers check is_null() first, as encode_value does.
    static void to_text(const std::optional<T>& v, std::string& out) {
        if (v)
            value_traits<T>::to_text(*v, out);
    }
    static void to_binary(const std::optional<T>& v, std::string& out) {
        if (v)
            value_traits<T>::to_binary(*v, out);
    }
    [[nodiscard]] static boost::system::result<std::optional<T>> from_text(std::string_view text,
                                                                           std::int32_t type_oid) {
        return wrap(value_traits<T>::from_text(text, type_oid));
    }
    [[nodiscard]] static boost::system::result<std::optional<T>>
    from_binary(std::string_view bytes, std::int32_t type_oid) {
        return wrap(value_traits<T>::from_binary(bytes, type_oid));
    }

private:
    static boost::system::result<std::optional<T>> wrap(boost::system::result<T>&& r) {
        if (!r)
            return detail::propagate<std::optional<T>>(r.error());
        return {boost::system::in_place_value, std::move(*r)};
    }
};

/// Appends the wire form of `v` in `format` to `out`. Returns false, appending nothing,
/// when `v` is NULL.
template <pg_value T>
bool encode_value(const T& v, protocol::format_code format, std::string& out) {
    if constexpr (nullable_value<T>) {
        if (value_traits<T>::is_null(v))
            return false;
    }
    if (format == protocol::format_code::binary)
        value_traits<T>::to_binary(v, out);
    else
        value_traits<T>::to_text(v, out);
    return true;
}

/// Decodes one field value (std::nullopt = NULL) sent in `format` with type `type_oid`.
/// NULL gives null() for nullable types and errc::unexpected_null for the others.
template <pg_value T>
[[nodiscard]] boost::system::result<T> decode_value(std::optional<std::string_view> bytes,
                                                    protocol::format_code format,
                                                    std::int32_t type_oid) {
    if (!bytes) {
        if constexpr (nullable_value<T>)
            return {boost::system::in_place_value, value_traits<T>::null()};
        else
            return detail::failure{errc::unexpected_null};
    }
    if (format == protocol::format_code::binary)
        return value_traits<T>::from_binary(*bytes, type_oid);
    return value_traits<T>::from_text(*bytes, type_oid);
}

// ---------------------------------------------------------------------------------
// Parameters.

/// One bound parameter, type-erased: what Parse declares and Bind sends.
struct param {
    /// The type declared in Parse; 0 lets the server infer it.
    std::int32_t type_oid = 0;
    protocol::format_code format = protocol::format_code::text;
    /// The value's bytes; std::nullopt is SQL NULL.
    std::optional<std::string> bytes;
    bool operator==(const param&) const = default;
};

/// Encodes `v` as a parameter of its natural type (value_traits<T>::oid) in `format`.
template <pg_value T>
[[nodiscard]] param to_param(const T& v,
                             protocol::format_code format = protocol::format_code::binary) {
    param p{value_traits<T>::oid, format, std::nullopt};
    std::string bytes;
    if (encode_value(v, format, bytes))
        p.bytes = std::move(bytes);
    return p;
}

/// A C string as a parameter of type text; a null pointer is SQL NULL.
[[nodiscard]] param to_param(const char* v,
                             protocol::format_code format = protocol::format_code::binary);

/// A value already in PostgreSQL text form; type 0 lets the server infer the type, as an
/// untyped literal in the SQL text would.
[[nodiscard]] param text_param(std::string_view text, std::int32_t type_oid = 0);

/// SQL NULL, declared with `type_oid` (0: inferred by the server).
[[nodiscard]] param null_param(std::int32_t type_oid = 0);

} // namespace qail::client

#include <qail/client/detail/types_array.hpp>
