// PgPool against real PostgreSQL 15 and 18: deterministic release under 200 randomized
// borrowers, exhaustion, killed backends, transaction-local bindings, the preamble's
// zero extra round trips, and four threads sharing one pool.
#include "support/async.hpp"
#include "support/pg_env.hpp"

#include <qail/client/scram_memo.hpp>
#include <qail/pool/pg_pool.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace qail::pool {
namespace {

namespace asio = boost::asio;
using client::connect_options;
using client::connection;
using client::host_spec;
using test::env;
using test::run_async;
using namespace std::chrono_literals;

using clock = std::chrono::steady_clock;

constexpr std::string_view set_role_name = "qail_pool_role";

connect_options options_for(const test::pg_server& server, const test::pg_credentials& who,
                            std::string application_name = "qail-pool-test") {
    connect_options o;
    o.hosts = {host_spec{env().host, server.port, {}}};
    o.user = who.user;
    o.password = who.password;
    o.dbname = env().database;
    o.sslmode = client::ssl_mode::disable;
    o.connect_timeout = 10s;
    o.application_name = std::move(application_name);
    return o;
}

/// A name no other test run uses at the same time (application_name, table names).
std::string unique_name(std::string_view prefix) {
    static std::atomic<int> counter{0};
    return std::string(prefix) + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

asio::awaitable<std::unique_ptr<connection>> must_connect(connect_options o) {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await connection::connect(ex, std::move(o));
    REQUIRE_MESSAGE(c.has_value(), (c ? std::string{} : c.error().message()));
    co_return std::move(*c);
}

asio::awaitable<std::unique_ptr<connection>> admin(const test::pg_server& server) {
    co_return co_await must_connect(options_for(server, env().admin, "qail-pool-test-admin"));
}

/// Runs `sql` (simple protocol) and returns the first column of the last result's rows.
asio::awaitable<std::vector<std::optional<std::string>>> column(connection& c,
                                                                std::string_view sql) {
    auto r = co_await c.simple_query(sql);
    REQUIRE_MESSAGE(r.has_value(),
                    (std::string(sql) + ": " + (r ? std::string{} : r.error().message())));
    std::vector<std::optional<std::string>> out;
    if (r->empty())
        co_return out;
    const auto& rs = r->back();
    for (std::size_t i = 0; i < rs.size(); ++i) {
        const auto v = rs[i].raw(0);
        out.push_back(v ? std::optional<std::string>(std::string(*v)) : std::nullopt);
    }
    co_return out;
}

asio::awaitable<std::string> scalar(connection& c, std::string_view sql) {
    const auto rows = co_await column(c, sql);
    REQUIRE(rows.size() == 1);
    co_return rows[0].value_or("NULL");
}

asio::awaitable<void> exec(connection& c, std::string_view sql) {
    auto r = co_await c.simple_query(sql);
    REQUIRE_MESSAGE(r.has_value(),
                    (std::string(sql) + ": " + (r ? std::string{} : r.error().message())));
}

asio::awaitable<pooled_connection> must_acquire(pg_pool& pool, const binding& b = {}) {
    auto r = co_await pool.acquire(b);
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
    co_return std::move(*r);
}

/// Polls `done` every 10 ms until it holds or `limit` passes; returns whether it held.
asio::awaitable<bool> eventually(const std::function<asio::awaitable<bool>()>& done,
                                 std::chrono::milliseconds limit) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto end = clock::now() + limit;
    for (;;) {
        if (co_await done())
            co_return true;
        if (clock::now() >= end)
            co_return false;
        timer.expires_after(10ms);
        co_await timer.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<bool> backend_gone(connection& admin_conn, std::int32_t pid) {
    co_return co_await scalar(admin_conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                              std::to_string(pid)) == "0";
}

asio::awaitable<void> ensure_role(const test::pg_server& server) {
    auto a = co_await admin(server);
    co_await exec(*a, "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                      "'qail_pool_role') THEN CREATE ROLE qail_pool_role NOLOGIN; END IF; END$$");
    co_await exec(*a, "GRANT qail_pool_role TO " + env().scram.user);
    co_await a->close();
}

/// Completion handler for test coroutines spawned beside the body: failures are reported.
void report_failure(std::exception_ptr e) {
    if (!e)
        return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        FAIL_CHECK("spawned coroutine failed: " << x.what());
    } catch (...) {
        FAIL_CHECK("spawned coroutine failed (a failed REQUIRE inside it)");
    }
}

pool_config small_config(std::size_t max_size) {
    pool_config c;
    c.max_size = max_size;
    c.min_size = 0;
    c.acquire_timeout = 20s;
    return c;
}

/// A pool of one connection to PostgreSQL 15 (scram_user) for tests of waiting, with
/// the given acquire_timeout.
asio::awaitable<std::shared_ptr<pg_pool>> pool_of_one(std::string name,
                                                      std::chrono::milliseconds acquire_timeout) {
    auto config = small_config(1);
    config.acquire_timeout = acquire_timeout;
    co_return pg_pool::create(co_await asio::this_coro::executor,
                              options_for(env().pg15, env().scram), std::move(config),
                              std::move(name));
}

/// Starts `waiting` on `other` (an io_context nothing runs) and polls it until the
/// coroutine waits in `pool`'s queue.
void start_waiting_on(asio::io_context& other, asio::awaitable<void> waiting, pg_pool& pool) {
    asio::co_spawn(other, std::move(waiting), report_failure);
    (void)other.poll();
    REQUIRE(pool.stats().waiting == 1);
}

/// Parks the coroutine `make(slot, sentinel)` returns on an io_context nothing runs (so
/// it waits in `pool`'s queue), runs `meanwhile`, then destroys the context: the parked
/// frame, which holds the sentinel, must be destroyed with it, not leaked waiting for a
/// wake-up that cannot run. The slot, declared after the context, goes first.
template <class Make, class Meanwhile>
void park_then_destroy(pg_pool& pool, Make make, Meanwhile meanwhile) {
    auto sentinel = std::make_shared<int>(0);
    const std::weak_ptr<int> frame_alive = sentinel;
    {
        asio::io_context other;
        wait_slot slot;
        start_waiting_on(other, make(slot, std::move(sentinel)), pool);
        CHECK_FALSE(frame_alive.expired());
        meanwhile();
    }
    REQUIRE(frame_alive.expired());
}

// --- the leak test ---------------------------------------------------------------------

/// What a clean session looks like, read once from a fresh connection.
struct session_defaults {
    std::string search_path;
    std::string work_mem;
    std::string application_name;
    std::string statement_timeout;
};

constexpr std::string_view state_query =
    "SELECT current_user, session_user, current_setting('app.current_tenant_id', true), "
    "current_setting('search_path'), current_setting('work_mem'), "
    "current_setting('application_name'), current_setting('statement_timeout'), "
    "coalesce(current_setting('app.x', true), ''), "
    "(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()), "
    "(SELECT count(*) FROM pg_listening_channels()), "
    "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), "
    "(SELECT count(*) FROM pg_cursors), "
    "(SELECT count(*) FROM pg_prepared_statements WHERE from_sql), "
    "pg_backend_pid()";

/// Checks, on a freshly acquired connection, that nothing of an earlier borrower is
/// left and that the tenant is exactly `tenant`. Returns the backend pid.
asio::awaitable<std::int32_t> check_clean(connection& c, const session_defaults& d,
                                          const std::optional<std::string>& tenant, int borrower) {
    auto r = co_await c.simple_query(state_query);
    REQUIRE_MESSAGE(r.has_value(),
                    "borrower " << borrower << ": " << (r ? std::string{} : r.error().message()));
    REQUIRE(r->size() == 1);
    REQUIRE(r->back().size() == 1);
    const auto row = r->back()[0];
    const auto col = [&](std::size_t i) { return std::string(row.raw(i).value_or("NULL")); };
    INFO("borrower ", borrower, " on pid ", col(13));
    CHECK(col(0) == env().scram.user);
    CHECK(col(1) == env().scram.user);
    if (tenant) {
        CHECK(col(2) == *tenant);
    } else {
        // Never set on this backend (NULL) or reset to the placeholder's default ("").
        CHECK((col(2) == "NULL" || col(2).empty()));
    }
    CHECK(col(3) == d.search_path);
    CHECK(col(4) == d.work_mem);
    CHECK(col(5) == d.application_name);
    CHECK(col(6) == d.statement_timeout);
    CHECK(col(7).empty());
    CHECK(col(8) == "0");  // temp tables
    CHECK(col(9) == "0");  // LISTEN channels
    CHECK(col(10) == "0"); // advisory locks
    CHECK(col(11) == "0"); // cursors
    CHECK(col(12) == "0"); // SQL-level prepared statements
    co_return std::stoi(col(13));
}

/// Leaves a random mix of session state behind (the next borrower must not see it).
asio::awaitable<void> make_a_mess(connection& c, std::mt19937& rng, int borrower) {
    const std::string n = std::to_string(borrower);
    std::vector<std::function<asio::awaitable<void>()>> actions = {
        [&]() -> asio::awaitable<void> { co_await exec(c, "SET search_path = pg_catalog"); },
        [&]() -> asio::awaitable<void> { co_await exec(c, "SET work_mem = '7MB'"); },
        [&]() -> asio::awaitable<void> { co_await exec(c, "SET application_name = 'dirty'"); },
        [&]() -> asio::awaitable<void> { co_await exec(c, "SET statement_timeout = '123s'"); },
        [&]() -> asio::awaitable<void> {
            const std::vector<client::param> p{client::to_param("leaked-" + n)};
            auto r = co_await c.query("SELECT set_config('app.x', $1, false)", p);
            REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
        },
        [&]() -> asio::awaitable<void> {
            // A tenant someone set by hand must not survive either.
            const std::vector<client::param> p{client::to_param("hijack-" + n)};
            auto r = co_await c.query("SELECT set_config('app.current_tenant_id', $1, false)", p);
            REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
        },
        [&]() -> asio::awaitable<void> {
            co_await exec(c, "SET ROLE " + std::string(set_role_name));
        },
        [&]() -> asio::awaitable<void> {
            co_await exec(c, "CREATE TEMP TABLE leak_" + n + " (x int)");
        },
        [&]() -> asio::awaitable<void> { co_await exec(c, "LISTEN leak_" + n); },
        [&]() -> asio::awaitable<void> { co_await exec(c, "SELECT pg_advisory_lock(" + n + ")"); },
        [&]() -> asio::awaitable<void> {
            co_await exec(c, "DECLARE leak_" + n + " CURSOR WITH HOLD FOR SELECT 1");
        },
        [&]() -> asio::awaitable<void> { co_await exec(c, "PREPARE leak_" + n + " AS SELECT 1"); },
    };
    std::shuffle(actions.begin(), actions.end(), rng);
    const std::size_t count = std::uniform_int_distribution<std::size_t>(0, actions.size())(rng);
    for (std::size_t i = 0; i < count; ++i)
        co_await actions[i]();
    // Then, sometimes, leave a transaction open or aborted.
    switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
    case 0: {
        co_await exec(c, "BEGIN; SELECT 1");
        CHECK(c.transaction() == client::transaction_state::in_transaction);
        break;
    }
    case 1: {
        (void)co_await c.simple_query("BEGIN; SELECT 1/0");
        CHECK(c.transaction() == client::transaction_state::failed);
        CHECK_FALSE(c.broken());
        break;
    }
    default:
        break;
    }
}

asio::awaitable<void> leak_test(const test::pg_server& server, unsigned seed) {
    co_await ensure_role(server);
    const std::string app = unique_name("qail_pool_leak");
    auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                options_for(server, env().scram, app), small_config(2), "leak");
    session_defaults d;
    {
        auto c = co_await must_connect(options_for(server, env().scram, app));
        d.search_path = co_await scalar(*c, "SHOW search_path");
        d.work_mem = co_await scalar(*c, "SHOW work_mem");
        d.application_name = co_await scalar(*c, "SHOW application_name");
        d.statement_timeout = co_await scalar(*c, "SHOW statement_timeout");
        co_await c->close();
    }
    REQUIRE(d.application_name == app);

