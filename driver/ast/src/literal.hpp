// Literal values as text-format bind parameters (every literal of an AST is one), and as
// the escaped, typed constants COPY needs because it takes no parameters.
#pragma once

#include <qail/ast/ast.hpp>
#include <qail/ast/error.hpp>

#include <boost/system/result.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qail::ast::detail {

/// pg_type.dat's interval OID (not in the driver's oid table).
inline constexpr std::int32_t interval_oid = 1186;

/// Why a value is not a literal: the code, the message, and for an Array the index of
/// the offending element.
struct literal_failure {
    errc code = errc::invalid_value;
    std::string detail;
    std::optional<std::size_t> element;
};

/// The parameter for a literal value: Bool bool, Int int8, Float float8, Uuid and
/// NullUuid uuid, Json jsonb, Bytes bytea, Interval interval; String, Timestamp, Null and
/// Array (one `{a,b}` literal, one dimension) are untyped so the server types them from
/// their context. Column, Param and Function values are not literals.
[[nodiscard]] boost::system::result<pg::param, literal_failure> literal_param(const value& v);

/// Appends `p` as a constant: NULL, or E'...' (backslashes and quotes doubled, which reads
/// the same whatever standard_conforming_strings says) with a cast to its type.
void append_copy_literal(std::string& sql, const pg::param& p);

/// The type name of a parameter's OID ("unknown" for 0).
[[nodiscard]] std::string_view param_type_name(std::int32_t type_oid) noexcept;

} // namespace qail::ast::detail
