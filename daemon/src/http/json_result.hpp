// Encoding a query result as the HTTP API's JSON: column names and types, rows as objects
// or arrays, each value mapped from its PostgreSQL text form by type.
#pragma once

#include <qail/client/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace qail::proxy::http {

enum class row_format {
    objects, ///< {"col": value, ...}
    arrays,  ///< [value, ...] in column order (?format=arrays)
};

/// The type name reported in "columns": pg_type.typname ("int4", "text", "_int4" for
/// int4[]), or "unknown" for a type this table does not know.
[[nodiscard]] std::string_view column_type_name(std::int32_t type_oid) noexcept;

/// Appends `s` as a JSON string literal (quotes, backslashes and control characters
/// escaped; bytes that are not valid UTF-8 become U+FFFD).
void append_json_string(std::string& out, std::string_view s);

/// Appends one value given in PostgreSQL's text output format:
/// - int2/int4/oid, float4/float8: JSON numbers (NaN and +-Infinity as strings);
/// - int8: a number when |v| <= 2^53, else a string holding the exact digits;
/// - numeric: a number when it has at most 15 significant digits (a double then
///   round-trips it exactly), else a string; NaN/Infinity as strings;
/// - bool: true/false; json/jsonb: embedded as they are;
/// - bytea: base64 (standard alphabet, padded) of the bytes;
/// - date, timestamp, timestamptz, time, timetz: ISO-8601 strings ("T" between date and
///   time, offsets as +HH:MM); infinity as "infinity"/"-infinity";
/// - arrays of the types above (one dimension): JSON arrays, elements mapped the same way;
/// - anything else (text, uuid, interval, ...): a JSON string of the text.
void append_json_value(std::string& out, std::int32_t type_oid, std::string_view text);

/// Appends {"columns":[{"name","type"}...],"rows":[...],"count":N,"command":"SELECT 3"}.
/// `count` is the command tag's row count (rows returned or affected), else the rows.
void append_result_json(std::string& out, const client::result_set& rs, row_format format);

} // namespace qail::proxy::http