    constexpr int borrowers = 200;
    constexpr int workers = 6; // more coroutines than connections: waiters queue up
    std::mt19937 rng(seed);
    // Each borrower's plan is drawn up front so the run depends on the seed only.
    struct plan {
        std::optional<std::string> tenant;
        bool transaction_local = false;
        unsigned mess_seed = 0;
    };
    std::vector<plan> plans(borrowers);
    for (int i = 0; i < borrowers; ++i) {
        auto& p = plans[static_cast<std::size_t>(i)];
        switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
        case 0:
            break; // no tenant
        case 1:
            p.tenant = "x'); DROP TABLE users; --" + std::to_string(i);
            break;
        default:
            p.tenant = "tenant-" + std::to_string(i);
        }
        p.transaction_local = std::uniform_int_distribution<int>(0, 2)(rng) == 0;
        p.mess_seed = static_cast<unsigned>(rng());
    }

    int next = 0;
    std::map<std::int32_t, int> borrows_per_pid;
    int finished_workers = 0;
    const auto ex = co_await asio::this_coro::executor;
    asio::steady_timer all_done(ex, clock::time_point::max());
    for (int w = 0; w < workers; ++w) {
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                while (next < borrowers) {
                    const int i = next++;
                    const plan& p = plans[static_cast<std::size_t>(i)];
                    auto conn = co_await must_acquire(
                        *pool, binding{p.tenant, std::nullopt, p.transaction_local});
                    const auto pid = co_await check_clean(*conn, d, p.tenant, i);
                    ++borrows_per_pid[pid];
                    if (p.transaction_local)
                        CHECK(conn->transaction() == client::transaction_state::in_transaction);
                    std::mt19937 mess(p.mess_seed);
                    co_await make_a_mess(*conn, mess, i);
                    conn.release();
                }
            },
            [&](std::exception_ptr e) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& ex2) {
                        FAIL_CHECK("worker failed: " << ex2.what());
                    }
                }
                if (++finished_workers == workers)
                    all_done.cancel();
            });
    }
    (void)co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    REQUIRE(finished_workers == workers);

    const auto s = pool->stats();
    MESSAGE(server.name << ": " << borrowers << " borrowers on " << borrows_per_pid.size()
                        << " backends, " << s.resets << " resets, " << s.created << " created");
    CHECK(s.acquires == static_cast<std::uint64_t>(borrowers));
    CHECK(s.destroyed_broken == 0);
    CHECK(s.destroyed_reset_failed == 0);
    CHECK(s.destroyed_health == 0);
    CHECK(s.created <= 2);
    CHECK(borrows_per_pid.size() <= 2);
    CHECK(s.resets > 0);
    // Every backend was reused many times.
    for (const auto& [pid, n] : borrows_per_pid)
        CHECK(n > 10);
    co_await pool->close();
    const auto after = pool->stats();
    CHECK(after.in_use == 0);
    CHECK(after.idle == 0);
}

} // namespace

