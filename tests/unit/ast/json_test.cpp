// QAIL's serde JSON: every example of reference/QAIL.md parses (both INSERT payload forms,
// the lenient shape), the exact shape round-trips byte for byte, malformed input gets its
// precise path + token error, limits and the untrusted mode refuse what they must.
#include "ast/json_samples.hpp"
#include "test_support.hpp"

#include <qail/ast/builder.hpp>
#include <qail/ast/compile.hpp>
#include <qail/ast/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace qail::ast {
namespace {

using test::compact;

const parse_options trusted{json_limits{}, trust::trusted};

qail must_parse(std::string_view text, const parse_options& o = trusted) {
    auto r = parse_json(text, o);
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
    return *r;
}

std::string sql(const qail& q) {
    auto r = compile(q);
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
    return r->sql;
}

error parse_error(std::string_view text, const parse_options& o = trusted) {
    auto r = parse_json(text, o);
    REQUIRE_FALSE(r.has_value());
    return r.error();
}

/// A lenient document with one condition in a filter cage of `get t`.
std::string with_condition(std::string_view condition_json) {
    return R"({"action":"Get","table":"t","cages":[{"kind":"Filter","conditions":[)" +
           std::string(condition_json) + "]}]}";
}

} // namespace

TEST_CASE("ast json: the select_all().limit(10) example parses and round-trips exactly") {
    const qail q = must_parse(test::example_select_all);
    CHECK(q.action == action_kind::get);
    CHECK(q.table == "users");
    REQUIRE(q.columns.size() == 1);
    CHECK(q.columns[0].is<star>());
    REQUIRE(q.cages.size() == 1);
    CHECK(q.cages[0].kind == cage_kind::limit);
    CHECK(q.cages[0].count == 10);
    CHECK(q == qail(get("users").select_all().limit(10)));
    CHECK(sql(q) == R"(SELECT * FROM "users" LIMIT 10)");
    CHECK(to_json(q) == compact(test::example_select_all));
}

TEST_CASE("ast json: the filter example parses with its default fields left out") {
    const qail q = must_parse(test::example_filter);
    CHECK(q == qail(get("users")
                        .columns({"id", "email"})
                        .filter("active", op::eq, true)
                        .filter("age", op::gte, 18)
                        .limit(10)));
    CHECK(sql(q) ==
          R"(SELECT "id", "email" FROM "users" WHERE "active" = $1 AND "age" >= $2 LIMIT 10)");
    // Serialising fills in every default, exactly as serde writes them.
    const std::string full = test::full_form(test::example_filter);
    CHECK(to_json(q) == full);
    CHECK(to_json(must_parse(full)) == full);
}

TEST_CASE("ast json: every QAIL.md fragment parses inside a statement") {
    for (const auto& s : test::fragment_examples()) {
        CAPTURE(s.name);
        const qail q = must_parse(s.json);
        const auto r = compile(q);
        REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
        CHECK(r->sql == s.sql);
        // The exact shape of whatever was read reads back to the same AST and text.
        const std::string exact = to_json(q);
        CHECK(must_parse(exact) == q);
        CHECK(to_json(must_parse(exact)) == exact);
    }
}

TEST_CASE("ast json: both INSERT payload forms give the same statement") {
    const qail named_form = must_parse(test::example_insert_named);
    const qail positional = must_parse(test::example_insert_positional);
    CHECK(sql(named_form) == R"(INSERT INTO "users" ("email", "name") VALUES ($1, $2))");
    CHECK(sql(positional) == sql(named_form));
    CHECK(to_string(compile(positional)->params) == to_string(compile(named_form)->params));
    CHECK(positional == qail(add("users").columns({"email", "name"}).values({"a@x", "Ann"})));
}

