// Proves the test harness itself: both servers listen, speak TLS, and let each test role
// in by its own auth method. Uses Debian's psql, so it does not depend on our driver.
#include "support/pg_env.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace {

using qail::test::env;
using qail::test::pg_credentials;
using qail::test::pg_server;

/// Quotes `s` for /bin/sh.
std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    out += '\'';
    return out;
}

/// Quotes a libpq connection-string value.
std::string conninfo_quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) {
        if (c == '\'' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '\'';
    return out;
}

struct psql_result {
    int exit_code = -1;
    std::string output; ///< stdout and stderr together
};

struct psql_login {
    std::string host;
    const pg_server* server = nullptr;
    pg_credentials credentials;
    std::string sslmode = "disable";
    std::string sslrootcert; ///< empty: none
    bool client_cert = false;
};

/// Runs one statement through psql, unaligned and tuples-only, with no ambient settings
/// (~/.psqlrc, ~/.pgpass) leaking in.
psql_result run_psql(const psql_login& login, const std::string& sql) {
    std::string conninfo = "host=" + conninfo_quote(login.host) +
                           " port=" + std::to_string(login.server->port) +
                           " dbname=" + conninfo_quote(env().database) +
                           " user=" + conninfo_quote(login.credentials.user);
    if (!login.sslrootcert.empty()) {
        conninfo += " sslrootcert=" + conninfo_quote(login.sslrootcert);
    }
    if (login.client_cert) {
        conninfo += " sslcert=" + conninfo_quote(env().client_cert) +
                    " sslkey=" + conninfo_quote(env().client_key);
    }
    const std::string command =
        "env PGPASSFILE=/nonexistent/.pgpass PGCONNECT_TIMEOUT=10 PGAPPNAME=qail_harness_test"
        " PGPASSWORD=" +
        shell_quote(login.credentials.password) + " PGSSLMODE=" + shell_quote(login.sslmode) + " " +
        shell_quote(env().psql) + " -X -A -t -q -v ON_ERROR_STOP=1 -d " + shell_quote(conninfo) +
        " -c " + shell_quote(sql) + " 2>&1";

    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        throw std::runtime_error("popen failed for: " + command);
    }
    psql_result result;
    std::array<char, 4096> chunk{};
    while (const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe)) {
        result.output.append(chunk.data(), n);
    }
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

std::string expected_version_prefix(const pg_server& server) {
    return "PostgreSQL " + std::to_string(server.major_version) + ".";
}

/// Logs in with `login`, asserts success, the server's major version and the role.
void check_login(const psql_login& login) {
    const psql_result r = run_psql(login, "SELECT current_user || ' ' || version()");
    INFO(login.server->name, " as ", login.credentials.user, " sslmode=", login.sslmode,
         " host=", login.host, ": ", r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.starts_with(login.credentials.user + " " +
                               expected_version_prefix(*login.server)));
}

/// Logs in with `login` and asserts that the server (or libpq) refuses.
void check_refused(const psql_login& login, const std::string& expected_error) {
    const psql_result r = run_psql(login, "SELECT 1");
    INFO(login.server->name, " as ", login.credentials.user, " sslmode=", login.sslmode, ": ",
         r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find(expected_error) != std::string::npos);
}

void check_password_user_logs_in(const pg_credentials& credentials) {
    for (const pg_server* server : env().servers()) {
        for (const char* sslmode : {"disable", "require"}) {
            check_login({env().host, server, credentials, sslmode, {}, false});
        }
    }
}

} // namespace

TEST_CASE("harness: both servers accept TCP and answer SSLRequest with S") {
    // SSLRequest: Int32 length 8, Int32 code 80877103 (1234 << 16 | 5679), big-endian.
    const std::string ssl_request{"\x00\x00\x00\x08\x04\xd2\x16\x2f", 8};
    std::vector<std::string> hosts{env().host};
    if (env().ipv6) {
        hosts.emplace_back("::1");
    }
    for (const pg_server* server : env().servers()) {
        for (const std::string& host : hosts) {
            INFO(server->name, " at ", host, ":", server->port);
            const qail::test::unique_fd fd = qail::test::connect_tcp(host, server->port);
            REQUIRE(fd.valid());
            qail::test::send_all(fd.get(), ssl_request);
            CHECK(qail::test::recv_exact(fd.get(), 1) == "S");
        }
    }
}

TEST_CASE("harness: scram_user logs in to PostgreSQL 15 and 18") {
    check_password_user_logs_in(env().scram);
}

TEST_CASE("harness: md5_user logs in to PostgreSQL 15 and 18") {
    check_password_user_logs_in(env().md5);
}

TEST_CASE("harness: password_user logs in to PostgreSQL 15 and 18") {
    check_password_user_logs_in(env().password);
}

TEST_CASE("harness: trust_user and qail_admin log in") {
    for (const pg_server* server : env().servers()) {
        check_login({env().host, server, env().trust, "disable", {}, false});
        check_login({env().host, server, env().admin, "require", {}, false});
    }
}

TEST_CASE("harness: both servers take logins on their Unix sockets") {
    for (const pg_server* server : env().servers()) {
        check_login({server->socket_dir, server, env().scram, "disable", {}, false});
    }
}

TEST_CASE("harness: stored password hashes match their auth methods") {
    for (const pg_server* server : env().servers()) {
        const psql_result r = run_psql(
            {env().host, server, env().admin, "require", {}, false},
            "SELECT string_agg(rolname || '=' || left(rolpassword, 13), ' ' ORDER BY rolname)"
            " FROM pg_authid WHERE rolname IN ('scram_user', 'md5_user', 'password_user')");
        INFO(server->name, ": ", r.output);
        REQUIRE(r.exit_code == 0);
        CHECK(r.output.find("md5_user=md5") != std::string::npos);
        CHECK(r.output.find("scram_user=SCRAM-SHA-256") != std::string::npos);
    }
}

TEST_CASE("harness: cert_user logs in with verify-full and its client certificate") {
    std::vector<std::string> hosts{env().host, "localhost"};
    if (env().ipv6) {
        hosts.emplace_back("::1");
    }
    for (const pg_server* server : env().servers()) {
        for (const std::string& host : hosts) {
            check_login({host, server, env().cert, "verify-full", env().ca_cert, true});
        }
    }
}

TEST_CASE("harness: cert_user is refused without TLS and the wrong CA is not trusted") {
    for (const pg_server* server : env().servers()) {
        check_refused({env().host, server, env().cert, "disable", {}, false}, "no encryption");
        check_refused({env().host, server, env().cert, "require", {}, false},
                      "requires a valid client certificate");
        check_refused({env().host, server, env().cert, "verify-ca", env().wrong_ca_cert, true},
                      "certificate verify failed");
    }
}

TEST_CASE("harness: a wrong password is refused") {
    for (const pg_server* server : env().servers()) {
        for (pg_credentials credentials : {env().scram, env().md5, env().password}) {
            credentials.password = "not-" + credentials.password;
            check_refused({env().host, server, credentials, "disable", {}, false},
                          "password authentication failed");
        }
    }
}
