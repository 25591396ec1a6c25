// The driver's connection against real PostgreSQL 15 and 18 (and a fake server for
// protocol rejections): negotiation, every auth method, TLS modes, queries,
// pipelines, COPY, cancel and a killed backend.
#include "support/async.hpp"
#include "support/fake_server.hpp"
#include "support/pg_env.hpp"

#include <qail/client/connection.hpp>
#include <qail/client/scram_memo.hpp>

#include <doctest/doctest.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace qail::client {
namespace {

namespace asio = boost::asio;
namespace proto = qail::protocol;
using test::env;
using test::run_async;

connect_options options_for(const test::pg_server& server, const test::pg_credentials& who,
                            ssl_mode mode = ssl_mode::disable) {
    connect_options o;
    o.hosts = {host_spec{env().host, server.port, {}}};
    o.user = who.user;
    o.password = who.password;
    o.dbname = env().database;
    o.sslmode = mode;
    o.sslrootcert = env().ca_cert;
    o.connect_timeout = std::chrono::seconds(10);
    o.application_name = "qail-driver-test";
    return o;
}

asio::awaitable<std::unique_ptr<connection>> must_connect(connect_options o) {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await connection::connect(ex, std::move(o));
    REQUIRE_MESSAGE(c.has_value(), (c ? std::string{} : c.error().message()));
    co_return std::move(*c);
}

asio::awaitable<error> must_fail(connect_options o) {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await connection::connect(ex, std::move(o));
    REQUIRE_FALSE(c.has_value());
    co_return c.error();
}

asio::awaitable<std::string> scalar(connection& c, std::string_view sql) {
    auto r = co_await c.simple_query(sql);
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
    REQUIRE(r->size() >= 1);
    const auto& rs = r->back();
    REQUIRE(rs.size() == 1);
    co_return std::string(rs[0].raw(0).value_or("NULL"));
}

} // namespace

TEST_CASE("driver: protocol 3.2 with PostgreSQL 18, 3.0 via NegotiateProtocolVersion with 15") {
    run_async([]() -> asio::awaitable<void> {
        auto c18 = co_await must_connect(options_for(env().pg18, env().scram));
        CHECK(c18->protocol_version() == proto::request_code::protocol_3_2);
        CHECK(co_await scalar(*c18, "SELECT 1") == "1");
        auto c15 = co_await must_connect(options_for(env().pg15, env().scram));
        CHECK(c15->protocol_version() == proto::request_code::protocol_3_0);
        CHECK(co_await scalar(*c15, "SELECT 1") == "1");
        CHECK((co_await scalar(*c15, "SHOW server_version")).rfind("15.", 0) == 0);
    });
}

TEST_CASE("driver: a server rejecting 3.2 gets exactly one retry with 3.0") {
    test::fake_server server([](int fd, std::int32_t version) {
        if (version == proto::request_code::protocol_3_2) {
            test::fake_server::send_error(fd, "FATAL", "0A000",
                                          "unsupported frontend protocol 3.2: server supports "
                                          "3.0 to 3.0");
            return;
        }
        test::fake_server::send(fd, proto::authentication_request{proto::authentication_ok{}});
        test::fake_server::send(fd, proto::backend_key_data{7, "abcd"});
        test::fake_server::send(fd, proto::ready_for_query{});
        char buf[64];
        (void)test::recv_some(fd, buf); // Terminate
    });
    run_async([&]() -> asio::awaitable<void> {
        connect_options o;
        o.hosts = {host_spec{"127.0.0.1", server.port(), {}}};
        o.user = "u";
        o.sslmode = ssl_mode::disable;
        auto c = co_await must_connect(o);
        CHECK(c->protocol_version() == proto::request_code::protocol_3_0);
        co_await c->close();
    });
    CHECK(server.versions() == std::vector<std::int32_t>{proto::request_code::protocol_3_2,
                                                         proto::request_code::protocol_3_0});
}