TEST_CASE("ast json: every value variant reads and writes back") {
    struct row {
        std::string json;
        value expected;
    };
    const std::vector<row> rows{
        {R"("Null")", null},
        {R"({"Null":null})", null},
        {R"({"Bool":true})", true},
        {R"({"Int":-9223372036854775808})", std::numeric_limits<std::int64_t>::min()},
        {R"({"Float":1.5})", 1.5},
        {R"({"Float":2})", 2.0},
        {R"({"String":"a\"b\\c\u00e9\n"})", "a\"b\\c\xc3\xa9\n"},
        {R"({"Uuid":"550E8400-E29B-41D4-A716-446655440000"})",
         pg::uuid::parse("550e8400-e29b-41d4-a716-446655440000").value()},
        {R"("NullUuid")", null_uuid},
        {R"({"Timestamp":"2024-01-01T00:00:00Z"})", ts("2024-01-01T00:00:00Z")},
        {R"({"Bytes":[0,1,255]})", pg::bytea{std::string("\x00\x01\xff", 3)}},
        {R"({"Json":"{\"a\":1}"})", json(R"({"a":1})")},
        {R"({"Array":[{"Int":1},"Null",{"String":"x"}]})", value_list{1, null, "x"}},
        {R"({"Interval":{"amount":7,"unit":"Day"}})", interval{7, interval_unit::day}},
        {R"({"Column":"orgs.id"})", col("orgs.id")},
        {R"({"Param":2})", param(2)},
        {R"~({"Function":"now()"})~", raw("now()")},
    };
    for (const auto& r : rows) {
        CAPTURE(r.json);
        const qail q =
            must_parse(with_condition(R"({"left":{"Named":"c"},"value":)" + r.json + "}"));
        REQUIRE(q.cages.size() == 1);
        REQUIRE(q.cages[0].conditions.size() == 1);
        const value& v = q.cages[0].conditions[0].val;
        CHECK(v == r.expected);
        CHECK(must_parse(to_json(q)) == q);
    }
    // Writing uses serde's canonical forms.
    const qail uuid_q = must_parse(with_condition(
        R"({"left":{"Named":"c"},"value":{"Uuid":"{550E8400E29B41D4A716446655440000}"}})"));
    CHECK(to_json(uuid_q).find(R"({"Uuid":"550e8400-e29b-41d4-a716-446655440000"})") !=
          std::string::npos);
}

TEST_CASE("ast json: floats are written as Rust prints them") {
    const std::vector<std::pair<double, std::string>> rows{
        {1.0, "1.0"},
        {1.5, "1.5"},
        {-0.0, "-0.0"},
        {0.0, "0.0"},
        {0.1, "0.1"},
        {123.456, "123.456"},
        {1e15, "1000000000000000.0"},
        {1e16, "1e16"},
        {1.5e17, "1.5e17"},
        {0.0001, "0.0001"},
        {0.00001, "0.00001"},
        {1e-6, "1e-6"},
        {1.25e-7, "1.25e-7"},
        {-2.5, "-2.5"},
        {1.7976931348623157e308, "1.7976931348623157e308"},
    };
    for (const auto& [d, text] : rows) {
        CAPTURE(text);
        const std::string j = to_json(get("t").filter("c", op::eq, d));
        CHECK(j.find(R"({"Float":)" + text + "}") != std::string::npos);
        CHECK(must_parse(j).cages[0].conditions[0].val == value(d));
    }
}

TEST_CASE("ast json: a statement using every node round-trips through the exact shape") {
    qail q = upsert("app.users")
                 .set("email", "a@x")
                 .set("tags", value_list{"a", "b"})
                 .on_conflict_do_update({"email"}, {{"name", excluded("name")}, {"n", lit(1)}})
                 .on_conflict_where(cond("users.locked", op::eq, false))
                 .returning({"id", as("email", "e")});
    q.conflict->columns.clear();
    q.conflict->constraint = "users_email_key";
    qail g =
        get("users")
            .distinct_on({"org_id"})
            .columns(
                {"users.*", as(count(), "n"),
                 as(agg_filter(aggregate_func::sum, "total", {cond("paid", op::eq, true)}), "paid"),
                 as(cast_to("id", "text"), "t"),
                 as(json_path("profile", {{"a", false}, {"b", true}}), "b"),
                 as(call("lower", {"email"}), "l"), lit(json("{}"))})
            .left_join("orgs", "users.org_id", "orgs.id")
            .filter("a", op::between, value_list{1, 2})
            .or_filter("b", op::key_exists_any, value_list{"x"})
            .group_by({"org_id"})
            .having(count(), op::gt, 1)
            .order_by("created_at", sort::desc_nulls_last)
            .limit(3)
            .offset(4);
    g.distinct = true;
    g.only_table = true;
    for (const qail& x : {q, g, qail(add("e").default_values())}) {
        const std::string exact = to_json(x);
        CAPTURE(exact);
        const qail back = must_parse(exact);
        CHECK(back == x);
        CHECK(to_json(back) == exact);
    }
}

