// QAIL ASTs run against PostgreSQL 18 on a fixture schema (users, orgs, orders with uuid,
// jsonb, numeric and timestamptz columns) in a schema of its own whose name needs quoting:
// joins, upsert, returning, group by/having, IN, jsonb, NULL semantics, hostile names.
#include "support/async.hpp"
#include "support/pg_env.hpp"

#include <qail/ast/builder.hpp>
#include <qail/ast/json.hpp>
#include <qail/ast/run.hpp>
#include <qail/client/connection.hpp>

#include <doctest/doctest.h>

#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <unistd.h>
#include <vector>

namespace qail::ast {
namespace {

namespace asio = boost::asio;
using test::env;

using rows_t = std::vector<std::vector<std::string>>;

/// One AST and the rows it must return (text format, "NULL" for NULL), in order.
struct golden_case {
    std::string name;
    qail q;
    rows_t rows;
    std::vector<pg::param> bind;
};

pg::connect_options admin_options() {
    pg::connect_options o;
    o.hosts = {pg::host_spec{env().host, env().pg18.port, {}}};
    o.user = env().admin.user;
    o.password = env().admin.password;
    o.dbname = env().database;
    o.sslmode = pg::ssl_mode::disable;
    o.connect_timeout = std::chrono::seconds(10);
    o.application_name = "qail-ast-golden";
    return o;
}

/// A schema name that needs quoting (space, double quote), unique to this process.
std::string schema_name() {
    return "qail ast\"" + std::to_string(::getpid()) + "_" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 100000);
}

constexpr const char* acme = "11111111-1111-1111-1111-111111111111";
constexpr const char* globex = "22222222-2222-2222-2222-222222222222";
constexpr const char* hostile_table = "odd\"name; DROP TABLE users; --";

std::string fixture_sql(const std::string& s) {
    return "SET TIME ZONE 'UTC'; CREATE SCHEMA " + s + ";" + "CREATE TABLE " + s +
           ".orgs (id uuid PRIMARY KEY, name text NOT NULL UNIQUE, plan text);"
           "CREATE TABLE " +
           s + ".users (id bigint PRIMARY KEY, org_id uuid REFERENCES " + s +
           ".orgs(id), email text NOT NULL UNIQUE, name text, active boolean NOT NULL DEFAULT "
           "true, age int, profile jsonb, tags text[], created_at timestamptz NOT NULL, "
           "deleted_at timestamptz, login_count int NOT NULL DEFAULT 0);"
           "CREATE TABLE " +
           s +
           ".orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
           "user_id bigint NOT NULL REFERENCES " +
           s +
           ".users(id), total numeric(12,2) NOT "
           "NULL, status text NOT NULL, meta jsonb NOT NULL DEFAULT '{}', placed_at timestamptz "
           "NOT NULL DEFAULT '2024-06-01 00:00:00+00');"
           "CREATE TABLE " +
           s +
           ".\"odd\"\"name; DROP TABLE users; --\" (\"semi;colon\" int, "
           "\"quo\"\"te\" text);"
           "INSERT INTO " +
           s + ".orgs VALUES ('" + acme + "', 'acme', 'pro'), ('" + globex +
           "', 'globex', 'free'), ('33333333-3333-3333-3333-333333333333', 'initech', NULL);"
           "INSERT INTO " +
           s +
           ".users (id, org_id, email, name, active, age, profile, tags, "
           "created_at, deleted_at) VALUES "
           "(1, '" +
           acme +
           "', 'ann@x', 'Ann', true, 30, "
           "'{\"vip\": true, \"city\": \"Oslo\", \"langs\": [\"en\", \"no\"]}', '{admin,dev}', "
           "'2024-01-01 00:00:00+00', NULL),"
           "(2, '" +
           acme +
           "', 'bob@x', 'Bob', true, 25, '{\"vip\": false, \"city\": \"Bergen\"}', "
           "'{dev}', '2024-02-01 00:00:00+00', NULL),"
           "(3, '" +
           globex +
           "', 'cid@x', NULL, false, NULL, NULL, '{}', "
           "'2024-03-01 00:00:00+00', '2024-04-01 00:00:00+00'),"
           "(4, NULL, 'dan@x', 'Dan', true, 41, '{\"city\": \"Oslo\"}', NULL, "
           "'2024-04-01 00:00:00+00', NULL),"
           "(5, '" +
           globex +
           "', 'eve@x', 'Eve', true, 35, '{\"vip\": true}', '{ops}', "
           "'2024-05-01 00:00:00+00', NULL);"
           "INSERT INTO " +
           s +
           ".orders (user_id, total, status, meta) VALUES "
           "(1, 10.50, 'paid', '{\"gift\": true}'), (1, 20.00, 'paid', '{}'), "
           "(2, 5.25, 'open', '{}'), (5, 100.00, 'paid', '{}'), (5, 1.00, 'cancelled', '{}');";
}

/// A QAIL document as an HTTP client would send it, parsed in untrusted mode.
qail from_json(const std::string& schema) {
    std::string table;
    for (const char ch : schema + ".users") {
        if (ch == '"' || ch == '\\')
            table += '\\';
        table += ch;
    }
    auto q = parse_json(R"({"action":"Get","table":")" + table +
                        R"(","columns":[{"Named":"email"}],"cages":[{"kind":"Filter",)"
                        R"("conditions":[{"left":{"Named":"id"},"op":"Eq","value":{"Int":2}}]}]})");
    REQUIRE_MESSAGE(q.has_value(), (q ? std::string{} : q.error().message()));
    return *q;
}

/// Reads that leave the fixture as it is.
std::vector<golden_case> read_cases(const std::string& schema) {
    const std::string users = schema + ".users";
    const std::string orgs = schema + ".orgs";
    const std::string orders = schema + ".orders";
    std::vector<golden_case> c;
    c.push_back(
        {"filter, order, limit",
         get(users).columns({"id", "email"}).filter("active", op::eq, true).order_by("id").limit(3),
         {{"1", "ann@x"}, {"2", "bob@x"}, {"4", "dan@x"}},
         {}});
    c.push_back({"limit and offset",
                 get(users).columns({"id"}).order_by("id").limit(2).offset(1),
                 {{"2"}, {"3"}},
                 {}});
    c.push_back({"inner join",
                 get(users)
                     .columns({"users.email", as("orgs.name", "org")})
                     .inner_join(orgs, "users.org_id", "orgs.id")
                     .order_by("users.id"),
                 {{"ann@x", "acme"}, {"bob@x", "acme"}, {"cid@x", "globex"}, {"eve@x", "globex"}},
                 {}});
    c.push_back({"left join keeps users without org",
                 get(users)
                     .columns({"users.id", "orgs.name"})
                     .left_join(orgs, "users.org_id", "orgs.id")
                     .filter("users.id", op::in, value_list{3, 4})
                     .order_by("users.id"),
                 {{"3", "globex"}, {"4", "NULL"}},
                 {}});
    c.push_back({"right join keeps orgs without users",
                 get(users)
                     .columns({"orgs.name"})
                     .right_join(orgs, "users.org_id", "orgs.id")
                     .is_null("users.id"),
                 {{"initech"}},
                 {}});
    c.push_back({"full join", cnt(users).full_join(orgs, "users.org_id", "orgs.id"), {{"6"}}, {}});
    c.push_back({"cross join", cnt(users).cross_join(orgs), {{"15"}}, {}});
    c.push_back({"group by, having, aggregates",
                 get(orders)
                     .columns({"user_id", as(count(), "n"), as(sum("total"), "total")})
                     .group_by({"user_id"})
                     .having(count(), op::gt, 1)
                     .order_by("user_id"),
                 {{"1", "2", "30.50"}, {"5", "2", "101.00"}},
                 {}});
    c.push_back({"aggregate FILTER, DISTINCT, max, avg",
                 get(orders).columns(
                     {agg_filter(aggregate_func::count, "*", {cond("status", op::eq, "paid")}),
                      agg_distinct(aggregate_func::count, "user_id"),
                      agg(aggregate_func::max, "total"), agg(aggregate_func::avg, "total")}),
                 {{"3", "3", "100.00", "27.3500000000000000"}},
                 {}});
    c.push_back({"string_agg and bool_or",
                 get(users)
                     .columns({agg(aggregate_func::string_agg, "email"),
                               agg(aggregate_func::bool_or, "active")})
                     .filter("id", op::in, value_list{1, 2}),
                 {{"ann@x,bob@x", "t"}},
                 {}});
    c.push_back({"IN expands",
                 get(users).columns({"id"}).in("id", {1, 3, 5}).order_by("id"),
                 {{"1"}, {"3"}, {"5"}},
                 {}});
    c.push_back({"empty IN is false", get(users).columns({"id"}).in("id", {}), {}, {}});
    c.push_back(
        {"empty NOT IN is true", cnt(users).filter("id", op::not_in, value_list{}), {{"5"}}, {}});
    c.push_back({"jsonb @>",
                 get(users)
                     .columns({"id"})
                     .filter("profile", op::contains, json(R"({"vip":true})"))
                     .order_by("id"),
                 {{"1"}, {"5"}},
                 {}});
    c.push_back(
        {"jsonb ?",
         get(users).columns({"id"}).filter("profile", op::key_exists, "city").order_by("id"),
         {{"1"}, {"2"}, {"4"}},
         {}});
    c.push_back({"jsonb ?| and ?&",
                 get(users)
                     .columns({"id"})
                     .filter("profile", op::key_exists_any, value_list{"langs", "nope"})
                     .filter("profile", op::key_exists_all, value_list{"vip", "city"}),
                 {{"1"}},
                 {}});
    c.push_back({"jsonb <@",
                 get(users)
                     .columns({"id"})
                     .filter("profile", op::contained_by,
                             json(R"({"vip":true,"city":"Oslo","langs":["en","no"],"x":1})"))
                     .order_by("id"),
                 {{"1"}, {"4"}, {"5"}},
                 {}});
    c.push_back(
        {"json access",
         get(users)
             .columns({"id", as(json_path("profile", {{"langs", false}, {"1", true}}), "lang")})
             .filter("id", op::eq, 1),
         {{"1", "no"}},
         {}});
    c.push_back({"array && and @> and element match",
                 get(users)
                     .columns({"id"})
                     .filter("tags", op::overlaps, value_list{"dev", "ops"})
                     .order_by("id"),
                 {{"1"}, {"2"}, {"5"}},
                 {}});
    golden_case unnest{"unnest element", get(users).columns({"id"}), {{"5"}}, {}};
    condition el = cond("tags", op::eq, "ops");
    el.is_array_unnest = true;
    unnest.q.cages.push_back(cage{cage_kind::filter, sort::asc, 0, {el}, logical_op::and_});
    c.push_back(unnest);
    c.push_back({"= NULL means IS NULL",
                 get(users).columns({"id"}).filter("deleted_at", op::eq, null).order_by("id"),
                 {{"1"}, {"2"}, {"4"}, {"5"}},
                 {}});
    c.push_back({"<> NULL means IS NOT NULL",
                 get(users).columns({"id"}).filter("deleted_at", op::ne, null),
                 {{"3"}},
                 {}});
    c.push_back(
        {"NullUuid", get(users).columns({"id"}).filter("org_id", op::eq, null_uuid), {{"4"}}, {}});
    c.push_back(
        {"> NULL matches nothing", get(users).columns({"id"}).filter("age", op::gt, null), {}, {}});
    c.push_back({"LIKE, Fuzzy and regex in an OR cage",
                 get(users)
                     .columns({"id"})
                     .or_filter("email", op::like, "a%")
                     .or_filter("name", op::fuzzy, "O")
                     .or_filter("email", op::regex, "^e")
                     .order_by("id"),
                 {{"1"}, {"2"}, {"5"}},
                 {}});
    c.push_back(
        {"between",
         get(users).columns({"id"}).filter("age", op::between, value_list{25, 35}).order_by("id"),
         {{"1"}, {"2"}, {"5"}},
         {}});
    c.push_back({"not between skips NULL",
                 get(users).columns({"id"}).filter("age", op::not_between, value_list{25, 35}),
                 {{"4"}},
                 {}});
    c.push_back({"Cnt", cnt(users).filter("active", op::eq, true), {{"4"}}, {}});
    c.push_back({"timestamptz",
                 get(users)
                     .columns({"id"})
                     .filter("created_at", op::gte, ts("2024-03-01T00:00:00Z"))
                     .order_by("id"),
                 {{"3"}, {"4"}, {"5"}},
                 {}});
    c.push_back({"uuid",
                 get(orgs).columns({"name"}).filter("id", op::eq, pg::uuid::parse(acme).value()),
                 {{"acme"}},
                 {}});
    c.push_back({"numeric against an Int and a Float",
                 get(orders)
                     .columns({"total"})
                     .filter("total", op::gt, 10)
                     .filter("total", op::lt, 99.5)
                     .order_by("total"),
                 {{"10.50"}, {"20.00"}},
                 {}});
    c.push_back({"distinct",
                 get(users).distinct().columns({"org_id"}).is_not_null("org_id").order_by("org_id"),
                 {{acme}, {globex}},
                 {}});
    c.push_back({"cast and caller parameter",
                 get(orders).columns({cast_to("total", "text")}).filter("total", op::eq, param(1)),
                 {{"5.25"}},
                 {pg::text_param("5.25", pg::oid::numeric)}});
    c.push_back({"text search",
                 get(users).columns({"id"}).filter("name, email", op::text_search, "bob"),
                 {{"2"}},
                 {}});
    c.push_back({"an AST from untrusted JSON", from_json(schema), {{"bob@x"}}, {}});
    c.push_back({"the hostile table is empty", cnt(schema + "." + hostile_table), {{"0"}}, {}});
    return c;
}

/// Writes, run in order after the reads.
std::vector<golden_case> write_cases(const std::string& schema) {
    const std::string users = schema + ".users";
    const std::string orders = schema + ".orders";
    const std::string odd = schema + "." + hostile_table;
    std::vector<golden_case> c;
    c.push_back({"insert returning",
                 add(users)
                     .set("id", 10)
                     .set("email", "new@x")
                     .set("org_id", pg::uuid::parse(acme).value())
                     .set("profile", json(R"({"new":true})"))
                     .set("tags", value_list{"a b", "c"})
                     .set("created_at", ts("2024-07-01 12:00:00+00"))
                     .returning({"id", "email", "tags", "created_at"}),
                 {{"10", "new@x", "{\"a b\",c}", "2024-07-01 12:00:00+00"}},
                 {}});
    c.push_back({"positional insert",
                 add(users)
                     .columns({"id", "email", "created_at"})
                     .values({11, "pos@x", ts("2024-07-02T00:00:00Z")})
                     .returning({"id"}),
                 {{"11"}},
                 {}});
    c.push_back({"upsert do nothing",
                 upsert(users)
                     .set("id", 12)
                     .set("email", "ann@x")
                     .set("created_at", ts("2024-01-01Z"))
                     .on_conflict_do_nothing({"email"})
                     .returning({"id"}),
                 {},
                 {}});
    c.push_back({"upsert do update from excluded",
                 upsert(users)
                     .set("id", 13)
                     .set("email", "bob@x")
                     .set("name", "Robert")
                     .set("created_at", ts("2024-01-01Z"))
                     .on_conflict_do_update({"email"},
                                            {{"name", excluded("name")}, {"login_count", lit(7)}})
                     .returning({"id", "name", "login_count"}),
                 {{"2", "Robert", "7"}},
                 {}});
    c.push_back({"upsert do update skipped by its WHERE",
                 upsert(users)
                     .set("id", 14)
                     .set("email", "cid@x")
                     .set("created_at", ts("2024-01-01Z"))
                     .on_conflict_do_update({"email"}, {{"login_count", lit(9)}})
                     .on_conflict_where(cond("users.active", op::eq, true))
                     .returning({"id"}),
                 {},
                 {}});
    c.push_back({"update returning",
                 set(users)
                     .set("active", false)
                     .filter("email", op::eq, "eve@x")
                     .returning({"id", "active"}),
                 {{"5", "f"}},
                 {}});
    c.push_back({"delete returning",
                 del(orders).filter("status", op::eq, "cancelled").returning({"total"}),
                 {{"1.00"}},
                 {}});
    c.push_back(
        {"hostile names are names: insert",
         add(odd).set("semi;colon", 1).set("quo\"te", "x'); DROP TABLE users; --").returning_all(),
         {{"1", "x'); DROP TABLE users; --"}},
         {}});
    c.push_back({"hostile names are names: select",
                 get(odd).columns({"quo\"te"}).filter("semi;colon", op::eq, 1),
                 {{"x'); DROP TABLE users; --"}},
                 {}});
    c.push_back({"users survived", cnt(users), {{"7"}}, {}});
    return c;
}

rows_t text_rows(const pg::result_set& rs) {
    rows_t out;
    for (const auto row : rs) {
        std::vector<std::string> r;
        for (std::size_t i = 0; i < row.size(); ++i)
            r.emplace_back(row.raw(i).value_or("NULL"));
        out.push_back(std::move(r));
    }
    return out;
}

asio::awaitable<void> run_cases(pg::connection& conn, const std::vector<golden_case>& cases) {
    for (const auto& gc : cases) {
        CAPTURE(gc.name);
        compile_options o;
        o.bind = gc.bind;
        auto r = co_await fetch_all(conn, gc.q, o);
        REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
        CHECK(text_rows(*r) == gc.rows);
    }
}

asio::awaitable<void> must_run(pg::connection& conn, const std::string& sql) {
    auto r = co_await conn.simple_query(sql);
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
}

/// The schema, quoted, for the DDL.
std::string quoted(const std::string& schema) {
    return quote_identifier(schema).value();
}

} // namespace