TEST_CASE("driver: a second rejection is final, and 28P01 never triggers a retry") {
    test::fake_server always_reject([](int fd, std::int32_t) {
        test::fake_server::send_error(fd, "FATAL", "0A000", "unsupported frontend protocol");
    });
    test::fake_server bad_password([](int fd, std::int32_t) {
        test::fake_server::send_error(fd, "FATAL", "28P01", "password authentication failed");
    });
    run_async([&]() -> asio::awaitable<void> {
        connect_options o;
        o.user = "u";
        o.sslmode = ssl_mode::disable;
        o.hosts = {host_spec{"127.0.0.1", always_reject.port(), {}}};
        const error e1 = co_await must_fail(o);
        CHECK(e1.sqlstate() == "0A000");
        o.hosts = {host_spec{"127.0.0.1", bad_password.port(), {}}};
        const error e2 = co_await must_fail(o);
        CHECK(e2.sqlstate() == "28P01");
    });
    CHECK(always_reject.versions().size() == 2);
    CHECK(bad_password.versions().size() == 1);
}

TEST_CASE("driver: each auth method succeeds with the right password, 28P01 with a wrong one") {
    run_async([]() -> asio::awaitable<void> {
        struct method {
            const test::pg_credentials* who;
            auth_method expected;
        };
        const method methods[] = {{&env().scram, auth_method::scram_sha_256},
                                  {&env().md5, auth_method::md5},
                                  {&env().password, auth_method::cleartext}};
        for (const auto* server : env().servers()) {
            for (const method& m : methods) {
                CAPTURE(server->name);
                CAPTURE(m.who->user);
                auto c = co_await must_connect(options_for(*server, *m.who));
                CHECK(c->authentication() == m.expected);
                CHECK(co_await scalar(*c, "SELECT current_user") == m.who->user);
                auto wrong = options_for(*server, *m.who);
                wrong.password = "wrong-password";
                const error e = co_await must_fail(wrong);
                CHECK(e.sqlstate() == "28P01");
            }
        }
    });
}

TEST_CASE("driver: a scram-only policy refuses md5 and cleartext servers") {
    run_async([]() -> asio::awaitable<void> {
        for (const auto* who : {&env().md5, &env().password}) {
            auto o = options_for(env().pg18, *who);
            o.auth.allow_md5 = false;
            o.auth.allow_cleartext = false;
            const error e = co_await must_fail(o);
            CHECK(e.code == errc::auth_method_not_allowed);
        }
    });
}

TEST_CASE("driver: channel_binding=require fails without TLS, uses SCRAM-SHA-256-PLUS with TLS") {
    run_async([]() -> asio::awaitable<void> {
        for (const auto* server : env().servers()) {
            CAPTURE(server->name);
            auto plain = options_for(*server, env().scram, ssl_mode::disable);
            plain.channel_binding = channel_binding_mode::require;
            const error e = co_await must_fail(plain);
            CHECK(e.code == errc::channel_binding_required);

            auto tls = options_for(*server, env().scram, ssl_mode::verify_full);
            tls.hosts = {host_spec{"localhost", server->port, {}}};
            tls.channel_binding = channel_binding_mode::require;
            auto c = co_await must_connect(tls);
            CHECK(c->authentication() == auth_method::scram_sha_256_plus);
            CHECK(c->tls_version().rfind("TLSv1.", 0) == 0);
        }
    });
}

