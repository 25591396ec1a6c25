// The JSON examples of reference/QAIL.md (verbatim where the document gives a whole
// statement, embedded in a small statement where it gives a fragment), shared by the JSON
// tests and the mutation test.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qail::ast::test {

/// `Qail::get("users").select_all().limit(10)` as QAIL.md prints it.
inline constexpr std::string_view example_select_all =
    R"({"action":"Get","table":"users","columns":["Star"],"joins":[],
 "cages":[{"kind":{"Limit":10},"conditions":[],"logical_op":"And"}],
 "distinct":false,"index_def":null,"table_constraints":[],"set_ops":[],"having":[],
 "group_by_mode":"Simple","ctes":[],"distinct_on":[],"returning":null,"on_conflict":null,
 "merge":null,"source_query":null,"channel":null,"payload":null,"savepoint_name":null,
 "from_tables":[],"using_tables":[],"lock_mode":null,"skip_locked":false,"fetch":null,
 "default_values":false,"overriding":null,"sample":null,"only_table":false,"vector":null,
 "score_threshold":null,"vector_name":null,"with_vector":false,"vector_size":null,
 "distance":null,"on_disk":null,"function_def":null,"trigger_def":null,"policy_def":null,
 "view_security_invoker":false})";

/// The filter example ("other fields as above": left out here, as QAIL.md shows it).
inline constexpr std::string_view example_filter =
    R"({"action":"Get","table":"users","columns":[{"Named":"id"},{"Named":"email"}],"joins":[],
 "cages":[{"kind":"Filter","conditions":[
     {"left":{"Named":"active"},"op":"Eq","value":{"Bool":true},"is_array_unnest":false},
     {"left":{"Named":"age"},"op":"Gte","value":{"Int":18},"is_array_unnest":false}],
   "logical_op":"And"},
   {"kind":{"Limit":10},"conditions":[],"logical_op":"And"}]})";

/// INSERT, named payload form (QAIL.md's condition verbatim, is_array_unnest left out).
inline constexpr std::string_view example_insert_named =
    R"({"action":"Add","table":"users","cages":[{"kind":"Payload","conditions":[
     {"left":{"Named":"email"},"op":"Eq","value":{"String":"a@x"}},
     {"left":{"Named":"name"},"op":"Eq","value":{"String":"Ann"}}],"logical_op":"And"}]})";

/// INSERT, positional form as Qail::add("users").columns(["email","name"]).values([..])
/// builds it.
inline constexpr std::string_view example_insert_positional =
    R"({"action":"Add","table":"users","columns":[{"Named":"email"},{"Named":"name"}],"joins":[],
 "cages":[{"kind":"Payload","conditions":[
     {"left":{"Named":"$1"},"op":"Eq","value":{"String":"a@x"},"is_array_unnest":false},
     {"left":{"Named":"$2"},"op":"Eq","value":{"String":"Ann"},"is_array_unnest":false}],
   "logical_op":"And"}]})";

struct sample {
    std::string name;
    std::string json;
    std::string sql;
};