TEST_CASE("pool: 200 randomized borrowers leave nothing behind for the next one") {
    const unsigned seed = [] {
        if (const char* s = std::getenv("QAIL_POOL_SEED"))
            return static_cast<unsigned>(std::stoul(s));
        return 20240611U;
    }();
    MESSAGE("pool leak test seed " << seed << " (set QAIL_POOL_SEED to change)");
    for (const auto* server : env().servers()) {
        INFO(server->name, " seed ", seed);
        run_async([&]() -> asio::awaitable<void> { co_await leak_test(*server, seed); });
    }
}

TEST_CASE("pool: exhaustion fails with a clear error after acquire_timeout") {
    for (const auto* server : env().servers()) {
        INFO(server->name);
        run_async([&]() -> asio::awaitable<void> {
            auto config = small_config(2);
            config.acquire_timeout = 500ms;
            auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                        options_for(*server, env().scram), config, "appdb");
            auto a = co_await must_acquire(*pool);
            auto b = co_await must_acquire(*pool);
            const auto start = clock::now();
            auto r = co_await pool->acquire();
            const auto waited = clock::now() - start;
            REQUIRE_FALSE(r.has_value());
            CHECK(r.error().code == pool_errc::acquire_timeout);
            CHECK(r.error().code == make_error_code(pool_errc::acquire_timeout));
            CHECK(r.error().sqlstate() == "53300");
            const std::string msg = r.error().message();
            CHECK(msg.find("timed out after 500 ms waiting for a connection from pool appdb "
                           "(max_size 2, all in use)") != std::string::npos);
            CHECK(waited >= 250ms);
            CHECK(waited <= 750ms);
            const auto s = pool->stats();
            CHECK(s.acquire_timeouts == 1);
            CHECK(s.in_use == 2);
            CHECK(s.waiting == 0);
            CHECK(s.wait_seconds_max >= 0.25);

            // A waiter is served FIFO when a connection comes back.
            auto ex = co_await asio::this_coro::executor;
            std::vector<int> order;
            std::vector<pooled_connection> got;
            int served = 0;
            asio::steady_timer done(ex, clock::time_point::max());
            for (int i = 0; i < 2; ++i)
                asio::co_spawn(
                    ex,
                    [&, i]() -> asio::awaitable<void> {
                        got.push_back(co_await must_acquire(*pool));
                        order.push_back(i);
                        if (++served == 2)
                            done.cancel();
                    },
                    report_failure);
            CHECK(co_await eventually(
                [&]() -> asio::awaitable<bool> { co_return pool->stats().waiting == 2; }, 5s));
            a.release();
            b.release();
            (void)co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
            CHECK(order == std::vector<int>{0, 1});
            got.clear();
            co_await pool->close();
        });
    }
}

TEST_CASE("pool: a backend killed while idle is detected and replaced") {
    for (const auto* server : env().servers()) {
        for (const bool on_acquire : {true, false}) {
            INFO(server->name, on_acquire ? " test_on_acquire" : " background health check");
            run_async([&]() -> asio::awaitable<void> {
                auto config = small_config(1);
                config.test_on_acquire = on_acquire;
                config.health_check_interval = on_acquire ? 0ms : 100ms;
                auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                            options_for(*server, env().scram), config, "killed");
                auto a = co_await admin(*server);
                std::int32_t first = 0;
                {
                    auto c = co_await must_acquire(*pool, binding{"t-before", {}, false});
                    first = c->backend_pid();
                    CHECK(co_await scalar(*c, "SELECT current_setting('app.current_tenant_id')") ==
                          "t-before");
                }
                co_await exec(*a, "SELECT pg_terminate_backend(" + std::to_string(first) + ")");
                CHECK(co_await eventually([&] { return backend_gone(*a, first); }, 10s));
                if (!on_acquire) {
                    CHECK(co_await eventually(
                        [&]() -> asio::awaitable<bool> {
                            const auto s = pool->stats();
                            co_return s.destroyed_health + s.destroyed_reset_failed >= 1 &&
                                s.idle + s.in_use == 0;
                        },
                        10s));
                }
                auto c = co_await must_acquire(*pool, binding{"t-after", {}, false});
                CHECK(c->backend_pid() != first);
                CHECK(co_await scalar(*c, "SELECT current_setting('app.current_tenant_id')") ==
                      "t-after");
                c.release();
                const auto s = pool->stats();
                CHECK(s.created == 2);
                // Found by the background check, or at acquire by the socket poll (before
                // test_on_acquire's ping would be needed).
                CHECK(s.destroyed_health + s.destroyed_reset_failed + s.destroyed_broken == 1);
                co_await a->close();
                co_await pool->close();
            });
        }
    }
}

// A PostgreSQL server of this test's own (tests/harness/own-pg): the shared harness
// servers must not be restarted under the other tests.
class own_server {
public:
    own_server() : dir_(make_dir()) {
        const std::string cmd = script() + " up " + dir_ + " > " + dir_ + ".port";
        REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
        std::ifstream in(dir_ + ".port");
        in >> port_;
        REQUIRE(port_ > 0);
    }
    own_server(const own_server&) = delete;
    own_server& operator=(const own_server&) = delete;
    ~own_server() {
        const std::string cmd = script() + " down " + dir_ + "; rm -f " + dir_ + ".port";
        (void)std::system(cmd.c_str());
    }
    void restart() const {
        const std::string cmd = script() + " restart " + dir_;
        REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
    }
    [[nodiscard]] connect_options options() const {
        connect_options o;
        o.hosts = {host_spec{"127.0.0.1", static_cast<std::uint16_t>(port_), {}}};
        o.user = "postgres";
        o.dbname = "postgres";
        o.sslmode = client::ssl_mode::disable;
        o.connect_timeout = 10s;
        return o;
    }

private:
    static std::string script() { return std::string(QAIL_SOURCE_DIR) + "/tests/harness/own-pg"; }
    static std::string make_dir() {
        return "/tmp/qail-pool-restart-" + std::to_string(::getpid()) + "-" +
               std::to_string(std::random_device{}());
    }
    std::string dir_;
    int port_ = 0;
};

TEST_CASE("pool: survives a PostgreSQL restart without being recreated") {
    own_server server;
    run_async([&]() -> asio::awaitable<void> {
        auto config = small_config(3);
        config.health_check_interval = 0ms; // nothing but the borrowers touches the pool
        auto pool = pg_pool::create(co_await asio::this_coro::executor, server.options(), config,
                                    "restart");
        std::set<std::int32_t> before;
        {
            std::vector<pooled_connection> held;
            for (int i = 0; i < 3; ++i) {
                held.push_back(co_await must_acquire(*pool));
                before.insert(held.back()->backend_pid());
            }
        }
        REQUIRE(before.size() == 3);
        REQUIRE(pool->stats().idle == 3);
        server.restart(); // fast shutdown: every backend gets FATAL 57P01, then a new start
        // Every borrower after the restart gets a working connection on the first try.
        std::vector<pooled_connection> held;
        for (int i = 0; i < 3; ++i) {
            held.push_back(co_await must_acquire(*pool));
            CHECK(before.count(held.back()->backend_pid()) == 0);
            CHECK(co_await scalar(*held.back(), "SELECT 1") == "1");
        }
        held.clear();
        const auto st = pool->stats();
        CHECK(st.destroyed_broken + st.destroyed_health == 3);
        co_await pool->close();
    });
}