TEST_CASE("ast json: malformed input names the JSON path and the offending token") {
    struct row {
        std::string json;
        errc code;
        std::string message;
    };
    const std::vector<row> rows{
        {with_condition(R"({"left":{"Named":"c"},"op":"Eqq","value":"Null"})"),
         errc::unknown_variant, R"(cages[0].conditions[0].op: unknown operator "Eqq")"},
        {with_condition(R"({"left":{"Named":"c"},"op":"Exists"})"), errc::unsupported,
         R"(cages[0].conditions[0].op: unsupported operator "Exists")"},
        {with_condition(R"({"left":{"Named":"c"},"value":{"Int":"5"}})"), errc::wrong_type,
         "cages[0].conditions[0].value.Int: expected an integer, got a string"},
        {with_condition(R"({"left":{"Named":"c"},"value":{"Int":1.5}})"), errc::wrong_type,
         "cages[0].conditions[0].value.Int: expected an integer, got a number"},
        {with_condition(R"({"left":{"Named":"c"},"value":{"Int":18446744073709551615}})"),
         errc::invalid_value,
         "cages[0].conditions[0].value.Int: integer 18446744073709551615 exceeds i64"},
        {with_condition(R"({"left":{"Named":"c"},"value":{"Float":1e999}})"), errc::invalid_value,
         "cages[0].conditions[0].value.Float: number out of range"},
        {with_condition(R"({"left":{"Named":"c"},"value":{"Str":"x"}})"), errc::unknown_variant,
         R"(cages[0].conditions[0].value: unknown value "Str")"},
        {with_condition(R"({"left":{"Named":"c"},"value":{"Uuid":"zzz"}})"), errc::invalid_value,
         R"(cages[0].conditions[0].value.Uuid: not a UUID: "zzz")"},
        {with_condition(R"({"left":{"Named":"c"},"value":{"NamedParam":"id"}})"), errc::unsupported,
         R"(cages[0].conditions[0].value: unsupported value "NamedParam")"},
        {with_condition(R"({"left":{"Named":"c"},"value":{"Int":1,"Bool":true}})"),
         errc::invalid_value,
         "cages[0].conditions[0].value: expected a Value (a string, or an object with exactly "
         "one key), got an object with 2 keys"},
        {with_condition(R"({"left":{"Named":"c"},"value":"Int"})"), errc::wrong_type,
         R"(cages[0].conditions[0].value: Int needs a value ({"Int": ...}))"},
        {with_condition(R"({"left":{"Window":{}}})"), errc::unsupported,
         R"(cages[0].conditions[0].left: unsupported expression "Window")"},
        {with_condition(R"({"left":{"Named":5}})"), errc::wrong_type,
         "cages[0].conditions[0].left.Named: expected a string, got an integer"},
        {with_condition(R"({"op":"Eq"})"), errc::missing_field,
         R"(cages[0].conditions[0]: missing field "left" of Condition)"},
        {with_condition(R"({"left":"Star","extra":1})"), errc::unknown_field,
         R"(cages[0].conditions[0].extra: unknown field "extra" (Condition has left, op, value, is_array_unnest))"},
        {R"({"action":"Fetch","table":"t"})", errc::unknown_variant,
         R"(action: unknown action "Fetch")"},
        {R"({"action":"Make","table":"t"})", errc::unsupported,
         R"(action: unsupported action "Make")"},
        {R"({"action":"Get","table":7})", errc::wrong_type,
         "table: expected a string, got an integer"},
        {R"({"action":"Get"})", errc::missing_field, R"(missing field "table" of Qail)"},
        {R"({"action":"Get","table":"t","wher":[]})", errc::unknown_field,
         R"(wher: unknown field "wher" of Qail)"},
        {R"({"action":"Get","table":"t","action":"Del"})", errc::duplicate_field,
         R"(action: duplicate field "action")"},
        {R"({"action":"Get","table":"t","ctes":[{}]})", errc::unsupported,
         "ctes: CTEs (WITH) not supported (only [] is accepted)"},
        {R"({"action":"Get","table":"t","lock_mode":"Update"})", errc::unsupported,
         "lock_mode: row locking (FOR UPDATE, ...) not supported (only null is accepted)"},
        {R"({"action":"Get","table":"t","group_by_mode":"Rollup"})", errc::unsupported,
         R"(group_by_mode: ROLLUP, CUBE and GROUPING SETS not supported (only "Simple" is accepted))"},
        {R"({"action":"Get","table":"t","cages":[{"kind":{"Sample":5}}]})", errc::unsupported,
         R"(cages[0].kind: unsupported cage kind "Sample")"},
        {R"({"action":"Get","table":"t","cages":[{"kind":{"Sort":"Up"}}]})", errc::unknown_variant,
         R"(cages[0].kind.Sort: unknown sort order "Up")"},
        {R"({"action":"Get","table":"t","cages":[{"kind":{"Limit":-1}}]})", errc::invalid_value,
         "cages[0].kind.Limit: expected a non-negative integer, got -1"},
        {R"({"action":"Get","table":"t","cages":[{"kind":"Filter","logical_op":"Xor"}]})",
         errc::unknown_variant, R"(cages[0].logical_op: unknown logical operator "Xor")"},
        {R"({"action":"Get","table":"t","joins":[{"table":"o","kind":"Lateral"}]})",
         errc::unsupported, R"(joins[0].kind: unsupported join kind "Lateral")"},
        {R"({"action":"Get","table":"t","joins":[{"table":"o"}]})", errc::missing_field,
         R"(joins[0]: missing field "kind" of Join)"},
        {R"({"action":"Get","table":"t","columns":[{"Aggregate":{"col":"*","func":"Median"}}]})",
         errc::unknown_variant, R"(columns[0].Aggregate.func: unknown aggregate "Median")"},
        {R"({"action":"Add","table":"t","on_conflict":{"action":{"DoUpdate":{"assignments":[["a"]]}}}})",
         errc::wrong_type,
         "on_conflict.action.DoUpdate.assignments[0]: expected a [column, Expr] pair, got an "
         "array"},
        {R"({"action":"Add","table":"t","on_conflict":{"action":"DoSomething"}})",
         errc::unknown_variant, R"(on_conflict.action: unknown conflict action "DoSomething")"},
        {R"({"action":"Get","table":"t","distinct":"yes"})", errc::wrong_type,
         "distinct: expected a boolean, got a string"},
        {R"([1,2])", errc::wrong_type, "expected an object (Qail), got an array"},
        {R"({"action":"Get","table":"t",})", errc::invalid_json, ""},
        {R"({"action":"Get","table":"t"} x)", errc::invalid_json,
         "invalid JSON at byte 29: data after the document"},
        {R"({"action":"Get","table":"t)", errc::invalid_json, ""},
        {"{\"action\":\"Get\",\"table\":\"\xff\"}", errc::invalid_json, ""},
        {"", errc::invalid_json, ""},
    };
    for (const auto& r : rows) {
        CAPTURE(r.json);
        const error e = parse_error(r.json);
        CHECK(e.code == r.code);
        if (!r.message.empty())
            CHECK(e.message() == r.message);
        else
            CHECK(e.message().find("JSON") != std::string::npos);
    }
}