TEST_CASE("driver: the sslmode matrix") {
    run_async([]() -> asio::awaitable<void> {
        for (const auto* server : env().servers()) {
            CAPTURE(server->name);
            auto c = co_await must_connect(options_for(*server, env().scram, ssl_mode::disable));
            CHECK(c->tls_version() == "none");
            CHECK(co_await scalar(*c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") ==
                  "f");
            for (ssl_mode mode : {ssl_mode::prefer, ssl_mode::require, ssl_mode::verify_ca,
                                  ssl_mode::verify_full}) {
                auto o = options_for(*server, env().scram, mode);
                o.hosts = {host_spec{"localhost", server->port, {}}};
                auto t = co_await must_connect(o);
                CHECK(t->tls_version() != "none");
                CHECK(co_await scalar(*t, "SELECT ssl FROM pg_stat_ssl WHERE pid = "
                                          "pg_backend_pid()") == "t");
            }
            // verify-full accepts the IP literal in the certificate's SAN.
            auto ip = options_for(*server, env().scram, ssl_mode::verify_full);
            co_await must_connect(ip);

            // verify-ca with a CA that did not sign the server certificate fails.
            auto wrong_ca = options_for(*server, env().scram, ssl_mode::verify_ca);
            wrong_ca.sslrootcert = env().wrong_ca_cert;
            const error e1 = co_await must_fail(wrong_ca);
            CHECK(e1.code == errc::tls_certificate_untrusted);

            // verify-full with a host name the certificate does not list fails,
            // while verify-ca (no host check) accepts the same connection.
            auto wrong_host = options_for(*server, env().scram, ssl_mode::verify_full);
            wrong_host.hosts = {host_spec{"db.example.invalid", server->port, "127.0.0.1"}};
            const error e2 = co_await must_fail(wrong_host);
            CHECK(e2.code == errc::tls_host_name_mismatch);
            wrong_host.sslmode = ssl_mode::verify_ca;
            co_await must_connect(wrong_host);
        }
    });
}

TEST_CASE("driver: client-certificate login (cert in pg_hba)") {
    run_async([]() -> asio::awaitable<void> {
        for (const auto* server : env().servers()) {
            CAPTURE(server->name);
            auto o = options_for(*server, env().cert, ssl_mode::verify_full);
            o.hosts = {host_spec{"localhost", server->port, {}}};
            o.sslcert = env().client_cert;
            o.sslkey = env().client_key;
            auto c = co_await must_connect(o);
            CHECK(c->authentication() == auth_method::none);
            CHECK(co_await scalar(*c, "SELECT current_user") == env().cert.user);
            // Without the certificate the same user is refused.
            o.sslcert.clear();
            o.sslkey.clear();
            const error e = co_await must_fail(o);
            CHECK(e.code == errc::server_error);
        }
    });
}

TEST_CASE("driver: simple query with several result sets and an error") {
    run_async([]() -> asio::awaitable<void> {
        auto c = co_await must_connect(options_for(env().pg18, env().scram));
        auto r = co_await c->simple_query("SELECT 1 AS a, 'x' AS b; SELECT NULL::int; ");
        REQUIRE(r.has_value());
        REQUIRE(r->size() == 2);
        CHECK((*r)[0].columns().at(1).name == "b");
        CHECK((*r)[0][0].raw(1) == std::optional<std::string_view>{"x"});
        CHECK((*r)[1][0].is_null(0));
        CHECK((*r)[0].command_tag() == "SELECT 1");
        auto bad = co_await c->simple_query("SELECT 1/0");
        REQUIRE_FALSE(bad.has_value());
        CHECK(bad.error().sqlstate() == "22012");
        REQUIRE(bad.error().server.has_value());
        CHECK(bad.error().server->message == "division by zero");
        CHECK_FALSE(c->broken());
        CHECK(co_await scalar(*c, "SELECT 2") == "2");
        // Every ErrorResponse field reaches the caller.
        (void)co_await c->simple_query("CREATE TEMP TABLE t_fields (id int PRIMARY KEY)");
        (void)co_await c->simple_query("INSERT INTO t_fields VALUES (1)");
        auto dup = co_await c->simple_query("INSERT INTO t_fields VALUES (1)");
        REQUIRE_FALSE(dup.has_value());
        const auto dup_error = dup.error(); // by value: a reference into it would dangle
        const pg_error& pe = *dup_error.server;
        CHECK(pe.sqlstate == "23505");
        CHECK(pe.constraint_name == "t_fields_pkey");
        CHECK(pe.table_name == "t_fields");
        CHECK_FALSE(pe.detail.empty());
        CHECK_FALSE(pe.routine.empty());
    });
}

TEST_CASE("driver: extended query through the statement cache, with self-healing") {
    run_async([]() -> asio::awaitable<void> {
        auto c = co_await must_connect(options_for(env().pg18, env().scram));
        for (int i = 0; i < 3; ++i) {
            const param p = text_param(std::to_string(i), oid::int4);
            auto r = co_await c->query("SELECT $1::int + 1", std::span<const param>(&p, 1));
            REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
            CHECK((*r)[0].raw(0) == std::optional<std::string_view>{std::to_string(i + 1)});
        }
        CHECK(c->cached_statements() == 1);
        // The server forgets the statement (DEALLOCATE ALL): the cache heals once.
        (void)co_await c->simple_query("DEALLOCATE ALL");
        const param p = text_param("41", oid::int4);
        auto r = co_await c->query("SELECT $1::int + 1", std::span<const param>(&p, 1));
        REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
        CHECK((*r)[0].raw(0) == std::optional<std::string_view>{"42"});
        // A result type change after DDL ("cached plan must not change result type").
        (void)co_await c->simple_query("CREATE TEMP TABLE t_ddl (a int)");
        (void)co_await c->simple_query("INSERT INTO t_ddl VALUES (1)");
        auto before = co_await c->query("SELECT * FROM t_ddl");
        REQUIRE(before.has_value());
        (void)co_await c->simple_query("ALTER TABLE t_ddl ADD COLUMN b text DEFAULT 'x'");
        auto after = co_await c->query("SELECT * FROM t_ddl");
        REQUIRE_MESSAGE(after.has_value(), (after ? "" : after.error().message()));
        CHECK(after->columns().size() == 2);
    });
}

TEST_CASE(
    "driver: a pipeline of 1,000 inserts is one write, and a failure is reported at its index") {
    run_async([]() -> asio::awaitable<void> {
        auto c = co_await must_connect(options_for(env().pg18, env().scram));
        (void)co_await c->simple_query("CREATE TEMP TABLE t_pipe (id int PRIMARY KEY)");
        std::vector<pipeline_command> cmds;
        for (int i = 0; i < 1000; ++i)
            cmds.push_back({"INSERT INTO t_pipe VALUES ($1)", {text_param(std::to_string(i))}});
        const auto writes_before = c->writes();
        auto r = co_await c->pipeline(cmds, pipeline_mode::independent);
        REQUIRE(r.has_value());
        CHECK(c->writes() - writes_before == 1);
        REQUIRE(r->size() == 1000);
        for (const auto& one : *r)
            CHECK(one.has_value());
        CHECK(co_await scalar(*c, "SELECT count(*) FROM t_pipe") == "1000");

        // Atomic: the 3rd of 5 fails (duplicate key); earlier ones roll back, later are skipped.
        std::vector<pipeline_command> five;
        for (int id : {2000, 2001, 5, 2003, 2004})
            five.push_back({"INSERT INTO t_pipe VALUES ($1)", {text_param(std::to_string(id))}});
        auto a = co_await c->pipeline(five, pipeline_mode::atomic);
        REQUIRE(a.has_value());
        REQUIRE(a->size() == 5);
        CHECK((*a)[0].has_value());
        CHECK((*a)[1].has_value());
        REQUIRE_FALSE((*a)[2].has_value());
        CHECK((*a)[2].error().sqlstate() == "23505");
        CHECK((*a)[3].error().code == errc::pipeline_skipped);
        CHECK((*a)[4].error().code == errc::pipeline_skipped);
        CHECK(co_await scalar(*c, "SELECT count(*) FROM t_pipe WHERE id >= 2000") == "0");

        // Independent: only the failing command is affected.
        auto ind = co_await c->pipeline(five, pipeline_mode::independent);
        REQUIRE(ind.has_value());
        CHECK_FALSE((*ind)[2].has_value());
        CHECK((*ind)[3].has_value());
        CHECK(co_await scalar(*c, "SELECT count(*) FROM t_pipe WHERE id >= 2000") == "4");
    });
}

TEST_CASE("driver: COPY IN 1,000,000 rows and COPY OUT returns them identically") {
    run_async([]() -> asio::awaitable<void> {
        auto c = co_await must_connect(options_for(env().pg18, env().scram));
        (void)co_await c->simple_query("CREATE TEMP TABLE t_copy (id int, name text, note text)");
        constexpr int rows = 1'000'000;
        // Values that need escaping: tab, newline, backslash, NULL.
        auto row_text = [](int i) {
            return std::to_string(i) + "\tname\\t" + std::to_string(i % 97) + "\t" +
                   (i % 10 == 0 ? std::string("\\N") : std::string("a\\\\b\\nc")) + "\n";
        };
        int next = 0;
        std::string chunk;
        std::string expected;
        auto source = [&]() -> std::optional<std::string_view> {
            chunk.clear();
            while (next < rows && chunk.size() < 128 * 1024)
                chunk += row_text(next++);
            if (chunk.empty())
                return std::nullopt;
            expected += chunk;
            return std::string_view{chunk};
        };
        auto in = co_await c->copy_in("COPY t_copy FROM STDIN", source);
        REQUIRE_MESSAGE(in.has_value(), (in ? "" : in.error().message()));
        CHECK(*in == static_cast<std::uint64_t>(rows));
        std::string got;
        auto out = co_await c->copy_out("COPY (SELECT * FROM t_copy ORDER BY id) TO STDOUT",
                                        [&](std::string_view d) { got.append(d); });
        REQUIRE(out.has_value());
        CHECK(*out == static_cast<std::uint64_t>(rows));
        CHECK(got.size() == expected.size());
        CHECK(got == expected);

        // Typed rows with escaping.
        std::vector<std::vector<std::optional<std::string>>> typed = {
            {"1", "tab\there", std::nullopt}, {"2", "new\nline", "back\\slash"}};
        (void)co_await c->simple_query("TRUNCATE t_copy");
        auto tin = co_await c->copy_in_rows("COPY t_copy FROM STDIN", typed);
        REQUIRE(tin.has_value());
        CHECK(co_await scalar(*c, "SELECT name FROM t_copy WHERE id = 1") == "tab\there");
        CHECK(co_await scalar(*c, "SELECT note FROM t_copy WHERE id = 2") == "back\\slash");
        CHECK(co_await scalar(*c, "SELECT note IS NULL FROM t_copy WHERE id = 1") == "t");
    });
}

TEST_CASE("driver: CopyFail aborts cleanly and the connection stays usable") {
    run_async([]() -> asio::awaitable<void> {
        auto c = co_await must_connect(options_for(env().pg15, env().scram));
        (void)co_await c->simple_query("CREATE TEMP TABLE t_fail (id int)");
        int calls = 0;
        auto source = [&]() -> std::optional<std::string_view> {
            if (++calls == 1)
                return std::string_view{"1\n2\n"};
            return copy_abort;
        };
        auto r = co_await c->copy_in("COPY t_fail FROM STDIN", source);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == errc::aborted);
        CHECK_FALSE(c->broken());
        CHECK(co_await scalar(*c, "SELECT count(*) FROM t_fail") == "0");
    });
}