TEST_CASE("pool: a backend terminated while idle is skipped at acquire without a round trip") {
    for (const auto* server : env().servers()) {
        INFO(server->name);
        run_async([&]() -> asio::awaitable<void> {
            auto config = small_config(1);
            config.health_check_interval = 0ms;
            auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                        options_for(*server, env().scram), config, "dead");
            auto a = co_await admin(*server);
            std::int32_t first = 0;
            std::uint64_t writes = 0;
            {
                auto c = co_await must_acquire(*pool);
                first = c->backend_pid();
            }
            const auto released = std::chrono::steady_clock::now();
            co_await exec(*a, "SELECT pg_terminate_backend(" + std::to_string(first) + ")");
            CHECK(co_await eventually([&] { return backend_gone(*a, first); }, 10s));
            // The pool asks only a connection idle for 10 ms or more whether its server
            // hung up (detail::hangup_check_idle): make sure this one has been.
            asio::steady_timer idle(co_await asio::this_coro::executor,
                                    released + std::chrono::milliseconds(20));
            co_await idle.async_wait(asio::use_awaitable);
            // The server said FATAL and closed: acquire sees it on the socket (poll, no
            // query) and hands out a new connection whose first query works.
            auto c = co_await must_acquire(*pool);
            CHECK(c->backend_pid() != first);
            writes = c->writes();
            CHECK(co_await scalar(*c, "SELECT 1") == "1");
            CHECK(c->writes() == writes + 1);
            c.release();
            CHECK(pool->stats().destroyed_broken == 1);
            CHECK(pool->stats().destroyed_health == 0);
            co_await a->close();
            co_await pool->close();
        });
    }
}

TEST_CASE("pool: the reset and binding cost no extra round trip") {
    for (const auto* server : env().servers()) {
        INFO(server->name);
        run_async([&]() -> asio::awaitable<void> {
            auto config = small_config(1);
            config.health_check_interval = 0ms;
            auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                        options_for(*server, env().scram), config, "writes");
            {
                auto c = co_await must_acquire(*pool);
                co_await exec(*c, "SET work_mem = '5MB'");
            }
            const auto resets_before = pool->stats().resets;
            {
                auto c = co_await must_acquire(*pool, binding{"t-writes", "u-writes", false});
                CHECK(pool->stats().resets == resets_before + 1); // it was dirty
                const auto w0 = c->writes();
                auto r = co_await c->simple_query("SELECT current_setting('work_mem'), "
                                                  "current_setting('app.current_tenant_id'), "
                                                  "current_setting('app.current_user_id')");
                REQUIRE(r.has_value());
                CHECK(c->writes() == w0 + 1);
                const auto row = r->back()[0];
                CHECK(row.raw(0) == std::optional<std::string_view>("4MB"));
                CHECK(row.raw(1) == std::optional<std::string_view>("t-writes"));
                CHECK(row.raw(2) == std::optional<std::string_view>("u-writes"));
                co_await exec(*c, "SET work_mem = '6MB'");
            }
            {
                // The same through the extended protocol, with a transaction-local binding.
                auto c = co_await must_acquire(*pool, binding{"t-ext", std::nullopt, true});
                const auto w0 = c->writes();
                const std::vector<client::param> p{client::to_param("app.current_tenant_id")};
                auto r = co_await c->query("SELECT current_setting($1)", p);
                REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
                CHECK(c->writes() == w0 + 1);
                CHECK((*r)[0].raw(0) == std::optional<std::string_view>("t-ext"));
                CHECK(c->transaction() == client::transaction_state::in_transaction);
            }
            co_await pool->close();
        });
    }
}

TEST_CASE("pool: a borrower's settings ride with the binding and are not resent while in place") {
    for (const auto* server : env().servers()) {
        INFO(server->name);
        run_async([&]() -> asio::awaitable<void> {
            const auto wanted = [] {
                return std::make_shared<const settings_list>(
                    settings_list{{"application_name", "settings-app"},
                                  {"work_mem", "7MB"},
                                  // Named like the tenant setting: the binding's tenant must win.
                                  {"app.current_tenant_id", "not-mine"}});
            };
            const auto read = [](connection& c) -> asio::awaitable<std::string> {
                co_return co_await scalar(c, "SELECT current_setting('application_name') || ' ' || "
                                             "current_setting('work_mem') || ' ' || "
                                             "current_setting('app.current_tenant_id', true)");
            };
            // reset: none keeps what a borrow set; an equal list is then not sent again.
            auto config = small_config(1);
            config.health_check_interval = 0ms;
            config.reset = reset_policy::none;
            auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                        options_for(*server, env().scram), config, "settings");
            binding b{"t-set", std::nullopt, false};
            b.settings = wanted();
            {
                auto c = co_await must_acquire(*pool, b);
                CHECK(c->has_preamble());
                CHECK(co_await read(*c) == "settings-app 7MB t-set");
            }
            b.settings = wanted(); // equal, not the same object
            {
                auto c = co_await must_acquire(*pool, b);
                // Only the tenant binding is sent again: one set_config statement, two
                // parameters for the tenant setting, none of the three settings.
                std::string sent;
                CHECK(c->take_preamble(sent) == 1);
                CHECK(sent.find("settings-app") == std::string::npos);
                CHECK(sent.find("t-set") != std::string::npos);
                CHECK(co_await read(*c) == "settings-app 7MB t-set");
                co_await exec(*c, "SET work_mem = '9MB'");
                c.settings_changed(); // what a proxy does when its client ran SET
            }
            {
                auto c = co_await must_acquire(*pool, b);
                CHECK(co_await read(*c) == "settings-app 7MB t-set");
            }
            co_await pool->close();

            // reset: smart resets every dirty connection, so the settings go again, in the
            // same Sync as the reset (one ReadyForQuery for both).
            config.reset = reset_policy::smart;
            auto smart = pg_pool::create(co_await asio::this_coro::executor,
                                         options_for(*server, env().scram), config, "settings2");
            {
                auto c = co_await must_acquire(*smart, b);
                co_await exec(*c, "SET work_mem = '9MB'");
            }
            {
                auto c = co_await must_acquire(*smart, b);
                std::string sent;
                CHECK(c->take_preamble(sent) == 1);
                CHECK(sent.find("RESET ALL") != std::string::npos);
                CHECK(sent.find("pg_advisory_unlock_all(), pg_catalog.set_config") !=
                      std::string::npos);
                CHECK(sent.find("settings-app") != std::string::npos);
                CHECK(sent.find("DISCARD ALL") == std::string::npos);
                // Taken but never sent: the statements it prepares are not on the server.
                c.discard();
            }
            for (int i = 0; i < 3; ++i) {
                {
                    auto c = co_await must_acquire(*smart, b);
                    co_await exec(*c, "SET work_mem = '9MB'; SET application_name = 'other'");
                }
                // The reset and the settings through the driver's own path, twice with the
                // reset's statements prepared before.
                auto c = co_await must_acquire(*smart, b);
                CHECK(co_await read(*c) == "settings-app 7MB t-set");
                if (i == 2) {
                    // A DISCARD ALL and a binding as one pipeline with one Sync.
                    c->forget_prepared_statements();
                    c->set_preamble({{"DISCARD ALL", {}, true},
                                     {"SELECT pg_catalog.set_config($1, $2, false)",
                                      {client::to_param("work_mem"), client::to_param("5MB")}}});
                    CHECK(co_await scalar(*c, "SELECT current_setting('work_mem')") == "5MB");
                }
            }
            // The same binding object with another tenant, then other settings: the steps
            // the pool built for it before are not reused.
            b.tenant = "t-other";
            {
                auto c = co_await must_acquire(*smart, b);
                CHECK(co_await read(*c) == "settings-app 7MB t-other");
            }
            b.settings = std::make_shared<const settings_list>(
                settings_list{{"application_name", "settings-app2"}, {"work_mem", "6MB"}});
            {
                auto c = co_await must_acquire(*smart, b);
                CHECK(co_await read(*c) == "settings-app2 6MB t-other");
            }
            co_await smart->close();
        });
    }
}

