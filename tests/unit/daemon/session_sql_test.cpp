// SET / RESET recognition for carrying a client's settings across server connections.
#include "test_support.hpp"

#include <qail/client/sql_text.hpp>
#include <qail/proxy/session_sql.hpp>

#include <array>
#include <random>
#include <string>
#include <vector>

using qail::proxy::glance_at;
using qail::proxy::may_change_settings;
using qail::proxy::may_change_settings_bytewise;
using qail::proxy::may_touch_savepoints;
using qail::proxy::setting_change;
using qail::proxy::setting_changes;
using qail::proxy::sql_glance;
using kind = setting_change::kind;

namespace {

setting_change set(std::string name, std::string value) {
    return setting_change{kind::set, std::move(name), std::move(value)};
}
setting_change reset(std::string name) {
    return setting_change{kind::reset, std::move(name), {}};
}
setting_change none() {
    return setting_change{kind::none, {}, {}};
}
setting_change reset_all() {
    return setting_change{kind::reset_all, {}, {}};
}

// The single change of `sql`, which must have exactly one.
setting_change one(const std::string& sql) {
    const auto v = setting_changes(sql);
    INFO(sql);
    REQUIRE(v.size() == 1);
    return v[0];
}

setting_change scope(kind what, std::string name = {}) {
    return setting_change{what, std::move(name), {}};
}

// The single savepoint-scope entry of `sql`, which must have exactly one.
setting_change one_scope(const std::string& sql) {
    const auto v = setting_changes(sql, true);
    INFO(sql);
    REQUIRE(v.size() == 1);
    return v[0];
}

bool untracked(const std::string& sql) {
    const auto v = setting_changes(sql);
    return v.size() == 1 && v[0].what == kind::untracked && !v[0].value.empty();
}

} // namespace

TEST_CASE("session sql: SET name TO/= value, lower-cased names, every value form") {
    CHECK(one("SET work_mem = '64MB'") == set("work_mem", "64MB"));
    CHECK(one("set WORK_MEM to '64MB';") == set("work_mem", "64MB"));
    CHECK(one("SET SESSION work_mem TO '1GB'") == set("work_mem", "1GB"));
    CHECK(one("SET enable_seqscan = OFF") == set("enable_seqscan", "off"));
    CHECK(one("SET extra_float_digits = 3") == set("extra_float_digits", "3"));
    CHECK(one("SET extra_float_digits = -2") == set("extra_float_digits", "-2"));
    CHECK(one("SET seq_page_cost = 1.5e0") == set("seq_page_cost", "1.5e0"));
    CHECK(one("SET application_name = 'it''s'") == set("application_name", "it's"));
    CHECK(one("SET application_name = $$dollar ' quoted$$") ==
          set("application_name", "dollar ' quoted"));
    CHECK(one("SET application_name = $x$a;b$x$") == set("application_name", "a;b"));
    CHECK(one("SET \"Application_Name\" = \"Keep Case\"") == set("application_name", "Keep Case"));
    CHECK(one("SET app.current_tenant = 'acme'") == set("app.current_tenant", "acme"));
    CHECK(one("SET DateStyle = ISO, MDY") == set("datestyle", "iso, mdy"));
    CHECK(one("SET DateStyle TO 'ISO, DMY'") == set("datestyle", "ISO, DMY"));
    CHECK(one("SET work_mem TO DEFAULT") == reset("work_mem"));
}

TEST_CASE("session sql: search_path elements become quoted identifiers as the server does") {
    CHECK(one("SET search_path TO app, public") == set("search_path", "app, public"));
    CHECK(one("SET search_path TO App, \"App\"") == set("search_path", "app, \"App\""));
    CHECK(one("SET search_path = \"$user\", 'My Schema', '1x'") ==
          set("search_path", "\"$user\", \"My Schema\", \"1x\""));
    // Quotes and semicolons inside a value stay inside it (it is bound, never spliced).
    CHECK(one("SET search_path = 'x\"; DROP TABLE t; --'") ==
          set("search_path", "\"x\"\"; DROP TABLE t; --\""));
    CHECK(one("SET SCHEMA 'app'") == set("search_path", "app"));
    CHECK(one("SET temp_tablespaces = fast, 'Slow'") == set("temp_tablespaces", "fast, \"Slow\""));
}

