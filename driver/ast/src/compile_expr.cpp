// The compiler's values, expressions and conditions: literals become parameters, names
// become quoted identifiers, operators map to PostgreSQL's.
#include "compiler.hpp"
#include "literal.hpp"
#include "sql_text.hpp"

#include <charconv>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace qail::ast::detail {
namespace {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

} // namespace

bool compiler::fail(errc code, std::string detail) {
    err_ = path_.fail(code, std::move(detail));
    return false;
}

bool compiler::refuse_field(std::string_view field, action_kind a, std::string_view what) {
    path::step s(path_, field);
    return fail(errc::invalid_ast,
                std::string(what) + " is not allowed in " + std::string(name(a)));
}

bool compiler::ident(std::string_view dotted, bool allow_star) {
    if (auto why = append_identifier(sql_, dotted, allow_star))
        return fail(errc::invalid_identifier, std::move(*why));
    return true;
}

/// A name in expression position: EXCLUDED.col inside ON CONFLICT is the special row.
bool compiler::name_ref(std::string_view dotted, bool allow_star) {
    if (in_conflict_) {
        const auto dot = dotted.find('.');
        if (dot != std::string_view::npos && dotted.find('.', dot + 1) == std::string_view::npos) {
            if (equals_ignoring_case(dotted.substr(0, dot), "excluded")) {
                sql_ += "excluded.";
                return ident(dotted.substr(dot + 1));
            }
        }
    }
    return ident(dotted, allow_star);
}

bool compiler::alias(const std::string& a) {
    path::step s(path_, "alias");
    if (a.find('\0') != std::string::npos || a.empty())
        return fail(errc::invalid_identifier, "alias " + quoted_token(a) + " is not a name");
    sql_ += " AS ";
    append_quoted_name(sql_, a);
    return true;
}

bool compiler::no_nul(std::string_view text, std::string_view what) {
    if (text.find('\0') != std::string_view::npos)
        return fail(errc::embedded_nul, std::string(what) + " contains a NUL byte");
    return true;
}

/// Appends a bind parameter ($n) or, for COPY, the equivalent typed constant.
void compiler::add_param(pg::param p) {
    if (inline_literals_) {
        append_copy_literal(sql_, p);
        return;
    }
    params_.push_back(std::move(p));
    sql_ += '$';
    sql_ += std::to_string(params_.size());
}

/// A value in expression position: a parameter, a column, a caller's $n or raw SQL.
bool compiler::value_expr(const value& v) {
    if (const auto* c = v.as<column_ref>())
        return name_ref(c->name, false);
    if (const auto* p = v.as<param_ref>()) {
        if (p->index == 0)
            return fail(errc::invalid_value, "Param numbers start at 1");
        if (p->index > opts_.bind.size())
            return fail(errc::invalid_value, "Param $" + std::to_string(p->index) +
                                                 " has no bound value (" +
                                                 std::to_string(opts_.bind.size()) + " given)");
        add_param(opts_.bind[static_cast<std::size_t>(p->index - 1)]);
        return true;
    }
    if (const auto* r = v.as<raw_sql>()) {
        if (r->text.empty())
            return fail(errc::invalid_value, "empty Function");
        if (!no_nul(r->text, "Function"))
            return false;
        sql_ += r->text;
        return true;
    }
    return bind_literal(v);
}

bool compiler::bind_literal(const value& v) {
    auto p = literal_param(v);
    if (p) {
        add_param(std::move(*p));
        return true;
    }
    auto f = p.error();
    if (!f.element)
        return fail(f.code, std::move(f.detail));
    path::step a(path_, "Array");
    path::step e(path_, *f.element);
    return fail(f.code, std::move(f.detail));
}

