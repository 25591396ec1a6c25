// Config checks that span settings: references, passwords vs auth, TLS/JWT completeness.
#include "config/config_detail.hpp"

#include <qail/protocol/md5_password.hpp>
#include <qail/protocol/scram.hpp>

#include <algorithm>
#include <map>

namespace qail::proxy::detail {
namespace {

constexpr std::size_t max_identifier_bytes = 63;
// RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output.
constexpr std::size_t min_hs256_secret_bytes = 32;

class checker {
public:
    checker(const config& cfg, const source_map& where, error_sink& errors)
        : cfg_(cfg), where_(where), errors_(errors) {}

    void run() {
        listen();
        tls();
        databases();
        users();
        tenancy();
        http();
    }

private:
    void error(std::string_view path, std::string message) {
        errors_.add(where_.of(path), std::move(message));
    }

    // A name for a message: quoted, or described when it might hold more than a name.
    static std::string shown(const std::string& s) {
        return safe_to_show(s) ? "'" + s + "'" : "(a value with spaces or over 64 bytes)";
    }

    // "; known databases: a, b" for messages about a name that is not one.
    std::string known_databases(std::string_view wrong) const {
        std::string best;
        std::size_t best_distance = 3;
        std::string all;
        for (const auto& db : cfg_.databases) {
            if (!all.empty())
                all += ", ";
            all += db.name;
            const std::size_t d = edit_distance(wrong, db.name);
            if (d < best_distance && d * 2 < std::max(wrong.size(), db.name.size())) {
                best_distance = d;
                best = db.name;
            }
        }
        if (!best.empty())
            return " (did you mean '" + best + "'?)";
        return all.empty() ? "" : "; configured: " + all;
    }

    void listen() {
        const auto& l = cfg_.listen;
        if (!where_.has("listen.postgres") && !where_.has("listen.unix_socket_dir") &&
            !where_.has("listen.http")) {
            error("listen", "nothing to listen on: set listen.postgres, listen.unix_socket_dir "
                            "or listen.http");
        }
        struct named {
            std::string_view path;
            const std::optional<endpoint>* at;
        };
        const named all[] = {
            {"listen.postgres", &l.postgres}, {"listen.http", &l.http}, {"listen.admin", &l.admin}};
        for (std::size_t i = 0; i < std::size(all); ++i) {
            for (std::size_t k = 0; k < i; ++k) {
                const auto& a = *all[i].at;
                const auto& b = *all[k].at;
                if (!a || !b || a->port != b->port)
                    continue;
                if (a->host == b->host || a->host.empty() || b->host.empty()) {
                    error(all[i].path, std::string(all[i].path) + " uses the same port as " +
                                           std::string(all[k].path));
                }
            }
        }
    }

    void tls() {
        const auto& t = cfg_.tls;
        if (!t.cert.empty() && t.key.empty())
            error("tls.cert", "tls.cert is set but tls.key is not: both are needed");
        if (t.cert.empty() && !t.key.empty())
            error("tls.key", "tls.key is set but tls.cert is not: both are needed");
        if (t.mode == tls_mode::require && (t.cert.empty() || t.key.empty()))
            error("tls.mode", "tls.mode require needs tls.cert and tls.key");
        if (!t.client_ca.empty() && t.cert.empty())
            error("tls.client_ca", "tls.client_ca needs tls.cert and tls.key: client "
                                   "certificates are only asked for inside TLS");
    }

    void databases() {
        if (cfg_.databases.empty()) {
            error("databases", "no databases configured: add at least one under 'databases'");
            return;
        }
        for (const auto& db : cfg_.databases) {
            const std::string path = "databases." + db.name;
            if (db.user.empty() && !where_.rejected(path + ".user")) {
                if (where_.has(path + ".user"))
                    error(path + ".user", path + ".user must not be empty");
                else
                    error(path, path + ": missing required key 'user' (the backend role)");
            }
            if (db.host.empty())
                error(path + ".host", path + ".host must not be empty");
            if (db.dbname.empty() || db.dbname.size() > max_identifier_bytes)
                error(path + ".dbname", path + ".dbname must be 1..63 bytes");
            if (db.min_pool_size > db.pool_size) {
                error(path + ".min_pool_size",
                      path + ".min_pool_size (" + std::to_string(db.min_pool_size) +
                          ") is larger than pool_size (" + std::to_string(db.pool_size) + ")");
            }
            if (db.sslcert.empty() != db.sslkey.empty()) {
                error(db.sslcert.empty() ? path + ".sslkey" : path + ".sslcert",
                      path + ": sslcert and sslkey go together (client certificate and its key)");
            }
        }
    }

    void user_password(const user_config& u, const std::string& path) {
        const std::string& pw = u.password;
        const std::string pw_path = path + ".password";
        if (where_.rejected(pw_path))
            return;
        const bool is_verifier = protocol::looks_like_scram_verifier(pw);
        if (is_verifier && !protocol::parse_scram_verifier(pw)) {
            error(pw_path, pw_path + " looks like a SCRAM-SHA-256 verifier but is malformed "
                                     "(expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>"
                                     ":<ServerKey>, as in pg_authid)");
            return;
        }
        if (u.auth != auth_method::md5 && u.auth != auth_method::scram_sha_256)
            return;
        const std::string method = std::string(to_string(u.auth));
        if (pw.empty()) {
            error(path, path + ": auth " + method + " needs a password");
            return;
        }
        if (u.auth == auth_method::md5 && is_verifier) {
            error(pw_path, pw_path + " is a SCRAM verifier, which cannot answer md5 "
                                     "authentication: give a plaintext password or an md5 "
                                     "hash, or use auth: scram-sha-256");
        }
        if (u.auth == auth_method::scram_sha_256 && protocol::is_md5_password_hash(pw)) {
            error(pw_path, pw_path + " is an md5 hash, which cannot answer SCRAM "
                                     "authentication: give a plaintext password or a SCRAM "
                                     "verifier, or use auth: md5");
        }
    }

