// qail -> the exact text serde_json::to_string writes for QAIL's types: fields in
// declaration order, externally tagged enums, compact, serde_json's string escapes and
// Rust's float formatting (Boost.JSON's serializer prints 1.5 as 1.5E0, so we write text).
#include <qail/ast/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

namespace qail::ast {
namespace {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

class writer {
public:
    std::string out;

    void qail_(const qail& q) {
        out += R"({"action":)";
        str(name(q.action));
        out += R"(,"table":)";
        str(q.table);
        out += R"(,"columns":)";
        exprs(q.columns);
        out += R"(,"joins":[)";
        for (std::size_t i = 0; i < q.joins.size(); ++i) {
            comma(i);
            join_(q.joins[i]);
        }
        out += R"(],"cages":[)";
        for (std::size_t i = 0; i < q.cages.size(); ++i) {
            comma(i);
            cage_(q.cages[i]);
        }
        out += R"(],"distinct":)";
        boolean(q.distinct);
        out += R"(,"index_def":null,"table_constraints":[],"set_ops":[],"having":)";
        conditions(q.having);
        out += R"(,"group_by_mode":"Simple","ctes":[],"distinct_on":)";
        exprs(q.distinct_on);
        out += R"(,"returning":)";
        if (q.returning)
            exprs(*q.returning);
        else
            out += "null";
        out += R"(,"on_conflict":)";
        if (q.conflict)
            conflict(*q.conflict);
        else
            out += "null";
        out += R"(,"merge":null,"source_query":null,"channel":null,"payload":null,)"
               R"("savepoint_name":null,"from_tables":[],"using_tables":[],"lock_mode":null,)"
               R"("skip_locked":false,"fetch":null,"default_values":)";
        boolean(q.default_values);
        out += R"(,"overriding":null,"sample":null,"only_table":)";
        boolean(q.only_table);
        out += R"(,"vector":null,"score_threshold":null,"vector_name":null,"with_vector":false,)"
               R"("vector_size":null,"distance":null,"on_disk":null,"function_def":null,)"
               R"("trigger_def":null,"policy_def":null,"view_security_invoker":false})";
    }

private:
    void comma(std::size_t i) {
        if (i > 0)
            out += ',';
    }
    void boolean(bool b) { out += b ? "true" : "false"; }

    /// serde_json's escaping: \" \\ \b \f \n \r \t, other control bytes as \u00xx, the
    /// rest (including non-ASCII UTF-8 and '/') as is.
    void str(std::string_view s) {
        static constexpr char hex[] = "0123456789abcdef";
        out += '"';
        for (const char c : s) {
            switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default: {
                const auto u = static_cast<unsigned char>(c);
                if (u < 0x20) {
                    out += "\\u00";
                    out += hex[u >> 4];
                    out += hex[u & 0xf];
                } else {
                    out += c;
                }
            }
            }
        }
        out += '"';
    }

    void opt_str(const std::optional<std::string>& s) {
        if (s)
            str(*s);
        else
            out += "null";
    }

    void number(std::int64_t i) { out += std::to_string(i); }
    void number(std::uint64_t u) { out += std::to_string(u); }

