// AST -> SQL text plus bind parameters: the clauses and statements (see compile.hpp for
// the typing rules, compile_expr.cpp for values, expressions and conditions).
#include "compiler.hpp"
#include "sql_text.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace qail::ast {
namespace detail {

result<compiled> compiler::run(const qail& q) {
    compiled out;
    bool ok = false;
    switch (q.action) {
    case action_kind::get:
        ok = select(q, false);
        break;
    case action_kind::cnt:
        ok = select(q, true);
        break;
    case action_kind::export_:
        inline_literals_ = true;
        sql_ += "COPY (";
        ok = select(q, false);
        sql_ += ") TO STDOUT";
        out.copy_out = true;
        break;
    case action_kind::set:
        ok = update(q);
        break;
    case action_kind::add:
    case action_kind::upsert:
        ok = insert(q);
        break;
    case action_kind::del:
        ok = remove(q);
        break;
    }
    if (!ok) {
        if (!err_)
            err_ = path_.fail(errc::invalid_ast, "statement could not be compiled");
        return {boost::system::in_place_error, std::move(*err_)};
    }
    out.sql = std::move(sql_);
    out.params = std::move(params_);
    return out;
}

/// WHERE over every Filter cage: a cage's conditions combine with its logical_op,
/// cages combine with AND.
bool compiler::where_clause(const qail& q) {
    std::vector<std::size_t> filters;
    for (std::size_t i = 0; i < q.cages.size(); ++i)
        if (q.cages[i].kind == cage_kind::filter && !q.cages[i].conditions.empty())
            filters.push_back(i);
    if (filters.empty())
        return true;
    sql_ += " WHERE ";
    path::step cs(path_, "cages");
    for (std::size_t k = 0; k < filters.size(); ++k) {
        const cage& c = q.cages[filters[k]];
        path::step s(path_, filters[k]);
        path::step cond(path_, "conditions");
        if (k > 0)
            sql_ += " AND ";
        const bool parens = filters.size() > 1 && c.conditions.size() > 1;
        if (parens)
            sql_ += '(';
        if (!condition_list(c.conditions, c.logical_op))
            return false;
        if (parens)
            sql_ += ')';
    }
    return true;
}

bool compiler::from_table(const qail& q) {
    if (q.only_table)
        sql_ += "ONLY ";
    path::step t(path_, "table");
    return ident(q.table);
}

bool compiler::expr_list(std::string_view field, const std::vector<expr>& items, expr_context ctx) {
    path::step f(path_, field);
    for (std::size_t i = 0; i < items.size(); ++i) {
        path::step s(path_, i);
        if (i > 0)
            sql_ += ", ";
        if (!expression(items[i], ctx))
            return false;
    }
    return true;
}

bool compiler::joins(const qail& q) {
    static constexpr std::string_view join_sql[] = {" INNER JOIN ", " LEFT JOIN ", " RIGHT JOIN ",
                                                    " FULL JOIN ", " CROSS JOIN "};
    path::step js(path_, "joins");
    for (std::size_t i = 0; i < q.joins.size(); ++i) {
        path::step s(path_, i);
        const join& j = q.joins[i];
        sql_ += join_sql[static_cast<std::size_t>(j.kind)];
        {
            path::step t(path_, "table");
            if (!ident(j.table))
                return false;
        }
        const bool has_on = j.on && !j.on->empty();
        if (j.kind == join_kind::cross) {
            if (has_on || j.on_true)
                return fail(errc::invalid_ast, "a Cross join takes no on conditions");
            continue;
        }
        if (has_on && j.on_true)
            return fail(errc::invalid_ast, "a join has either on conditions or on_true");
        if (j.on_true) {
            sql_ += " ON TRUE";
            continue;
        }
        if (!has_on)
            return fail(errc::invalid_ast,
                        std::string(name(j.kind)) + " join needs on conditions or on_true");
        sql_ += " ON ";
        path::step on(path_, "on");
        if (!condition_list(*j.on, logical_op::and_))
            return false;
    }
    return true;
}

/// Checks the cages of a statement against what `a` allows; finds limit and offset.
bool compiler::check_cages(const qail& q, std::initializer_list<cage_kind> allowed,
                           std::optional<std::uint64_t>& limit,
                           std::optional<std::uint64_t>& offset,
                           std::optional<std::size_t>& payload) {
    path::step cs(path_, "cages");
    for (std::size_t i = 0; i < q.cages.size(); ++i) {
        path::step s(path_, i);
        const cage& c = q.cages[i];
        if (std::find(allowed.begin(), allowed.end(), c.kind) == allowed.end()) {
            path::step k(path_, "kind");
            return fail(errc::invalid_ast, std::string(name(c.kind)) + " cage is not allowed in " +
                                               std::string(name(q.action)));
        }
        auto once = [&](auto& slot, auto v) {
            if (slot) {
                path::step k(path_, "kind");
                return fail(errc::invalid_ast,
                            "more than one " + std::string(name(c.kind)) + " cage");
            }
            slot = v;
            return true;
        };
        if (c.kind == cage_kind::limit && !once(limit, c.count))
            return false;
        if (c.kind == cage_kind::offset && !once(offset, c.count))
            return false;
        if (c.kind == cage_kind::payload && !once(payload, i))
            return false;
        if ((c.kind == cage_kind::sort || c.kind == cage_kind::partition) && c.conditions.empty())
            return fail(errc::invalid_ast,
                        std::string(name(c.kind)) + " cage needs at least one column");
    }
    return true;
}

bool compiler::limit_number(std::uint64_t n) {
    if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return fail(errc::invalid_value, "count " + std::to_string(n) + " exceeds bigint");
    sql_ += std::to_string(n);
    return true;
}

bool compiler::select(const qail& q, bool count_only) {
    const action_kind a = q.action;
    if (count_only) {
        if (!q.columns.empty() && !(q.columns.size() == 1 && q.columns[0].is<star>()))
            return refuse_field("columns", a, "a column list (Cnt counts rows)");
        if (q.distinct || !q.distinct_on.empty())
            return refuse_field(q.distinct ? "distinct" : "distinct_on", a, "DISTINCT");
        if (!q.having.empty())
            return refuse_field("having", a, "HAVING");
    }
    if (q.returning)
        return refuse_field("returning", a, "RETURNING");
    if (q.conflict)
        return refuse_field("on_conflict", a, "ON CONFLICT");
    if (q.default_values)
        return refuse_field("default_values", a, "DEFAULT VALUES");

    std::optional<std::uint64_t> limit;
    std::optional<std::uint64_t> offset;
    std::optional<std::size_t> payload;
    if (count_only) {
        if (!check_cages(q, {cage_kind::filter, cage_kind::limit, cage_kind::offset}, limit, offset,
                         payload))
            return false;
    } else if (!check_cages(q,
                            {cage_kind::filter, cage_kind::sort, cage_kind::limit,
                             cage_kind::offset, cage_kind::partition},
                            limit, offset, payload)) {
        return false;
    }

    sql_ += "SELECT ";
    if (count_only) {
        sql_ += "count(*)";
    } else {
        if (!q.distinct_on.empty()) {
            sql_ += "DISTINCT ON (";
            if (!expr_list("distinct_on", q.distinct_on, expr_context::reference))
                return false;
            sql_ += ") ";
        } else if (q.distinct) {
            sql_ += "DISTINCT ";
        }
        if (q.columns.empty())
            sql_ += '*';
        else if (!expr_list("columns", q.columns, expr_context::select_item))
            return false;
    }
    sql_ += " FROM ";
    if (!from_table(q) || !joins(q) || !where_clause(q))
        return false;
    if (!group_and_order(q, cage_kind::partition, " GROUP BY "))
        return false;
    if (!q.having.empty()) {
        sql_ += " HAVING ";
        path::step h(path_, "having");
        if (!condition_list(q.having, logical_op::and_))
            return false;
    }
    if (!group_and_order(q, cage_kind::sort, " ORDER BY "))
        return false;
    if (a == action_kind::get && opts_.max_rows)
        limit = limit ? std::min(*limit, *opts_.max_rows) : *opts_.max_rows;
    if (limit) {
        sql_ += " LIMIT ";
        if (!limit_number(*limit))
            return false;
    }
    if (offset) {
        sql_ += " OFFSET ";
        if (!limit_number(*offset))
            return false;
    }
    return true;
}

/// GROUP BY (Partition cages) or ORDER BY (Sort cages), in cage order.
bool compiler::group_and_order(const qail& q, cage_kind kind, std::string_view keyword) {
    static constexpr std::string_view order_sql[] = {" ASC",
                                                     " DESC",
                                                     " ASC NULLS FIRST",
                                                     " ASC NULLS LAST",
                                                     " DESC NULLS FIRST",
                                                     " DESC NULLS LAST"};
    bool first = true;
    path::step cs(path_, "cages");
    for (std::size_t i = 0; i < q.cages.size(); ++i) {
        const cage& c = q.cages[i];
        if (c.kind != kind)
            continue;
        path::step s(path_, i);
        path::step conds(path_, "conditions");
        for (std::size_t k = 0; k < c.conditions.size(); ++k) {
            path::step e(path_, k);
            path::step l(path_, "left");
            sql_ += first ? keyword : std::string_view(", ");
            first = false;
            if (!expression(c.conditions[k].left, expr_context::reference))
                return false;
            if (kind == cage_kind::sort)
                sql_ += order_sql[static_cast<std::size_t>(c.order)];
        }
    }
    return true;
}

bool compiler::no_select_parts(const qail& q) {
    const action_kind a = q.action;
    if (!q.joins.empty())
        return refuse_field("joins", a, "a join");
    if (q.distinct || !q.distinct_on.empty())
        return refuse_field(q.distinct ? "distinct" : "distinct_on", a, "DISTINCT");
    if (!q.having.empty())
        return refuse_field("having", a, "HAVING");
    return true;
}

/// The column = value pairs of the payload cage, in either QAIL form: named
/// (left is the column) or positional (left is "$k", the k-th name in `columns`).
bool compiler::payload_items(const qail& q, std::size_t cage_index,
                             std::vector<payload_item>& out) {
    const cage& c = q.cages[cage_index];
    path::step cs(path_, "cages");
    path::step ci(path_, cage_index);
    path::step conds(path_, "conditions");
    auto positional_index = [](const condition& cond) -> std::optional<std::uint64_t> {
        const auto* n = cond.left.as<named>();
        if (!n || n->name.size() < 2 || n->name[0] != '$')
            return std::nullopt;
        std::uint64_t k = 0;
        const char* first = n->name.data() + 1;
        const char* last = n->name.data() + n->name.size();
        const auto [ptr, ec] = std::from_chars(first, last, k);
        if (ec != std::errc{} || ptr != last)
            return std::nullopt;
        return k;
    };
    const bool positional = !c.conditions.empty() && positional_index(c.conditions[0]);
    std::vector<bool> seen(positional ? q.columns.size() : 0, false);
    for (std::size_t i = 0; i < c.conditions.size(); ++i) {
        path::step s(path_, i);
        const condition& cond = c.conditions[i];
        if (cond.op != op::eq || cond.is_array_unnest) {
            path::step o(path_, "op");
            return fail(errc::invalid_ast, "a payload condition is `column Eq value`");
        }
        const auto k = positional_index(cond);
        if (positional != k.has_value()) {
            path::step l(path_, "left");
            return fail(errc::invalid_ast, "the payload mixes positional ($n) and named columns");
        }
        if (positional) {
            path::step l(path_, "left");
            if (*k == 0 || *k > q.columns.size())
                return fail(errc::invalid_ast, "$" + std::to_string(*k) +
                                                   " names no entry of columns (" +
                                                   std::to_string(q.columns.size()) + " given)");
            const auto idx = static_cast<std::size_t>(*k - 1);
            if (seen[idx])
                return fail(errc::invalid_ast, "$" + std::to_string(*k) + " appears twice");
            seen[idx] = true;
            continue;
        }
        const auto* n = cond.left.as<named>();
        if (!n) {
            path::step l(path_, "left");
            return fail(errc::invalid_ast, "a payload column must be Named");
        }
        for (const auto& prev : out)
            if (prev.column == n->name) {
                path::step l(path_, "left");
                return fail(errc::invalid_ast,
                            "column " + quoted_token(n->name) + " is assigned twice");
            }
        out.push_back({n->name, &cond.val, i});
    }
    if (!positional)
        return true; // positional_columns_ok() checks that `columns` is empty
    // Positional: the values follow the order of `columns`.
    for (std::size_t idx = 0; idx < q.columns.size(); ++idx) {
        const auto* n = q.columns[idx].as<named>();
        if (!n || n->name == "*") {
            return fail(errc::invalid_ast, "columns[" + std::to_string(idx) +
                                               "] must name a column for a positional payload");
        }
        if (!seen[idx])
            return fail(errc::invalid_ast, "no value for columns[" + std::to_string(idx) + "] ($" +
                                               std::to_string(idx + 1) + ")");
        for (std::size_t i = 0; i < c.conditions.size(); ++i)
            if (positional_index(c.conditions[i]) == idx + 1)
                out.push_back({n->name, &c.conditions[i].val, i});
    }
    return true;
}

bool compiler::payload_value(std::size_t cage_index, const payload_item& item) {
    path::step cs(path_, "cages");
    path::step ci(path_, cage_index);
    path::step conds(path_, "conditions");
    path::step s(path_, item.condition_index);
    path::step v(path_, "value");
    return value_expr(*item.val);
}

bool compiler::returning(const qail& q) {
    if (!q.returning || q.returning->empty())
        return true;
    sql_ += " RETURNING ";
    return expr_list("returning", *q.returning, expr_context::select_item);
}

bool compiler::update(const qail& q) {
    const action_kind a = q.action;
    if (!no_select_parts(q))
        return false;
    if (q.conflict)
        return refuse_field("on_conflict", a, "ON CONFLICT");
    if (q.default_values)
        return refuse_field("default_values", a, "DEFAULT VALUES");
    std::optional<std::uint64_t> limit;
    std::optional<std::uint64_t> offset;
    std::optional<std::size_t> payload;
    if (!check_cages(q, {cage_kind::filter, cage_kind::payload}, limit, offset, payload))
        return false;
    if (!payload)
        return refuse_missing_payload(a);
    std::vector<payload_item> items;
    if (!payload_items(q, *payload, items))
        return false;
    if (!positional_columns_ok(q, *payload))
        return false;
    if (items.empty())
        return refuse_missing_payload(a);
    sql_ += "UPDATE ";
    if (!from_table(q))
        return false;
    sql_ += " SET ";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0)
            sql_ += ", ";
        if (!payload_column(*payload, items[i]))
            return false;
        sql_ += " = ";
        if (!payload_value(*payload, items[i]))
            return false;
    }
    return where_clause(q) && returning(q);
}

