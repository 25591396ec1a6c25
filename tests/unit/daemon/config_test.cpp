// Config loading: the valid/invalid corpus, ${ENV} expansion, secrets, --check-config output.
#include <qail/proxy/config.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace qail::proxy {
namespace {

namespace fs = std::filesystem;

const fs::path corpus_dir = fs::path(QAIL_SOURCE_DIR) / "tests/unit/daemon/config_corpus";

// Every corpus secret contains this, so one search shows none leaked into a message.
constexpr std::string_view corpus_secret = "hunter2";

std::vector<fs::path> yaml_files(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.is_regular_file() && entry.path().extension() == ".yaml")
            out.push_back(entry.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string all_errors(const load_result& r) {
    std::string out;
    for (const auto& e : r.errors)
        out += e.to_string() + "\n";
    return out;
}

bool has_error(const load_result& r, int line, std::string_view substring) {
    return std::any_of(r.errors.begin(), r.errors.end(), [&](const config_error& e) {
        return e.line == line && e.message.find(substring) != std::string::npos;
    });
}

// Loads YAML text; the name in errors is "test.yaml".
load_result load(std::string_view yaml) {
    return load_config_string(yaml, "test.yaml");
}

// A temporary file removed at scope exit.
struct temp_file {
    fs::path path;
    explicit temp_file(std::string_view name, std::string_view text)
        : path(fs::temp_directory_path() /
               ("qail-config-test-" + std::to_string(::getpid()) + "-" + std::string(name))) {
        std::ofstream(path) << text;
    }
    ~temp_file() {
        std::error_code ec;
        fs::remove(path, ec);
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
};

constexpr std::string_view minimal = "listen:\n"
                                     "  postgres: 127.0.0.1:6432\n"
                                     "databases:\n"
                                     "  appdb:\n"
                                     "    user: app\n";

TEST_CASE("config: every file in the valid corpus loads without errors") {
    const auto files = yaml_files(corpus_dir / "valid");
    REQUIRE(files.size() >= 5);
    for (const auto& file : files) {
        const load_result r = load_config_file(file.string());
        INFO(file.filename().string(), "\n", all_errors(r));
        CHECK(r.errors.empty());
        CHECK(r.cfg.has_value());
    }
}

TEST_CASE("config: every file in the invalid corpus fails with the expected error") {
    const auto files = yaml_files(corpus_dir / "invalid");
    REQUIRE(files.size() >= 30);
    for (const auto& file : files) {
        std::ifstream in(file);
        std::string first;
        std::getline(in, first);
        constexpr std::string_view prefix = "# expect: ";
        INFO(file.filename().string());
        REQUIRE_MESSAGE(first.starts_with(prefix), "first line must be '# expect: LINE: TEXT'");
        const std::string expectation = first.substr(prefix.size());
        const std::size_t colon = expectation.find(": ");
        REQUIRE(colon != std::string::npos);
        const int line = std::stoi(expectation.substr(0, colon));
        const std::string substring = expectation.substr(colon + 2);

        const load_result r = load_config_file(file.string());
        const std::string errors = all_errors(r);
        INFO("expected ", line, ": ", substring, "\ngot:\n", errors);
        CHECK_FALSE(r.cfg.has_value());
        CHECK(has_error(r, line, substring));
        CHECK(errors.find(corpus_secret) == std::string::npos);
        for (const auto& e : r.errors)
            CHECK(e.file == file.string());
    }
}

TEST_CASE("config: defaults and values land in the right fields") {
    const load_result r = load(minimal);
    REQUIRE_MESSAGE(r.cfg, all_errors(r));
    const config& c = *r.cfg;
    CHECK(c.workers == 2);
    REQUIRE(c.listen.postgres);
    CHECK(c.listen.postgres->host == "127.0.0.1");
    CHECK(c.listen.postgres->port == 6432);
    CHECK_FALSE(c.listen.http);
    CHECK_FALSE(c.listen.admin);
    CHECK_FALSE(c.tls.enabled());
    REQUIRE(c.databases.size() == 1);
    const database_config& db = c.databases[0];
    CHECK(db.name == "appdb");
    CHECK(db.dbname == "appdb"); // defaults to the name
    CHECK(db.host == "127.0.0.1");
    CHECK(db.port == 5432);
    CHECK(db.sslmode == "prefer");
    CHECK(db.mode == pool_mode::transaction);
    CHECK(db.reset == reset_mode::smart);
    CHECK(db.pool_size == 20);
    CHECK(db.max_prepared_statements == 500);
    CHECK(c.tenancy.tenant_setting == "app.current_tenant_id");
    CHECK(c.http.jwt.leeway == std::chrono::seconds{30});
    CHECK(c.limits.query_wait_timeout == std::chrono::milliseconds{120000});
    CHECK(c.limits.max_message_bytes == 64u * 1024 * 1024);
    CHECK(c.limits.client_login_timeout == std::chrono::milliseconds{60000});
    CHECK(c.log_level == "info");
    CHECK(c.find_database("appdb") == &db);
    CHECK(c.find_database("other") == nullptr);
    CHECK(c.find_user("nobody") == nullptr);
}

TEST_CASE("config: the full corpus file sets every field") {
    const load_result r = load_config_file((corpus_dir / "valid/full.yaml").string());
    REQUIRE_MESSAGE(r.cfg, all_errors(r));
    const config& c = *r.cfg;
    CHECK(c.workers == 4);
    CHECK(c.listen.unix_socket_dir == "/run/qail");
    CHECK(c.listen.admin->port == 9187);
    CHECK(c.tls.mode == tls_mode::require);
    CHECK(c.tls.client_ca == "ca.crt");
    REQUIRE(c.databases.size() == 2);
    CHECK(c.databases[0].name == "appdb"); // file order
    CHECK(c.databases[1].name == "reports");
    CHECK(c.databases[1].dbname == "reports");
    const database_config& db = c.databases[0];
    CHECK(db.host == "db.internal");
    CHECK(db.port == 5433);
    CHECK(db.dbname == "app_production");
    CHECK(db.sslmode == "verify-full");
    CHECK(db.sslkey == "client.key");
    CHECK(db.mode == pool_mode::session);
    CHECK(db.reset == reset_mode::discard_all);
    CHECK(db.min_pool_size == 5);
    CHECK(db.tenant_guard);
    CHECK(db.max_prepared_statements == 1000);
    CHECK(c.databases[1].mode == pool_mode::statement);
    CHECK(c.databases[1].reset == reset_mode::none);
    REQUIRE(c.users.size() == 4);
    const user_config* alice = c.find_user("alice");
    REQUIRE(alice);
    CHECK(alice->tenant == "acme");
    CHECK(alice->databases == std::vector<std::string>{"appdb"});
    CHECK(c.find_user("bob")->auth == auth_method::md5);
    CHECK(c.find_user("bob")->databases.size() == 2);
    CHECK(c.find_user("carol")->auth == auth_method::cert);
    CHECK_FALSE(c.find_user("carol")->tenant);
    CHECK(c.tenancy.user_setting == "myapp.user");
    CHECK(c.http.jwt.user_claim == "email");
    CHECK(c.http.jwt.leeway == std::chrono::seconds{5});
    CHECK(c.http.statement_timeout == std::chrono::milliseconds{5000});
    CHECK(c.http.allowed_tables == std::vector<std::string>{"orders", "customers"});
    CHECK(c.admin.token == "admin-token-value");
    CHECK(c.limits.auth_failure_delay == std::chrono::milliseconds{0});
    CHECK(c.limits.client_login_timeout == std::chrono::milliseconds{15000});
    CHECK(c.limits.client_idle_timeout == std::chrono::milliseconds{600000});
    CHECK(c.log_level == "debug");
}

TEST_CASE("config: endpoint forms") {
    const load_result r = load_config_file((corpus_dir / "valid/ipv6_and_unix.yaml").string());
    REQUIRE_MESSAGE(r.cfg, all_errors(r));
    CHECK(r.cfg->listen.postgres->host == "::1");
    CHECK(r.cfg->listen.postgres->port == 6432);
    CHECK(r.cfg->listen.http->host.empty()); // ":8080" = all interfaces
    CHECK(r.cfg->listen.http->port == 8080);
    CHECK(r.cfg->listen.admin->host == "::");
    CHECK(r.cfg->databases[0].host == "::1");
}

TEST_CASE("config: ${ENV} expansion uses set values and defaults") {
    ::setenv("QAIL_TEST_PG_PORT", "6543", 1);
    ::setenv("QAIL_TEST_DB_USER", "from_env", 1);
    ::setenv("QAIL_TEST_EMPTY", "", 1);
    ::unsetenv("QAIL_TEST_UNSET");
    const load_result r = load("listen:\n"
                               "  postgres: 127.0.0.1:${QAIL_TEST_UNSET:-7000}\n"
                               "databases:\n"
                               "  appdb:\n"
                               "    port: ${QAIL_TEST_PG_PORT}\n"
                               "    user: ${QAIL_TEST_DB_USER:-ignored}\n"
                               "    dbname: x${QAIL_TEST_EMPTY}y\n"
                               "    host: ${QAIL_TEST_EMPTY:-fallback.host}\n"
                               "    password: 'a$${b}'  # ${QAIL_TEST_UNSET} in a comment\n");
    REQUIRE_MESSAGE(r.cfg, all_errors(r));
    const database_config& db = r.cfg->databases[0];
    CHECK(r.cfg->listen.postgres->port == 7000);
    CHECK(db.port == 6543);
    CHECK(db.user == "from_env");
    CHECK(db.dbname == "xy");
    CHECK(db.host == "fallback.host"); // ":-" also covers set-but-empty, as in the shell
    CHECK(db.password == "a${b}");
    ::unsetenv("QAIL_TEST_PG_PORT");
    ::unsetenv("QAIL_TEST_DB_USER");
    ::unsetenv("QAIL_TEST_EMPTY");
}

TEST_CASE("config: an unset variable is an error naming it and its line") {
    ::unsetenv("QAIL_TEST_MISSING_SECRET");
    std::string yaml(minimal);
    yaml += "    password: ${QAIL_TEST_MISSING_SECRET}\n";
    const load_result r = load(yaml);
    CHECK_FALSE(r.cfg);
    CHECK(has_error(r, 6, "'QAIL_TEST_MISSING_SECRET' is not set"));
    REQUIRE_FALSE(r.errors.empty());
    CHECK(r.errors[0].column == 15);
    CHECK(r.errors[0].to_string().starts_with("test.yaml:6:15: "));
}

TEST_CASE("config: values from the environment cannot change the YAML structure") {
    ::setenv("QAIL_TEST_TRICKY", "p#ss: \"word\\ [x] {y}", 1);
    std::string yaml(minimal);
    yaml += "    password: ${QAIL_TEST_TRICKY}\n"
            "    dbname: \"q-${QAIL_TEST_TRICKY}\"\n"
            "    sslrootcert: 's-${QAIL_TEST_TRICKY}'\n";
    const load_result r = load(yaml);
    REQUIRE_MESSAGE(r.cfg, all_errors(r));
    CHECK(r.cfg->databases[0].password == "p#ss: \"word\\ [x] {y}");
    CHECK(r.cfg->databases[0].dbname == "q-p#ss: \"word\\ [x] {y}");
    CHECK(r.cfg->databases[0].sslrootcert == "s-p#ss: \"word\\ [x] {y}");
    ::unsetenv("QAIL_TEST_TRICKY");
}

TEST_CASE("config: secret values never appear in error output") {
    constexpr std::string_view secret = "Sup3r-Secret-Value";
    ::setenv("QAIL_TEST_SECRET", "Sup3r-Secret-Value", 1);
    SUBCASE("a secret from the environment in a field of the wrong type") {
        std::string yaml(minimal);
        yaml += "    port: ${QAIL_TEST_SECRET}\n"; // wrong place for it: not echoed either
        const load_result r = load(yaml);
        CHECK(has_error(r, 6, "databases.appdb.port: expected an integer"));
        CHECK(all_errors(r).find(secret) == std::string::npos);
    }
    SUBCASE("a malformed SCRAM verifier") {
        const load_result r =
            load(std::string(minimal) + "users:\n"
                                        "  - name: a\n"
                                        "    password: SCRAM-SHA-256$1:Sup3r-Secret-Value\n");
        CHECK(has_error(r, 8, "malformed"));
        CHECK(all_errors(r).find(secret) == std::string::npos);
    }
    SUBCASE("a short JWT secret and a wrong-typed token") {
        const load_result r = load(std::string(minimal) + "http:\n"
                                                          "  jwt:\n"
                                                          "    hs256_secret: Sup3r-Secret-Value\n"
                                                          "admin:\n"
                                                          "  token: [Sup3r-Secret-Value]\n");
        CHECK(has_error(r, 8, "shorter than 32 bytes"));
        CHECK(has_error(r, 10, "admin.token: expected a string, got a sequence"));
        CHECK(all_errors(r).find(secret) == std::string::npos);
    }
    SUBCASE("a password in a mapping") {
        const load_result r =
            load(std::string(minimal) + "    password: {x: Sup3r-Secret-Value}\n");
        CHECK(has_error(r, 6, "expected a string, got a mapping"));
        CHECK(all_errors(r).find(secret) == std::string::npos);
    }
    ::unsetenv("QAIL_TEST_SECRET");
}

TEST_CASE("config: all errors are collected, in file order") {
    const load_result r = load("workers: 0\n"
                               "listen:\n"
                               "  postgres: 127.0.0.1:6432\n"
                               "databases:\n"
                               "  appdb:\n"
                               "    user: app\n"
                               "    pool_mode: bogus\n"
                               "    pool_size: 0\n"
                               "users:\n"
                               "  - name: x\n"
                               "    auth: md5\n"
                               "bogus_key: 1\n");
    CHECK_FALSE(r.cfg);
    REQUIRE(r.errors.size() == 5);
    CHECK(r.errors[0].line == 1);
    CHECK(r.errors[1].line == 7);
    CHECK(r.errors[2].line == 8);
    CHECK(r.errors[3].line == 10);
    CHECK(r.errors[4].line == 12);
    CHECK(r.errors[4].message == "unknown key 'bogus_key' at top level");
}

TEST_CASE("config: error text format") {
    CHECK(config_error{"a.yaml", 3, 7, "boom"}.to_string() == "a.yaml:3:7: boom");
    CHECK(config_error{"a.yaml", 3, 0, "boom"}.to_string() == "a.yaml:3: boom");
    CHECK(config_error{"a.yaml", 0, 0, "boom"}.to_string() == "a.yaml: boom");
}

TEST_CASE("config: --check-config output") {
    std::ostringstream out;
    std::ostringstream err;
    SUBCASE("a valid file") {
        const temp_file f("ok.yaml", std::string(minimal) + "users:\n  - name: a\n    "
                                                            "password: b\n");
        CHECK(check_config(f.path.string(), out, err) == 0);
        CHECK(out.str() == "config OK: 1 databases, 1 users\n");
        CHECK(err.str().empty());
    }
    SUBCASE("an invalid file: every error, one per line, with file:line:col") {
        const temp_file f("bad.yaml", "workers: 999\n"
                                      "listen:\n"
                                      "  postgres: nope\n"
                                      "databases:\n"
                                      "  appdb:\n"
                                      "    user: app\n");
        CHECK(check_config(f.path.string(), out, err) == 1);
        CHECK(out.str().empty());
        const std::string p = f.path.string();
        CHECK(err.str() == p + ":1:10: workers: '999' is out of range 1..256\n" + p +
                               ":3:13: listen.postgres: 'nope': expected HOST:PORT, [IPV6]:PORT "
                               "or :PORT (missing ':PORT')\n");
    }
    SUBCASE("a missing file") {
        CHECK(check_config("/nonexistent/qail.yaml", out, err) == 1);
        CHECK(err.str().starts_with("/nonexistent/qail.yaml: cannot read the config file: "));
    }
}

TEST_CASE("config: the reference configs in config/ load") {
    ::setenv("APP_DB_PASSWORD", "app-db-password", 1);
    ::setenv("JWT_SECRET", "a-jwt-secret-that-is-at-least-32-bytes-long", 1);
    ::setenv("ADMIN_TOKEN", "admin-token", 1);
    const fs::path dir = fs::path(QAIL_SOURCE_DIR) / "config";
    SUBCASE("qail-proxy.yaml") {
        const load_result r = load_config_file((dir / "qail-proxy.yaml").string());
        REQUIRE_MESSAGE(r.cfg, all_errors(r));
        CHECK(r.cfg->find_database("appdb") != nullptr);
        CHECK(r.cfg->find_database("appdb")->password == "app-db-password");
        CHECK(r.cfg->http.jwt.hs256_secret == "a-jwt-secret-that-is-at-least-32-bytes-long");
        CHECK(r.cfg->admin.token == "admin-token");
    }
    SUBCASE("demo.yaml with defaults") {
        ::unsetenv("QAIL_DEMO_PG_PORT");
        ::unsetenv("QAIL_DEMO_DB_USER");
        ::unsetenv("QAIL_DEMO_DB_PASSWORD");
        const load_result r = load_config_file((dir / "demo.yaml").string());
        REQUIRE_MESSAGE(r.cfg, all_errors(r));
        const config& c = *r.cfg;
        CHECK(c.listen.postgres->port == 6432);
        CHECK(c.listen.http->port == 8080);
        CHECK(c.listen.admin->port == 9187);
        REQUIRE(c.find_database("appdb"));
        CHECK(c.find_database("appdb")->port == 5432);
        CHECK(c.find_database("appdb")->user == "postgres");
        CHECK_FALSE(c.http.require_auth);
        REQUIRE(c.find_user("demo"));
        CHECK(c.find_user("demo")->password == "demo");
        CHECK(c.find_user("demo")->auth == auth_method::scram_sha_256);
        REQUIRE(c.find_user("alice"));
        CHECK(c.find_user("alice")->tenant == "acme");
    }
    SUBCASE("demo.yaml with the environment set") {
        ::setenv("QAIL_DEMO_PG_PORT", "55432", 1);
        ::setenv("QAIL_DEMO_DB_USER", "demo_owner", 1);
        ::setenv("QAIL_DEMO_DB_PASSWORD", "pw", 1);
        const load_result r = load_config_file((dir / "demo.yaml").string());
        REQUIRE_MESSAGE(r.cfg, all_errors(r));
        CHECK(r.cfg->find_database("appdb")->port == 55432);
        CHECK(r.cfg->find_database("appdb")->user == "demo_owner");
        CHECK(r.cfg->find_database("appdb")->password == "pw");
        ::unsetenv("QAIL_DEMO_PG_PORT");
        ::unsetenv("QAIL_DEMO_DB_USER");
        ::unsetenv("QAIL_DEMO_DB_PASSWORD");
    }
    ::unsetenv("APP_DB_PASSWORD");
    ::unsetenv("JWT_SECRET");
    ::unsetenv("ADMIN_TOKEN");
}

TEST_CASE("config: every truncation and byte mutation of a full config loads or fails cleanly") {
    std::ifstream in(corpus_dir / "valid/full.yaml");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(text.size() > 1000);
    const std::string secrets[] = {"backend-pass", "0123456789abcdef0123456789abcdef",
                                   "admin-token-value"};
    auto check = [&](const std::string& variant) {
        const load_result r = load(variant);
        CHECK(r.cfg.has_value() == r.errors.empty());
        const std::string errors = all_errors(r);
        for (const auto& s : secrets)
            CHECK(errors.find(s) == std::string::npos);
        for (const auto& e : r.errors) {
            CHECK(e.line >= 1);
            CHECK(e.line <= 80);
        }
    };
    for (std::size_t cut = 0; cut <= text.size(); ++cut)
        check(text.substr(0, cut));
    // Each position overwritten by characters that matter to YAML or to the expansion.
    for (std::size_t i = 0; i < text.size(); i += 3) {
        for (const char c : {':', '"', '\'', '{', '$', '#', '\t', '\0'}) {
            std::string variant = text;
            variant[i] = c;
            check(variant);
        }
    }
}

TEST_CASE("config: deep nesting and garbage are errors, not crashes") {
    CHECK_FALSE(load(std::string(100000, '[')).errors.empty());
    CHECK_FALSE(load(std::string(100000, '{')).errors.empty());
    CHECK_FALSE(load("\xff\xfe\x00garbage: [}").errors.empty());
    CHECK_FALSE(load("just a scalar").errors.empty());
    CHECK_FALSE(load("- a\n- b\n").errors.empty());
    CHECK_FALSE(load("${").errors.empty());
    CHECK_FALSE(load("? [complex, key]\n: value\n").errors.empty());
}

TEST_CASE("config: enum names round-trip through to_string") {
    CHECK(to_string(pool_mode::statement) == "statement");
    CHECK(to_string(reset_mode::discard_all) == "discard_all");
    CHECK(to_string(auth_method::scram_sha_256) == "scram-sha-256");
    CHECK(to_string(tls_mode::require) == "require");
}

} // namespace
} // namespace qail::proxy