TEST_CASE("pool: a transaction-local binding is committed at release and does not leak") {
    for (const auto* server : env().servers()) {
        INFO(server->name);
        run_async([&]() -> asio::awaitable<void> {
            const std::string table = unique_name("qail_pool_commit");
            auto a = co_await admin(*server);
            co_await exec(*a, "CREATE TABLE " + table + " (tenant text)");
            co_await exec(*a, "GRANT ALL ON " + table + " TO " + env().scram.user);
            auto config = small_config(1);
            auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                        options_for(*server, env().scram), config, "txn");
            {
                auto c = co_await must_acquire(*pool, binding{"t-commit", std::nullopt, true});
                co_await exec(*c, "INSERT INTO " + table +
                                      " SELECT current_setting('app.current_tenant_id', true)");
                CHECK(c->transaction() == client::transaction_state::in_transaction);
            }
            // Committed in the background right after release, not when next borrowed.
            CHECK(co_await eventually(
                [&]() -> asio::awaitable<bool> {
                    co_return co_await scalar(*a, "SELECT count(*) FROM " + table +
                                                      " WHERE tenant = 't-commit'") == "1";
                },
                10s));
            {
                auto c = co_await must_acquire(*pool, binding{"t-fail", std::nullopt, true});
                co_await exec(*c, "INSERT INTO " + table + " VALUES ('must roll back')");
                (void)co_await c->simple_query("SELECT 1/0");
                CHECK(c->transaction() == client::transaction_state::failed);
            }
            {
                auto c = co_await must_acquire(*pool);
                CHECK(c->transaction() == client::transaction_state::idle);
                const auto tenant =
                    co_await column(*c, "SELECT current_setting('app.current_tenant_id', true)");
                REQUIRE(tenant.size() == 1);
                CHECK((!tenant[0] || tenant[0]->empty()));
                CHECK(co_await scalar(*c, "SELECT count(*) FROM " + table) == "1");
            }
            CHECK(pool->stats().destroyed_reset_failed == 0);
            co_await pool->close();
            co_await exec(*a, "DROP TABLE " + table);
            co_await a->close();
        });
    }
}

TEST_CASE("pool: discard_all drops the driver's statements and the driver heals") {
    // With a transaction-local binding the borrower runs inside a transaction, where a
    // lost statement (26000) could not be retried: the pool empties the driver's cache
    // when it queues DISCARD ALL, so the statement is prepared again either way.
    for (const auto* server : env().servers()) {
        for (const bool local : {false, true}) {
            INFO(server->name, local ? " transaction-local binding" : " session binding");
            run_async([&]() -> asio::awaitable<void> {
                auto config = small_config(1);
                config.reset = reset_policy::discard_all;
                config.health_check_interval = 0ms;
                auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                            options_for(*server, env().scram), config, "discard");
                for (int i = 0; i < 3; ++i) {
                    auto c =
                        co_await must_acquire(*pool, binding{"t" + std::to_string(i), {}, local});
                    auto r = co_await c->execute("SELECT $1::int + 1, "
                                                 "current_setting('app.current_tenant_id')",
                                                 std::int32_t{i});
                    REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
                    CHECK((*r)[0].as<std::int32_t>(0) == i + 1);
                    CHECK((*r)[0].as<std::string>(1) == "t" + std::to_string(i));
                    // Its own statement and the binding's (kept prepared, re-prepared
                    // after each DISCARD ALL).
                    CHECK(c->cached_statements() == 2);
                    if (local) {
                        CHECK(c->transaction() == client::transaction_state::in_transaction);
                    } else {
                        co_await exec(*c, "SET work_mem = '9MB'; PREPARE mine AS SELECT 1");
                        CHECK(co_await scalar(*c, "SELECT count(*) FROM pg_prepared_statements "
                                                  "WHERE from_sql") == "1");
                    }
                }
                const auto s = pool->stats();
                CHECK(s.created == 1);
                CHECK(s.destroyed_broken == 0);
                co_await pool->close();
            });
        }
    }
}

TEST_CASE("pool: smart reset keeps prepared statements, and SQL-level PREPARE makes it "
          "DISCARD ALL") {
    for (const auto* server : env().servers()) {
        INFO(server->name);
        run_async([&]() -> asio::awaitable<void> {
            auto config = small_config(1);
            config.health_check_interval = 0ms;
            auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                        options_for(*server, env().scram), config, "smart");
            const auto protocol_statements = [](connection& c) -> asio::awaitable<std::string> {
                co_return co_await scalar(
                    c, "SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql");
            };
            std::uint64_t forgotten = 0;
            std::string backend_statements;
            for (int i = 0; i < 3; ++i) {
                auto c = co_await must_acquire(
                    *pool, binding{"t" + std::to_string(i), std::nullopt, false});
                auto r = co_await c->execute("SELECT $1::int", std::int32_t{i});
                REQUIRE(r.has_value());
                // Each borrow after the first was reset (the driver's SELECT made it
                // dirty), by statements kept prepared: nothing was dropped, nothing new
                // prepared after the second borrow (the first prepares the reset).
                CHECK(co_await scalar(*c, "SELECT current_setting('app.current_tenant_id')") ==
                      "t" + std::to_string(i));
                CHECK_FALSE(c->statements_unknown());
                const auto n = co_await protocol_statements(*c);
                CHECK(n == std::to_string(c->cached_statements()));
                if (i == 0) {
                    forgotten = c->statements_forgotten();
                } else {
                    CHECK(c->statements_forgotten() == forgotten);
                    if (i == 2)
                        CHECK(n == backend_statements);
                    backend_statements = n;
                }
            }
            CHECK(pool->stats().resets >= 2);
            {
                auto c = co_await must_acquire(*pool);
                co_await exec(*c, "SET work_mem = '7MB'");
                co_await exec(*c, "PREPARE mine AS SELECT 1");
                CHECK(c->statements_unknown());
            }
            {
                // A borrower that sends nothing: the DISCARD ALL queued for it is not sent,
                // and must still be owed to the next one.
                auto c = co_await must_acquire(*pool);
            }
            {
                // The next borrower gets DISCARD ALL: the SQL-level statement is gone, and
                // so are the driver's, which it has forgotten (and prepares again).
                auto c = co_await must_acquire(*pool);
                CHECK(co_await scalar(*c, "SELECT count(*) FROM pg_prepared_statements") ==
                      std::to_string(c->cached_statements()));
                CHECK(c->statements_forgotten() >= forgotten + 1);
                CHECK_FALSE(c->statements_unknown());
                CHECK(co_await scalar(*c, "SHOW work_mem") == "4MB");
                auto r = co_await c->execute("SELECT $1::int", std::int32_t{9});
                REQUIRE(r.has_value());
            }
            co_await pool->close();
        });
    }
}