TEST_CASE("session sql: the special SET forms map to their settings") {
    CHECK(one("SET TIME ZONE 'Europe/Paris'") == set("timezone", "Europe/Paris"));
    CHECK(one("SET TIME ZONE -7") == set("timezone", "-7"));
    CHECK(one("SET TIME ZONE LOCAL") == reset("timezone"));
    CHECK(one("SET TIME ZONE DEFAULT") == reset("timezone"));
    CHECK(one("SET TimeZone = 'UTC'") == set("timezone", "UTC"));
    CHECK(one("SET NAMES 'UTF8'") == set("client_encoding", "UTF8"));
    CHECK(one("SET NAMES DEFAULT") == reset("client_encoding"));
    CHECK(one("SET ROLE reporting") == set("role", "reporting"));
    CHECK(one("SET ROLE 'Mixed Case'") == set("role", "Mixed Case"));
    CHECK(one("SET ROLE NONE") == set("role", "none"));
    CHECK(one("SET SESSION AUTHORIZATION alice") == set("session_authorization", "alice"));
    CHECK(one("SET SESSION SESSION AUTHORIZATION alice") == set("session_authorization", "alice"));
    CHECK(one("SET SESSION AUTHORIZATION DEFAULT") == reset("session_authorization"));
    CHECK(one("SET XML OPTION DOCUMENT") == set("xmloption", "document"));
}

TEST_CASE("session sql: transaction-scoped SETs change nothing beyond the transaction") {
    CHECK(one("SET LOCAL work_mem = '1MB'") == none());
    CHECK(one("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE") == none());
    CHECK(one("SET SESSION TRANSACTION READ ONLY") == none());
    CHECK(one("RESET TRANSACTION ISOLATION LEVEL") == none());
    // SET CONSTRAINTS answers with its own tag, so it is not in the list at all.
    CHECK(setting_changes("SET CONSTRAINTS ALL DEFERRED").empty());
}

TEST_CASE("session sql: RESET forms") {
    CHECK(one("RESET work_mem") == reset("work_mem"));
    CHECK(one("reset \"Work_Mem\";") == reset("work_mem"));
    CHECK(one("RESET app.tenant") == reset("app.tenant"));
    CHECK(one("RESET ALL") == reset_all());
    CHECK(one("RESET TIME ZONE") == reset("timezone"));
    CHECK(one("RESET SESSION AUTHORIZATION") == reset("session_authorization"));
    CHECK(one("RESET ROLE") == reset("role"));
}

TEST_CASE("session sql: forms the pooler cannot carry are reported with a reason") {
    CHECK(untracked("SET application_name = E'tab\\there'"));
    CHECK(untracked("SET application_name = U&'d\\0061t'"));
    CHECK(untracked("SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE"));
    CHECK(untracked("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"));
    CHECK(untracked("SET work_mem FROM CURRENT"));
    CHECK(untracked("SET work_mem"));
    CHECK(untracked("SET work_mem = (1)"));
    CHECK(untracked("RESET work_mem extra"));
}

TEST_CASE("session sql: statements are split where the server splits them") {
    const auto v = setting_changes("SELECT 'a;SET x=1'; SET a.b = 1; /* SET c.d = 2; */ "
                                   "SELECT $$;SET e.f=3;$$; -- SET g.h = 4;\n"
                                   "UPDATE t SET x = 1; RESET a.b; SET LOCAL i.j = 5");
    REQUIRE(v.size() == 3);
    CHECK(v[0] == set("a.b", "1"));
    CHECK(v[1] == reset("a.b"));
    CHECK(v[2] == none());
    // Nested block comments and quoted identifiers holding semicolons.
    const auto w = setting_changes("/* a /* b; */ SET x.y = 1; */ SET \"we;ird\".k = 2;;;");
    REQUIRE(w.size() == 1);
    CHECK(w[0] == set("we;ird.k", "2"));
    // Statements that merely contain SET are not changes.
    CHECK(setting_changes("UPDATE t SET a = 1").empty());
    CHECK(setting_changes("ALTER ROLE r SET work_mem = '1MB'").empty());
    CHECK(setting_changes("CREATE FUNCTION f() RETURNS int SET search_path = x AS 'select 1' "
                          "LANGUAGE sql")
              .empty());
    CHECK(setting_changes("SELECT set_config('a.b', 'c', false)").empty());
}

