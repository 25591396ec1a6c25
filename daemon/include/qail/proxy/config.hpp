// The daemon's configuration: typed settings, and loading/validating them from YAML.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qail::proxy {

/// How long a client keeps the backend it was given (databases.*.pool_mode).
enum class pool_mode { session, transaction, statement };

/// What runs on a backend when it is released (databases.*.reset).
enum class reset_mode {
    smart,       ///< fixed DISCARD ALL equivalent that keeps the proxy's prepared statements
    discard_all, ///< DISCARD ALL (the proxy re-prepares on demand)
    none,        ///< nothing: unsafe, session state leaks between clients
};

/// How a PostgreSQL-wire client proves who it is (users[].auth).
enum class auth_method { scram_sha_256, md5, trust, cert };

/// Whether client-facing TLS is optional or mandatory (tls.mode).
enum class tls_mode { allow, require };

/// A listen address: "127.0.0.1:6432", "[::1]:6432", "localhost:6432" or ":6432".
/// An empty host means all interfaces.
struct endpoint {
    std::string host;
    std::uint16_t port = 0;
};

struct listen_config {
    std::optional<endpoint> postgres; ///< PostgreSQL wire clients over TCP
    std::string unix_socket_dir;      ///< empty: no Unix socket
    std::optional<endpoint> http;     ///< JSON AST API; unset: off
    std::optional<endpoint> admin;    ///< /metrics /healthz /readyz /admin/*; unset: off
};

/// Client-facing TLS. Paths are used as written (relative to the working directory).
struct tls_config {
    std::string cert, key, client_ca;
    tls_mode mode = tls_mode::allow;
    [[nodiscard]] bool enabled() const { return !cert.empty(); }
};

struct database_config {
    std::string name; ///< the key under `databases`: what clients connect to
    std::string host = "127.0.0.1";
    std::uint16_t port = 5432;
    std::string dbname; ///< backend database name; the loader sets it to `name` when absent
    std::string user;
    std::string password;
    std::string sslmode = "prefer"; ///< disable|allow|prefer|require|verify-ca|verify-full
    std::string sslrootcert, sslcert, sslkey; ///< optional backend TLS files
    pool_mode mode = pool_mode::transaction;
    std::size_t pool_size = 20;
    std::size_t min_pool_size = 0;
    reset_mode reset = reset_mode::smart;
    bool tenant_guard = false;
    std::size_t max_prepared_statements = 500; ///< per-backend LRU bound
};

struct user_config {
    std::string name;
    std::string password; ///< plaintext, SCRAM verifier or md5 hash ("md5" + 32 hex)
    auth_method auth = auth_method::scram_sha_256;
    std::optional<std::string> tenant;
    std::vector<std::string> databases; ///< empty = all
};

struct tenancy_config {
    std::string tenant_setting = "app.current_tenant_id";
    std::string user_setting = "app.current_user_id";
};

struct jwt_config {
    std::string hs256_secret;
    std::string public_key_file; ///< PEM, RS256/ES256
    std::string issuer;          ///< empty: not checked
    std::string audience;        ///< empty: not checked
    std::string tenant_claim = "tenant_id";
    std::string user_claim = "sub";
    std::chrono::seconds leeway{30};
};

struct http_config {
    std::string default_database; ///< empty: requests must name one (?db=)
    bool require_auth = true;
    jwt_config jwt;
    std::size_t max_body_bytes = 1048576;
    std::size_t max_rows = 10000;
    std::chrono::milliseconds statement_timeout{30000}; ///< 0: none
    std::vector<std::string> allowed_tables;            ///< empty = all
};

struct admin_config {
    std::string token; ///< empty: admin endpoints unprotected
};

struct limits_config {
    std::size_t max_client_conn = 10000;
    std::chrono::milliseconds query_wait_timeout{120000};  ///< 0: wait forever
    std::chrono::milliseconds idle_transaction_timeout{0}; ///< 0: none
    std::chrono::milliseconds client_idle_timeout{0};      ///< 0: none
    std::chrono::milliseconds shutdown_timeout{30000};
    std::size_t max_message_bytes = 64 * 1024 * 1024;  ///< largest client message
    std::chrono::milliseconds auth_failure_delay{250}; ///< before reporting a failed login
    /// From the accept to the end of the login (startup, TLS, authentication); 0: none.
    std::chrono::milliseconds client_login_timeout{60000};
};

struct config {
    std::size_t workers = 2;
    listen_config listen;
    tls_config tls;
    std::vector<database_config> databases; ///< in file order
    std::vector<user_config> users;         ///< in file order
    tenancy_config tenancy;
    http_config http;
    admin_config admin;
    limits_config limits;
    std::string log_level = "info"; ///< trace|debug|info|warn|error|critical|off

    [[nodiscard]] const database_config* find_database(std::string_view name) const;
    [[nodiscard]] const user_config* find_user(std::string_view name) const;
};

/// One problem found in a config file. line/column are 1-based; 0 when unknown.
struct config_error {
    std::string file;
    int line = 0;
    int column = 0;
    std::string message;
    /// "file:line:col: message" (the position parts are left out when unknown).
    [[nodiscard]] std::string to_string() const;
};

struct load_result {
    std::optional<config> cfg; ///< set only if `errors` is empty
    std::vector<config_error> errors;
};

/// Reads the file, expands ${VAR} and ${VAR:-default} line by line (so positions still
/// match the file), parses and validates. Collects every error, each with its position;
/// secrets (passwords, hs256_secret, token, and any value that came from the
/// environment) never appear in messages.
[[nodiscard]] load_result load_config_file(const std::string& path);

/// The same from a string; `name_for_errors` stands in for the file name.
[[nodiscard]] load_result load_config_string(std::string_view yaml,
                                             std::string_view name_for_errors);

/// --check-config: prints every error, one per line, to `err` and returns 1; or prints
/// "config OK: N databases, M users" to `out` and returns 0.
[[nodiscard]] int check_config(const std::string& path, std::ostream& out, std::ostream& err);

[[nodiscard]] std::string_view to_string(pool_mode m) noexcept;
[[nodiscard]] std::string_view to_string(reset_mode m) noexcept;
[[nodiscard]] std::string_view to_string(auth_method m) noexcept;
[[nodiscard]] std::string_view to_string(tls_mode m) noexcept;

} // namespace qail::proxy