TEST_CASE("pool: acquire_into hands over the connection, or the error, through its arguments") {
    for (const auto* server : env().servers()) {
        INFO(server->name);
        run_async([&]() -> asio::awaitable<void> {
            auto config = small_config(1);
            config.acquire_timeout = 300ms;
            auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                        options_for(*server, env().scram), config, "intodb");
            const binding b{"tenant_into"};
            std::optional<pooled_connection> out;
            client::error failure;
            co_await pool->acquire_into(b, out, failure);
            REQUIRE(out.has_value());
            CHECK_FALSE(failure.code);
            CHECK(b.preambles != nullptr); // the caller's binding keeps the preamble cache
            CHECK(co_await scalar(**out, "SELECT current_setting('app.current_tenant_id')") ==
                  "tenant_into");

            // The only connection is out: the next one waits, then times out.
            std::optional<pooled_connection> second;
            co_await pool->acquire_into(b, second, failure);
            CHECK_FALSE(second.has_value());
            CHECK(failure.code == make_error_code(pool_errc::acquire_timeout));
            CHECK(failure.sqlstate() == "53300");
            CHECK(failure.message().find("waiting for a connection from pool intodb "
                                         "(max_size 1, all in use)") != std::string::npos);

            // Given back, it is handed to a waiter.
            out.reset();
            failure = {};
            co_await pool->acquire_into(b, second, failure);
            CHECK(second.has_value());
            CHECK_FALSE(failure.code);
            co_await pool->close(1s);
        });
    }
}

TEST_CASE("pool: a kept wait_slot serves wait after wait, timeouts included") {
    run_async([&]() -> asio::awaitable<void> {
        auto pool = co_await pool_of_one("slotdb", 300ms);
        auto ex = co_await asio::this_coro::executor;
        const binding b{};
        wait_slot slot;
        client::error failure;
        std::optional<pooled_connection> held;
        co_await pool->acquire_into(b, held, failure, &slot);
        REQUIRE(held.has_value());
        const auto give_back_when_waited_for = [&]() -> asio::awaitable<void> {
            CHECK(co_await eventually(
                [&]() -> asio::awaitable<bool> { co_return pool->stats().waiting == 1; }, 5s));
            held.reset();
        };
        for (int round = 0; round < 4; ++round) {
            INFO("round ", round);
            // Every other round, the wait first times out with the same slot.
            // The kept timer was armed by an earlier wait: it must not end this one
            // early, nor leave it waiting much longer.
            if (round % 2 == 1) {
                std::optional<pooled_connection> none;
                failure = {};
                const auto began = std::chrono::steady_clock::now();
                co_await pool->acquire_into(b, none, failure, &slot);
                const auto took = std::chrono::steady_clock::now() - began;
                CHECK_FALSE(none.has_value());
                CHECK(failure.code == make_error_code(pool_errc::acquire_timeout));
                CHECK(took >= 300ms);
                CHECK(took < 1500ms);
            }
            asio::co_spawn(ex, give_back_when_waited_for(), report_failure);
            std::optional<pooled_connection> next;
            failure = {};
            co_await pool->acquire_into(b, next, failure, &slot);
            REQUIRE(next.has_value());
            CHECK_FALSE(failure.code);
            CHECK(co_await scalar(**next, "SELECT 1") == "1");
            held = std::move(next);
        }
        const auto s = pool->stats();
        CHECK(s.waiting == 0);
        CHECK(s.acquire_timeouts == 2);
        held.reset();
        co_await pool->close(1s);
    });
}

namespace {
asio::awaitable<void> wait_holding(std::shared_ptr<pg_pool> pool, std::shared_ptr<int> sentinel) {
    auto r = co_await pool->acquire();
    (void)r;
    (void)sentinel;
}
} // namespace

namespace {
asio::awaitable<void> wait_with_a_slot(std::shared_ptr<pg_pool> pool, bool& served) {
    wait_slot slot;
    std::optional<pooled_connection> out;
    client::error failure;
    const binding b{};
    co_await pool->acquire_into(b, out, failure, &slot);
    served = out.has_value();
} // the slot goes here, its waiter's timer armed for a minute
} // namespace

TEST_CASE("pool: a destroyed wait_slot leaves no timer behind") {
    run_async([&]() -> asio::awaitable<void> {
        auto pool = co_await pool_of_one("slotgone", 60s);
        auto held = co_await must_acquire(*pool);
        asio::io_context other;
        bool served = false;
        start_waiting_on(other, wait_with_a_slot(pool, served), *pool);
        held.release(); // hands the connection to the waiter on `other`
        const auto began = std::chrono::steady_clock::now();
        (void)other.run_for(10s);
        // It ran out of work (the waiter's timer went with the slot), not out of time.
        CHECK(served);
        CHECK(other.stopped());
        CHECK(std::chrono::steady_clock::now() - began < 5s);
        co_await pool->close(1s);
    });
}

TEST_CASE("pool: a release on the waiter's own thread resumes it inline, one level deep") {
    // The next borrower runs inside the release (it sends its query at once, no trip
    // through the scheduler's queue); a borrower woken from inside such a run is posted,
    // so a chain of releases never nests.
    run_async([&]() -> asio::awaitable<void> {
        auto pool = co_await pool_of_one("inline", 60s);
        auto ex = co_await asio::this_coro::executor;
        auto held = co_await must_acquire(*pool);
        bool second_got = false;
        bool third_got = false;
        bool third_got_inside_second = false;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                auto conn = co_await must_acquire(*pool);
                second_got = true;
                conn.release(); // wakes the third borrower
                third_got_inside_second = third_got;
            },
            report_failure);
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                auto conn = co_await must_acquire(*pool);
                third_got = true;
            },
            report_failure);
        CHECK(co_await eventually(
            [&]() -> asio::awaitable<bool> { co_return pool->stats().waiting == 2; }, 5s));
        held.release();
        CHECK(second_got);      // ran inside release()
        CHECK_FALSE(third_got); // not inside the second's release, nor here
        CHECK(co_await eventually([&]() -> asio::awaitable<bool> { co_return third_got; }, 5s));
        CHECK_FALSE(third_got_inside_second);
        co_await pool->close(1s);
    });
}

TEST_CASE("pool: an acquire waiting when its io_context is destroyed is destroyed with it") {
    run_async([&]() -> asio::awaitable<void> {
        auto pool = co_await pool_of_one("dyingctx", 60s);
        auto held = co_await must_acquire(*pool);
        park_then_destroy(
            *pool,
            [&](wait_slot&, std::shared_ptr<int> sentinel) {
                return wait_holding(pool, std::move(sentinel));
            },
            [] {});
        CHECK(pool->stats().waiting == 0); // it left the queue
        held.release();
        auto again = co_await must_acquire(*pool);
        CHECK(co_await scalar(*again, "SELECT 1") == "1");
        again.release();
        co_await pool->close(1s);
    });
}

namespace {
/// What a run_wait() came to: the outcome that ended it, and how often it parked.
struct wait_result {
    pending_wait::outcome got = pending_wait::outcome::again;
    int parks = 0;
};

/// A caller's side of pending_wait, as a proxy session runs it: parks until finish()
/// says the wait is over.
asio::awaitable<wait_result> run_wait(pending_wait& w, const binding& b,
                                      std::optional<pooled_connection>& out,
                                      client::error& failure) {
    wait_result r;
    while (r.got == pending_wait::outcome::again) {
        co_await w.park(asio::deferred);
        ++r.parks;
        r.got = w.finish(b, out, failure);
    }
    co_return r;
}

asio::awaitable<void> wait_queued(std::shared_ptr<pg_pool> pool, wait_slot& slot,
                                  std::shared_ptr<int> sentinel) {
    auto w = pool->start_wait(co_await asio::this_coro::executor, slot);
    REQUIRE(w.has_value());
    std::optional<pooled_connection> out;
    client::error failure;
    (void)co_await run_wait(*w, binding{}, out, failure);
    (void)sentinel;
}
} // namespace

