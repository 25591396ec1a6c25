// Deterministic release without a database: the reset SQL of each policy, the binding
// steps (values only ever as parameters), preamble order, config defaults and errors.
#include "test_support.hpp"

#include <qail/pool/config.hpp>
#include <qail/pool/error.hpp>
#include <qail/pool/reset.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace qail::pool {
namespace {

using client::transaction_state;
using namespace std::chrono_literals;

std::vector<std::string> sqls(const std::vector<client::preamble_step>& steps) {
    std::vector<std::string> out;
    for (const auto& s : steps)
        out.push_back(s.sql);
    return out;
}

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

} // namespace

TEST_CASE("pool: smart reset is DISCARD ALL minus the protocol-level prepared statements") {
    const auto steps = reset_steps(reset_policy::smart);
    CHECK(sqls(steps) == std::vector<std::string>{"CLOSE ALL", "SET SESSION AUTHORIZATION DEFAULT",
                                                  "RESET ALL", "UNLISTEN *", "DISCARD TEMP",
                                                  "DISCARD SEQUENCES",
                                                  "SELECT pg_catalog.pg_advisory_unlock_all()"});
    for (const auto& step : steps) {
        INFO(step.sql);
        // One statement each, kept prepared on the server, sharing one Sync.
        CHECK(step.keep);
        CHECK(step.pipelined);
        CHECK(step.params.empty());
        CHECK_FALSE(contains(step.sql, ";"));
        // Neither of these may appear: both drop the protocol-level statements, and
        // DISCARD ALL cannot run inside the pipeline's implicit transaction.
        CHECK_FALSE(contains(step.sql, "DEALLOCATE"));
        CHECK_FALSE(contains(step.sql, "DISCARD ALL"));
    }
}

TEST_CASE("pool: discard_all and none resets") {
    const auto steps = reset_steps(reset_policy::discard_all);
    CHECK(sqls(steps) == std::vector<std::string>{"DISCARD ALL"});
    CHECK_FALSE(steps[0].keep); // it drops every prepared statement, itself included
    CHECK(reset_steps(reset_policy::none).empty());
}

TEST_CASE("pool: SQL-level prepared statements make the smart reset DISCARD ALL") {
    pool_config config;
    leftover left{transaction_state::idle, false, true};
    CHECK(effective_reset(left, config) == reset_policy::smart);
    left.statements_unknown = true;
    CHECK(effective_reset(left, config) == reset_policy::discard_all);
    CHECK(sqls(preamble_for(left, {}, config)) == std::vector<std::string>{"DISCARD ALL"});
    config.reset = reset_policy::none;
    CHECK(effective_reset(left, config) == reset_policy::none);
    config.reset = reset_policy::discard_all;
    left.statements_unknown = false;
    CHECK(effective_reset(left, config) == reset_policy::discard_all);
}

TEST_CASE("pool: reset policy names") {
    for (auto p : {reset_policy::smart, reset_policy::discard_all, reset_policy::none})
        CHECK(parse_reset_policy(to_string(p)) == p);
    CHECK(parse_reset_policy("discard-all") == reset_policy::discard_all);
    CHECK_FALSE(parse_reset_policy("DISCARD").has_value());
    CHECK_FALSE(parse_reset_policy("").has_value());
}

TEST_CASE("pool: binding values are bound parameters, never SQL text") {
    const std::string evil = "x'); DROP TABLE users; --";
    pool_config config;
    binding b;
    b.tenant = evil;
    b.user = "u$1'\"";
    const auto steps = binding_steps(b, config);
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].sql ==
          "SELECT pg_catalog.set_config($1, $2, false), pg_catalog.set_config($3, $4, false)");
    CHECK_FALSE(contains(steps[0].sql, "DROP"));
    CHECK_FALSE(contains(steps[0].sql, "app."));
    REQUIRE(steps[0].params.size() == 4);
    for (const auto& p : steps[0].params) {
        CHECK(p.type_oid == 25);
        CHECK(p.format == protocol::format_code::text);
        REQUIRE(p.bytes.has_value());
    }
    CHECK(*steps[0].params[0].bytes == "app.current_tenant_id");
    CHECK(*steps[0].params[1].bytes == evil);
    CHECK(*steps[0].params[2].bytes == "app.current_user_id");
    CHECK(*steps[0].params[3].bytes == "u$1'\"");
}