    /// f64 as Rust's ryu-based Display in serde_json: "1.0", "0.001", "1e-7", "1.5e16";
    /// non-finite values become null, as serde_json writes them.
    void number(double d) {
        if (!std::isfinite(d)) {
            out += "null";
            return;
        }
        char buf[64];
        const auto [end, ec] =
            std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
        if (ec != std::errc{}) {
            out += "null";
            return;
        }
        // buf: [-]d[.ddd]e[+-]xx
        std::string_view sci(buf, static_cast<std::size_t>(end - buf));
        bool negative = false;
        if (!sci.empty() && sci[0] == '-') {
            negative = true;
            sci.remove_prefix(1);
        }
        const auto e = sci.find('e');
        std::string digits;
        for (const char c : sci.substr(0, e))
            if (c != '.')
                digits += c;
        int exp10 = std::atoi(std::string(sci.substr(e + 1)).c_str());
        while (digits.size() > 1 && digits.back() == '0')
            digits.pop_back();
        if (negative)
            out += '-';
        if (digits == "0") {
            out += "0.0";
            return;
        }
        const int length = static_cast<int>(digits.size());
        const int kk = exp10 + 1; // position of the decimal point relative to the digits
        if (length <= kk && kk <= 16) {
            out += digits;
            out.append(static_cast<std::size_t>(kk - length), '0');
            out += ".0";
        } else if (0 < kk && kk <= 16) {
            out += digits.substr(0, static_cast<std::size_t>(kk));
            out += '.';
            out += digits.substr(static_cast<std::size_t>(kk));
        } else if (-5 < kk && kk <= 0) {
            out += "0.";
            out.append(static_cast<std::size_t>(-kk), '0');
            out += digits;
        } else {
            out += digits[0];
            if (length > 1) {
                out += '.';
                out += digits.substr(1);
            }
            out += 'e';
            out += std::to_string(kk - 1);
        }
    }

    void value_(const value& v) {
        std::visit(overloaded{
                       [&](const null_t&) { out += R"("Null")"; },
                       [&](const bool& b) {
                           out += R"({"Bool":)";
                           boolean(b);
                           out += '}';
                       },
                       [&](const std::int64_t& i) {
                           out += R"({"Int":)";
                           number(i);
                           out += '}';
                       },
                       [&](const double& d) {
                           out += R"({"Float":)";
                           number(d);
                           out += '}';
                       },
                       [&](const std::string& s) { tagged("String", s); },
                       [&](const pg::uuid& u) { tagged("Uuid", u.to_string()); },
                       [&](const null_uuid_t&) { out += R"("NullUuid")"; },
                       [&](const timestamp_text& t) { tagged("Timestamp", t.text); },
                       [&](const json_text& j) { tagged("Json", j.text); },
                       [&](const value_list& items) {
                           out += R"({"Array":[)";
                           for (std::size_t i = 0; i < items.size(); ++i) {
                               comma(i);
                               value_(items[i]);
                           }
                           out += "]}";
                       },
                       [&](const column_ref& c) { tagged("Column", c.name); },
                       [&](const param_ref& p) {
                           out += R"({"Param":)";
                           number(p.index);
                           out += '}';
                       },
                       [&](const raw_sql& r) { tagged("Function", r.text); },
                       [&](const pg::bytea& b) {
                           out += R"({"Bytes":[)";
                           for (std::size_t i = 0; i < b.bytes.size(); ++i) {
                               comma(i);
                               out += std::to_string(static_cast<unsigned char>(b.bytes[i]));
                           }
                           out += "]}";
                       },
                       [&](const interval& i) {
                           out += R"({"Interval":{"amount":)";
                           number(i.amount);
                           out += R"(,"unit":)";
                           str(name(i.unit));
                           out += "}}";
                       },
                   },
                   v.get());
    }

    void tagged(std::string_view tag, std::string_view s) {
        out += "{\"";
        out += tag;
        out += "\":";
        str(s);
        out += '}';
    }