TEST_CASE("pool: a pending_wait queues only where acquire_into would wait") {
    run_async([&]() -> asio::awaitable<void> {
        auto pool = co_await pool_of_one("pendingwhen", 300ms);
        auto ex = co_await asio::this_coro::executor;
        wait_slot slot;
        CHECK_FALSE(pool->start_wait(ex, slot).has_value()); // room to connect
        auto held = co_await must_acquire(*pool);
        held.release();
        CHECK(pool->stats().idle == 1);
        CHECK_FALSE(pool->start_wait(ex, slot).has_value()); // an idle connection
        held = co_await must_acquire(*pool);
        {
            auto w = pool->start_wait(ex, slot); // full: queued
            REQUIRE(w.has_value());
            CHECK(pool->stats().waiting == 1);
        } // destroyed unparked: it leaves the queue
        CHECK(pool->stats().waiting == 0);
        held.release();
        co_await pool->close(1s);
        CHECK_FALSE(pool->start_wait(ex, slot).has_value()); // closed

        auto config = small_config(1);
        config.test_on_acquire = true;
        auto tested = pg_pool::create(ex, options_for(env().pg15, env().scram), config, "tested");
        auto t = co_await must_acquire(*tested);
        CHECK_FALSE(tested->start_wait(ex, slot).has_value()); // a ping first: acquire_into
        t.release();
        co_await tested->close(1s);
    });
}

TEST_CASE("pool: a pending_wait is handed the connection given back, or times out") {
    for (const auto* server : env().servers()) {
        INFO(server->name);
        run_async([&]() -> asio::awaitable<void> {
            auto config = small_config(1);
            config.acquire_timeout = 300ms;
            auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                        options_for(*server, env().scram), config, "pendingdb");
            auto ex = co_await asio::this_coro::executor;
            const binding b{"tenant_pending"};
            wait_slot slot;
            auto held = co_await must_acquire(*pool);
            for (int round = 0; round < 3; ++round) {
                INFO("round ", round);
                // Timed out: the error acquire_into() gives, not early, not much later.
                std::optional<pooled_connection> none;
                client::error failure;
                const auto began = std::chrono::steady_clock::now();
                auto w = pool->start_wait(ex, slot);
                REQUIRE(w.has_value());
                const auto timed_out = co_await run_wait(*w, b, none, failure);
                const auto took = std::chrono::steady_clock::now() - began;
                CHECK(timed_out.got == pending_wait::outcome::done);
                CHECK(timed_out.parks >= 1);
                CHECK_FALSE(none.has_value());
                CHECK(failure.code == make_error_code(pool_errc::acquire_timeout));
                CHECK(failure.sqlstate() == "53300");
                CHECK(failure.message().find("waiting for a connection from pool pendingdb "
                                             "(max_size 1, all in use)") != std::string::npos);
                CHECK(took >= 300ms);
                CHECK(took < 1500ms);
                CHECK(pool->stats().waiting == 0);

                // Handed over: the connection given back, with this borrower's binding.
                asio::co_spawn(
                    ex,
                    [&]() -> asio::awaitable<void> {
                        CHECK(co_await eventually(
                            [&]() -> asio::awaitable<bool> {
                                co_return pool->stats().waiting == 1;
                            },
                            5s));
                        held.release();
                    },
                    report_failure);
                std::optional<pooled_connection> out;
                failure = {};
                auto next = pool->start_wait(ex, slot);
                REQUIRE(next.has_value());
                const auto handed = co_await run_wait(*next, b, out, failure);
                CHECK(handed.got == pending_wait::outcome::done);
                CHECK(handed.parks == 1);
                REQUIRE(out.has_value());
                CHECK_FALSE(failure.code);
                CHECK(co_await scalar(**out, "SELECT current_setting('app.current_tenant_id')") ==
                      "tenant_pending");
                held = std::move(*out);
            }
            const auto s = pool->stats();
            CHECK(s.waiting == 0);
            CHECK(s.acquire_timeouts == 3);
            CHECK(s.in_use == 1);
            held.release();
            co_await pool->close(1s);
        });
    }
}

TEST_CASE("pool: a pending_wait destroyed while parked leaves the queue or gives back") {
    // Its coroutine is destroyed with its io_context, parked (the slot, declared after
    // the context, goes first).
    run_async([&]() -> asio::awaitable<void> {
        auto pool = co_await pool_of_one("pendinggone", 60s);
        auto held = co_await must_acquire(*pool);
        const auto queued = [&](wait_slot& slot, std::shared_ptr<int> sentinel) {
            return wait_queued(pool, slot, std::move(sentinel));
        };
        // Still queued: it leaves the queue.
        park_then_destroy(*pool, queued, [] {});
        CHECK(pool->stats().waiting == 0);
        // Handed the connection but not run yet: the connection goes back to the pool.
        park_then_destroy(*pool, queued, [&] {
            held.release(); // handed to the waiter on the other context, which does not run
            CHECK(pool->stats().waiting == 0);
            CHECK(pool->stats().in_use == 1);
        });
        CHECK(pool->stats().in_use == 0);
        auto again = co_await must_acquire(*pool);
        CHECK(co_await scalar(*again, "SELECT 1") == "1");
        again.release();
        co_await pool->close(1s);
    });
}

TEST_CASE("pool: a pending_wait given room to connect says so, and close ends one") {
    run_async([&]() -> asio::awaitable<void> {
        auto pool = co_await pool_of_one("pendingpermit", 60s);
        auto ex = co_await asio::this_coro::executor;
        wait_slot slot;
        auto held = co_await must_acquire(*pool);
        // The borrowed connection is discarded: its slot is the waiter's, to connect.
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                CHECK(co_await eventually(
                    [&]() -> asio::awaitable<bool> { co_return pool->stats().waiting == 1; }, 5s));
                held.discard();
            },
            report_failure);
        std::optional<pooled_connection> out;
        client::error failure;
        auto w = pool->start_wait(ex, slot);
        REQUIRE(w.has_value());
        const auto given = co_await run_wait(*w, binding{}, out, failure);
        CHECK(given.got == pending_wait::outcome::connect);
        CHECK(given.parks == 1);
        CHECK_FALSE(out.has_value());
        CHECK_FALSE(failure.code);
        CHECK(pool->stats().connecting == 0); // the permit went back with the answer
        co_await pool->acquire_into(binding{}, out, failure, &slot); // which connects
        REQUIRE(out.has_value());
        CHECK(co_await scalar(**out, "SELECT 1") == "1");

        // Closed while it waits: the pool's closing error. close() ends the wait at once,
        // then waits for the borrowed connection, given back after the wait ended; the
        // test ends only once close() has (its coroutine uses this frame's locals).
        auto closer = pool->start_wait(ex, slot);
        REQUIRE(closer.has_value());
        bool close_done = false;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                CHECK(co_await eventually(
                    [&]() -> asio::awaitable<bool> { co_return pool->stats().waiting == 1; }, 5s));
                co_await pool->close(5s);
                close_done = true;
            },
            report_failure);
        std::optional<pooled_connection> none;
        client::error closed;
        const auto ended = co_await run_wait(*closer, binding{}, none, closed);
        CHECK(ended.got == pending_wait::outcome::done);
        CHECK_FALSE(none.has_value());
        CHECK(closed.code == make_error_code(pool_errc::pool_closed));
        CHECK(closed.sqlstate() == "57P01");
        CHECK_FALSE(close_done); // still waiting for `out`
        out.reset();
        CHECK(co_await eventually([&]() -> asio::awaitable<bool> { co_return close_done; }, 5s));
    });
}

