// A fluent builder that reads like qail:
//   get("users").columns({"id", "email"}).filter("active", op::eq, true)
//       .order_by("created_at", sort::desc).limit(10)
#pragma once

#include <qail/ast/ast.hpp>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace qail::ast {

/// Builds one qail statement. Every method appends to the statement and returns *this;
/// a builder converts to `const qail&`, so it can be passed to compile(), to_json() and
/// fetch_all() directly. Nothing is checked here: compile() reports what does not make
/// a statement, with the path of the node.
class builder {
public:
    builder(action_kind action, std::string table);

    // --- SELECT list ---
    /// Appends select-list items (names, or any expression: count(), as(...), ...).
    builder& columns(std::initializer_list<expr> items);
    builder& columns(const std::vector<std::string>& names);
    builder& column(expr item);
    /// SELECT *.
    builder& select_all();
    /// SELECT DISTINCT.
    builder& distinct();
    /// SELECT DISTINCT ON (items).
    builder& distinct_on(std::initializer_list<expr> items);

    // --- WHERE ---
    /// Adds `left op v` to the first AND filter cage (created on first use), as QAIL's
    /// filter() does. IS NULL / IS NOT NULL take no value.
    builder& filter(expr left, ast::op op, value v = {});
    /// Adds `left op v` to the first OR filter cage; the cages combine with AND.
    builder& or_filter(expr left, ast::op op, value v = {});
    /// Adds a whole condition to the AND filter cage (is_array_unnest, ...).
    builder& where(condition c);
    builder& eq(expr left, value v) { return filter(std::move(left), op::eq, std::move(v)); }
    builder& is_null(expr left) { return filter(std::move(left), op::is_null); }
    builder& is_not_null(expr left) { return filter(std::move(left), op::is_not_null); }
    /// left IN (v1, v2, ...): one bind parameter per element.
    builder& in(expr left, value_list values);

    // --- ORDER BY, LIMIT, OFFSET, GROUP BY, HAVING ---
    builder& order_by(expr item, ast::sort order = sort::asc);
    builder& limit(std::uint64_t n);
    builder& offset(std::uint64_t n);
    builder& group_by(std::initializer_list<expr> items);
    /// Adds `left op v` to HAVING (combined with AND); left is usually an aggregate.
    builder& having(expr left, ast::op op, value v = {});

    // --- joins ---
    /// `kind JOIN table ON left_col = right_col` (right_col is a column reference).
    builder& join(join_kind kind, std::string table, std::string left_col, std::string right_col);
    builder& join(ast::join j);
    builder& inner_join(std::string table, std::string left_col, std::string right_col);
    builder& left_join(std::string table, std::string left_col, std::string right_col);
    builder& right_join(std::string table, std::string left_col, std::string right_col);
    builder& full_join(std::string table, std::string left_col, std::string right_col);
    builder& cross_join(std::string table);

    // --- INSERT / UPDATE payload ---
    /// `column = v` in the payload cage (INSERT column list or UPDATE SET).
    builder& set(std::string column, value v);
    /// Positional payload for the names given to columns(): `$1`, `$2`, ... in order,
    /// as QAIL's values() builds it.
    builder& values(std::initializer_list<value> vals);
    /// INSERT ... DEFAULT VALUES.
    builder& default_values();

    // --- RETURNING, ON CONFLICT ---
    builder& returning(std::initializer_list<expr> items);
    builder& returning_all();
    /// ON CONFLICT (columns) DO NOTHING; no columns: any conflict.
    builder& on_conflict_do_nothing(std::vector<std::string> columns = {});
    /// ON CONFLICT (columns) DO UPDATE SET ... (use excluded("col") for the new row).
    builder& on_conflict_do_update(std::vector<std::string> columns,
                                   std::vector<assignment> assignments);
    /// Adds a DO UPDATE ... WHERE condition (on the existing row).
    builder& on_conflict_where(condition c);

    /// The statement built so far.
    [[nodiscard]] const qail& ast() const noexcept { return q_; }
    operator const qail&() const noexcept { return q_; } // NOLINT(google-explicit-constructor)

private:
    cage& filter_cage(ast::logical_op logic);
    cage& payload_cage();
    ast::on_conflict& conflict();

    qail q_;
};

// --- statements ---
[[nodiscard]] builder get(std::string table);
[[nodiscard]] builder cnt(std::string table);
[[nodiscard]] builder set(std::string table);
[[nodiscard]] builder add(std::string table);
[[nodiscard]] builder del(std::string table);
[[nodiscard]] builder upsert(std::string table);
[[nodiscard]] builder export_(std::string table);

// --- expressions and values ---
/// A column reference: an identifier as a value (`orgs.id` in `users.org_id = orgs.id`),
/// and a named expression where an expr is expected.
[[nodiscard]] inline column_ref col(std::string name) {
    return column_ref{std::move(name)};
}
/// `EXCLUDED.col`: the row proposed for insertion, in ON CONFLICT DO UPDATE.
[[nodiscard]] inline expr excluded(std::string column) {
    return named{"EXCLUDED." + std::move(column)};
}
/// Caller-supplied parameter $n (1-based), resolved from compile_options::bind.
[[nodiscard]] inline param_ref param(std::uint64_t n) {
    return param_ref{n};
}
/// Raw SQL (QAIL's Value::Function). Never build it from untrusted input.
[[nodiscard]] inline raw_sql raw(std::string sql) {
    return raw_sql{std::move(sql)};
}
[[nodiscard]] inline json_text json(std::string document) {
    return json_text{std::move(document)};
}
[[nodiscard]] inline timestamp_text ts(std::string text) {
    return timestamp_text{std::move(text)};
}
/// A literal in expression position (SELECT $1, SET x = $1 in DO UPDATE).
[[nodiscard]] inline expr lit(value v) {
    return literal{std::move(v)};
}

/// func(col); col "*" only for count.
[[nodiscard]] expr agg(aggregate_func func, std::string col = "*");
[[nodiscard]] inline expr count(std::string col = "*") {
    return agg(aggregate_func::count, std::move(col));
}
[[nodiscard]] inline expr sum(std::string col) {
    return agg(aggregate_func::sum, std::move(col));
}
[[nodiscard]] inline expr avg(std::string col) {
    return agg(aggregate_func::avg, std::move(col));
}
/// func(DISTINCT col).
[[nodiscard]] expr agg_distinct(aggregate_func func, std::string col);
/// An aggregate with FILTER (WHERE conditions).
[[nodiscard]] expr agg_filter(aggregate_func func, std::string col, std::vector<condition> filter);
/// CAST(e AS type).
[[nodiscard]] expr cast_to(expr e, std::string type);
/// e AS alias: a name becomes an Aliased, other expressions get their alias set.
[[nodiscard]] expr as(expr e, std::string alias);
/// column->key->...->>last (each `as_text` segment uses ->>).
[[nodiscard]] expr json_path(std::string column, std::vector<json_access::segment> path);
/// name(args...): trusted code only, the name is emitted as written.
[[nodiscard]] expr call(std::string name, std::vector<expr> args);
/// `left op v` as a condition.
[[nodiscard]] inline condition cond(expr left, ast::op op, value v = {}) {
    return condition{std::move(left), op, std::move(v), false};
}

} // namespace qail::ast