    void users() {
        std::map<std::string, int, std::less<>> seen;
        for (std::size_t i = 0; i < cfg_.users.size(); ++i) {
            const auto& u = cfg_.users[i];
            const std::string path = "users[" + std::to_string(i) + "]";
            if (where_.rejected(path + ".name")) {
                // already reported
            } else if (u.name.empty()) {
                error(path, path + ": missing required key 'name'");
            } else if (!valid_name(u.name)) {
                error(path + ".name", path + ".name must be 1..63 bytes without spaces or "
                                             "control characters");
            } else if (const auto first = seen.find(u.name); first != seen.end()) {
                error(path + ".name", "duplicate user '" + u.name + "' (first at line " +
                                          std::to_string(first->second) + ")");
            } else {
                seen.emplace(u.name, where_.of(path + ".name").line);
            }
            user_password(u, path);
            if (u.auth == auth_method::cert && cfg_.tls.client_ca.empty()) {
                error(path + ".auth", path + ": auth cert needs tls.client_ca (client "
                                             "certificates are verified against it)");
            }
            if (u.tenant && u.tenant->empty())
                error(path + ".tenant", path + ".tenant must not be empty");
            for (std::size_t k = 0; k < u.databases.size(); ++k) {
                const std::string& name = u.databases[k];
                if (cfg_.find_database(name) == nullptr) {
                    const std::string db_path = path + ".databases[" + std::to_string(k) + "]";
                    error(db_path, path + ".databases: unknown database " + shown(name) +
                                       known_databases(name));
                }
            }
        }
    }

    // A custom setting name PostgreSQL accepts without quoting: "prefix.name".
    static bool custom_setting_name(std::string_view s) {
        if (s.empty() || s.front() == '.' || s.back() == '.' ||
            s.find('.') == std::string_view::npos || s.find("..") != std::string_view::npos)
            return false;
        return std::all_of(s.begin(), s.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '.';
        });
    }

    void tenancy() {
        const auto& t = cfg_.tenancy;
        const std::pair<std::string_view, const std::string*> settings[] = {
            {"tenancy.tenant_setting", &t.tenant_setting},
            {"tenancy.user_setting", &t.user_setting}};
        for (const auto& [path, value] : settings) {
            if (!custom_setting_name(*value)) {
                error(path, std::string(path) + ": " + shown(*value) +
                                " is not a custom setting name (expected prefix.name with "
                                "letters, digits and '_', e.g. app.current_tenant_id)");
            }
        }
        if (t.tenant_setting == t.user_setting)
            error("tenancy.user_setting", "tenancy.user_setting must differ from tenant_setting");
    }

    void http() {
        const auto& h = cfg_.http;
        const auto& jwt = h.jwt;
        if (!h.default_database.empty() && cfg_.find_database(h.default_database) == nullptr) {
            error("http.default_database", "http.default_database: unknown database " +
                                               shown(h.default_database) +
                                               known_databases(h.default_database));
        }
        // A rejected key still counts as given: its error is already reported.
        const bool has_secret =
            !jwt.hs256_secret.empty() || where_.rejected("http.jwt.hs256_secret");
        const bool has_key_file =
            !jwt.public_key_file.empty() || where_.rejected("http.jwt.public_key_file");
        if (has_secret && has_key_file) {
            error("http.jwt.public_key_file",
                  "http.jwt: set either hs256_secret or public_key_file, not both");
        }
        if (!jwt.hs256_secret.empty() && jwt.hs256_secret.size() < min_hs256_secret_bytes) {
            error("http.jwt.hs256_secret",
                  "http.jwt.hs256_secret is shorter than 32 bytes (RFC 7518 requires an HS256 "
                  "key of at least 256 bits)");
        }
        if (cfg_.listen.http && h.require_auth && !has_secret && !has_key_file) {
            error(where_.has("http.require_auth") ? "http.require_auth" : "listen.http",
                  "http.require_auth is true but http.jwt has no key: set "
                  "http.jwt.hs256_secret or http.jwt.public_key_file "
                  "(require_auth: false only for demos)");
        }
        if (jwt.tenant_claim.empty())
            error("http.jwt.tenant_claim", "http.jwt.tenant_claim must not be empty");
        if (jwt.user_claim.empty())
            error("http.jwt.user_claim", "http.jwt.user_claim must not be empty");
        for (std::size_t i = 0; i < h.allowed_tables.size(); ++i) {
            if (h.allowed_tables[i].empty()) {
                const std::string path = "http.allowed_tables[" + std::to_string(i) + "]";
                error(path, path + " must not be empty");
            }
        }
    }

    const config& cfg_;
    const source_map& where_;
    error_sink& errors_;
};

} // namespace

void validate_config(const config& cfg, const source_map& where, error_sink& errors) {
    checker(cfg, where, errors).run();
}

} // namespace qail::proxy::detail
