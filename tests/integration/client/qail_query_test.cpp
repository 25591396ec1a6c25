// The qail-query example program end to end: rows on stdout, -v connection facts,
// SQLSTATE and a non-zero exit on errors.
#include "support/pg_env.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

struct run_result {
    int status = -1;
    std::string out;
};

// Runs qail-query with the given arguments (already shell-quoted), capturing stdout and stderr.
run_result qail_query(const std::string& args) {
    const std::string cmd = std::string(QAIL_QUERY_BIN) + " " + args + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    run_result r;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr)
        r.out += buf.data();
    const int raw = ::pclose(p);
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return r;
}

std::string url(const qail::test::pg_server& s, const std::string& extra) {
    const auto& e = qail::test::env();
    return "'postgres://" + e.scram.user + ":" + e.scram.password +
           "@localhost:" + std::to_string(s.port) + "/" + e.database + "?sslrootcert=" + e.ca_cert +
           extra + "'";
}

} // namespace

TEST_CASE("qail-query prints rows tab-separated, and -v how it connected") {
    const auto& e = qail::test::env();
    const auto plain = qail_query(url(e.pg18, "&sslmode=disable") +
                                  " \"SELECT 1, 'two', NULL UNION ALL SELECT 3, 'four', 'x'\"");
    CHECK(plain.status == 0);
    CHECK(plain.out == "1\ttwo\tNULL\n3\tfour\tx\n");

    const auto v18 = qail_query("-v " + url(e.pg18, "&sslmode=verify-full") + " 'SELECT 42'");
    CHECK(v18.status == 0);
    CHECK(v18.out == "protocol: 3.2\nauth: SCRAM-SHA-256-PLUS\ntls: TLSv1.3\nio_backend: " +
                         std::string(QAIL_IO_BACKEND_NAME) + "\n42\n");

    const auto v15 = qail_query("-v " + url(e.pg15, "&sslmode=disable") + " 'SELECT 7'");
    CHECK(v15.status == 0);
    CHECK(v15.out == "protocol: 3.0\nauth: SCRAM-SHA-256\ntls: none\nio_backend: " +
                         std::string(QAIL_IO_BACKEND_NAME) + "\n7\n");
}

TEST_CASE("qail-query --ast runs a QAIL AST from a JSON file, and -v prints its SQL") {
    const auto& e = qail::test::env();
    const std::string file = "/tmp/qail-query-ast-test.json";
    {
        FILE* f = std::fopen(file.c_str(), "w");
        REQUIRE(f != nullptr);
        const std::string json =
            R"({"action":"Get","table":"pg_catalog.pg_database","columns":[{"Named":"datname"}],)"
            R"("cages":[{"kind":"Filter","conditions":[{"left":{"Named":"datname"},"op":"Eq",)"
            R"("value":{"String":")" +
            e.database + R"("}}],"logical_op":"And"}]})";
        std::fputs(json.c_str(), f);
        std::fclose(f);
    }
    const auto plain = qail_query("--ast " + file + " " + url(e.pg15, "&sslmode=disable"));
    CHECK(plain.status == 0);
    CHECK(plain.out == e.database + "\n");
    const auto v = qail_query("-v --ast " + file + " " + url(e.pg18, "&sslmode=disable"));
    CHECK(v.status == 0);
    CHECK(v.out.find("sql: SELECT \"datname\" FROM \"pg_catalog\".\"pg_database\" WHERE "
                     "\"datname\" = $1\n") != std::string::npos);
    CHECK(v.out.find("params: $1 = '" + e.database + "'") != std::string::npos);
    const auto missing = qail_query("--ast /nonexistent/ast.json " + url(e.pg15, ""));
    CHECK(missing.status == 65);
    CHECK(missing.out.find("/nonexistent/ast.json") != std::string::npos);
    std::remove(file.c_str());
}

TEST_CASE("qail-query exits non-zero with the SQLSTATE and message on error") {
    const auto& e = qail::test::env();
    const auto r = qail_query(url(e.pg18, "&sslmode=disable") + " 'SELECT 1/0'");
    CHECK(r.status == 1);
    CHECK(r.out.find("22012 division by zero") != std::string::npos);
    const auto bad = qail_query("'postgres://nobody@127.0.0.1:1/x?sslmode=disable' 'SELECT 1'");
    CHECK(bad.status != 0);
}
