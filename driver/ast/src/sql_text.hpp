// Identifiers and type names in SQL text: quoting every dotted part, and the plain-name
// grammars that decide what may be emitted unquoted (function and type names).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace qail::ast::detail {

/// [A-Za-z_][A-Za-z0-9_]* ('.' the same)*: a name that may be emitted without quotes.
[[nodiscard]] bool is_plain_dotted_name(std::string_view s) noexcept;

/// A SQL type name built only from plain words, single spaces, one "(n[,m])" modifier per
/// word and trailing "[]" pairs: "numeric(10,2)", "timestamp(3) with time zone", "int4[]".
/// Nothing in that grammar can end a CAST or start another expression.
[[nodiscard]] bool is_type_name(std::string_view s) noexcept;

/// ASCII case-insensitive equality (`lower` is lowercase).
[[nodiscard]] bool equals_ignoring_case(std::string_view s, std::string_view lower) noexcept;

/// Appends every dotted part in double quotes, embedded quotes doubled; a last part "*"
/// stays a star when `allow_star`. Returns why the name was refused (empty, empty part,
/// NUL byte), appending nothing useful then.
[[nodiscard]] std::optional<std::string>
append_identifier(std::string& out, std::string_view dotted, bool allow_star);

/// Appends one name (an alias: no dotted parts) in double quotes.
void append_quoted_name(std::string& out, std::string_view name);

} // namespace qail::ast::detail