TEST_CASE("ast golden: ASTs run on PostgreSQL 18 and return the expected rows") {
    const std::string schema = schema_name();
    const auto reads = read_cases(schema);
    const auto writes = write_cases(schema);
    const std::string fixture = fixture_sql(quoted(schema));
    const std::string drop = "DROP SCHEMA " + quoted(schema) + " CASCADE";
    test::run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto c = co_await pg::connection::connect(ex, admin_options());
        REQUIRE_MESSAGE(c.has_value(), (c ? std::string{} : c.error().message()));
        pg::connection& conn = **c;
        co_await must_run(conn, fixture);
        co_await run_cases(conn, reads);
        co_await run_cases(conn, writes);
        CHECK(conn.cached_statements() > 0); // ASTs went through the statement cache
        co_await must_run(conn, drop);
        co_await conn.close();
    });
}

TEST_CASE("ast golden: execute counts rows, Export streams COPY, bad ASTs send nothing") {
    const std::string schema = schema_name();
    const std::string fixture = fixture_sql(quoted(schema));
    const std::string drop = "DROP SCHEMA " + quoted(schema) + " CASCADE";
    const qail update = set(schema + ".users").set("login_count", 1).filter("active", op::eq, true);
    const qail exported = export_(schema + ".users")
                              .columns({"id", "email"})
                              .or_filter("email", op::like, "%'\\%")
                              .or_filter("id", op::in, value_list{1, 2})
                              .order_by("id");
    const qail broken = get(schema + ".users").filter("age", op::between, value_list{1});
    test::run_async([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto c = co_await pg::connection::connect(ex, admin_options());
        REQUIRE_MESSAGE(c.has_value(), (c ? std::string{} : c.error().message()));
        pg::connection& conn = **c;
        co_await must_run(conn, fixture);

        auto n = co_await execute(conn, update);
        REQUIRE_MESSAGE(n.has_value(), (n ? std::string{} : n.error().message()));
        CHECK(*n == 4);

        std::string copied;
        auto rows = co_await export_rows(conn, exported,
                                         [&](std::string_view chunk) { copied.append(chunk); });
        REQUIRE_MESSAGE(rows.has_value(), (rows ? std::string{} : rows.error().message()));
        CHECK(*rows == 2);
        CHECK(copied == "1\tann@x\n2\tbob@x\n");

        const auto writes_before = conn.writes();
        auto bad = co_await fetch_all(conn, broken);
        REQUIRE_FALSE(bad.has_value());
        REQUIRE(bad.error().compile_error() != nullptr);
        CHECK(bad.error().message() ==
              "cages[0].conditions[0].value: Between needs an Array of two values");
        CHECK(conn.writes() == writes_before);

        auto server_side = co_await fetch_all(conn, get(schema + ".no_such_table"));
        REQUIRE_FALSE(server_side.has_value());
        REQUIRE(server_side.error().driver_error() != nullptr);
        CHECK(server_side.error().driver_error()->sqlstate() == "42P01");

        co_await must_run(conn, drop);
        co_await conn.close();
    });
}

} // namespace qail::ast
