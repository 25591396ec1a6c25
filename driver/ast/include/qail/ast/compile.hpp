// AST -> SQL text with $n placeholders plus typed text-format parameters: every literal is
// a bind parameter, every identifier is quoted, LIMIT/OFFSET are inlined integers.
#pragma once

#include <qail/ast/ast.hpp>
#include <qail/ast/error.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qail::ast {

/// A compiled statement, ready for connection::query(sql, params).
struct compiled {
    std::string sql;
    std::vector<pg::param> params;
    /// Export: `sql` is a COPY ... TO STDOUT for connection::copy_out(). COPY takes no
    /// parameters, so its literals are inlined as escaped, typed constants
    /// (E'...'::type) and `params` is empty.
    bool copy_out = false;
};

struct compile_options {
    /// Values of caller-supplied parameters: a Param(n) value refers to bind[n - 1].
    std::span<const pg::param> bind;
    /// Row limit clamp for Get: LIMIT min(limit, max_rows), and LIMIT max_rows when the
    /// statement has none. Unset: no clamp.
    std::optional<std::uint64_t> max_rows;
};

/// Compiles `q`. Errors name the node by its path in the AST, the same path its JSON
/// form has ("cages[1].conditions[0].value: Between needs an Array of two values").
///
/// Parameter types: Bool bool, Int int8, Float float8, Uuid/NullUuid uuid, Json jsonb,
/// Bytes bytea, Interval interval; String, Timestamp, Null and Array are sent untyped
/// (type 0) so the server types them from their context, as it types a quoted literal.
[[nodiscard]] result<compiled> compile(const qail& q, const compile_options& options = {});

/// `"a"."b"."c"` for "a.b.c": each dotted part in double quotes, embedded quotes doubled.
/// Refuses an empty name, an empty part and a NUL byte.
[[nodiscard]] result<std::string> quote_identifier(std::string_view dotted);

/// Every table the statement reads or writes (the target, then each join), as written,
/// for a table allow-list.
[[nodiscard]] std::vector<std::string> referenced_tables(const qail& q);

/// True for the actions an untrusted client may run: Get, Cnt, Set, Add, Del, Upsert.
[[nodiscard]] bool is_dml(action_kind a) noexcept;

/// Parameters for logs and `qail-query -v`, one per line: `$1 = 'a@x' (unknown)`,
/// `$2 = 42 (int8)`, `$3 = NULL (uuid)`. Quotes inside values are doubled.
[[nodiscard]] std::string to_string(std::span<const pg::param> params);

} // namespace qail::ast