TEST_CASE("driver: cancelling pg_sleep(30) gives 57014 within 2 s") {
    run_async([]() -> asio::awaitable<void> {
        for (const auto* server : env().servers()) {
            CAPTURE(server->name);
            auto c = co_await must_connect(options_for(*server, env().scram, ssl_mode::require));
            auto ex = co_await asio::this_coro::executor;
            connection* raw = c.get();
            asio::co_spawn(
                ex,
                [raw]() -> asio::awaitable<void> {
                    asio::steady_timer t(co_await asio::this_coro::executor);
                    t.expires_after(std::chrono::milliseconds(300));
                    co_await t.async_wait(asio::use_awaitable);
                    auto r = co_await raw->cancel();
                    CHECK(r.has_value());
                },
                asio::detached);
            const auto start = std::chrono::steady_clock::now();
            auto r = co_await c->simple_query("SELECT pg_sleep(30)");
            const auto took = std::chrono::steady_clock::now() - start;
            REQUIRE_FALSE(r.has_value());
            CHECK(r.error().sqlstate() == "57014");
            CHECK(took < std::chrono::seconds(2));
            CHECK_FALSE(c->broken());
            CHECK(co_await scalar(*c, "SELECT 1") == "1");
        }
    });
}

TEST_CASE("driver: pg_terminate_backend mid-query gives an error and a broken connection") {
    run_async([]() -> asio::awaitable<void> {
        auto victim = co_await must_connect(options_for(env().pg18, env().scram));
        auto admin = co_await must_connect(options_for(env().pg18, env().admin));
        const std::string pid = std::to_string(victim->backend_pid());
        auto ex = co_await asio::this_coro::executor;
        connection* killer = admin.get();
        // The killer's own answer may come after the victim's error: wait for it before
        // `admin` goes out of scope.
        auto killer_done = std::make_shared<bool>(false);
        auto killer_finished =
            std::make_shared<asio::steady_timer>(ex, std::chrono::steady_clock::time_point::max());
        asio::co_spawn(
            ex,
            [killer, pid, killer_done, killer_finished]() -> asio::awaitable<void> {
                asio::steady_timer t(co_await asio::this_coro::executor);
                t.expires_after(std::chrono::milliseconds(300));
                co_await t.async_wait(asio::use_awaitable);
                auto r = co_await killer->simple_query("SELECT pg_terminate_backend(" + pid + ")");
                CHECK(r.has_value());
                *killer_done = true;
                killer_finished->cancel();
            },
            asio::detached);
        auto r = co_await victim->simple_query("SELECT pg_sleep(30)");
        REQUIRE_FALSE(r.has_value());
        CHECK(victim->broken());
        if (!*killer_done)
            (void)co_await killer_finished->async_wait(asio::as_tuple(asio::use_awaitable));
        CHECK(*killer_done);
        auto again = co_await victim->simple_query("SELECT 1");
        REQUIRE_FALSE(again.has_value());
        CHECK(again.error().code == errc::connection_broken);
    });
}

} // namespace qail::client