bool compiler::expression(const expr& e, expr_context ctx) {
    const bool aliases = ctx == expr_context::select_item;
    return std::visit(overloaded{
                          [&](const star&) {
                              if (ctx == expr_context::reference)
                                  return fail(errc::invalid_ast, "Star is not allowed here");
                              sql_ += '*';
                              return true;
                          },
                          [&](const named& n) {
                              path::step s(path_, "Named");
                              return name_ref(n.name, ctx != expr_context::reference);
                          },
                          [&](const aliased& a) {
                              path::step s(path_, "Aliased");
                              if (!name_ref(a.name, false))
                                  return false;
                              return !aliases || alias(a.alias);
                          },
                          [&](const aggregate& a) {
                              path::step s(path_, "Aggregate");
                              if (!aggregate_call(a))
                                  return false;
                              return !aliases || !a.alias || alias(*a.alias);
                          },
                          [&](const cast& c) {
                              path::step s(path_, "Cast");
                              sql_ += "CAST(";
                              {
                                  path::step inner(path_, "expr");
                                  if (!expression(*c.inner, expr_context::argument))
                                      return false;
                              }
                              sql_ += " AS ";
                              if (!is_type_name(c.target_type)) {
                                  path::step t(path_, "target_type");
                                  return fail(errc::invalid_value,
                                              "not a type name: " + quoted_token(c.target_type));
                              }
                              sql_ += c.target_type;
                              sql_ += ')';
                              return !aliases || !c.alias || alias(*c.alias);
                          },
                          [&](const literal& l) {
                              path::step s(path_, "Literal");
                              return value_expr(l.val);
                          },
                          [&](const json_access& j) {
                              path::step s(path_, "JsonAccess");
                              if (!json_access_expr(j))
                                  return false;
                              return !aliases || !j.alias || alias(*j.alias);
                          },
                          [&](const function_call& f) {
                              path::step s(path_, "FunctionCall");
                              if (!is_plain_dotted_name(f.name)) {
                                  path::step n(path_, "name");
                                  return fail(errc::invalid_value,
                                              "not a function name: " + quoted_token(f.name));
                              }
                              sql_ += f.name;
                              sql_ += '(';
                              path::step args(path_, "args");
                              for (std::size_t i = 0; i < f.args.size(); ++i) {
                                  path::step a(path_, i);
                                  if (i > 0)
                                      sql_ += ", ";
                                  if (!expression(f.args[i], expr_context::argument))
                                      return false;
                              }
                              sql_ += ')';
                              return !aliases || !f.alias || alias(*f.alias);
                          },
                      },
                      e.get());
}

bool compiler::aggregate_call(const aggregate& a) {
    static constexpr std::string_view sql_names[] = {
        "count",      "sum",      "avg",       "min",      "max",    "array_agg",
        "string_agg", "json_agg", "jsonb_agg", "bool_and", "bool_or"};
    sql_ += sql_names[static_cast<std::size_t>(a.func)];
    sql_ += '(';
    if (a.col == "*") {
        if (a.func != aggregate_func::count || a.distinct) {
            path::step c(path_, "col");
            return fail(errc::invalid_ast, "\"*\" is only allowed in a plain Count, not in " +
                                               std::string(name(a.func)) +
                                               (a.distinct ? " DISTINCT" : ""));
        }
        sql_ += '*';
    } else {
        if (a.distinct)
            sql_ += "DISTINCT ";
        path::step c(path_, "col");
        if (a.func == aggregate_func::string_agg) {
            sql_ += "CAST(";
            if (!name_ref(a.col, false))
                return false;
            sql_ += " AS text), ";
            add_param(pg::text_param(",", pg::oid::text));
        } else if (!name_ref(a.col, false)) {
            return false;
        }
    }
    sql_ += ')';
    if (a.filter && !a.filter->empty()) {
        path::step f(path_, "filter");
        sql_ += " FILTER (WHERE ";
        if (!condition_list(*a.filter, logical_op::and_))
            return false;
        sql_ += ')';
    }
    return true;
}

