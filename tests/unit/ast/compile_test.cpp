// AST -> SQL goldens: every node compiles to the exact expected SQL and parameters, and
// every statement that does not make sense is refused with the path of the node.
#include "test_support.hpp"

#include <qail/ast/builder.hpp>
#include <qail/ast/compile.hpp>

#include <string>
#include <vector>

namespace qail::ast {
namespace {

struct golden {
    std::string sql;
    std::string params; // to_string(params)
};

golden sql_of(const qail& q, const compile_options& o = {}) {
    auto r = compile(q, o);
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
    return {r->sql, to_string(r->params)};
}

error error_of(const qail& q, const compile_options& o = {}) {
    auto r = compile(q, o);
    REQUIRE_FALSE(r.has_value());
    return r.error();
}

/// The WHERE clause of `get("t")` filtered by one condition.
golden where_of(const condition& c) {
    auto b = get("t");
    b.where(c);
    auto g = sql_of(b);
    const std::string prefix = "SELECT * FROM \"t\" WHERE ";
    REQUIRE(g.sql.rfind(prefix, 0) == 0);
    g.sql.erase(0, prefix.size());
    return g;
}

} // namespace

TEST_CASE("ast compile: the issue's example reads like qail and compiles to one parameter") {
    const auto g = sql_of(get("users")
                              .columns({"id", "email"})
                              .filter("active", op::eq, true)
                              .order_by("created_at", sort::desc)
                              .limit(10));
    CHECK(
        g.sql ==
        R"(SELECT "id", "email" FROM "users" WHERE "active" = $1 ORDER BY "created_at" DESC LIMIT 10)");
    CHECK(g.params == "$1 = 't' (bool)\n");
}

TEST_CASE("ast compile: select list forms") {
    CHECK(sql_of(get("users")).sql == R"(SELECT * FROM "users")");
    CHECK(sql_of(get("users").select_all()).sql == R"(SELECT * FROM "users")");
    CHECK(sql_of(get("public.users").columns({"users.*", as("email", "e")})).sql ==
          R"(SELECT "users".*, "email" AS "e" FROM "public"."users")");
    CHECK(sql_of(get("users").distinct().columns({"org_id"})).sql ==
          R"(SELECT DISTINCT "org_id" FROM "users")");
    CHECK(
        sql_of(get("users").distinct_on({"org_id"}).columns({"org_id", "email"}).order_by("org_id"))
            .sql ==
        R"(SELECT DISTINCT ON ("org_id") "org_id", "email" FROM "users" ORDER BY "org_id" ASC)");
    const auto lit_g = sql_of(get("users").columns({as(lit(7), "ignored"), lit("x")}));
    CHECK(lit_g.sql == R"(SELECT $1, $2 FROM "users")");
    CHECK(lit_g.params == "$1 = '7' (int8)\n$2 = 'x' (unknown)\n");
    auto only = get("users");
    qail q = only;
    q.only_table = true;
    CHECK(sql_of(q).sql == R"(SELECT * FROM ONLY "users")");
}

TEST_CASE("ast compile: every comparison, pattern and jsonb operator") {
    struct row {
        op o;
        value v;
        std::string sql;
        std::string params;
    };
    const std::vector<row> rows{
        {op::eq, 1, R"("c" = $1)", "$1 = '1' (int8)\n"},
        {op::ne, 1, R"("c" <> $1)", "$1 = '1' (int8)\n"},
        {op::gt, 1.5, R"("c" > $1)", "$1 = '1.5' (float8)\n"},
        {op::gte, 2, R"("c" >= $1)", "$1 = '2' (int8)\n"},
        {op::lt, -3, R"("c" < $1)", "$1 = '-3' (int8)\n"},
        {op::lte, 4, R"("c" <= $1)", "$1 = '4' (int8)\n"},
        {op::like, "a%", R"("c" LIKE $1)", "$1 = 'a%' (unknown)\n"},
        {op::not_like, "a%", R"("c" NOT LIKE $1)", "$1 = 'a%' (unknown)\n"},
        {op::ilike, "a%", R"("c" ILIKE $1)", "$1 = 'a%' (unknown)\n"},
        {op::not_ilike, "a%", R"("c" NOT ILIKE $1)", "$1 = 'a%' (unknown)\n"},
        {op::fuzzy, "ann", R"("c" ILIKE $1)", "$1 = '%ann%' (unknown)\n"},
        {op::regex, "^a", R"("c" ~ $1)", "$1 = '^a' (unknown)\n"},
        {op::regex_i, "^a", R"("c" ~* $1)", "$1 = '^a' (unknown)\n"},
        {op::similar_to, "a|b", R"("c" SIMILAR TO $1)", "$1 = 'a|b' (unknown)\n"},
        {op::contains, json(R"({"a":1})"), R"("c" @> $1)", "$1 = '{\"a\":1}' (jsonb)\n"},
        {op::contained_by, value_list{"x", "y"}, R"("c" <@ $1)", "$1 = '{x,y}' (unknown)\n"},
        {op::key_exists, "vip", R"("c" ? $1)", "$1 = 'vip' (unknown)\n"},
        {op::key_exists_any, value_list{"a", "b"}, R"("c" ?| $1)", "$1 = '{a,b}' (unknown)\n"},
        {op::key_exists_all, value_list{"a", "b"}, R"("c" ?& $1)", "$1 = '{a,b}' (unknown)\n"},
        {op::json_path, value_list{"a", "0"}, R"("c" #> $1)", "$1 = '{a,0}' (unknown)\n"},
        {op::json_path_text, value_list{"a"}, R"("c" #>> $1)", "$1 = '{a}' (unknown)\n"},
        {op::overlaps, value_list{1, 2}, R"("c" && $1)", "$1 = '{1,2}' (unknown)\n"},
        {op::between, value_list{1, 9}, R"("c" BETWEEN $1 AND $2)",
         "$1 = '1' (int8)\n$2 = '9' (int8)\n"},
        {op::not_between, value_list{1, 9}, R"("c" NOT BETWEEN $1 AND $2)",
         "$1 = '1' (int8)\n$2 = '9' (int8)\n"},
        {op::is_null, null, R"("c" IS NULL)", ""},
        {op::is_not_null, null, R"("c" IS NOT NULL)", ""},
        {op::text_search, "cats & dogs",
         R"(to_tsvector('english', "c") @@ websearch_to_tsquery('english', $1))",
         "$1 = 'cats & dogs' (unknown)\n"},
    };
    for (const auto& r : rows) {
        CAPTURE(name(r.o));
        const auto g = where_of(cond("c", r.o, r.v));
        CHECK(g.sql == r.sql);
        CHECK(g.params == r.params);
    }
    CHECK(
        where_of(cond("title, body", op::text_search, "x")).sql ==
        R"(to_tsvector('english', concat_ws(' ', "title", "body")) @@ websearch_to_tsquery('english', $1))");
}

TEST_CASE("ast compile: NULL semantics use IS NULL, never = NULL") {
    CHECK(where_of(cond("deleted_at", op::eq, null)).sql == R"("deleted_at" IS NULL)");
    CHECK(where_of(cond("deleted_at", op::ne, null)).sql == R"("deleted_at" IS NOT NULL)");
    CHECK(where_of(cond("org_id", op::eq, null_uuid)).sql == R"("org_id" IS NULL)");
    CHECK(where_of(cond("org_id", op::is_null, 5)).sql == R"("org_id" IS NULL)");
    CHECK(where_of(cond("x", op::eq, std::optional<int>{})).sql == R"("x" IS NULL)");
    // Other comparisons with NULL stay comparisons (always unknown), bound as NULL.
    const auto g = where_of(cond("x", op::gt, null));
    CHECK(g.sql == R"("x" > $1)");
    CHECK(g.params == "$1 = NULL (unknown)\n");
}

TEST_CASE("ast compile: IN with an array expands to one parameter per element") {
    auto g = sql_of(get("users").in("id", {1, 2, 3}));
    CHECK(g.sql == R"(SELECT * FROM "users" WHERE "id" IN ($1, $2, $3))");
    CHECK(g.params == "$1 = '1' (int8)\n$2 = '2' (int8)\n$3 = '3' (int8)\n");
    g = where_of(cond("email", op::not_in, value_list{"a@x", null}));
    CHECK(g.sql == R"("email" NOT IN ($1, $2))");
    CHECK(g.params == "$1 = 'a@x' (unknown)\n$2 = NULL (unknown)\n");
    // A scalar is a one-element list; an empty list keeps its meaning without IN ().
    CHECK(where_of(cond("id", op::in, 5)).sql == R"("id" IN ($1))");
    g = where_of(cond("id", op::in, value_list{}));
    CHECK(g.sql == R"("id" = ANY($1))");
    CHECK(g.params == "$1 = '{}' (unknown)\n");
    CHECK(where_of(cond("id", op::not_in, value_list{})).sql == R"("id" <> ALL($1))");
    // A column reference in the list stays an identifier.
    CHECK(where_of(cond("a", op::in, value_list{col("b"), 1})).sql == R"("a" IN ("b", $1))");
}

TEST_CASE("ast compile: filter cages combine with AND, each with its own logical_op") {
    const auto g = sql_of(get("users")
                              .filter("active", op::eq, true)
                              .or_filter("role", op::eq, "admin")
                              .or_filter("role", op::eq, "owner"));
    CHECK(g.sql == R"(SELECT * FROM "users" WHERE "active" = $1 AND ("role" = $2 OR "role" = $3))");
    CHECK(g.params == "$1 = 't' (bool)\n$2 = 'admin' (unknown)\n$3 = 'owner' (unknown)\n");
    CHECK(sql_of(get("users").or_filter("a", op::eq, 1).or_filter("b", op::eq, 2)).sql ==
          R"(SELECT * FROM "users" WHERE "a" = $1 OR "b" = $2)");
}

TEST_CASE("ast compile: all six sort orders, offset and multi-column ORDER BY") {
    const auto g = sql_of(get("t")
                              .order_by("a", sort::asc)
                              .order_by("b", sort::desc)
                              .order_by("c", sort::asc_nulls_first)
                              .order_by("d", sort::asc_nulls_last)
                              .order_by("e", sort::desc_nulls_first)
                              .order_by("f", sort::desc_nulls_last)
                              .limit(5)
                              .offset(20));
    CHECK(g.sql == R"(SELECT * FROM "t" ORDER BY "a" ASC, "b" DESC, "c" ASC NULLS FIRST, )"
                   R"("d" ASC NULLS LAST, "e" DESC NULLS FIRST, "f" DESC NULLS LAST LIMIT 5 )"
                   R"(OFFSET 20)");
}

TEST_CASE("ast compile: joins of every kind with on conditions and ON TRUE") {
    const auto g = sql_of(get("users")
                              .columns({"users.email", as("orgs.name", "org")})
                              .inner_join("orgs", "users.org_id", "orgs.id")
                              .left_join("billing.plans", "orgs.plan_id", "plans.id")
                              .right_join("r", "r.id", "users.id")
                              .full_join("f", "f.id", "users.id")
                              .cross_join("c")
                              .filter("orgs.name", op::eq, "acme"));
    CHECK(g.sql ==
          R"(SELECT "users"."email", "orgs"."name" AS "org" FROM "users")"
          R"( INNER JOIN "orgs" ON "users"."org_id" = "orgs"."id")"
          R"( LEFT JOIN "billing"."plans" ON "orgs"."plan_id" = "plans"."id")"
          R"( RIGHT JOIN "r" ON "r"."id" = "users"."id" FULL JOIN "f" ON "f"."id" = "users"."id")"
          R"( CROSS JOIN "c" WHERE "orgs"."name" = $1)");
    join j;
    j.table = "settings";
    j.kind = join_kind::left;
    j.on_true = true;
    CHECK(sql_of(get("users").join(j)).sql ==
          R"(SELECT * FROM "users" LEFT JOIN "settings" ON TRUE)");
    join multi;
    multi.table = "o";
    multi.on = std::vector<condition>{cond("o.a", op::eq, col("u.a")), cond("o.b", op::gt, 3)};
    CHECK(sql_of(get("u").join(multi)).sql ==
          R"(SELECT * FROM "u" INNER JOIN "o" ON "o"."a" = "u"."a" AND "o"."b" > $1)");
}

TEST_CASE("ast compile: GROUP BY, HAVING and every aggregate") {
    const auto g = sql_of(get("orders")
                              .columns({"org_id", as(count(), "n"), as(sum("total"), "sum_total")})
                              .group_by({"org_id"})
                              .having(count(), op::gt, 1)
                              .order_by(count(), sort::desc));
    CHECK(g.sql == R"(SELECT "org_id", count(*) AS "n", sum("total") AS "sum_total" FROM "orders")"
                   R"( GROUP BY "org_id" HAVING count(*) > $1 ORDER BY count(*) DESC)");
    CHECK(g.params == "$1 = '1' (int8)\n");

    const auto all = sql_of(get("t").columns(
        {count("id"), sum("a"), avg("a"), agg(aggregate_func::min, "a"),
         agg(aggregate_func::max, "a"), agg(aggregate_func::array_agg, "a"),
         agg(aggregate_func::string_agg, "name"), agg(aggregate_func::json_agg, "a"),
         agg(aggregate_func::jsonb_agg, "a"), agg(aggregate_func::bool_and, "ok"),
         agg(aggregate_func::bool_or, "ok"), agg_distinct(aggregate_func::count, "org_id"),
         as(agg_filter(aggregate_func::count, "*", {cond("paid", op::eq, true)}), "paid")}));
    CHECK(all.sql == R"(SELECT count("id"), sum("a"), avg("a"), min("a"), max("a"), )"
                     R"(array_agg("a"), string_agg(CAST("name" AS text), $1), json_agg("a"), )"
                     R"(jsonb_agg("a"), bool_and("ok"), bool_or("ok"), count(DISTINCT "org_id"), )"
                     R"(count(*) FILTER (WHERE "paid" = $2) AS "paid" FROM "t")");
    CHECK(all.params == "$1 = ',' (text)\n$2 = 't' (bool)\n");
}

TEST_CASE("ast compile: casts, JSON access, function calls and raw SQL from trusted code") {
    const auto g = sql_of(get("users").columns(
        {as(cast_to("id", "text"), "id_text"), cast_to("total", "numeric(10,2)"),
         as(json_path("profile", {{"address", false}, {"0", false}, {"city", true}}), "city"),
         as(call("lower", {"email"}), "e"), call("count", {star{}})}));
    CHECK(g.sql ==
          R"(SELECT CAST("id" AS text) AS "id_text", CAST("total" AS numeric(10,2)), )"
          R"("profile"->$1->$2->>$3 AS "city", lower("email") AS "e", count(*) FROM "users")");
    CHECK(g.params == "$1 = 'address' (text)\n$2 = '0' (int4)\n$3 = 'city' (text)\n");
    CHECK(where_of(cond("created_at", op::lt, raw("now() - interval '1 day'"))).sql ==
          R"("created_at" < now() - interval '1 day')");
    CHECK(where_of(cond(cast_to("id", "timestamp with time zone"), op::eq, 1)).sql ==
          R"(CAST("id" AS timestamp with time zone) = $1)");
    CHECK(where_of(cond(cast_to("tags", "text[]"), op::eq, 1)).sql ==
          R"(CAST("tags" AS text[]) = $1)");
}

TEST_CASE("ast compile: Cnt counts rows") {
    const auto g = sql_of(cnt("users").filter("active", op::eq, true));
    CHECK(g.sql == R"(SELECT count(*) FROM "users" WHERE "active" = $1)");
    CHECK(sql_of(cnt("users").inner_join("orgs", "users.org_id", "orgs.id")).sql ==
          R"(SELECT count(*) FROM "users" INNER JOIN "orgs" ON "users"."org_id" = "orgs"."id")");
}

TEST_CASE("ast compile: Set is UPDATE with SET pairs, WHERE and RETURNING") {
    const auto g = sql_of(set("users")
                              .set("email", "new@x")
                              .set("login_count", col("login_count"))
                              .filter("id", op::eq, 7)
                              .returning({"id", "email"}));
    CHECK(g.sql == R"(UPDATE "users" SET "email" = $1, "login_count" = "login_count" )"
                   R"(WHERE "id" = $2 RETURNING "id", "email")");
    CHECK(g.params == "$1 = 'new@x' (unknown)\n$2 = '7' (int8)\n");
}

TEST_CASE("ast compile: Add in both payload forms, DEFAULT VALUES and RETURNING *") {
    const auto named_form =
        sql_of(add("users").set("email", "a@x").set("active", true).returning_all());
    CHECK(named_form.sql ==
          R"(INSERT INTO "users" ("email", "active") VALUES ($1, $2) RETURNING *)");
    CHECK(named_form.params == "$1 = 'a@x' (unknown)\n$2 = 't' (bool)\n");
    const auto positional = sql_of(add("users").columns({"email", "active"}).values({"a@x", true}));
    CHECK(positional.sql == R"(INSERT INTO "users" ("email", "active") VALUES ($1, $2))");
    CHECK(positional.params == named_form.params);
    // The positional form binds by $k, whatever order the payload lists them in.
    qail shuffled = add("t").columns({"a", "b"}).values({1, 2});
    std::swap(shuffled.cages[0].conditions[0], shuffled.cages[0].conditions[1]);
    CHECK(sql_of(shuffled).params == "$1 = '1' (int8)\n$2 = '2' (int8)\n");
    CHECK(sql_of(add("events").default_values()).sql == R"(INSERT INTO "events" DEFAULT VALUES)");
}

TEST_CASE("ast compile: Upsert with DO NOTHING and DO UPDATE from EXCLUDED") {
    CHECK(sql_of(upsert("users").set("email", "a@x").on_conflict_do_nothing({"email"})).sql ==
          R"(INSERT INTO "users" ("email") VALUES ($1) ON CONFLICT ("email") DO NOTHING)");
    CHECK(sql_of(add("users").set("email", "a@x").on_conflict_do_nothing()).sql ==
          R"(INSERT INTO "users" ("email") VALUES ($1) ON CONFLICT DO NOTHING)");
    const auto g =
        sql_of(upsert("users")
                   .set("email", "a@x")
                   .set("name", "Ann")
                   .on_conflict_do_update({"email"}, {{"name", excluded("name")},
                                                      {"login_count", lit(0)},
                                                      {"seen", named{"excluded.seen_at"}}})
                   .on_conflict_where(cond("users.locked", op::eq, false))
                   .returning({"id"}));
    CHECK(g.sql == R"(INSERT INTO "users" ("email", "name") VALUES ($1, $2) ON CONFLICT ("email"))"
                   R"( DO UPDATE SET "name" = excluded."name", "login_count" = $3, )"
                   R"("seen" = excluded."seen_at" WHERE "users"."locked" = $4 RETURNING "id")");
    CHECK(g.params == "$1 = 'a@x' (unknown)\n$2 = 'Ann' (unknown)\n$3 = '0' (int8)\n"
                      "$4 = 'f' (bool)\n");
    qail by_constraint = upsert("t").set("a", 1).on_conflict_do_update({}, {{"a", excluded("a")}});
    by_constraint.conflict->constraint = "t_a_key";
    CHECK(sql_of(by_constraint).sql == R"(INSERT INTO "t" ("a") VALUES ($1) ON CONFLICT ON )"
                                       R"(CONSTRAINT "t_a_key" DO UPDATE SET "a" = excluded."a")");
    // Outside ON CONFLICT, "excluded" is an ordinary (quoted) name.
    CHECK(sql_of(get("t").columns({"excluded.a"})).sql == R"(SELECT "excluded"."a" FROM "t")");
}

TEST_CASE("ast compile: Del with WHERE and RETURNING") {
    const auto g = sql_of(
        del("sessions").filter("expired_at", op::lt, ts("2024-01-01T00:00:00Z")).returning({"id"}));
    CHECK(g.sql == R"(DELETE FROM "sessions" WHERE "expired_at" < $1 RETURNING "id")");
    CHECK(g.params == "$1 = '2024-01-01T00:00:00Z' (unknown)\n");
    CHECK(sql_of(del("sessions")).sql == R"(DELETE FROM "sessions")");
}

TEST_CASE("ast compile: Export is COPY TO STDOUT with escaped typed constants") {
    auto r = compile(export_("users")
                         .columns({"id", "email"})
                         .filter("email", op::eq, "o'k\\x")
                         .filter("active", op::eq, true)
                         .filter("org_id", op::eq, null_uuid)
                         .filter("id", op::in, value_list{1, 2}));
    REQUIRE(r.has_value());
    CHECK(r->copy_out);
    CHECK(r->params.empty());
    CHECK(r->sql == R"(COPY (SELECT "id", "email" FROM "users" WHERE "email" = E'o''k\\x' AND )"
                    R"("active" = E't'::bool AND "org_id" IS NULL AND "id" IN (E'1'::int8, )"
                    R"(E'2'::int8)) TO STDOUT)");
    const pg::param bound = pg::text_param("7", pg::oid::int8);
    compile_options o;
    o.bind = std::span<const pg::param>(&bound, 1);
    CHECK(compile(export_("t").filter("id", op::eq, param(1)), o)->sql ==
          R"(COPY (SELECT * FROM "t" WHERE "id" = E'7'::int8) TO STDOUT)");
}

TEST_CASE("ast compile: literals are typed text parameters") {
    const auto u = pg::uuid::parse("{550E8400-E29B-41D4-A716-446655440000}").value();
    const auto g = sql_of(
        get("t")
            .where(cond("c", op::in,
                        value_list{false, 42, -0.25, "text", u, null_uuid,
                                   ts("2024-05-01 10:00:00+02"), json(R"({"k":[1,2]})"),
                                   pg::bytea{std::string("\x00\xff", 2)},
                                   interval{7, interval_unit::day}}))
            .where(cond("tags", op::overlaps, value_list{"a", "b c", "q\"x", "", "NULL", null})));
    CHECK(g.params == "$1 = 'f' (bool)\n"
                      "$2 = '42' (int8)\n"
                      "$3 = '-0.25' (float8)\n"
                      "$4 = 'text' (unknown)\n"
                      "$5 = '550e8400-e29b-41d4-a716-446655440000' (uuid)\n"
                      "$6 = NULL (uuid)\n"
                      "$7 = '2024-05-01 10:00:00+02' (unknown)\n"
                      "$8 = '{\"k\":[1,2]}' (jsonb)\n"
                      "$9 = '\\x00ff' (bytea)\n"
                      "$10 = '7 days' (interval)\n"
                      "$11 = '{a,\"b c\",\"q\\\"x\",\"\",\"NULL\",NULL}' (unknown)\n");
}

TEST_CASE("ast compile: hostile identifiers are quoted names, never SQL") {
    CHECK(sql_of(get(R"(users"; DROP TABLE users; --)")).sql ==
          R"(SELECT * FROM "users""; DROP TABLE users; --")");
    const auto g = sql_of(get("t")
                              .columns({R"(a"b)", "semi;colon", as("x", R"(al"ias)")})
                              .filter("we ird.col", op::eq, "'; SELECT 1; --"));
    CHECK(g.sql ==
          R"(SELECT "a""b", "semi;colon", "x" AS "al""ias" FROM "t" WHERE "we ird"."col" = $1)");
    CHECK(g.params == "$1 = '''; SELECT 1; --' (unknown)\n");
    CHECK(quote_identifier("a.b").value() == R"("a"."b")");
    CHECK(quote_identifier(R"(x"y)").value() == R"("x""y")");

    auto e = error_of(get(std::string("us\0ers", 6)));
    CHECK(e.code == errc::invalid_identifier);
    CHECK(e.message() == R"(table: identifier "us\u0000ers" contains a NUL byte)");
    e = error_of(get("t").columns({"a..b"}));
    CHECK(e.message() == R"(columns[0].Named: identifier "a..b" has an empty part)");
    CHECK(error_of(get("")).message() == "table: empty table name");
    CHECK(error_of(get(".t")).code == errc::invalid_identifier);
    CHECK(error_of(get("t").columns({as("a", "")})).message() ==
          R"(columns[0].Aliased.alias: alias "" is not a name)");
}

TEST_CASE("ast compile: caller parameters and the row limit clamp") {
    const std::vector<pg::param> bind{pg::text_param("5", pg::oid::int4),
                                      pg::text_param("x", pg::oid::text)};
    compile_options o;
    o.bind = bind;
    const auto g = sql_of(get("t").filter("a", op::eq, param(2)).filter("b", op::eq, param(1)), o);
    CHECK(g.sql == R"(SELECT * FROM "t" WHERE "a" = $1 AND "b" = $2)");
    CHECK(g.params == "$1 = 'x' (text)\n$2 = '5' (int4)\n");
    CHECK(error_of(get("t").filter("a", op::eq, param(3)), o).message() ==
          "cages[0].conditions[0].value: Param $3 has no bound value (2 given)");
    CHECK(error_of(get("t").filter("a", op::eq, param(0)), o).message() ==
          "cages[0].conditions[0].value: Param numbers start at 1");

    compile_options clamp;
    clamp.max_rows = 100;
    CHECK(sql_of(get("t"), clamp).sql == R"(SELECT * FROM "t" LIMIT 100)");
    CHECK(sql_of(get("t").limit(5000), clamp).sql == R"(SELECT * FROM "t" LIMIT 100)");
    CHECK(sql_of(get("t").limit(5), clamp).sql == R"(SELECT * FROM "t" LIMIT 5)");
    CHECK(sql_of(cnt("t"), clamp).sql == R"(SELECT count(*) FROM "t")");
}

TEST_CASE("ast compile: array element conditions (is_array_unnest)") {
    condition c = cond("tags", op::eq, "red");
    c.is_array_unnest = true;
    CHECK(where_of(c).sql == R"(EXISTS (SELECT 1 FROM unnest("tags") AS _el WHERE _el = $1))");
    c.op = op::fuzzy;
    const auto g = where_of(c);
    CHECK(g.sql == R"(EXISTS (SELECT 1 FROM unnest("tags") AS _el WHERE _el ILIKE $1))");
    CHECK(g.params == "$1 = '%red%' (unknown)\n");
    c.op = op::contains;
    CHECK(error_of(get("t").where(c)).message() ==
          "cages[0].conditions[0].value.op: is_array_unnest with operator Contains");
}

TEST_CASE("ast compile: statements that make no sense are refused with the node's path") {
    struct row {
        qail q;
        std::string message;
    };
    qail two_payloads = add("t").values({1});
    two_payloads.cages.push_back(two_payloads.cages[0]);
    qail mixed = add("t").columns({"a", "b"}).values({1, 2});
    mixed.cages[0].conditions[1].left = named{"b"};
    const std::vector<row> rows{
        {set("users").filter("id", op::eq, 1), "Set needs a Payload cage with values"},
        {get("t").set("a", 1), "cages[0].kind: Payload cage is not allowed in Get"},
        {del("t").limit(1), "cages[0].kind: Limit cage is not allowed in Del"},
        {get("t").limit(1).limit(2), "cages[1].kind: more than one Limit cage"},
        {two_payloads, "cages[1].kind: more than one Payload cage"},
        {get("t").filter("a", op::between, value_list{1}),
         "cages[0].conditions[0].value: Between needs an Array of two values"},
        {get("t").filter("a", op::fuzzy, 3),
         "cages[0].conditions[0].value: Fuzzy needs a String value"},
        {get("t").filter(star{}, op::eq, 1),
         "cages[0].conditions[0].left: Star is not allowed here"},
        {get("t").columns({cast_to("a", "text); DROP TABLE t; --")}),
         R"(columns[0].Cast.target_type: not a type name: "text); DROP TABLE t; --")"},
        {get("t").columns({cast_to("a", "text, (select 1)")}),
         R"~(columns[0].Cast.target_type: not a type name: "text, (select 1)")~"},
        {get("t").columns({call("pg_sleep(1); --", {})}),
         R"(columns[0].FunctionCall.name: not a function name: "pg_sleep(1); --")"},
        {get("t").columns({agg(aggregate_func::sum, "*")}),
         R"(columns[0].Aggregate.col: "*" is only allowed in a plain Count, not in Sum)"},
        {upsert("t").set("a", 1), "on_conflict: Upsert needs on_conflict"},
        {add("t").set("a", 1).on_conflict_do_update({}, {{"a", excluded("a")}}),
         "on_conflict.action: DoUpdate needs conflict columns or a constraint"},
        {add("t"), "Add needs a Payload cage with values"},
        {add("t").columns({"a"}).set("a", 1),
         "columns: columns must be empty with a named payload (use returning for RETURNING)"},
        {add("t").columns({"a"}).values({1, 2}),
         "cages[0].conditions[1].left: $2 names no entry of columns (1 given)"},
        {mixed, "cages[0].conditions[1].left: the payload mixes positional ($n) and named columns"},
        {add("t").set("a", 1).set("a", 2),
         R"(cages[0].conditions[1].left: column "a" is assigned twice)"},
        {get("t").filter("a", op::in, value_list{value_list{1}}),
         "cages[0].conditions[0].value.Array[0]: nested arrays are not supported"},
        {get("t").filter("a", op::eq, std::string("x\0y", 3)),
         "cages[0].conditions[0].value: String contains a NUL byte"},
        {get("t").returning({"id"}), "returning: RETURNING is not allowed in Get"},
        {del("t").inner_join("o", "a", "b"), "joins: a join is not allowed in Del"},
        {get("t").cross_join("c").join(join{"x", join_kind::left, std::nullopt, false}),
         "joins[1]: Left join needs on conditions or on_true"},
        {cnt("t").order_by("a"), "cages[0].kind: Sort cage is not allowed in Cnt"},
        {get("t").filter("a", op::eq, raw("")), "cages[0].conditions[0].value: empty Function"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.message);
        const auto e = error_of(r.q);
        CHECK(e.message() == r.message);
    }
}

TEST_CASE("ast compile: tables referenced for an allow-list, DML classification") {
    const auto tables = referenced_tables(get("users").left_join("orgs", "a", "b"));
    CHECK(tables == std::vector<std::string>{"users", "orgs"});
    CHECK(is_dml(action_kind::upsert));
    CHECK_FALSE(is_dml(action_kind::export_));
}

} // namespace qail::ast