namespace qail::client {

TEST_CASE("driver: several hosts are tried in order, Unix sockets and IPv6 work") {
    run_async([]() -> asio::awaitable<void> {
        // A closed port first, then the real server.
        auto o = options_for(env().pg18, env().scram);
        o.hosts = {host_spec{"127.0.0.1", 1, {}}, host_spec{env().host, env().pg18.port, {}}};
        auto c = co_await must_connect(o);
        CHECK(co_await scalar(*c, "SELECT 1") == "1");

        auto u = options_for(env().pg15, env().scram);
        u.hosts = {host_spec{env().pg15.socket_dir, env().pg15.port, {}}};
        auto cu = co_await must_connect(u);
        CHECK(co_await scalar(*cu, "SELECT inet_client_addr() IS NULL") == "t");

        if (env().ipv6) {
            auto v6 = options_for(env().pg18, env().scram);
            v6.hosts = {host_spec{"::1", env().pg18.port, {}}};
            auto c6 = co_await must_connect(v6);
            CHECK(co_await scalar(*c6, "SELECT family(inet_client_addr())") == "6");
        }
    });
}

TEST_CASE("driver: notices and notifications reach their callbacks") {
    run_async([]() -> asio::awaitable<void> {
        auto c = co_await must_connect(options_for(env().pg18, env().scram));
        std::vector<std::string> notices;
        std::vector<notification> notes;
        c->on_notice([&](const pg_error& n) { notices.push_back(n.message); });
        c->on_notification([&](const notification& n) { notes.push_back(n); });
        (void)co_await c->simple_query("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
        REQUIRE(notices.size() == 1);
        CHECK(notices[0] == "hello 42");
        (void)co_await c->simple_query("LISTEN qail_chan");
        (void)co_await c->simple_query("NOTIFY qail_chan, 'payload-1'");
        REQUIRE(notes.size() == 1);
        CHECK(notes[0].channel == "qail_chan");
        CHECK(notes[0].payload == "payload-1");
        CHECK(notes[0].process_id == c->backend_pid());
    });
}

TEST_CASE("driver: an operation timeout breaks the connection with operation_timeout") {
    run_async([]() -> asio::awaitable<void> {
        auto c = co_await must_connect(options_for(env().pg18, env().scram));
        c->set_operation_timeout(std::chrono::milliseconds(300));
        const auto start = std::chrono::steady_clock::now();
        auto r = co_await c->simple_query("SELECT pg_sleep(5)");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == errc::operation_timeout);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
        CHECK(c->broken());
    });
}

TEST_CASE("driver: connect_timeout bounds a server that never answers") {
    // A listener that accepts and then stays silent.
    test::fake_server silent([](int fd, std::int32_t) {
        char buf[16];
        try {
            (void)test::recv_some(fd, buf, std::chrono::milliseconds(3000));
        } catch (const std::exception&) {
        }
    });
    run_async([&]() -> asio::awaitable<void> {
        connect_options o;
        o.hosts = {host_spec{"127.0.0.1", silent.port(), {}}};
        o.user = "u";
        o.sslmode = ssl_mode::disable;
        o.connect_timeout = std::chrono::milliseconds(400);
        const auto start = std::chrono::steady_clock::now();
        const error e = co_await must_fail(o);
        CHECK(e.code == errc::connect_timeout);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    });
}

} // namespace qail::client

