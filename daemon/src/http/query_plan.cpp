// Request target and body to compiled statements (untrusted AST, allow-list, row clamp),
// and compiled statements to the one-write pipeline with the transaction-local binding.
#include "query_plan.hpp"

#include <qail/ast/json.hpp>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <utility>

namespace qail::proxy::http {

namespace {

int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%') {
            if (i + 2 >= s.size())
                return std::nullopt;
            const int hi = hex_digit(s[i + 1]);
            const int lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

ast::parse_options untrusted_options(const http_config& cfg) {
    ast::parse_options o;
    o.source = ast::trust::untrusted;
    // The body size is enforced (413) before the body is read; this is a backstop.
    o.limits.max_body_bytes = std::max<std::size_t>(cfg.max_body_bytes, 1);
    return o;
}

/// Checks one parsed AST against the allow-list and compiles it.
boost::system::result<ast::compiled, api_error>
check_and_compile(const ast::qail& q, const http_config& cfg, std::string_view path) {
    using out = boost::system::result<ast::compiled, api_error>;
    if (!cfg.allowed_tables.empty()) {
        for (const std::string& t : ast::referenced_tables(q)) {
            if (std::find(cfg.allowed_tables.begin(), cfg.allowed_tables.end(), t) ==
                cfg.allowed_tables.end()) {
                api_error e = make_error(403, "forbidden_table",
                                         "table \"" + t + "\" is not in http.allowed_tables");
                if (!path.empty())
                    e.detail = "at " + std::string(path);
                return out(boost::system::in_place_error, std::move(e));
            }
        }
    }
    ast::compile_options co;
    if (cfg.max_rows > 0)
        co.max_rows = cfg.max_rows;
    auto c = ast::compile(q, co);
    if (!c)
        return out(boost::system::in_place_error, from_ast_error(c.error(), path));
    if (c->copy_out) // untrusted parsing refuses Export already; never run COPY here
        return out(boost::system::in_place_error,
                   make_error(403, "forbidden", "Export is not available over HTTP"));
    return std::move(*c);
}

} // namespace

boost::system::result<request_target, api_error> parse_target(std::string_view target) {
    using out = boost::system::result<request_target, api_error>;
    request_target t;
    const std::size_t q = target.find('?');
    t.path = std::string(target.substr(0, q));
    if (q == std::string_view::npos)
        return t;
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty())
            continue;
        const std::size_t eq = pair.find('=');
        const auto key = percent_decode(pair.substr(0, eq));
        const auto value =
            percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!key || !value)
            return out(boost::system::in_place_error,
                       make_error(400, "bad_request", "malformed percent-escape in the query"));
        if (*key == "db") {
            t.database = *value;
        } else if (*key == "format") {
            if (*value == "arrays")
                t.format = row_format::arrays;
            else if (*value == "objects")
                t.format = row_format::objects;
            else
                return out(
                    boost::system::in_place_error,
                    make_error(400, "bad_request", "format must be \"objects\" or \"arrays\""));
        }
        // Other parameters are ignored, as caches and proxies add their own.
    }
    return t;
}

boost::system::result<query_plan, api_error> plan_request(std::string_view body, bool batch,
                                                          const http_config& cfg) {
    using out = boost::system::result<query_plan, api_error>;
    const ast::parse_options options = untrusted_options(cfg);
    query_plan plan;
    plan.batch = batch;
    if (!batch) {
        auto q = ast::parse_json(body, options);
        if (!q)
            return out(boost::system::in_place_error, from_ast_error(q.error()));
        auto c = check_and_compile(*q, cfg, {});
        if (!c)
            return out(boost::system::in_place_error, std::move(c.error()));
        plan.statements.push_back(std::move(*c));
        return plan;
    }

    auto doc = ast::parse_json_value(body, options.limits);
    if (!doc)
        return out(boost::system::in_place_error, from_ast_error(doc.error()));
    const auto bad = [](std::string path, std::string message) {
        api_error e = make_error(400, "invalid_request", path + ": " + message);
        e.detail = "at " + path;
        return out(boost::system::in_place_error, std::move(e));
    };
    if (!doc->is_object())
        return bad("$", "a batch is an object {\"queries\":[...],\"transaction\":true}");
    const boost::json::object& obj = doc->get_object();
    for (const auto& kv : obj)
        if (kv.key() != "queries" && kv.key() != "transaction")
            return bad(std::string(kv.key()), "unknown field");
    const auto* queries = obj.if_contains("queries");
    if (queries == nullptr)
        return bad("queries", "missing field");
    if (!queries->is_array())
        return bad("queries", "expected an array of ASTs");
    if (queries->get_array().empty())
        return bad("queries", "a batch needs at least one query");
    if (queries->get_array().size() > max_batch_queries)
        return bad("queries", "more than " + std::to_string(max_batch_queries) + " queries");
    if (const auto* tx = obj.if_contains("transaction")) {
        if (!tx->is_bool())
            return bad("transaction", "expected true or false");
        plan.transaction = tx->get_bool();
    }
    const auto& list = queries->get_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string path = "queries[" + std::to_string(i) + "]";
        auto q = ast::read_qail(list[i], options);
        if (!q)
            return out(boost::system::in_place_error, from_ast_error(q.error(), path));
        auto c = check_and_compile(*q, cfg, path);
        if (!c)
            return out(boost::system::in_place_error, std::move(c.error()));
        plan.statements.push_back(std::move(*c));
    }
    return plan;
}

pipeline_plan build_pipeline(const query_plan& plan, const run_context& ctx,
                             const tenancy_config& tenancy) {
    // One statement binds everything: names and values are parameters, never SQL text.
    client::pipeline_command binding;
    const auto bind = [&binding](std::string_view setting, std::string_view value) {
        binding.sql += binding.sql.empty() ? "SELECT " : ", ";
        const std::size_t n = binding.params.size();
        binding.sql += "pg_catalog.set_config($" + std::to_string(n + 1) + ", $" +
                       std::to_string(n + 2) + ", true)";
        binding.params.push_back(client::text_param(setting));
        binding.params.push_back(client::text_param(value));
    };
    if (ctx.tenant)
        bind(tenancy.tenant_setting, *ctx.tenant);
    if (ctx.user)
        bind(tenancy.user_setting, *ctx.user);
    if (ctx.statement_timeout.count() > 0)
        bind("statement_timeout", std::to_string(ctx.statement_timeout.count()));

    pipeline_plan p;
    const auto open = [&] {
        p.commands.push_back({"BEGIN", {}});
        if (!binding.sql.empty())
            p.commands.push_back(binding);
    };
    const auto close = [&] { p.commands.push_back({"COMMIT", {}}); };
    const auto statement = [&](const ast::compiled& c) {
        p.statement_index.push_back(p.commands.size());
        p.commands.push_back({c.sql, c.params});
    };
    if (plan.transaction) {
        open();
        for (const auto& c : plan.statements)
            statement(c);
        close();
    } else {
        for (const auto& c : plan.statements) {
            open();
            statement(c);
            close();
        }
    }
    return p;
}

} // namespace qail::proxy::http