/// QAIL.md's fragments (sort cage, join, upsert, aggregate, ...) inside a statement, with
/// the SQL each compiles to.
inline std::vector<sample> fragment_examples() {
    const std::string payload =
        R"("cages":[{"kind":"Payload","conditions":[{"left":{"Named":"email"},"op":"Eq",)"
        R"("value":{"String":"a@x"},"is_array_unnest":false}],"logical_op":"And"}])";
    return {
        {"sort cage",
         R"({"action":"Get","table":"users","cages":[{"kind":{"Sort":"Desc"},"conditions":[{"left":{"Named":"created_at"},"op":"Eq","value":"Null","is_array_unnest":false}],"logical_op":"And"}]})",
         R"(SELECT * FROM "users" ORDER BY "created_at" DESC)"},
        {"join",
         R"({"action":"Get","table":"users","joins":[{"table":"orgs","kind":"Left","on":[{"left":{"Named":"users.org_id"},"op":"Eq","value":{"Column":"orgs.id"},"is_array_unnest":false}],"on_true":false}]})",
         R"(SELECT * FROM "users" LEFT JOIN "orgs" ON "users"."org_id" = "orgs"."id")"},
        {"upsert do update",
         R"({"action":"Upsert","table":"users",)" + payload +
             R"(,"on_conflict":{"columns":["email"],"action":{"DoUpdate":{"assignments":[["email",{"Named":"EXCLUDED.email"}]]}}}})",
         R"(INSERT INTO "users" ("email") VALUES ($1) ON CONFLICT ("email") DO UPDATE SET "email" = excluded."email")"},
        {"upsert do nothing",
         R"({"action":"Upsert","table":"users",)" + payload +
             R"(,"on_conflict":{"columns":["email"],"action":"DoNothing"}})",
         R"(INSERT INTO "users" ("email") VALUES ($1) ON CONFLICT ("email") DO NOTHING)"},
        {"aggregate column",
         R"({"action":"Get","table":"users","columns":[{"Aggregate":{"col":"*","func":"Count","distinct":false,"filter":null,"alias":"n"}}]})",
         R"(SELECT count(*) AS "n" FROM "users")"},
        {"aliased, literal and cast",
         R"({"action":"Get","table":"users","columns":[{"Aliased":{"name":"email","alias":"e"}},{"Literal":{"Int":1}},{"Cast":{"expr":{"Named":"id"},"target_type":"text","alias":null}}]})",
         R"(SELECT "email" AS "e", $1, CAST("id" AS text) FROM "users")"},
        {"offset and partition",
         R"({"action":"Get","table":"orders","columns":[{"Named":"org_id"}],"cages":[{"kind":"Partition","conditions":[{"left":{"Named":"org_id"}}]},{"kind":{"Offset":5}}]})",
         R"(SELECT "org_id" FROM "orders" GROUP BY "org_id" OFFSET 5)"},
        {"or cage and IN",
         R"({"action":"Get","table":"t","cages":[{"kind":"Filter","conditions":[{"left":{"Named":"a"},"op":"In","value":{"Array":[{"Int":1},{"Int":2}]}},{"left":{"Named":"b"},"op":"IsNull"}],"logical_op":"Or"}]})",
         R"(SELECT * FROM "t" WHERE "a" IN ($1, $2) OR "b" IS NULL)"},
        {"cnt", R"({"action":"Cnt","table":"t"})", R"(SELECT count(*) FROM "t")"},
        {"set", R"({"action":"Set","table":"t",)" + payload + R"(,"returning":["Star"]})",
         R"(UPDATE "t" SET "email" = $1 RETURNING *)"},
        {"del", R"({"action":"Del","table":"t","returning":[{"Named":"id"}]})",
         R"(DELETE FROM "t" RETURNING "id")"},
        {"export", R"({"action":"Export","table":"t","columns":[{"Named":"id"}]})",
         R"(COPY (SELECT "id" FROM "t") TO STDOUT)"},
    };
}

/// `text` without the whitespace between tokens (strings kept intact).
inline std::string compact(std::string_view text) {
    std::string out;
    bool in_string = false;
    bool escaped = false;
    for (const char c : text) {
        if (in_string) {
            out += c;
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
            out += c;
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            out += c;
        }
    }
    return out;
}

/// A lenient Get document that ends after "cages", completed with the default fields
/// that follow "cages" in example_select_all: the exact serde form.
inline std::string full_form(std::string_view lenient) {
    std::string head = compact(lenient);
    head.pop_back(); // the closing brace
    const std::string all = compact(example_select_all);
    return head + all.substr(all.find(R"(,"distinct":)"));
}

/// Every whole document above, for mutation tests.
inline std::vector<std::string> all_documents() {
    std::vector<std::string> docs{std::string(example_select_all), std::string(example_filter),
                                  std::string(example_insert_named),
                                  std::string(example_insert_positional)};
    for (const auto& s : fragment_examples())
        docs.push_back(s.json);
    return docs;
}

} // namespace qail::ast::test