namespace qail::client {

TEST_CASE("driver: statements evicted from the cache are closed on the server") {
    run_async([]() -> asio::awaitable<void> {
        auto o = options_for(env().pg18, env().scram);
        o.statement_cache_capacity = 2;
        auto c = co_await must_connect(o);
        for (int i = 0; i < 6; ++i) {
            auto r = co_await c->query("SELECT " + std::to_string(i) + " AS n");
            REQUIRE(r.has_value());
            CHECK((*r)[0].raw(0) == std::optional<std::string_view>{std::to_string(i)});
        }
        CHECK(c->cached_statements() == 2);
        // The Closes of evicted statements travel with the next command.
        auto count = co_await c->query("SELECT count(*) FROM pg_prepared_statements");
        REQUIRE(count.has_value());
        CHECK((*count)[0].as<std::int64_t>(0) <= 3);
        // Evicted statements are prepared again when needed.
        auto again = co_await c->query("SELECT 0 AS n");
        REQUIRE(again.has_value());
        CHECK((*again)[0].raw(0) == std::optional<std::string_view>{"0"});
    });
}

} // namespace qail::client

namespace qail::client {

TEST_CASE("driver: connect_timeout also bounds a TLS handshake that never completes") {
    // Answers SSLRequest with 'S', then reads the ClientHello and never answers it.
    test::fake_server mute_tls([](int fd, std::int32_t) {
        char buf[4096];
        try {
            while (test::recv_some(fd, buf, std::chrono::milliseconds(3000)) > 0) {
            }
        } catch (const std::exception&) {
        }
    });
    mute_tls.set_ssl_answer('S');
    run_async([&]() -> asio::awaitable<void> {
        connect_options o;
        o.hosts = {host_spec{"127.0.0.1", mute_tls.port(), {}}};
        o.user = "u";
        o.sslmode = ssl_mode::require;
        o.connect_timeout = std::chrono::milliseconds(400);
        const auto start = std::chrono::steady_clock::now();
        const error e = co_await must_fail(o);
        CHECK(e.code == errc::connect_timeout);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    });
}

} // namespace qail::client