bool compiler::json_access_expr(const json_access& j) {
    {
        path::step c(path_, "column");
        if (!name_ref(j.column, false))
            return false;
    }
    path::step p(path_, "path_segments");
    for (std::size_t i = 0; i < j.path.size(); ++i) {
        path::step s(path_, i);
        const auto& seg = j.path[i];
        if (!no_nul(seg.key, "JSON key"))
            return false;
        sql_ += seg.as_text ? "->>" : "->";
        // An integer segment indexes an array; the parameter type picks the operator.
        std::int32_t index = 0;
        const char* end = seg.key.data() + seg.key.size();
        const auto [ptr, ec] = std::from_chars(seg.key.data(), end, index);
        if (!seg.key.empty() && ec == std::errc{} && ptr == end)
            add_param(pg::text_param(std::to_string(index), pg::oid::int4));
        else
            add_param(pg::text_param(seg.key, pg::oid::text));
    }
    return true;
}

bool compiler::condition_list(const std::vector<condition>& list, logical_op logic) {
    for (std::size_t i = 0; i < list.size(); ++i) {
        path::step s(path_, i);
        if (i > 0)
            sql_ += logic == logical_op::and_ ? " AND " : " OR ";
        if (!condition_sql(list[i]))
            return false;
    }
    return true;
}

bool compiler::left_side(const condition& c) {
    path::step s(path_, "left");
    return expression(c.left, expr_context::reference);
}

bool compiler::condition_sql(const condition& c) {
    if (c.is_array_unnest)
        return unnest_condition(c);
    if (c.op == op::text_search)
        return text_search(c);
    if (!left_side(c))
        return false;
    path::step vs(path_, "value");
    switch (c.op) {
    case op::eq:
        if (c.val.is_null()) {
            sql_ += " IS NULL";
            return true;
        }
        return binary(" = ", c.val);
    case op::ne:
        if (c.val.is_null()) {
            sql_ += " IS NOT NULL";
            return true;
        }
        return binary(" <> ", c.val);
    case op::gt:
        return binary(" > ", c.val);
    case op::gte:
        return binary(" >= ", c.val);
    case op::lt:
        return binary(" < ", c.val);
    case op::lte:
        return binary(" <= ", c.val);
    case op::like:
        return binary(" LIKE ", c.val);
    case op::not_like:
        return binary(" NOT LIKE ", c.val);
    case op::ilike:
        return binary(" ILIKE ", c.val);
    case op::not_ilike:
        return binary(" NOT ILIKE ", c.val);
    case op::fuzzy:
        return fuzzy(c.val);
    case op::regex:
        return binary(" ~ ", c.val);
    case op::regex_i:
        return binary(" ~* ", c.val);
    case op::similar_to:
        return binary(" SIMILAR TO ", c.val);
    case op::in:
        return in_list(" IN ", c.val);
    case op::not_in:
        return in_list(" NOT IN ", c.val);
    case op::between:
        return between(" BETWEEN ", c.val);
    case op::not_between:
        return between(" NOT BETWEEN ", c.val);
    case op::is_null:
        sql_ += " IS NULL";
        return true;
    case op::is_not_null:
        sql_ += " IS NOT NULL";
        return true;
    case op::contains:
        return binary(" @> ", c.val);
    case op::contained_by:
        return binary(" <@ ", c.val);
    case op::key_exists:
        return binary(" ? ", c.val);
    case op::key_exists_any:
        return binary(" ?| ", c.val);
    case op::key_exists_all:
        return binary(" ?& ", c.val);
    case op::json_path:
        return binary(" #> ", c.val);
    case op::json_path_text:
        return binary(" #>> ", c.val);
    case op::overlaps:
        return binary(" && ", c.val);
    case op::text_search:
        break; // handled above
    }
    return fail(errc::unsupported, "operator " + std::string(name(c.op)));
}

bool compiler::binary(std::string_view sql_op, const value& v) {
    sql_ += sql_op;
    return value_expr(v);
}

bool compiler::fuzzy(const value& v) {
    const auto* s = v.as<std::string>();
    if (!s)
        return fail(errc::invalid_ast, "Fuzzy needs a String value");
    if (!no_nul(*s, "String"))
        return false;
    sql_ += " ILIKE ";
    add_param(pg::text_param("%" + *s + "%", 0));
    return true;
}

