// Unit tests for the HTTP API's request side: the error mapping table, the JSON error
// body, target parsing, untrusted AST planning (paths, 403s, limits, row clamp) and the
// one-write pipeline layout with the transaction-local binding.
#include "../../../daemon/src/http/api_error.hpp"
#include "../../../daemon/src/http/jwt.hpp"
#include "../../../daemon/src/http/query_plan.hpp"
#include "test_support.hpp"

#include <qail/pool/error.hpp>

#include <boost/json/parse.hpp>
#include <string>

namespace {

using namespace qail::proxy::http;
using qail::proxy::http_config;
using qail::proxy::tenancy_config;

constexpr std::string_view get_users =
    R"({"action":"Get","table":"users","columns":[{"Named":"id"}]})";

api_error plan_error(std::string_view body, bool batch = false, http_config cfg = {}) {
    auto p = plan_request(body, batch, cfg);
    REQUIRE_FALSE(p.has_value());
    return p.error();
}

} // namespace

TEST_CASE("http errors: SQLSTATE to status") {
    CHECK(status_for_sqlstate("23505") == 409);
    CHECK(status_for_sqlstate("23503") == 409);
    CHECK(status_for_sqlstate("40001") == 409);
    CHECK(status_for_sqlstate("57014") == 504);
    CHECK(status_for_sqlstate("42501") == 403);
    CHECK(status_for_sqlstate("23502") == 400);
    CHECK(status_for_sqlstate("22P02") == 400);
    CHECK(status_for_sqlstate("42P01") == 400);
    CHECK(status_for_sqlstate("42703") == 400);
    CHECK(status_for_sqlstate("08006") == 503);
    CHECK(status_for_sqlstate("53300") == 503);
    CHECK(status_for_sqlstate("57P01") == 503);
    CHECK(status_for_sqlstate("XX000") == 500);
    CHECK(status_for_sqlstate("") == 500);
}

TEST_CASE("http errors: driver and pool failures") {
    qail::client::error server;
    server.code = qail::client::errc::server_error;
    server.server = qail::client::pg_error{};
    server.server->sqlstate = "23505";
    server.server->message = "duplicate key value violates unique constraint \"users_email_key\"";
    server.server->detail = "Key (email)=(a@x) already exists.";
    const api_error dup = from_client_error(server);
    CHECK(dup.status == 409);
    CHECK(dup.code == "23505");
    CHECK(dup.detail == "Key (email)=(a@x) already exists.");

    server.server->sqlstate = "57014";
    CHECK(from_client_error(server).status == 504);

    qail::client::error pool_timeout{make_error_code(qail::pool::pool_errc::acquire_timeout), {}};
    pool_timeout.server = qail::client::pg_error{};
    pool_timeout.server->sqlstate = "53300";
    pool_timeout.server->message = "pool appdb: 10.0.0.5:5432 busy"; // internal: not shown
    const api_error busy = from_client_error(pool_timeout);
    CHECK(busy.status == 503);
    CHECK(busy.code == "pool_exhausted");
    CHECK(busy.message.find("10.0.0.5") == std::string::npos);

    // A backend auth failure while the pool connects is the proxy's problem, not the
    // HTTP client's: 503, not 401.
    qail::client::error connect{make_error_code(qail::pool::pool_errc::connect_failed), {}};
    connect.server = qail::client::pg_error{};
    connect.server->sqlstate = "28P01";
    CHECK(from_client_error(connect).status == 503);

    CHECK(from_client_error({make_error_code(qail::client::errc::operation_timeout), {}}).status ==
          504);
    CHECK(from_client_error({make_error_code(qail::client::errc::connection_broken), {}}).status ==
          503);
}

TEST_CASE("http errors: JSON body shape") {
    api_error e = make_error(400, "bad_json", "line 1: \"oops\"");
    const auto v = boost::json::parse(to_json(e));
    CHECK(v.at("error").at("code") == "bad_json");
    CHECK(v.at("error").at("message") == "line 1: \"oops\"");
    CHECK(v.at("error").at("detail").is_null());
    CHECK(v.at("error").at("hint").is_null());
    CHECK(from_auth_error(make_error_code(jwt_errc::expired)).www_authenticate);
    CHECK(from_auth_error(make_error_code(jwt_errc::expired)).status == 401);
}

TEST_CASE("http request: target parsing") {
    auto t = parse_target("/v1/query?db=app%20db&format=arrays&x=1");
    REQUIRE(t.has_value());
    CHECK(t->path == "/v1/query");
    CHECK(t->database == "app db");
    CHECK(t->format == row_format::arrays);
    CHECK(parse_target("/v1/query")->database.empty());
    CHECK(parse_target("/v1/query?format=csv").error().status == 400);
    CHECK(parse_target("/v1/query?db=%zz").error().status == 400);
    CHECK(parse_target("/v1/query?db=%2").error().status == 400);
}