bool compiler::refuse_missing_payload(action_kind a) {
    return fail(errc::invalid_ast, std::string(name(a)) + " needs a Payload cage with values");
}

bool compiler::payload_column(std::size_t cage_index, const payload_item& item) {
    path::step cs(path_, "cages");
    path::step ci(path_, cage_index);
    path::step conds(path_, "conditions");
    path::step s(path_, item.condition_index);
    path::step l(path_, "left");
    return ident(item.column);
}

/// With a named payload the column list comes from the payload: `columns` must be
/// empty (RETURNING has its own field).
bool compiler::positional_columns_ok(const qail& q, std::size_t cage_index) {
    const cage& c = q.cages[cage_index];
    const bool positional = !c.conditions.empty() && c.conditions[0].left.is<named>() &&
                            c.conditions[0].left.as<named>()->name.starts_with('$');
    if (!positional && !q.columns.empty()) {
        path::step f(path_, "columns");
        return fail(errc::invalid_ast,
                    "columns must be empty with a named payload (use returning for "
                    "RETURNING)");
    }
    return true;
}

bool compiler::insert(const qail& q) {
    const action_kind a = q.action;
    if (!no_select_parts(q))
        return false;
    if (q.only_table)
        return refuse_field("only_table", a, "ONLY");
    std::optional<std::uint64_t> limit;
    std::optional<std::uint64_t> offset;
    std::optional<std::size_t> payload;
    if (!check_cages(q, {cage_kind::payload}, limit, offset, payload))
        return false;
    if (a == action_kind::upsert && !q.conflict) {
        path::step f(path_, "on_conflict");
        return fail(errc::invalid_ast, "Upsert needs on_conflict");
    }
    std::vector<payload_item> items;
    if (payload) {
        if (!payload_items(q, *payload, items) || !positional_columns_ok(q, *payload))
            return false;
    } else if (!q.columns.empty()) {
        path::step f(path_, "columns");
        return fail(errc::invalid_ast, "columns without a Payload cage");
    }
    if (!items.empty() && q.default_values) {
        path::step f(path_, "default_values");
        return fail(errc::invalid_ast, "default_values with a Payload cage");
    }
    if (items.empty() && !q.default_values)
        return refuse_missing_payload(a);
    sql_ += "INSERT INTO ";
    if (!from_table(q))
        return false;
    if (q.default_values) {
        sql_ += " DEFAULT VALUES";
    } else {
        sql_ += " (";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i > 0)
                sql_ += ", ";
            if (!payload_column(*payload, items[i]))
                return false;
        }
        sql_ += ") VALUES (";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i > 0)
                sql_ += ", ";
            if (!payload_value(*payload, items[i]))
                return false;
        }
        sql_ += ')';
    }
    if (q.conflict && !conflict_clause(*q.conflict))
        return false;
    return returning(q);
}

