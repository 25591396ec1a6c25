// QAIL's serde JSON <-> AST with Boost.JSON: reads the exact shape a Rust QAIL client's
// serde_json::to_string(&cmd) produces and the same shape with default-valued fields left
// out, under size/depth/node limits; writes the exact serde shape back.
#pragma once

#include <qail/ast/ast.hpp>
#include <qail/ast/error.hpp>

#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace qail::ast {

/// Limits enforced while the JSON text is being parsed, before any AST exists.
/// QAIL's gateway refuses bodies over 64 KiB, nesting over 64 and more than 16,384
/// nodes; the string and array limits are ours.
struct json_limits {
    std::size_t max_body_bytes = 64 * 1024;
    /// Objects and arrays nested inside each other, the root counting as 1.
    std::size_t max_depth = 64;
    /// JSON values of any kind (objects, arrays, strings, numbers, ...), keys excluded.
    std::size_t max_nodes = 16384;
    /// Bytes of one string or key (after unescaping).
    std::size_t max_string_bytes = 32 * 1024;
    /// Elements of one array.
    std::size_t max_array_items = 10000;
};

/// Where the JSON comes from.
enum class trust {
    /// Local files, the application itself: every supported node is accepted.
    trusted,
    /// HTTP clients: raw-SQL-bearing nodes (Value::Function, Expr::FunctionCall, Expr::Raw)
    /// and every action but Get, Cnt, Set, Add, Del and Upsert are refused.
    untrusted,
};

struct parse_options {
    json_limits limits;
    /// Untrusted unless said otherwise: the safe default for a network-facing parser.
    trust source = trust::untrusted;
};

/// Parses one QAIL AST. Errors name the JSON path and the offending token, e.g.
/// `cages[0].conditions[0].op: unknown operator "Eqq"`. Never throws for bad input.
/// Unknown fields and duplicate keys are refused (serde would ignore or reject them);
/// fields of QAIL features this driver does not support must hold their default value.
[[nodiscard]] result<qail> parse_json(std::string_view text, const parse_options& options = {});

/// Parses JSON text under `limits` only (no AST): for a body holding several ASTs, such
/// as a batch, whose elements then go through read_qail().
[[nodiscard]] result<boost::json::value> parse_json_value(std::string_view text,
                                                          const json_limits& limits = {});

/// Converts an already parsed JSON value (applying options.source, not the text limits).
[[nodiscard]] result<qail> read_qail(const boost::json::value& v,
                                     const parse_options& options = {});

/// The exact serde_json::to_string form of `q` as QAIL v1.4 writes it: every field in
/// declaration order, compact, floats in Rust's shortest form. ON CONFLICT's
/// `constraint` and `where_conditions` (newer QAIL) appear only when set.
[[nodiscard]] std::string to_json(const qail& q);

/// Reads and parses an AST file (for `qail-query --ast FILE`). Trusted by default: the
/// file is the operator's own.
[[nodiscard]] result<qail> load_ast_file(const std::string& path,
                                         const parse_options& options = {json_limits{},
                                                                         trust::trusted});

} // namespace qail::ast