TEST_CASE("session sql: savepoints, releases and rollbacks, folded as the server folds names") {
    CHECK(one_scope("SAVEPOINT a") == scope(kind::savepoint, "a"));
    CHECK(one_scope("savepoint MixedCase;") == scope(kind::savepoint, "mixedcase"));
    CHECK(one_scope("SAVEPOINT \"Quoted;Name\"") == scope(kind::savepoint, "Quoted;Name"));
    CHECK(one_scope("RELEASE SAVEPOINT a") == scope(kind::release, "a"));
    CHECK(one_scope("RELEASE b") == scope(kind::release, "b"));
    CHECK(one_scope("RELEASE savepoint") == scope(kind::release, "savepoint"));
    CHECK(one_scope("ROLLBACK TO SAVEPOINT a") == scope(kind::rollback_to, "a"));
    CHECK(one_scope("rollback work to B") == scope(kind::rollback_to, "b"));
    CHECK(one_scope("ROLLBACK TRANSACTION TO \"X\"") == scope(kind::rollback_to, "X"));
    CHECK(one_scope("ROLLBACK TO savepoint") == scope(kind::rollback_to, "savepoint"));
    CHECK(one_scope("ROLLBACK") == scope(kind::rollback));
    CHECK(one_scope("ABORT WORK") == scope(kind::rollback));
    CHECK(one_scope("ROLLBACK AND CHAIN") == scope(kind::rollback));
    // Other tags (ROLLBACK PREPARED), or forms the server rejects: not listed.
    CHECK(setting_changes("ROLLBACK PREPARED 'gid'", true).empty());
    CHECK(setting_changes("SAVEPOINT", true).empty());
    CHECK(setting_changes("RELEASE SAVEPOINT a b", true).empty());
    CHECK(setting_changes("COMMIT", true).empty());
    // Only when asked for, and in order among the SETs.
    CHECK(setting_changes("SAVEPOINT a; SET x.y = 1; ROLLBACK TO a").size() == 1);
    const auto v = setting_changes("BEGIN; SAVEPOINT a; SET x.y = 1; RELEASE a; "
                                   "SELECT 'ROLLBACK'; ROLLBACK TO a; COMMIT",
                                   true);
    REQUIRE(v.size() == 4);
    CHECK(v[0] == scope(kind::savepoint, "a"));
    CHECK(v[1] == set("x.y", "1"));
    CHECK(v[2] == scope(kind::release, "a"));
    CHECK(v[3] == scope(kind::rollback_to, "a"));
}

TEST_CASE("session sql: each entry knows the command tag that confirms it") {
    CHECK(set("a.b", "1").answered_by("SET"));
    CHECK(reset("a.b").answered_by("RESET"));
    CHECK(none().answered_by("SET"));
    CHECK_FALSE(set("a.b", "1").answered_by("SAVEPOINT"));
    CHECK(scope(kind::savepoint, "a").answered_by("SAVEPOINT"));
    CHECK_FALSE(scope(kind::savepoint, "a").answered_by("SET"));
    CHECK(scope(kind::release, "a").answered_by("RELEASE"));
    CHECK(scope(kind::rollback_to, "a").answered_by("ROLLBACK"));
    CHECK(scope(kind::rollback).answered_by("ROLLBACK"));
    CHECK_FALSE(scope(kind::rollback).answered_by("COMMIT"));
}

TEST_CASE("session sql: the savepoint pre-check finds each keyword in any case") {
    CHECK_FALSE(may_touch_savepoints("SELECT 1"));
    CHECK_FALSE(may_touch_savepoints("SET x.y = 1"));
    CHECK_FALSE(may_touch_savepoints("ro"));
    CHECK_FALSE(may_touch_savepoints("SELECT * FROM user_roles WHERE save = 1 AND rel"));
    CHECK_FALSE(may_touch_savepoints("rollbac"));
    CHECK(may_touch_savepoints("SAVEPOINT a"));
    CHECK(may_touch_savepoints("release a"));
    CHECK(may_touch_savepoints("select 1; RoLlBack"));
    CHECK(may_touch_savepoints("ABORT"));
    CHECK(may_touch_savepoints("x;rollback"));
    CHECK_FALSE(may_touch_savepoints("\x13\x01\x16 \x12\x05\x0c"));
    // Without the pre-check's words the scan does not list them.
    CHECK(setting_changes("SELECT 1", true).empty());
}

TEST_CASE("session sql: the pre-check is exact about the word it looks for") {
    CHECK_FALSE(may_change_settings("SELECT 1"));
    CHECK_FALSE(may_change_settings(""));
    CHECK_FALSE(may_change_settings("se"));
    CHECK(may_change_settings("set x=1"));
    CHECK(may_change_settings("UPDATE t SeT a = 1"));
    CHECK(may_change_settings("reset all"));
    CHECK(may_change_settings("SELECT pg_catalog.SET_CONFIG('a.b', 'c', false)"));
    CHECK(may_change_settings("SET"));
    // Bytes that only look like the letters once bit 5 is set must not count.
    CHECK_FALSE(may_change_settings("\x13\x05\x14 SE\x14 s\x05t"));
    CHECK_FALSE(may_change_settings("S E T s.e.t"));
}