bool compiler::conflict_clause(const on_conflict& c) {
    path::step f(path_, "on_conflict");
    sql_ += " ON CONFLICT";
    if (!c.columns.empty() && c.constraint)
        return fail(errc::invalid_ast, "on_conflict has both columns and a constraint");
    if (!c.columns.empty()) {
        path::step cols(path_, "columns");
        sql_ += " (";
        for (std::size_t i = 0; i < c.columns.size(); ++i) {
            path::step s(path_, i);
            if (i > 0)
                sql_ += ", ";
            if (!ident(c.columns[i]))
                return false;
        }
        sql_ += ')';
    } else if (c.constraint) {
        path::step k(path_, "constraint");
        sql_ += " ON CONSTRAINT ";
        if (!ident(*c.constraint))
            return false;
    }
    path::step act(path_, "action");
    const auto* update = std::get_if<do_update>(&c.action);
    if (!update) {
        if (!c.where.empty()) {
            path::step w(path_, "where_conditions");
            return fail(errc::invalid_ast, "DoNothing takes no where_conditions");
        }
        sql_ += " DO NOTHING";
        return true;
    }
    if (c.columns.empty() && !c.constraint)
        return fail(errc::invalid_ast, "DoUpdate needs conflict columns or a constraint");
    path::step du(path_, "DoUpdate");
    path::step as(path_, "assignments");
    if (update->assignments.empty())
        return fail(errc::invalid_ast, "DoUpdate needs at least one assignment");
    sql_ += " DO UPDATE SET ";
    in_conflict_ = true;
    for (std::size_t i = 0; i < update->assignments.size(); ++i) {
        path::step s(path_, i);
        const assignment& asg = update->assignments[i];
        if (i > 0)
            sql_ += ", ";
        {
            path::step col(path_, std::size_t{0});
            if (!ident(asg.column))
                return false;
        }
        sql_ += " = ";
        path::step val(path_, std::size_t{1});
        if (!expression(asg.val, expr_context::argument))
            return false;
    }
    if (!c.where.empty()) {
        path::step w(path_, "where_conditions");
        sql_ += " WHERE ";
        if (!condition_list(c.where, logical_op::and_))
            return false;
    }
    in_conflict_ = false;
    return true;
}