TEST_CASE("http request: planning refuses bad input with the right status and path") {
    SUBCASE("not JSON") {
        const auto e = plan_error("{\"action\":");
        CHECK(e.status == 400);
        CHECK(e.code == "bad_json");
    }
    SUBCASE("unknown operator, named with its path") {
        const auto e = plan_error(
            R"({"action":"Get","table":"t","cages":[{"kind":"Filter","conditions":[)"
            R"({"left":{"Named":"a"},"op":"Eqq","value":{"Int":1}}],"logical_op":"And"}]})");
        CHECK(e.status == 400);
        CHECK(e.message.find("cages[0].conditions[0].op") != std::string::npos);
        CHECK(e.message.find("Eqq") != std::string::npos);
    }
    SUBCASE("a Function value is raw SQL: 403") {
        const auto e = plan_error(
            R"({"action":"Get","table":"t","cages":[{"kind":"Filter","conditions":[)"
            R"json({"left":{"Named":"a"},"op":"Eq","value":{"Function":"now()"}}],"logical_op":"And"}]})json");
        CHECK(e.status == 403);
        CHECK(e.code == "forbidden");
    }
    SUBCASE("a DDL action: 403") {
        const auto e = plan_error(R"({"action":"Make","table":"t"})");
        CHECK(e.status == 403);
    }
    SUBCASE("too deep") {
        std::string deep = R"({"action":"Get","table":"t","columns":)";
        for (int i = 0; i < 80; ++i)
            deep += "[";
        for (int i = 0; i < 80; ++i)
            deep += "]";
        deep += "}";
        const auto e = plan_error(deep);
        CHECK(e.status == 400);
        CHECK(e.code == "limit_exceeded");
    }
    SUBCASE("a table outside the allow-list") {
        http_config cfg;
        cfg.allowed_tables = {"orders"};
        const auto e = plan_error(get_users, false, cfg);
        CHECK(e.status == 403);
        CHECK(e.code == "forbidden_table");
        CHECK(e.message.find("users") != std::string::npos);
        CHECK(plan_request(R"({"action":"Get","table":"orders"})", false, cfg).has_value());
    }
    SUBCASE("batch paths name the query") {
        const auto e = plan_error(
            R"({"queries":[{"action":"Get","table":"t"},{"action":"Get","table":"t","cages":[{"kind":"Bogus"}]}]})",
            true);
        CHECK(e.status == 400);
        CHECK(e.message.rfind("queries[1].cages[0]", 0) == 0);
        CHECK(plan_error(R"({"queries":[]})", true).status == 400);
        CHECK(plan_error(R"({"queries":[], "extra":1})", true).message.find("extra") !=
              std::string::npos);
        CHECK(plan_error(R"([1])", true).status == 400);
        CHECK(plan_error(R"({"queries":[{"action":"Get","table":"t"}],"transaction":"yes"})", true)
                  .status == 400);
    }
}

TEST_CASE("http request: max_rows clamps and adds a LIMIT") {
    http_config cfg;
    cfg.max_rows = 50;
    auto p = plan_request(get_users, false, cfg);
    REQUIRE(p.has_value());
    CHECK(p->statements.at(0).sql.find("LIMIT 50") != std::string::npos);
    p = plan_request(
        R"({"action":"Get","table":"users","cages":[{"kind":{"Limit":1000},"conditions":[],"logical_op":"And"}]})",
        false, cfg);
    REQUIRE(p.has_value());
    CHECK(p->statements.at(0).sql.find("LIMIT 50") != std::string::npos);
}

TEST_CASE("http request: pipeline layout binds tenant, user and timeout in the transaction") {
    auto p = plan_request(
        R"({"queries":[{"action":"Get","table":"a"},{"action":"Get","table":"b"}],"transaction":true})",
        true, {});
    REQUIRE(p.has_value());
    run_context ctx;
    ctx.tenant = "acme'; DROP TABLE x; --";
    ctx.user = "u1";
    ctx.statement_timeout = std::chrono::milliseconds(1500);
    const tenancy_config tenancy;
    const auto pipe = build_pipeline(*p, ctx, tenancy);
    REQUIRE(pipe.commands.size() == 5);
    CHECK(pipe.commands[0].sql == "BEGIN");
    CHECK(pipe.commands[1].sql.find("set_config($1, $2, true)") != std::string::npos);
    CHECK(pipe.commands[1].sql.find("set_config($5, $6, true)") != std::string::npos);
    // Values are parameters, never SQL text.
    CHECK(pipe.commands[1].sql.find("acme") == std::string::npos);
    REQUIRE(pipe.commands[1].params.size() == 6);
    CHECK(pipe.commands[1].params[0].bytes == std::optional<std::string>("app.current_tenant_id"));
    CHECK(pipe.commands[1].params[1].bytes == std::optional<std::string>(*ctx.tenant));
    CHECK(pipe.commands[1].params[4].bytes == std::optional<std::string>("statement_timeout"));
    CHECK(pipe.commands[1].params[5].bytes == std::optional<std::string>("1500"));
    CHECK(pipe.commands[4].sql == "COMMIT");
    CHECK(pipe.statement_index == std::vector<std::size_t>{2, 3});

    // Independent statements each get their own BEGIN/binding/COMMIT.
    p->transaction = false;
    const auto independent = build_pipeline(*p, run_context{}, tenancy);
    REQUIRE(independent.commands.size() == 6);
    CHECK(independent.commands[0].sql == "BEGIN");
    CHECK(independent.commands[2].sql == "COMMIT");
    CHECK(independent.commands[3].sql == "BEGIN");
    CHECK(independent.statement_index == std::vector<std::size_t>{1, 4});
}
