// The AST compiler's state and steps (private to qail_ast): compile_expr.cpp writes
// values, expressions and conditions, compile.cpp the clauses and statements.
#pragma once

#include <qail/ast/compile.hpp>
#include <qail/ast/detail/path.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qail::ast::detail {

/// A payload item resolved from either payload form.
struct payload_item {
    std::string column;
    const value* val = nullptr;
    std::size_t condition_index = 0; // for error paths
};

/// Where an expression appears: what it may be and whether its alias is printed.
enum class expr_context {
    select_item, ///< SELECT list, RETURNING: aliases printed, star allowed
    reference,   ///< conditions, ORDER BY, GROUP BY, DISTINCT ON: no alias, no star
    argument,    ///< a function argument: no alias, star allowed
};

/// Compiles one statement into sql_ and params_, tracking the path of the node being
/// compiled so that every refusal names it. Each step returns false after setting err_.
class compiler {
public:
    explicit compiler(const compile_options& options) : opts_(options) {}

    result<compiled> run(const qail& q);

private:
    // --- errors ---
    bool fail(errc code, std::string detail);

    bool refuse_field(std::string_view field, action_kind a, std::string_view what);

    // --- output helpers ---
    bool ident(std::string_view dotted, bool allow_star = false);

    /// A name in expression position: EXCLUDED.col inside ON CONFLICT is the special row.
    bool name_ref(std::string_view dotted, bool allow_star);

    bool alias(const std::string& a);

    bool no_nul(std::string_view text, std::string_view what);

    /// Appends a bind parameter ($n) or, for COPY, the equivalent typed constant.
    void add_param(pg::param p);

    /// Appends the parameter for a literal value, or fails with the value's path.
    bool bind_literal(const value& v);

    /// A value in expression position: a parameter, a column, a caller's $n or raw SQL.
    bool value_expr(const value& v);

    bool expression(const expr& e, expr_context ctx);

    bool aggregate_call(const aggregate& a);

    bool json_access_expr(const json_access& j);

    bool condition_list(const std::vector<condition>& list, logical_op logic);

    bool left_side(const condition& c);

    bool condition_sql(const condition& c);

    bool binary(std::string_view sql_op, const value& v);

    bool fuzzy(const value& v);

    bool in_list(std::string_view sql_op, const value& v);

    bool between(std::string_view sql_op, const value& v);

    bool unnest_condition(const condition& c);

    bool text_search(const condition& c);

    // --- clauses and statements (compile.cpp) ---

    /// WHERE over every Filter cage: a cage's conditions combine with its logical_op,
    /// cages combine with AND.
    bool where_clause(const qail& q);

    bool from_table(const qail& q);

    bool expr_list(std::string_view field, const std::vector<expr>& items, expr_context ctx);

    bool joins(const qail& q);

    /// Checks the cages of a statement against what `a` allows; finds limit and offset.
    bool check_cages(const qail& q, std::initializer_list<cage_kind> allowed,
                     std::optional<std::uint64_t>& limit, std::optional<std::uint64_t>& offset,
                     std::optional<std::size_t>& payload);

    bool limit_number(std::uint64_t n);

    bool select(const qail& q, bool count_only);

    /// GROUP BY (Partition cages) or ORDER BY (Sort cages), in cage order.
    bool group_and_order(const qail& q, cage_kind kind, std::string_view keyword);

    bool no_select_parts(const qail& q);

    /// The column = value pairs of the payload cage, in either QAIL form: named
    /// (left is the column) or positional (left is "$k", the k-th name in `columns`).
    bool payload_items(const qail& q, std::size_t cage_index, std::vector<payload_item>& out);

    bool payload_value(std::size_t cage_index, const payload_item& item);

    bool returning(const qail& q);

    bool update(const qail& q);

    bool refuse_missing_payload(action_kind a);

    bool payload_column(std::size_t cage_index, const payload_item& item);

    /// With a named payload the column list comes from the payload: `columns` must be
    /// empty (RETURNING has its own field).
    bool positional_columns_ok(const qail& q, std::size_t cage_index);

    bool insert(const qail& q);

    bool conflict_clause(const on_conflict& c);

    bool remove(const qail& q);

    const compile_options& opts_;
    std::string sql_;
    std::vector<pg::param> params_;
    path path_;
    std::optional<error> err_;
    /// Export: COPY takes no parameters, so literals are written as constants.
    bool inline_literals_ = false;
    /// Inside ON CONFLICT DO UPDATE, where EXCLUDED.col names the proposed row.
    bool in_conflict_ = false;
};

} // namespace qail::ast::detail