bool compiler::remove(const qail& q) {
    const action_kind a = q.action;
    if (!no_select_parts(q))
        return false;
    if (!q.columns.empty())
        return refuse_field("columns", a, "a column list (use returning)");
    if (q.conflict)
        return refuse_field("on_conflict", a, "ON CONFLICT");
    if (q.default_values)
        return refuse_field("default_values", a, "DEFAULT VALUES");
    std::optional<std::uint64_t> limit;
    std::optional<std::uint64_t> offset;
    std::optional<std::size_t> payload;
    if (!check_cages(q, {cage_kind::filter}, limit, offset, payload))
        return false;
    sql_ += "DELETE FROM ";
    return from_table(q) && where_clause(q) && returning(q);
}

} // namespace detail

result<compiled> compile(const qail& q, const compile_options& options) {
    if (q.table.empty())
        return {boost::system::in_place_error,
                error{errc::invalid_identifier, "table", "empty table name"}};
    return detail::compiler(options).run(q);
}

result<std::string> quote_identifier(std::string_view dotted) {
    std::string out;
    if (auto why = detail::append_identifier(out, dotted, false))
        return {boost::system::in_place_error, error{errc::invalid_identifier, {}, *why}};
    return out;
}

std::vector<std::string> referenced_tables(const qail& q) {
    std::vector<std::string> out;
    out.push_back(q.table);
    for (const auto& j : q.joins)
        out.push_back(j.table);
    return out;
}

bool is_dml(action_kind a) noexcept {
    switch (a) {
    case action_kind::get:
    case action_kind::cnt:
    case action_kind::set:
    case action_kind::add:
    case action_kind::del:
    case action_kind::upsert:
        return true;
    case action_kind::export_:
        return false;
    }
    return false;
}

} // namespace qail::ast