TEST_CASE("pool: binding forms") {
    pool_config config;
    config.tenant_setting = "rls.tenant";
    config.user_setting = "rls.user";

    SUBCASE("nothing to bind: no steps") {
        CHECK(binding_steps(binding{}, config).empty());
    }
    SUBCASE("tenant only, session form") {
        const auto steps = binding_steps(binding{"t1", std::nullopt, false}, config);
        REQUIRE(steps.size() == 1);
        CHECK(steps[0].sql == "SELECT pg_catalog.set_config($1, $2, false)");
        REQUIRE(steps[0].params.size() == 2);
        CHECK(*steps[0].params[0].bytes == "rls.tenant");
        CHECK(*steps[0].params[1].bytes == "t1");
    }
    SUBCASE("user only, transaction form") {
        const auto steps = binding_steps(binding{std::nullopt, "u1", true}, config);
        REQUIRE(steps.size() == 2);
        CHECK(steps[0].sql == "BEGIN");
        CHECK(steps[0].params.empty());
        CHECK(steps[1].sql == "SELECT pg_catalog.set_config($1, $2, true)");
        CHECK(*steps[1].params[0].bytes == "rls.user");
        CHECK(*steps[1].params[1].bytes == "u1");
    }
    SUBCASE("transaction form without values still opens the transaction") {
        CHECK(sqls(binding_steps(binding{std::nullopt, std::nullopt, true}, config)) ==
              std::vector<std::string>{"BEGIN"});
    }
    SUBCASE("an empty value is still bound") {
        const auto steps = binding_steps(binding{"", std::nullopt, false}, config);
        REQUIRE(steps.size() == 1);
        CHECK(*steps[0].params[1].bytes == "");
    }
}

TEST_CASE("pool: ending a left-open transaction") {
    CHECK(end_transaction_steps(leftover{transaction_state::idle, true, true}).empty());
    CHECK(sqls(end_transaction_steps(leftover{transaction_state::in_transaction, false, true})) ==
          std::vector<std::string>{"ROLLBACK"});
    CHECK(sqls(end_transaction_steps(leftover{transaction_state::in_transaction, true, true})) ==
          std::vector<std::string>{"COMMIT"});
    // A failed transaction can only be rolled back, whatever the binding was.
    CHECK(sqls(end_transaction_steps(leftover{transaction_state::failed, true, true})) ==
          std::vector<std::string>{"ROLLBACK"});
}

TEST_CASE("pool: preamble order is end transaction, reset, binding") {
    pool_config config;
    const auto smart = sqls(reset_steps(reset_policy::smart));
    const auto cat = [](std::vector<std::string> a, const std::vector<std::string>& b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    };
    const binding b{"t", std::nullopt, true};
    const std::vector<std::string> local_binding{"BEGIN",
                                                 "SELECT pg_catalog.set_config($1, $2, true)"};

    CHECK(sqls(preamble_for(leftover{}, b, config)) == local_binding);
    CHECK(sqls(preamble_for(leftover{transaction_state::idle, false, true}, b, config)) ==
          cat(smart, local_binding));
    CHECK(sqls(preamble_for(leftover{transaction_state::failed, true, true}, {}, config)) ==
          cat({"ROLLBACK"}, smart));
    CHECK(sqls(preamble_for(leftover{transaction_state::in_transaction, true, true}, {}, config)) ==
          cat({"COMMIT"}, smart));
    // SQL-level prepared statements may exist: DISCARD ALL instead.
    CHECK(sqls(preamble_for(leftover{transaction_state::idle, false, true, true}, {}, config)) ==
          std::vector<std::string>{"DISCARD ALL"});
    CHECK(sqls(preamble_for(leftover{transaction_state::failed, false, true, true}, {}, config)) ==
          std::vector<std::string>{"ROLLBACK", "DISCARD ALL"});
    config.reset = reset_policy::discard_all;
    CHECK(sqls(preamble_for(leftover{transaction_state::idle, false, true}, {}, config)) ==
          std::vector<std::string>{"DISCARD ALL"});
    config.reset = reset_policy::none;
    CHECK(preamble_for(leftover{transaction_state::idle, false, true}, {}, config).empty());
    // Even with no reset, an open transaction is never handed to the next borrower.
    CHECK(sqls(preamble_for(leftover{transaction_state::in_transaction, false, true}, {},
                            config)) == std::vector<std::string>{"ROLLBACK"});
}

