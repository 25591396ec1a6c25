// Literal values -> text-format parameters and COPY constants.
#include "literal.hpp"

#include <qail/ast/compile.hpp>
#include <qail/client/types.hpp>

#include <string>
#include <utility>
#include <variant>

namespace qail::ast::detail {
namespace {

using param_result = boost::system::result<pg::param, literal_failure>;

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

param_result failure(errc code, std::string detail) {
    return {boost::system::in_place_error, literal_failure{code, std::move(detail), {}}};
}

param_result text(std::string_view t, std::int32_t type_oid, std::string_view what) {
    if (t.find('\0') != std::string_view::npos)
        return failure(errc::embedded_nul, std::string(what) + " contains a NUL byte");
    return pg::text_param(t, type_oid);
}

param_result scalar(const value& v) {
    return std::visit(
        overloaded{
            [](const null_t&) -> param_result { return pg::null_param(0); },
            [](const bool& b) -> param_result {
                return pg::text_param(b ? "t" : "f", pg::oid::bool_);
            },
            [](const std::int64_t& i) -> param_result {
                return pg::text_param(std::to_string(i), pg::oid::int8);
            },
            [](const double& d) -> param_result {
                std::string t;
                pg::value_traits<double>::to_text(d, t);
                return pg::text_param(t, pg::oid::float8);
            },
            [](const std::string& s) -> param_result { return text(s, 0, "String"); },
            [](const pg::uuid& u) -> param_result {
                return pg::text_param(u.to_string(), pg::oid::uuid);
            },
            [](const null_uuid_t&) -> param_result { return pg::null_param(pg::oid::uuid); },
            [](const timestamp_text& t) -> param_result { return text(t.text, 0, "Timestamp"); },
            [](const json_text& j) -> param_result { return text(j.text, pg::oid::jsonb, "Json"); },
            [](const pg::bytea& b) -> param_result {
                std::string t;
                pg::value_traits<pg::bytea>::to_text(b, t);
                return pg::text_param(t, pg::oid::bytea);
            },
            [](const interval& i) -> param_result {
                static constexpr std::string_view units[] = {
                    " seconds", " minutes", " hours", " days", " weeks", " months", " years"};
                std::string t = std::to_string(i.amount);
                t += units[static_cast<std::size_t>(i.unit)];
                return pg::text_param(t, interval_oid);
            },
            [](const value_list&) -> param_result {
                return failure(errc::unsupported, "nested arrays are not supported");
            },
            [](const column_ref&) -> param_result {
                return failure(errc::invalid_ast, "a Column is not a literal here");
            },
            [](const param_ref&) -> param_result {
                return failure(errc::invalid_ast, "a Param is not a literal here");
            },
            [](const raw_sql&) -> param_result {
                return failure(errc::invalid_ast, "a Function is not a literal here");
            },
        },
        v.get());
}

} // namespace

param_result literal_param(const value& v) {
    const auto* items = v.as<value_list>();
    if (!items)
        return scalar(v);
    std::string t = "{";
    for (std::size_t i = 0; i < items->size(); ++i) {
        auto p = scalar((*items)[i]);
        if (!p) {
            p.error().element = i;
            return p;
        }
        if (i > 0)
            t += ',';
        if (!p->bytes)
            t += "NULL";
        else
            pg::detail::append_array_element(t, *p->bytes);
    }
    t += '}';
    return pg::text_param(t, 0);
}

void append_copy_literal(std::string& sql, const pg::param& p) {
    if (!p.bytes) {
        sql += "NULL";
    } else {
        sql += "E'";
        for (const char c : *p.bytes) {
            if (c == '\\' || c == '\'')
                sql += c;
            sql += c;
        }
        sql += '\'';
    }
    if (p.type_oid != 0) {
        sql += "::";
        sql += param_type_name(p.type_oid);
    }
}

std::string_view param_type_name(std::int32_t type_oid) noexcept {
    if (type_oid == 0)
        return "unknown";
    if (type_oid == interval_oid)
        return "interval";
    return pg::type_name(type_oid);
}

} // namespace qail::ast::detail

namespace qail::ast {

std::string to_string(std::span<const pg::param> params) {
    std::string out;
    for (std::size_t i = 0; i < params.size(); ++i) {
        const auto& p = params[i];
        out += '$';
        out += std::to_string(i + 1);
        out += " = ";
        if (!p.bytes) {
            out += "NULL";
        } else {
            out += '\'';
            for (const char c : *p.bytes) {
                if (c == '\'')
                    out += '\'';
                out += c;
            }
            out += '\'';
        }
        out += " (";
        out += detail::param_type_name(p.type_oid);
        out += ")\n";
    }
    return out;
}

} // namespace qail::ast