bool compiler::in_list(std::string_view sql_op, const value& v) {
    const auto* items = v.as<value_list>();
    if (!items) {
        sql_ += sql_op;
        sql_ += '(';
        if (!value_expr(v))
            return false;
        sql_ += ')';
        return true;
    }
    if (items->empty()) {
        // x IN () is a syntax error. x = ANY('{}') is false and x <> ALL('{}') true,
        // whatever x is: what an empty list means.
        sql_ += sql_op == " IN " ? " = ANY(" : " <> ALL(";
        add_param(pg::text_param("{}", 0));
        sql_ += ')';
        return true;
    }
    sql_ += sql_op;
    sql_ += '(';
    path::step a(path_, "Array");
    for (std::size_t i = 0; i < items->size(); ++i) {
        path::step e(path_, i);
        if (i > 0)
            sql_ += ", ";
        if ((*items)[i].is<value_list>())
            return fail(errc::unsupported, "nested arrays are not supported");
        if (!value_expr((*items)[i]))
            return false;
    }
    sql_ += ')';
    return true;
}

bool compiler::between(std::string_view sql_op, const value& v) {
    const auto* items = v.as<value_list>();
    if (!items || items->size() != 2)
        return fail(errc::invalid_ast, "Between needs an Array of two values");
    sql_ += sql_op;
    path::step a(path_, "Array");
    {
        path::step e(path_, std::size_t{0});
        if (!value_expr((*items)[0]))
            return false;
    }
    sql_ += " AND ";
    path::step e(path_, std::size_t{1});
    return value_expr((*items)[1]);
}

bool compiler::unnest_condition(const condition& c) {
    sql_ += "EXISTS (SELECT 1 FROM unnest(";
    if (!left_side(c))
        return false;
    sql_ += ") AS _el WHERE _el";
    path::step vs(path_, "value");
    switch (c.op) {
    case op::eq:
        if (c.val.is_null()) {
            sql_ += " IS NULL)";
            return true;
        }
        if (!binary(" = ", c.val))
            return false;
        break;
    case op::ne:
        if (c.val.is_null()) {
            sql_ += " IS NOT NULL)";
            return true;
        }
        if (!binary(" <> ", c.val))
            return false;
        break;
    case op::gt:
        if (!binary(" > ", c.val))
            return false;
        break;
    case op::gte:
        if (!binary(" >= ", c.val))
            return false;
        break;
    case op::lt:
        if (!binary(" < ", c.val))
            return false;
        break;
    case op::lte:
        if (!binary(" <= ", c.val))
            return false;
        break;
    case op::fuzzy:
        if (!fuzzy(c.val))
            return false;
        break;
    default: {
        path::step o(path_, "op");
        return fail(errc::unsupported, "is_array_unnest with operator " + std::string(name(c.op)));
    }
    }
    sql_ += ')';
    return true;
}

bool compiler::text_search(const condition& c) {
    // The left side names one or more columns, comma-separated, as in QAIL.
    const auto* n = c.left.as<named>();
    if (!n) {
        path::step l(path_, "left");
        return fail(errc::invalid_ast, "TextSearch needs Named columns on the left");
    }
    std::vector<std::string_view> cols;
    std::string_view rest = n->name;
    while (true) {
        const auto comma = rest.find(',');
        std::string_view part = rest.substr(0, comma);
        while (!part.empty() && part.front() == ' ')
            part.remove_prefix(1);
        while (!part.empty() && part.back() == ' ')
            part.remove_suffix(1);
        cols.push_back(part);
        if (comma == std::string_view::npos)
            break;
        rest.remove_prefix(comma + 1);
    }
    sql_ += "to_tsvector('english', ";
    if (cols.size() > 1)
        sql_ += "concat_ws(' ', ";
    {
        path::step l(path_, "left");
        path::step nm(path_, "Named");
        for (std::size_t i = 0; i < cols.size(); ++i) {
            if (i > 0)
                sql_ += ", ";
            if (!name_ref(cols[i], false))
                return false;
        }
    }
    if (cols.size() > 1)
        sql_ += ')';
    sql_ += ") @@ websearch_to_tsquery('english', ";
    path::step vs(path_, "value");
    if (!value_expr(c.val))
        return false;
    sql_ += ')';
    return true;
}

} // namespace qail::ast::detail