namespace qail::client {

TEST_CASE("driver: COPY raw bytes in csv and binary, and COPY OUT as rows") {
    run_async([]() -> asio::awaitable<void> {
        auto c = co_await must_connect(options_for(env().pg15, env().scram));
        (void)co_await c->simple_query("CREATE TEMP TABLE t_fmt (id int, name text)");
        const std::string csv = "1,\"comma, inside\"\n2,\n";
        bool sent = false;
        auto csv_source = [&]() -> std::optional<std::string_view> {
            if (sent)
                return std::nullopt;
            sent = true;
            return std::string_view{csv};
        };
        auto in = co_await c->copy_in("COPY t_fmt FROM STDIN (FORMAT csv)", csv_source);
        REQUIRE(in.has_value());
        CHECK(*in == 2);
        // Round-trip the table through the binary format.
        std::string binary;
        auto out = co_await c->copy_out("COPY t_fmt TO STDOUT (FORMAT binary)",
                                        [&](std::string_view d) { binary.append(d); });
        REQUIRE(out.has_value());
        CHECK(binary.rfind("PGCOPY\n\xff\r\n", 0) == 0);
        (void)co_await c->simple_query("TRUNCATE t_fmt");
        bool sent_bin = false;
        auto bin_source = [&]() -> std::optional<std::string_view> {
            if (sent_bin)
                return std::nullopt;
            sent_bin = true;
            return std::string_view{binary};
        };
        auto back = co_await c->copy_in("COPY t_fmt FROM STDIN (FORMAT binary)", bin_source);
        REQUIRE(back.has_value());
        CHECK(*back == 2);
        (void)co_await c->simple_query(
            "INSERT INTO t_fmt VALUES (3, E'tab\\there\\\\ and \\nnewline')");
        auto rows = co_await c->copy_out_rows("COPY (SELECT * FROM t_fmt ORDER BY id) TO STDOUT");
        REQUIRE(rows.has_value());
        REQUIRE(rows->size() == 3);
        CHECK((*rows)[0][1] == std::optional<std::string>{"comma, inside"});
        CHECK_FALSE((*rows)[1][1].has_value()); // csv empty unquoted = NULL
        CHECK((*rows)[2][1] == std::optional<std::string>{"tab\there\\ and \nnewline"});
    });
}

} // namespace qail::client