    void expr_(const expr& e) {
        std::visit(overloaded{
                       [&](const star&) { out += R"("Star")"; },
                       [&](const named& n) { tagged("Named", n.name); },
                       [&](const aliased& a) {
                           out += R"({"Aliased":{"name":)";
                           str(a.name);
                           out += R"(,"alias":)";
                           str(a.alias);
                           out += "}}";
                       },
                       [&](const aggregate& a) {
                           out += R"({"Aggregate":{"col":)";
                           str(a.col);
                           out += R"(,"func":)";
                           str(name(a.func));
                           out += R"(,"distinct":)";
                           boolean(a.distinct);
                           out += R"(,"filter":)";
                           if (a.filter)
                               conditions(*a.filter);
                           else
                               out += "null";
                           out += R"(,"alias":)";
                           opt_str(a.alias);
                           out += "}}";
                       },
                       [&](const cast& c) {
                           out += R"({"Cast":{"expr":)";
                           expr_(*c.inner);
                           out += R"(,"target_type":)";
                           str(c.target_type);
                           out += R"(,"alias":)";
                           opt_str(c.alias);
                           out += "}}";
                       },
                       [&](const literal& l) {
                           out += R"({"Literal":)";
                           value_(l.val);
                           out += '}';
                       },
                       [&](const json_access& j) {
                           out += R"({"JsonAccess":{"column":)";
                           str(j.column);
                           out += R"(,"path_segments":[)";
                           for (std::size_t i = 0; i < j.path.size(); ++i) {
                               comma(i);
                               out += '[';
                               str(j.path[i].key);
                               out += ',';
                               boolean(j.path[i].as_text);
                               out += ']';
                           }
                           out += R"(],"alias":)";
                           opt_str(j.alias);
                           out += "}}";
                       },
                       [&](const function_call& f) {
                           out += R"({"FunctionCall":{"name":)";
                           str(f.name);
                           out += R"(,"args":)";
                           exprs(f.args);
                           out += R"(,"alias":)";
                           opt_str(f.alias);
                           out += "}}";
                       },
                   },
                   e.get());
    }

    void exprs(const std::vector<expr>& items) {
        out += '[';
        for (std::size_t i = 0; i < items.size(); ++i) {
            comma(i);
            expr_(items[i]);
        }
        out += ']';
    }

    void condition_(const condition& c) {
        out += R"({"left":)";
        expr_(c.left);
        out += R"(,"op":)";
        str(name(c.op));
        out += R"(,"value":)";
        value_(c.val);
        out += R"(,"is_array_unnest":)";
        boolean(c.is_array_unnest);
        out += '}';
    }

    void conditions(const std::vector<condition>& list) {
        out += '[';
        for (std::size_t i = 0; i < list.size(); ++i) {
            comma(i);
            condition_(list[i]);
        }
        out += ']';
    }

    void cage_(const cage& c) {
        out += R"({"kind":)";
        switch (c.kind) {
        case cage_kind::filter:
            out += R"("Filter")";
            break;
        case cage_kind::payload:
            out += R"("Payload")";
            break;
        case cage_kind::partition:
            out += R"("Partition")";
            break;
        case cage_kind::sort:
            out += R"({"Sort":)";
            str(name(c.order));
            out += '}';
            break;
        case cage_kind::limit:
        case cage_kind::offset:
            out += c.kind == cage_kind::limit ? R"({"Limit":)" : R"({"Offset":)";
            number(c.count);
            out += '}';
            break;
        }
        out += R"(,"conditions":)";
        conditions(c.conditions);
        out += R"(,"logical_op":)";
        str(name(c.logical_op));
        out += '}';
    }

    void join_(const join& j) {
        out += R"({"table":)";
        str(j.table);
        out += R"(,"kind":)";
        str(name(j.kind));
        out += R"(,"on":)";
        if (j.on)
            conditions(*j.on);
        else
            out += "null";
        out += R"(,"on_true":)";
        boolean(j.on_true);
        out += '}';
    }

    void conflict(const on_conflict& c) {
        out += R"({"columns":[)";
        for (std::size_t i = 0; i < c.columns.size(); ++i) {
            comma(i);
            str(c.columns[i]);
        }
        out += ']';
        if (c.constraint) {
            out += R"(,"constraint":)";
            str(*c.constraint);
        }
        out += R"(,"action":)";
        if (const auto* u = std::get_if<do_update>(&c.action)) {
            out += R"({"DoUpdate":{"assignments":[)";
            for (std::size_t i = 0; i < u->assignments.size(); ++i) {
                comma(i);
                out += '[';
                str(u->assignments[i].column);
                out += ',';
                expr_(u->assignments[i].val);
                out += ']';
            }
            out += "]}}";
        } else {
            out += R"("DoNothing")";
        }
        if (!c.where.empty()) {
            out += R"(,"where_conditions":)";
            conditions(c.where);
        }
        out += '}';
    }
};

} // namespace

std::string to_json(const qail& q) {
    writer w;
    w.qail_(q);
    return std::move(w.out);
}

} // namespace qail::ast