TEST_CASE("ast json: untrusted clients get DML without raw SQL") {
    const parse_options untrusted{}; // the default
    CHECK(untrusted.source == trust::untrusted);
    CHECK(parse_json(test::example_select_all, untrusted).has_value());
    struct row {
        std::string json;
        std::string message;
    };
    const std::vector<row> rows{
        {with_condition(R"~({"left":{"Named":"c"},"value":{"Function":"pg_sleep(10)"}})~"),
         "cages[0].conditions[0].value: Function (raw SQL) is not allowed from untrusted "
         "clients"},
        {R"({"action":"Get","table":"t","columns":[{"FunctionCall":{"name":"pg_sleep","args":[]}}]})",
         "columns[0]: FunctionCall (raw function calls or SQL) is not allowed from untrusted "
         "clients"},
        {R"({"action":"Get","table":"t","columns":[{"Raw":"1"}]})",
         "columns[0]: Raw (raw function calls or SQL) is not allowed from untrusted clients"},
        {R"({"action":"Export","table":"t"})",
         R"(action: action "Export" is not allowed from untrusted clients (only Get, Cnt, Set, Add, Del, Upsert))"},
        {R"({"action":"Make","table":"t"})",
         R"(action: action "Make" is not allowed from untrusted clients (only Get, Cnt, Set, Add, Del, Upsert))"},
        {R"({"action":"TxnStart","table":""})",
         R"(action: action "TxnStart" is not allowed from untrusted clients (only Get, Cnt, Set, Add, Del, Upsert))"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.json);
        const error e = parse_error(r.json, untrusted);
        CHECK(e.code == errc::forbidden);
        CHECK(e.message() == r.message);
        // Trusted code may use them (or hears they are unsupported, not forbidden).
        const auto t = parse_json(r.json, trusted);
        CHECK((t.has_value() || t.error().code != errc::forbidden));
    }
    for (const char* dml : {"Get", "Cnt", "Set", "Add", "Del", "Upsert"}) {
        CAPTURE(dml);
        CHECK(parse_json(std::string(R"({"action":")") + dml + R"(","table":"t"})", untrusted)
                  .has_value());
    }
}

TEST_CASE("ast json: limits are enforced while parsing and name where they hit") {
    json_limits big;
    CHECK(big.max_body_bytes == 65536);
    CHECK(big.max_depth == 64);
    CHECK(big.max_nodes == 16384);

    const std::string huge(65537, ' ');
    auto e = parse_error(huge);
    CHECK(e.code == errc::limit_exceeded);
    CHECK(e.message() == "body of 65537 bytes exceeds 65536");

    // Depth: 64 nested arrays are fine, 65 are not.
    const auto nested = [](std::size_t n) { return std::string(n, '[') + std::string(n, ']'); };
    CHECK(parse_json_value(nested(64)).has_value());
    auto deep = parse_json_value(nested(65));
    REQUIRE_FALSE(deep.has_value());
    CHECK(deep.error().code == errc::limit_exceeded);
    CHECK(deep.error().message() ==
          "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
          "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
          "[0][0][0][0][0][0][0][0]: nesting deeper than 64");

    // Nodes: the root array plus 16,383 elements is the maximum.
    json_limits many;
    many.max_array_items = 100000;
    const auto ints = [](std::size_t n) {
        std::string s = "[";
        for (std::size_t i = 0; i < n; ++i)
            s += i ? ",0" : "0";
        return s + "]";
    };
    CHECK(parse_json_value(ints(16383), many).has_value());
    auto nodes = parse_json_value(ints(16384), many);
    REQUIRE_FALSE(nodes.has_value());
    CHECK(nodes.error().message() == "[16383]: more than 16384 JSON values");

    json_limits small;
    small.max_string_bytes = 8;
    small.max_array_items = 3;
    e = parse_error(R"({"action":"Get","table":"abcdefghi"})", {small, trust::trusted});
    CHECK(e.message() == "table: string longer than 8 bytes");
    e = parse_error(R"({"action":"Get","table":"t","columns":["Star","Star","Star","Star"]})",
                    {small, trust::trusted});
    CHECK(e.message() == "columns: array longer than 3 elements");
    e = parse_error(R"({"action":"Get","abcdefghijk":1})", {small, trust::trusted});
    CHECK(e.message() == "key longer than 8 bytes");
    // Escapes count after decoding: 8 escaped characters fit.
    CHECK(
        parse_json(R"({"action":"Get","table":"\u0041\u0041\u0041\u0041\u0041\u0041\u0041\u0041"})",
                   {small, trust::trusted})
            .has_value());
}

TEST_CASE("ast json: an AST file loads trusted, a missing or oversized file is refused") {
    const auto dir = std::filesystem::temp_directory_path();
    const auto file = dir / ("qail_ast_test_" + std::to_string(::getpid()) + ".json");
    {
        std::ofstream out(file);
        out << R"({"action":"Get","table":"t","cages":[{"kind":"Filter","conditions":[)"
               R"~({"left":{"Named":"created_at"},"op":"Lt","value":{"Function":"now()"}}]}]})~";
    }
    auto r = load_ast_file(file.string());
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
    CHECK(sql(*r) == R"(SELECT * FROM "t" WHERE "created_at" < now())");
    // The same file from an untrusted source is refused.
    auto u = load_ast_file(file.string(), parse_options{});
    REQUIRE_FALSE(u.has_value());
    CHECK(u.error().code == errc::forbidden);
    {
        std::ofstream out(file);
        out << std::string(70000, ' ');
    }
    auto big = load_ast_file(file.string());
    REQUIRE_FALSE(big.has_value());
    CHECK(big.error().message() == "body of 65537 bytes exceeds 65536");
    std::filesystem::remove(file);

    auto missing = load_ast_file((dir / "qail_ast_no_such_file.json").string());
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == errc::io_error);
    // A document without "action" is a Get, QAIL's default.
    CHECK(must_parse(R"({"table":"t"})").action == action_kind::get);
}

TEST_CASE("ast json: the example AST files of driver/ast/examples load and compile") {
    const std::string dir = std::string(QAIL_SOURCE_DIR) + "/driver/ast/examples/";
    auto active = load_ast_file(dir + "active_users.json");
    REQUIRE_MESSAGE(active.has_value(), (active ? std::string{} : active.error().message()));
    CHECK(
        sql(*active) ==
        R"(SELECT "id", "email" FROM "users" WHERE "active" = $1 ORDER BY "created_at" DESC LIMIT 10)");
    auto upserted = load_ast_file(dir + "upsert_user.json", parse_options{});
    REQUIRE_MESSAGE(upserted.has_value(), (upserted ? std::string{} : upserted.error().message()));
    CHECK(sql(*upserted) == R"(INSERT INTO "users" ("email", "name") VALUES ($1, $2) ON CONFLICT )"
                            R"(("email") DO UPDATE SET "name" = excluded."name" RETURNING "id")");
}

} // namespace qail::ast