namespace qail::client {
namespace {

// One simple Query by raw access, read back with `read_some` until its ReadyForQuery:
// the bytes of the answer.
template <typename ReadSome>
asio::awaitable<std::string> raw_round_trip(connection& c, std::string_view sql,
                                            ReadSome read_some) {
    std::string query = "Q";
    const auto length = static_cast<std::uint32_t>(4 + sql.size() + 1);
    for (int shift = 24; shift >= 0; shift -= 8)
        query.push_back(static_cast<char>((length >> shift) & 0xFF));
    query.append(sql);
    query.push_back('\0');
    const auto written = co_await c.raw_write(query);
    REQUIRE(written.has_value());
    std::string answer;
    const std::string_view ready("Z\0\0\0\5I", 6);
    while (answer.size() < ready.size() ||
           std::string_view(answer).substr(answer.size() - ready.size()) != ready) {
        std::array<char, 64> chunk{};
        const std::size_t n = co_await read_some(std::span<char>(chunk));
        REQUIRE(n > 0);
        answer.append(chunk.data(), n);
    }
    c.raw_finished(transaction_state::idle);
    co_return answer;
}

} // namespace

TEST_CASE("driver: raw reads straight from a plain TCP socket, through raw_read_some over TLS") {
    run_async([]() -> asio::awaitable<void> {
        const auto& server = env().pg15;
        auto plain = co_await must_connect(options_for(server, env().scram, ssl_mode::disable));
        auto* socket = plain->raw_tcp_socket();
        REQUIRE(socket != nullptr);
        std::array<char, 8> none{};
        CHECK(plain->raw_take_buffered(std::span<char>(none)) == 0);
        const auto direct = co_await raw_round_trip(
            *plain, "SELECT 41 + 1", [&](std::span<char> out) -> asio::awaitable<std::size_t> {
                auto [ec, n] = co_await socket->async_read_some(
                    asio::buffer(out.data(), out.size()), asio::as_tuple(asio::use_awaitable));
                REQUIRE_FALSE(ec);
                co_return n;
            });
        CHECK(direct.find("42") != std::string::npos);
        // The driver goes on from where the raw reads left it.
        CHECK(co_await scalar(*plain, "SELECT 'after'") == "after");
        // A cancelled read loses nothing on a plain socket; any other error breaks it.
        CHECK(plain->raw_read_failed(asio::error::operation_aborted) ==
              asio::error::operation_aborted);
        CHECK(plain->raw_tcp_socket() == socket);
        CHECK(co_await scalar(*plain, "SELECT 'still'") == "still");
        CHECK(plain->raw_read_failed(asio::error::eof));
        CHECK(plain->raw_tcp_socket() == nullptr);
        std::array<char, 8> spare{};
        CHECK(plain->raw_take_buffered(std::span<char>(spare)) == 0);
        const auto after = co_await plain->raw_read_some(std::span<char>(spare));
        CHECK(after.error == make_error_code(errc::connection_broken));

        // Over TLS there is no plain socket to read: raw_read_some() reads.
        auto o = options_for(server, env().scram, ssl_mode::require);
        o.hosts = {host_spec{"localhost", server.port, {}}};
        auto tls = co_await must_connect(o);
        CHECK(tls->raw_tcp_socket() == nullptr);
        const auto through = co_await raw_round_trip(
            *tls, "SELECT 6 * 7", [&](std::span<char> out) -> asio::awaitable<std::size_t> {
                auto r = co_await tls->raw_read_some(out);
                REQUIRE_FALSE(r.error);
                co_return r.bytes;
            });
        CHECK(through.find("42") != std::string::npos);
    });
}

} // namespace qail::client

namespace qail::client {

TEST_CASE("driver: SCRAM logins sharing a memo derive a password's keys once") {
    run_async([]() -> asio::awaitable<void> {
        const auto& server = env().pg15;
        auto options = options_for(server, env().scram);
        options.scram_memo = std::make_shared<scram_key_memo>();
        auto one = co_await must_connect(options);
        CHECK(one->authentication() == auth_method::scram_sha_256);
        CHECK(options.scram_memo->derivations() == 1);
        auto two = co_await must_connect(options);
        CHECK(co_await scalar(*two, "SELECT current_user") == env().scram.user);
        CHECK(options.scram_memo->derivations() == 1);
        // A wrong password is derived (and refused by the server); the right one is
        // still remembered and still logs in.
        auto wrong = options;
        wrong.password += "-not";
        const auto refused = co_await must_fail(wrong);
        CHECK(refused.sqlstate() == "28P01");
        CHECK(options.scram_memo->derivations() == 2);
        auto three = co_await must_connect(options);
        CHECK(co_await scalar(*three, "SELECT 1") == "1");
        CHECK(options.scram_memo->derivations() == 2);
        // Without a memo nothing is remembered (and nothing breaks).
        auto plain = options_for(server, env().scram);
        CHECK_FALSE(plain.scram_memo);
        auto four = co_await must_connect(plain);
        CHECK(co_await scalar(*four, "SELECT 2") == "2");
    });
}

} // namespace qail::client
