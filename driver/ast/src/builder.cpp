// The fluent builder: each method appends the node QAIL's builder of the same name adds.
#include <qail/ast/builder.hpp>

#include <utility>

namespace qail::ast {

builder::builder(action_kind action, std::string table) {
    q_.action = action;
    q_.table = std::move(table);
}

builder& builder::columns(std::initializer_list<expr> items) {
    q_.columns.insert(q_.columns.end(), items.begin(), items.end());
    return *this;
}

builder& builder::columns(const std::vector<std::string>& names) {
    for (const auto& n : names)
        q_.columns.emplace_back(named{n});
    return *this;
}

builder& builder::column(expr item) {
    q_.columns.push_back(std::move(item));
    return *this;
}

builder& builder::select_all() {
    q_.columns.emplace_back(star{});
    return *this;
}

builder& builder::distinct() {
    q_.distinct = true;
    return *this;
}

builder& builder::distinct_on(std::initializer_list<expr> items) {
    q_.distinct_on.insert(q_.distinct_on.end(), items.begin(), items.end());
    return *this;
}

cage& builder::filter_cage(ast::logical_op logic) {
    for (auto& c : q_.cages)
        if (c.kind == cage_kind::filter && c.logical_op == logic)
            return c;
    cage c;
    c.kind = cage_kind::filter;
    c.logical_op = logic;
    q_.cages.push_back(std::move(c));
    return q_.cages.back();
}

builder& builder::filter(expr left, ast::op o, value v) {
    filter_cage(logical_op::and_).conditions.push_back(cond(std::move(left), o, std::move(v)));
    return *this;
}

builder& builder::or_filter(expr left, ast::op o, value v) {
    filter_cage(logical_op::or_).conditions.push_back(cond(std::move(left), o, std::move(v)));
    return *this;
}

builder& builder::where(condition c) {
    filter_cage(logical_op::and_).conditions.push_back(std::move(c));
    return *this;
}

builder& builder::in(expr left, value_list values) {
    return filter(std::move(left), op::in, value(std::move(values)));
}

builder& builder::order_by(expr item, ast::sort order) {
    cage c;
    c.kind = cage_kind::sort;
    c.order = order;
    c.conditions.push_back(cond(std::move(item), op::eq));
    q_.cages.push_back(std::move(c));
    return *this;
}

builder& builder::limit(std::uint64_t n) {
    cage c;
    c.kind = cage_kind::limit;
    c.count = n;
    q_.cages.push_back(std::move(c));
    return *this;
}

builder& builder::offset(std::uint64_t n) {
    cage c;
    c.kind = cage_kind::offset;
    c.count = n;
    q_.cages.push_back(std::move(c));
    return *this;
}

builder& builder::group_by(std::initializer_list<expr> items) {
    cage c;
    c.kind = cage_kind::partition;
    for (const auto& e : items)
        c.conditions.push_back(cond(e, op::eq));
    q_.cages.push_back(std::move(c));
    return *this;
}

builder& builder::having(expr left, ast::op o, value v) {
    q_.having.push_back(cond(std::move(left), o, std::move(v)));
    return *this;
}

builder& builder::join(join_kind kind, std::string table, std::string left_col,
                       std::string right_col) {
    ast::join j;
    j.table = std::move(table);
    j.kind = kind;
    j.on = std::vector<condition>{};
    j.on->push_back(cond(named{std::move(left_col)}, op::eq, col(std::move(right_col))));
    q_.joins.push_back(std::move(j));
    return *this;
}

builder& builder::join(ast::join j) {
    q_.joins.push_back(std::move(j));
    return *this;
}

builder& builder::inner_join(std::string table, std::string left_col, std::string right_col) {
    return join(join_kind::inner, std::move(table), std::move(left_col), std::move(right_col));
}
builder& builder::left_join(std::string table, std::string left_col, std::string right_col) {
    return join(join_kind::left, std::move(table), std::move(left_col), std::move(right_col));
}
builder& builder::right_join(std::string table, std::string left_col, std::string right_col) {
    return join(join_kind::right, std::move(table), std::move(left_col), std::move(right_col));
}
builder& builder::full_join(std::string table, std::string left_col, std::string right_col) {
    return join(join_kind::full, std::move(table), std::move(left_col), std::move(right_col));
}
builder& builder::cross_join(std::string table) {
    ast::join j;
    j.table = std::move(table);
    j.kind = join_kind::cross;
    q_.joins.push_back(std::move(j));
    return *this;
}

cage& builder::payload_cage() {
    for (auto& c : q_.cages)
        if (c.kind == cage_kind::payload)
            return c;
    cage c;
    c.kind = cage_kind::payload;
    q_.cages.push_back(std::move(c));
    return q_.cages.back();
}

builder& builder::set(std::string column, value v) {
    payload_cage().conditions.push_back(cond(named{std::move(column)}, op::eq, std::move(v)));
    return *this;
}

builder& builder::values(std::initializer_list<value> vals) {
    cage c;
    c.kind = cage_kind::payload;
    std::size_t i = 0;
    for (const auto& v : vals)
        c.conditions.push_back(cond(named{"$" + std::to_string(++i)}, op::eq, v));
    q_.cages.push_back(std::move(c));
    return *this;
}

builder& builder::default_values() {
    q_.default_values = true;
    return *this;
}

builder& builder::returning(std::initializer_list<expr> items) {
    if (!q_.returning)
        q_.returning.emplace();
    q_.returning->insert(q_.returning->end(), items.begin(), items.end());
    return *this;
}

builder& builder::returning_all() {
    q_.returning = std::vector<expr>{};
    q_.returning->emplace_back(star{});
    return *this;
}

ast::on_conflict& builder::conflict() {
    if (!q_.conflict)
        q_.conflict.emplace();
    return *q_.conflict;
}

builder& builder::on_conflict_do_nothing(std::vector<std::string> columns) {
    auto& c = conflict();
    c.columns = std::move(columns);
    c.action = do_nothing{};
    return *this;
}

builder& builder::on_conflict_do_update(std::vector<std::string> columns,
                                        std::vector<assignment> assignments) {
    auto& c = conflict();
    c.columns = std::move(columns);
    c.action = do_update{std::move(assignments)};
    return *this;
}

builder& builder::on_conflict_where(condition c) {
    conflict().where.push_back(std::move(c));
    return *this;
}

builder get(std::string table) {
    return {action_kind::get, std::move(table)};
}
builder cnt(std::string table) {
    return {action_kind::cnt, std::move(table)};
}
builder set(std::string table) {
    return {action_kind::set, std::move(table)};
}
builder add(std::string table) {
    return {action_kind::add, std::move(table)};
}
builder del(std::string table) {
    return {action_kind::del, std::move(table)};
}
builder upsert(std::string table) {
    return {action_kind::upsert, std::move(table)};
}
builder export_(std::string table) {
    return {action_kind::export_, std::move(table)};
}

expr agg(aggregate_func func, std::string column) {
    aggregate a;
    a.col = std::move(column);
    a.func = func;
    return a;
}

expr agg_distinct(aggregate_func func, std::string column) {
    aggregate a;
    a.col = std::move(column);
    a.func = func;
    a.distinct = true;
    return a;
}

expr agg_filter(aggregate_func func, std::string column, std::vector<condition> filter) {
    aggregate a;
    a.col = std::move(column);
    a.func = func;
    a.filter = std::move(filter);
    return a;
}

expr cast_to(expr e, std::string type) {
    cast c;
    c.inner = std::move(e);
    c.target_type = std::move(type);
    return c;
}

expr as(expr e, std::string alias) {
    auto& v = e.get();
    if (auto* n = std::get_if<named>(&v))
        return aliased{std::move(n->name), std::move(alias)};
    if (auto* a = std::get_if<aliased>(&v)) {
        a->alias = std::move(alias);
    } else if (auto* g = std::get_if<aggregate>(&v)) {
        g->alias = std::move(alias);
    } else if (auto* c = std::get_if<cast>(&v)) {
        c->alias = std::move(alias);
    } else if (auto* j = std::get_if<json_access>(&v)) {
        j->alias = std::move(alias);
    } else if (auto* f = std::get_if<function_call>(&v)) {
        f->alias = std::move(alias);
    }
    // Star and Literal have no alias in QAIL; compile() keeps them unaliased.
    return e;
}

expr json_path(std::string column, std::vector<json_access::segment> path) {
    json_access j;
    j.column = std::move(column);
    j.path = std::move(path);
    return j;
}

expr call(std::string name, std::vector<expr> args) {
    function_call f;
    f.name = std::move(name);
    f.args = std::move(args);
    return f;
}

} // namespace qail::ast