TEST_CASE("pool: settings go first in the binding statement, and a DISCARD ALL shares its Sync") {
    pool_config config;
    binding b{"t", std::nullopt, false};
    b.settings = std::make_shared<const settings_list>(
        settings_list{{"application_name", "a'b"}, {"app.current_tenant_id", "evil"}});
    auto steps = binding_steps(b, config);
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].sql ==
          "SELECT pg_catalog.set_config($1, $2, false), pg_catalog.set_config($3, $4, false)");
    REQUIRE(steps[0].params.size() == 4);
    CHECK(steps[0].params[0].bytes == std::optional<std::string>("application_name"));
    CHECK(steps[0].params[1].bytes == std::optional<std::string>("a'b"));
    // The client's own value for the tenant setting is dropped: the binding decides.
    CHECK(steps[0].params[2].bytes == std::optional<std::string>("app.current_tenant_id"));
    CHECK(steps[0].params[3].bytes == std::optional<std::string>("t"));
    // Settings already in place: only the binding is sent.
    steps = binding_steps(b, config, true);
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].params.size() == 2);
    // Without tenant or user, settings in place leave nothing to send.
    binding plain;
    plain.settings = b.settings;
    CHECK(binding_steps(plain, config, true).empty());
    CHECK(binding_steps(plain, config).size() == 1);

    // A DISCARD ALL reset is pipelined with the session binding after it...
    const leftover dirty{transaction_state::idle, false, true, true};
    steps = preamble_for(dirty, b, config);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].sql == "DISCARD ALL");
    CHECK(steps[0].pipelined);
    CHECK_FALSE(steps[1].pipelined);
    CHECK(steps[1].keep);
    // ...but not with nothing after it, and not ahead of a transaction-local BEGIN.
    steps = preamble_for(dirty, {}, config);
    REQUIRE(steps.size() == 1);
    CHECK_FALSE(steps[0].pipelined);
    steps = preamble_for(dirty, binding{"t", std::nullopt, true}, config);
    REQUIRE(steps.size() == 3);
    CHECK_FALSE(steps[0].pipelined);
    // The end of a left-open transaction keeps its own Sync.
    steps = preamble_for(leftover{transaction_state::failed, false, true, true}, b, config);
    REQUIRE(steps.size() == 3);
    CHECK_FALSE(steps[0].pipelined);
    CHECK(steps[1].pipelined);

    // The smart reset shares the session binding's Sync, and its advisory unlock becomes
    // the first item of the binding's SELECT: six utility statements and one SELECT.
    const leftover smart_dirty{transaction_state::idle, false, true};
    steps = preamble_for(smart_dirty, b, config);
    REQUIRE(steps.size() == 7);
    for (std::size_t i = 0; i < 6; ++i) {
        CHECK(steps[i].pipelined);
        CHECK(steps[i].keep);
        CHECK_FALSE(contains(steps[i].sql, "advisory"));
    }
    CHECK(steps[6].sql == "SELECT pg_catalog.pg_advisory_unlock_all(), "
                          "pg_catalog.set_config($1, $2, false), "
                          "pg_catalog.set_config($3, $4, false)");
    CHECK(steps[6].params.size() == 4);
    CHECK(steps[6].keep);
    CHECK_FALSE(steps[6].pipelined);
    // With no binding, the unlock is the reset's own last step, which ends the Sync.
    steps = preamble_for(smart_dirty, {}, config);
    REQUIRE(steps.size() == 7);
    CHECK(steps.back().sql == "SELECT pg_catalog.pg_advisory_unlock_all()");
    CHECK_FALSE(steps.back().pipelined);
    // Ahead of a transaction-local BEGIN the reset ends with a Sync of its own.
    steps = preamble_for(smart_dirty, binding{"t", std::nullopt, true}, config);
    REQUIRE(steps.size() == 9);
    CHECK(steps[6].sql == "SELECT pg_catalog.pg_advisory_unlock_all()");
    CHECK_FALSE(steps[6].pipelined);
    CHECK(steps[7].sql == "BEGIN");

    CHECK(resets(dirty, config));
    CHECK_FALSE(resets(leftover{}, config));
    config.reset = reset_policy::none;
    CHECK_FALSE(resets(dirty, config));
    CHECK(resets(leftover{transaction_state::in_transaction, false, false}, config));
}

TEST_CASE("pool: config defaults follow the design") {
    const pool_config c;
    CHECK(c.max_size == 10);
    CHECK(c.min_size == 1);
    CHECK(c.acquire_timeout == 30s);
    CHECK(c.connect_timeout == 10s);
    CHECK(c.idle_timeout == 600s);
    CHECK(c.max_lifetime == 3600s);
    CHECK(c.health_check_interval == 30s);
    CHECK_FALSE(c.test_on_acquire);
    CHECK(c.reset == reset_policy::smart);
    CHECK(c.tenant_setting == "app.current_tenant_id");
    CHECK(c.user_setting == "app.current_user_id");
    const binding b;
    CHECK_FALSE(b.tenant.has_value());
    CHECK_FALSE(b.user.has_value());
    CHECK_FALSE(b.transaction_local);
}

TEST_CASE("pool: error codes") {
    const boost::system::error_code ec = pool_errc::acquire_timeout;
    CHECK(ec == make_error_code(pool_errc::acquire_timeout));
    CHECK(ec != make_error_code(pool_errc::pool_closed));
    CHECK(std::string(ec.category().name()) == "qail.pool");
    CHECK(ec.message() == "timed out waiting for a connection from the pool");
    CHECK(make_error_code(pool_errc::pool_closed).message() == "the pool is closed");
    CHECK(make_error_code(pool_errc::connect_failed).message() ==
          "the pool could not open a connection");
    CHECK(pool_category().message(99) == "unknown pool error 99");
}

} // namespace qail::pool