TEST_CASE("pool: close wakes waiters and refuses new borrowers") {
    run_async([&]() -> asio::awaitable<void> {
        const auto& server = env().pg18;
        auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                    options_for(server, env().scram), small_config(1), "closing");
        auto held = co_await must_acquire(*pool);
        auto ex = co_await asio::this_coro::executor;
        std::optional<client::error> waiter_error;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                auto r = co_await pool->acquire();
                REQUIRE_FALSE(r.has_value());
                waiter_error = r.error();
            },
            report_failure);
        CHECK(co_await eventually(
            [&]() -> asio::awaitable<bool> { co_return pool->stats().waiting == 1; }, 5s));
        // close() waits for `held`; return it from another coroutine shortly after.
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                CHECK(co_await eventually(
                    [&]() -> asio::awaitable<bool> { co_return waiter_error.has_value(); }, 5s));
                held.release();
            },
            report_failure);
        co_await pool->close(10s);
        REQUIRE(waiter_error.has_value());
        CHECK(waiter_error->code == pool_errc::pool_closed);
        auto r = co_await pool->acquire();
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == pool_errc::pool_closed);
        const auto s = pool->stats();
        CHECK(s.in_use == 0);
        CHECK(s.idle == 0);
    });
}

TEST_CASE("pool: connect failures are reported with the pool's name") {
    run_async([&]() -> asio::awaitable<void> {
        auto options = options_for(env().pg18, env().scram);
        options.password = "wrong";
        auto pool = pg_pool::create(co_await asio::this_coro::executor, options, small_config(1),
                                    "badpass");
        auto r = co_await pool->acquire();
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == pool_errc::connect_failed);
        CHECK(r.error().sqlstate() == "28P01");
        CHECK(r.error().message().find("pool badpass could not connect") != std::string::npos);
        CHECK(r.error().message().find("wrong") == std::string::npos); // password redacted
        const auto s = pool->stats();
        CHECK(s.connecting == 0);
        CHECK(s.in_use == 0);
        co_await pool->close();
    });
}

TEST_CASE("pool: maintenance refills to min_size and closes idle connections") {
    run_async([&]() -> asio::awaitable<void> {
        auto config = small_config(4);
        config.min_size = 2;
        config.idle_timeout = 200ms;
        config.health_check_interval = 0ms;
        auto pool = pg_pool::create(co_await asio::this_coro::executor,
                                    options_for(env().pg15, env().scram), config, "refill");
        CHECK(co_await eventually(
            [&]() -> asio::awaitable<bool> { co_return pool->stats().idle == 2; }, 10s));
        {
            std::vector<pooled_connection> held;
            for (int i = 0; i < 4; ++i)
                held.push_back(co_await must_acquire(*pool));
        }
        CHECK(pool->stats().idle == 4);
        // Two go after idle_timeout; min_size stay.
        CHECK(co_await eventually(
            [&]() -> asio::awaitable<bool> {
                const auto s = pool->stats();
                co_return s.idle == 2 && s.destroyed_idle == 2;
            },
            10s));
        pool->resize(1, 1);
        const auto s = pool->stats();
        CHECK(s.idle == 1);
        CHECK(pool->config().max_size == 1);
        co_await pool->close();
    });
}

TEST_CASE("pool: its connections derive the SCRAM keys once") {
    run_async([&]() -> asio::awaitable<void> {
        const auto& server = env().pg15;
        auto options = options_for(server, env().scram);
        const auto memo = std::make_shared<client::scram_key_memo>();
        options.scram_memo = memo;
        auto pool =
            pg_pool::create(co_await asio::this_coro::executor, options, small_config(3), "memo");
        auto a = co_await must_acquire(*pool);
        auto b = co_await must_acquire(*pool);
        auto c = co_await must_acquire(*pool);
        CHECK(co_await scalar(*c, "SELECT 3") == "3");
        CHECK(pool->stats().in_use == 3);
        CHECK(memo->derivations() == 1);
        a.release();
        b.release();
        c.release();
        co_await pool->close(1s);
    });
}

TEST_CASE("pool: four threads with their own io_context share a pool of 3") {
    const auto& server = env().pg18;
    asio::io_context maintenance;
    auto maintenance_guard = asio::make_work_guard(maintenance);
    std::thread maintenance_thread([&] { maintenance.run(); });

    auto config = small_config(3);
    config.acquire_timeout = 30s;
    auto pool =
        pg_pool::create(maintenance.get_executor(), options_for(server, env().scram), config, "mt");

    constexpr int threads = 4;
    constexpr int rounds = 200;
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> workers;
    std::vector<std::future<void>> finished;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t) {
        contexts.push_back(std::make_unique<asio::io_context>());
        // Every context keeps running until the pool is closed: connections created on
        // one are used from the others.
        guards.push_back(asio::make_work_guard(*contexts.back()));
        auto done = std::make_shared<std::promise<void>>();
        finished.push_back(done->get_future());
        asio::co_spawn(
            *contexts.back(),
            [&pool, &failures, t]() -> asio::awaitable<void> {
                for (int i = 0; i < rounds; ++i) {
                    auto r = co_await pool->acquire(
                        binding{"thread-" + std::to_string(t), std::nullopt, (i % 5) == 0});
                    if (!r) {
                        ++failures;
                        continue;
                    }
                    auto q = co_await (*r)->simple_query(
                        "SELECT current_setting('app.current_tenant_id')");
                    if (!q || q->back()[0].raw(0) !=
                                  std::optional<std::string_view>("thread-" + std::to_string(t)))
                        ++failures;
                    if (i % 7 == 0)
                        (void)co_await (*r)->simple_query("SET work_mem = '8MB'");
                }
            },
            [done](std::exception_ptr e) {
                if (e)
                    done->set_exception(e);
                else
                    done->set_value();
            });
        workers.emplace_back([ctx = contexts.back().get()] { ctx->run(); });
    }
    bool all_finished = true;
    for (auto& f : finished) {
        if (f.wait_for(120s) != std::future_status::ready) {
            all_finished = false;
            break;
        }
        CHECK_NOTHROW(f.get());
    }
    CHECK_MESSAGE(all_finished, "deadlock: a worker did not finish within 120 s");

    if (all_finished) {
        const auto s = pool->stats();
        CHECK(failures.load() == 0);
        CHECK(s.acquires == static_cast<std::uint64_t>(threads * rounds));
        CHECK(s.waiting == 0);
        CHECK(s.connecting == 0);
        CHECK(s.created <= 3);
        CHECK(s.destroyed_broken == 0);
        std::promise<pool_stats> closed;
        auto closed_future = closed.get_future();
        asio::co_spawn(
            maintenance,
            [&]() -> asio::awaitable<void> {
                // Background commits of transaction-local borrows may still be running.
                co_await pool->close(10s);
                closed.set_value(pool->stats());
            },
            report_failure);
        REQUIRE(closed_future.wait_for(30s) == std::future_status::ready);
        const auto after = closed_future.get();
        CHECK(after.in_use == 0);
        CHECK(after.idle == 0);
    }
    pool.reset();
    for (auto& g : guards)
        g.reset();
    maintenance_guard.reset();
    if (!all_finished) {
        for (auto& c : contexts)
            c->stop();
        maintenance.stop();
    }
    for (auto& w : workers)
        w.join();
    maintenance_thread.join();
}

} // namespace qail::pool