TEST_CASE("session sql: the vectorised pre-check answers as the byte-wise one, at every offset") {
    for (std::size_t at = 0; at < 40; ++at) {
        for (const std::string_view word : {"set", "SeT", "se", "s\x05t",
                                            "\x13"
                                            "ET",
                                            "sEt"}) {
            for (const std::size_t tail : {0U, 1U, 2U, 3U, 17U}) {
                const std::string t =
                    std::string(at, '.') + std::string(word) + std::string(tail, 'x');
                INFO(t);
                CHECK(may_change_settings(t) == may_change_settings_bytewise(t));
            }
        }
    }
    std::mt19937 rng(20261201);
    const std::string_view alphabet = "sSeEtT \x13\x05\x14\x53\x73.";
    for (int n = 0; n < 20000; ++n) {
        const std::string t = qail::test::random_text(rng, alphabet, 69);
        INFO(t);
        REQUIRE(may_change_settings(t) == may_change_settings_bytewise(t));
    }
}

namespace {
// The two byte-wise references the one-pass glance must agree with.
sql_glance reference_glance(std::string_view sql) {
    return {qail::client::touches_prepared_statements_bytewise(sql),
            may_change_settings_bytewise(sql)};
}
} // namespace

TEST_CASE("session sql: the one-pass glance finds both words wherever they are") {
    CHECK(glance_at("SELECT abalance FROM pgbench_accounts WHERE aid = 1;") == sql_glance{});
    CHECK(glance_at("SELECT 1") == sql_glance{});
    CHECK(glance_at("") == sql_glance{});
    CHECK(glance_at("PREPARE p AS SELECT 1; SET x.y = 2") == sql_glance{true, true});
    CHECK(glance_at("UPDATE accounts SET balance = balance + 1 WHERE id = 42") ==
          sql_glance{false, true});
    CHECK(glance_at("select 1 from generate_series(1, 10) where x = 'deallocate'") ==
          sql_glance{true, false});
    // Each at the very end of a text longer than one block, and right at its start.
    CHECK(glance_at(std::string(40, '.') + "set") == sql_glance{false, true});
    CHECK(glance_at(std::string(40, '.') + "deallocate") == sql_glance{true, false});
    CHECK(glance_at("prepare" + std::string(40, '.')) == sql_glance{true, false});
    CHECK(glance_at("SeT" + std::string(40, '.')) == sql_glance{false, true});
    // Not the words: a longer identifier, bytes that fold onto the letters.
    CHECK(glance_at("SELECT prepared_at, deallocated FROM t WHERE x > 100") == sql_glance{});
    CHECK(glance_at("\x13\x05\x14 \x10rEPARE \x04"
                    "EALLOCATE ........ ....") == sql_glance{});
}

TEST_CASE("session sql: the glance answers as the two byte-wise pre-checks, at every offset") {
    for (std::size_t at = 0; at < 50; ++at) {
        for (const std::string_view word :
             {"set", "SeT", "se", "prepare", "PrEpArE", "deallocate", "prepared", "_deallocate",
              "\x10REPARE", "s\x05t", "d", "p"}) {
            for (const std::size_t tail : {0U, 1U, 2U, 3U, 15U, 16U, 17U, 33U}) {
                const std::string t =
                    std::string(at, ' ') + std::string(word) + std::string(tail, 'x');
                INFO(t);
                CHECK(glance_at(t) == reference_glance(t));
            }
        }
    }
    // Random texts of pieces: the words, near misses, and bytes around them.
    std::mt19937 rng(20261202);
    const std::array<std::string_view, 16> pieces{
        "set", "SeT",        "prepare", "PrEpArE", "deallocate", "prepared", "_", "x",
        " ",   "\x10REPARE", ".",       "s",       "e",          "t",        "p", "eallocate"};
    int with_word = 0;
    for (int n = 0; n < 40000; ++n) {
        std::string t;
        for (auto k = rng() % 24; k > 0; --k)
            t += pieces[rng() % pieces.size()];
        INFO(t);
        const sql_glance want = reference_glance(t);
        with_word += want.names_statements ? 1 : 0;
        REQUIRE(glance_at(t) == want);
    }
    CHECK(with_word > 1000);
    CHECK(with_word < 39000); // both answers were tested many times
}

TEST_CASE("session sql: unterminated quotes and comments never read past the text") {
    for (const char* s : {"SET a.b = 'open", "SET a.b = \"open", "SET a.b = $t$open",
                          "SET a.b = 1 /* open", "SET a.b = E'\\", "SET", "RESET", "SET ;",
                          "SET a.b = $", "SET a.b = $1", "SET a.b = 1e", "SET a.b = .5"}) {
        INFO(s);
        const auto v = setting_changes(s);
        CHECK(v.size() <= 1);
    }
    CHECK(one("SET a.b = .5") == set("a.b", ".5"));
    CHECK(one("SET a.b = 'open") == set("a.b", "open"));
}
