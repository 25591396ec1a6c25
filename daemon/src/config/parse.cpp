// YAML to config: every key, type, range, enum value and endpoint, each error at its node.
#include "config/config_detail.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <limits>
#include <span>
#include <yaml-cpp/yaml.h>

namespace qail::proxy::detail {
namespace {

using handler = std::function<void(const YAML::Node& value, const std::string& path, position)>;

struct field {
    std::string_view name;
    handler handle;
};

template <class E>
struct enum_name {
    std::string_view name;
    E value;
};

constexpr enum_name<pool_mode> pool_modes[] = {{"session", pool_mode::session},
                                               {"transaction", pool_mode::transaction},
                                               {"statement", pool_mode::statement}};
constexpr enum_name<reset_mode> reset_modes[] = {{"smart", reset_mode::smart},
                                                 {"discard_all", reset_mode::discard_all},
                                                 {"none", reset_mode::none}};
constexpr enum_name<auth_method> auth_methods[] = {{"scram-sha-256", auth_method::scram_sha_256},
                                                   {"md5", auth_method::md5},
                                                   {"trust", auth_method::trust},
                                                   {"cert", auth_method::cert}};
constexpr enum_name<tls_mode> tls_modes[] = {{"allow", tls_mode::allow},
                                             {"require", tls_mode::require}};
constexpr std::string_view sslmodes[] = {"disable", "allow",     "prefer",
                                         "require", "verify-ca", "verify-full"};
constexpr std::string_view log_levels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};

// Durations are kept below 2^31 ms, the range PostgreSQL's own timeouts accept.
constexpr std::size_t max_duration_ms = 2147483647;

std::string join(std::span<const std::string_view> names) {
    std::string out;
    for (const auto n : names) {
        if (!out.empty())
            out += ", ";
        out += n;
    }
    return out;
}

template <class E>
std::string join_names(std::span<const enum_name<E>> table) {
    std::vector<std::string_view> names;
    for (const auto& e : table)
        names.push_back(e.name);
    return join(names);
}

std::string suggestion(std::string_view key, std::span<const field> fields) {
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (const auto& f : fields) {
        const std::size_t d = edit_distance(key, f.name);
        if (d < best_distance) {
            best_distance = d;
            best = f.name;
        }
    }
    if (best.empty() || best_distance > 2 || best_distance * 2 >= std::max(key.size(), best.size()))
        return {};
    return " (did you mean '" + std::string(best) + "'?)";
}

class reader {
public:
    reader(const expanded_text& text, error_sink& errors, source_map& where)
        : substituted_(&text.substituted_lines), failed_(&text.failed_lines), errors_(&errors),
          where_(&where) {}

    static position pos(const YAML::Mark& m) {
        if (m.is_null())
            return {};
        return {m.line + 1, m.column + 1};
    }

    void error(position at, std::string message) { errors_->add(at, std::move(message)); }

    // What kind of node `v` is, for messages that need no more.
    static std::string shape(const YAML::Node& v) {
        switch (v.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            return "nothing";
        case YAML::NodeType::Sequence:
            return "a sequence";
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Scalar:
            break;
        }
        return "a string";
    }

    // How a node looks, for messages: its text unless it may hold a secret.
    std::string describe(const YAML::Node& v, bool secret, position at) const {
        switch (v.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            return "nothing";
        case YAML::NodeType::Sequence:
            return "a sequence";
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Scalar:
            break;
        }
        if (secret || substituted_->contains(at.line))
            return "a value that is not shown (it may be a secret)";
        if (!safe_to_show(v.Scalar()))
            return "a value with spaces or over 64 bytes (not shown)";
        return "'" + v.Scalar() + "'";
    }

    // Walks a mapping: unknown and duplicate keys are errors, known ones go to their
    // handler with the path "<path>.<key>". A null node is an empty mapping.
    void fields(const YAML::Node& map, const std::string& path, position at,
                std::span<const field> table) {
        if (map.IsNull())
            return;
        if (!map.IsMap()) {
            error(at, where_name(path) + "expected a mapping, got " + shape(map));
            return;
        }
        std::map<std::string, int, std::less<>> seen;
        for (auto it = map.begin(); it != map.end(); ++it) {
            const YAML::Node key = it->first; // copies: *it is a temporary proxy
            const YAML::Node value = it->second;
            const position key_at = pos(key.Mark());
            if (!key.IsScalar()) {
                error(key_at, where_name(path) + "keys must be plain names");
                continue;
            }
            const std::string& name = key.Scalar();
            const auto f = std::find_if(table.begin(), table.end(),
                                        [&](const field& x) { return x.name == name; });
            const std::string shown = substituted_->contains(key_at.line) ? "(from the environment)"
                                      : safe_to_show(name)                ? "'" + name + "'"
                                                           : "(not a plain name, not shown)";
            if (f == table.end()) {
                error(key_at, "unknown key " + shown +
                                  (path.empty() ? " at top level" : " in " + path) +
                                  suggestion(name, table));
                continue;
            }
            if (const auto first = seen.find(name); first != seen.end()) {
                error(key_at, "duplicate key " + shown + (path.empty() ? "" : " in " + path) +
                                  " (first at line " + std::to_string(first->second) + ")");
                continue;
            }
            seen.emplace(name, key_at.line);
            // Scalars point at themselves; sections and lists at their key's line.
            const position value_at = value.IsScalar() ? pos(value.Mark()) : key_at;
            const std::string child = path.empty() ? name : path + "." + name;
            where_->set(child, value_at);
            const std::size_t errors_before = errors_->count();
            f->handle(value, child, value_at);
            if (errors_->count() != errors_before || failed_->contains(value_at.line))
                where_->reject(child);
        }
    }

    // The scalar text of `v`, or an error saying what was expected instead.
    const std::string* scalar(const YAML::Node& v, const std::string& path, position at,
                              std::string_view expected, bool secret) {
        if (v.IsScalar())
            return &v.Scalar();
        error(at,
              path + ": expected " + std::string(expected) + ", got " + describe(v, secret, at));
        return nullptr;
    }

    handler text(std::string& out, bool secret = false) {
        return [this, &out, secret](const YAML::Node& v, const std::string& path, position at) {
            if (const auto* s = scalar(v, path, at, "a string", secret))
                out = *s;
        };
    }

    handler optional_text(std::optional<std::string>& out) {
        return [this, &out](const YAML::Node& v, const std::string& path, position at) {
            if (const auto* s = scalar(v, path, at, "a string", false))
                out = *s;
        };
    }

    handler text_list(std::vector<std::string>& out) {
        return [this, &out](const YAML::Node& v, const std::string& path, position at) {
            if (v.IsNull())
                return;
            if (!v.IsSequence()) {
                error(at, path + ": expected a list of strings, got " + shape(v));
                return;
            }
            for (std::size_t i = 0; i < v.size(); ++i) {
                const YAML::Node item = v[i];
                const std::string item_path = path + "[" + std::to_string(i) + "]";
                const position item_at = item.IsNull() ? at : pos(item.Mark());
                where_->set(item_path, item_at);
                if (const auto* s = scalar(item, item_path, item_at, "a string", false))
                    out.push_back(*s);
            }
        };
    }

    // An unsigned integer in [min, max].
    bool integer(const YAML::Node& v, const std::string& path, position at, std::size_t min,
                 std::size_t max, std::size_t& out) {
        const auto* s = scalar(v, path, at, "an integer", false);
        if (s == nullptr)
            return false;
        const std::string_view digits = *s;
        const bool negative = !digits.empty() && digits.front() == '-';
        const std::string_view magnitude = negative ? digits.substr(1) : digits;
        std::size_t n = 0;
        const auto [end, ec] =
            std::from_chars(magnitude.data(), magnitude.data() + magnitude.size(), n);
        const bool all_digits = !magnitude.empty() && end == magnitude.data() + magnitude.size() &&
                                std::all_of(magnitude.begin(), magnitude.end(),
                                            [](char c) { return c >= '0' && c <= '9'; });
        if (!all_digits) {
            error(at, path + ": expected an integer, got " + describe(v, false, at));
            return false;
        }
        if (negative || ec == std::errc::result_out_of_range || n < min || n > max) {
            error(at, path + ": " + describe(v, false, at) + " is out of range " +
                          std::to_string(min) + ".." + std::to_string(max));
            return false;
        }
        out = n;
        return true;
    }

    handler size(std::size_t& out, std::size_t min, std::size_t max) {
        return [this, &out, min, max](const YAML::Node& v, const std::string& path, position at) {
            std::size_t n = 0;
            if (integer(v, path, at, min, max, n))
                out = n;
        };
    }

    handler port(std::uint16_t& out) {
        return [this, &out](const YAML::Node& v, const std::string& path, position at) {
            std::size_t n = 0;
            if (integer(v, path, at, 1, 65535, n))
                out = static_cast<std::uint16_t>(n);
        };
    }

    template <class Duration>
    handler duration(Duration& out, std::size_t max) {
        return [this, &out, max](const YAML::Node& v, const std::string& path, position at) {
            std::size_t n = 0;
            if (integer(v, path, at, 0, max, n))
                out = Duration{static_cast<typename Duration::rep>(n)};
        };
    }

    handler boolean(bool& out) {
        return [this, &out](const YAML::Node& v, const std::string& path, position at) {
            const auto* s = scalar(v, path, at, "true or false", false);
            if (s == nullptr)
                return;
            std::string lower = *s;
            std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
                return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
            });
            if (lower == "true")
                out = true;
            else if (lower == "false")
                out = false;
            else
                error(at, path + ": expected true or false, got " + describe(v, false, at));
        };
    }

    template <class E>
    handler one_of(E& out, std::span<const enum_name<E>> table) {
        return [this, &out, table](const YAML::Node& v, const std::string& path, position at) {
            const auto* s = scalar(v, path, at, "one of: " + join_names(table), false);
            if (s == nullptr)
                return;
            for (const auto& e : table) {
                if (e.name == *s) {
                    out = e.value;
                    return;
                }
            }
            error(at, path + ": " + describe(v, false, at) +
                          " is not a valid value; allowed: " + join_names(table));
        };
    }

    handler one_of(std::string& out, std::span<const std::string_view> allowed) {
        return [this, &out, allowed](const YAML::Node& v, const std::string& path, position at) {
            const auto* s = scalar(v, path, at, "one of: " + join(allowed), false);
            if (s == nullptr)
                return;
            if (std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
                error(at, path + ": " + describe(v, false, at) +
                              " is not a valid value; allowed: " + join(allowed));
                return;
            }
            out = *s;
        };
    }

    handler address(std::optional<endpoint>& out);

    const std::set<int>& substituted() const { return *substituted_; }
    source_map& where() { return *where_; }

private:
    static std::string where_name(const std::string& path) {
        return path.empty() ? "" : path + ": ";
    }

    const std::set<int>* substituted_;
    const std::set<int>* failed_;
    error_sink* errors_;
    source_map* where_;
};

bool valid_host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

// "host:port", "[v6]:port" or ":port"; an error message on failure.
std::optional<std::string> parse_endpoint(std::string_view s, endpoint& out) {
    constexpr std::string_view shape = "expected HOST:PORT, [IPV6]:PORT or :PORT";
    std::string_view host;
    std::string_view rest;
    if (!s.empty() && s.front() == '[') {
        const std::size_t close = s.find(']');
        if (close == std::string_view::npos)
            return std::string(shape) + " (missing ']')";
        host = s.substr(1, close - 1);
        rest = s.substr(close + 1);
        if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
                return valid_host_char(c) || c == ':' || c == '%';
            }))
            return "invalid IPv6 address in brackets";
        if (rest.empty() || rest.front() != ':')
            return std::string(shape) + " (missing ':PORT' after ']')";
        rest.remove_prefix(1);
    } else {
        const std::size_t colon = s.rfind(':');
        if (colon == std::string_view::npos)
            return std::string(shape) + " (missing ':PORT')";
        host = s.substr(0, colon);
        rest = s.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return "IPv6 addresses need brackets: [ADDRESS]:PORT";
        if (!std::all_of(host.begin(), host.end(), valid_host_char))
            return "invalid host name";
    }
    std::size_t port = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), port);
    if (rest.empty() || end != rest.data() + rest.size() || rest.front() == '+')
        return std::string(shape) + " (the port must be a number)";
    if (ec == std::errc::result_out_of_range || port < 1 || port > 65535)
        return "the port is out of range 1..65535";
    out.host = std::string(host);
    out.port = static_cast<std::uint16_t>(port);
    return std::nullopt;
}

handler reader::address(std::optional<endpoint>& out) {
    return [this, &out](const YAML::Node& v, const std::string& path, position at) {
        const auto* s = scalar(v, path, at, "HOST:PORT", false);
        if (s == nullptr)
            return;
        endpoint e;
        if (auto problem = parse_endpoint(*s, e)) {
            error(at, path + ": " + describe(v, false, at) + ": " + *problem);
            return;
        }
        out = std::move(e);
    };
}

void parse_database(reader& r, const YAML::Node& v, const std::string& path, position at,
                    database_config& db) {
    const field table[] = {
        {"host", r.text(db.host)},
        {"port", r.port(db.port)},
        {"dbname", r.text(db.dbname)},
        {"user", r.text(db.user)},
        {"password", r.text(db.password, true)},
        {"sslmode", r.one_of(db.sslmode, sslmodes)},
        {"sslrootcert", r.text(db.sslrootcert)},
        {"sslcert", r.text(db.sslcert)},
        {"sslkey", r.text(db.sslkey)},
        {"pool_mode", r.one_of(db.mode, std::span<const enum_name<pool_mode>>(pool_modes))},
        {"pool_size", r.size(db.pool_size, 1, 10000)},
        {"min_pool_size", r.size(db.min_pool_size, 0, 10000)},
        {"reset", r.one_of(db.reset, std::span<const enum_name<reset_mode>>(reset_modes))},
        {"tenant_guard", r.boolean(db.tenant_guard)},
        {"max_prepared_statements", r.size(db.max_prepared_statements, 1, 100000)},
    };
    if (v.IsNull()) {
        r.error(at, path + ": expected the database's settings (host, port, user, ...)");
        return;
    }
    r.fields(v, path, at, table);
    if (db.dbname.empty())
        db.dbname = db.name;
}

void parse_databases(reader& r, const YAML::Node& v, const std::string& path, position at,
                     std::vector<database_config>& out) {
    if (v.IsNull())
        return;
    if (!v.IsMap()) {
        r.error(at, path + ": expected a mapping of database name to settings, got " +
                        reader::shape(v));
        return;
    }
    std::map<std::string, int, std::less<>> seen;
    for (auto it = v.begin(); it != v.end(); ++it) {
        const YAML::Node key = it->first; // a copy: *it is a temporary proxy
        const position key_at = reader::pos(key.Mark());
        if (!key.IsScalar() || !valid_name(key.Scalar())) {
            r.error(key_at, path + ": database names must be 1..63 bytes without spaces or "
                                   "control characters");
            continue;
        }
        const std::string& name = key.Scalar();
        const std::string db_path = path + "." + name;
        if (const auto first = seen.find(name); first != seen.end()) {
            r.error(key_at, "duplicate database '" + name + "' (first at line " +
                                std::to_string(first->second) + ")");
            continue;
        }
        seen.emplace(name, key_at.line);
        r.where().set(db_path, key_at);
        database_config db;
        db.name = name;
        parse_database(r, it->second, db_path, key_at, db);
        out.push_back(std::move(db));
    }
}

void parse_users(reader& r, const YAML::Node& v, const std::string& path, position at,
                 std::vector<user_config>& out) {
    if (v.IsNull())
        return;
    if (!v.IsSequence()) {
        r.error(at, path + ": expected a list of users (- name: ...), got " + reader::shape(v));
        return;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
        const YAML::Node item = v[i];
        const std::string user_path = path + "[" + std::to_string(i) + "]";
        const position item_at = item.IsNull() ? at : reader::pos(item.Mark());
        r.where().set(user_path, item_at);
        user_config u;
        const field table[] = {
            {"name", r.text(u.name)},
            {"password", r.text(u.password, true)},
            {"auth", r.one_of(u.auth, std::span<const enum_name<auth_method>>(auth_methods))},
            {"tenant", r.optional_text(u.tenant)},
            {"databases", r.text_list(u.databases)},
        };
        if (!item.IsMap()) {
            r.error(item_at, user_path + ": expected a user (name, password, auth, ...), got " +
                                 reader::shape(item));
            continue;
        }
        r.fields(item, user_path, item_at, table);
        out.push_back(std::move(u));
    }
}

} // namespace

config parse_config(const expanded_text& text, error_sink& errors, source_map& where) {
    config cfg;
    std::vector<YAML::Node> documents;
    try {
        documents = YAML::LoadAll(text.text);
    } catch (const YAML::ParserException& e) {
        errors.add(reader::pos(e.mark), "YAML syntax error: " + e.msg);
        return cfg;
    } catch (const YAML::Exception& e) {
        errors.add(reader::pos(e.mark), "YAML error: " + e.msg);
        return cfg;
    }
    if (documents.empty() || documents.front().IsNull()) {
        errors.add({1, 1}, "the config is empty (it needs at least a 'databases' section)");
        return cfg;
    }
    if (documents.size() > 1) {
        errors.add(reader::pos(documents[1].Mark()),
                   "more than one YAML document: a config file holds exactly one");
    }
    reader r(text, errors, where);
    const YAML::Node& root = documents.front();
    where.set("", reader::pos(root.Mark()));

    auto section = [&r](std::span<const field> table) {
        return [&r, table](const YAML::Node& v, const std::string& path, position at) {
            r.fields(v, path, at, table);
        };
    };
    auto& l = cfg.listen;
    const field listen_fields[] = {{"postgres", r.address(l.postgres)},
                                   {"unix_socket_dir", r.text(l.unix_socket_dir)},
                                   {"http", r.address(l.http)},
                                   {"admin", r.address(l.admin)}};
    auto& t = cfg.tls;
    const field tls_fields[] = {
        {"cert", r.text(t.cert)},
        {"key", r.text(t.key)},
        {"client_ca", r.text(t.client_ca)},
        {"mode", r.one_of(t.mode, std::span<const enum_name<tls_mode>>(tls_modes))}};
    const field tenancy_fields[] = {{"tenant_setting", r.text(cfg.tenancy.tenant_setting)},
                                    {"user_setting", r.text(cfg.tenancy.user_setting)}};
    auto& j = cfg.http.jwt;
    const field jwt_fields[] = {{"hs256_secret", r.text(j.hs256_secret, true)},
                                {"public_key_file", r.text(j.public_key_file)},
                                {"issuer", r.text(j.issuer)},
                                {"audience", r.text(j.audience)},
                                {"tenant_claim", r.text(j.tenant_claim)},
                                {"user_claim", r.text(j.user_claim)},
                                {"leeway_seconds", r.duration(j.leeway, 86400)}};
    auto& h = cfg.http;
    const field http_fields[] = {
        {"default_database", r.text(h.default_database)},
        {"require_auth", r.boolean(h.require_auth)},
        {"jwt", section(jwt_fields)},
        {"max_body_bytes", r.size(h.max_body_bytes, 1, std::size_t{1} << 30)},
        {"max_rows", r.size(h.max_rows, 1, 10'000'000)},
        {"statement_timeout_ms", r.duration(h.statement_timeout, max_duration_ms)},
        {"allowed_tables", r.text_list(h.allowed_tables)}};
    const field admin_fields[] = {{"token", r.text(cfg.admin.token, true)}};
    auto& lim = cfg.limits;
    const field limits_fields[] = {
        {"max_client_conn", r.size(lim.max_client_conn, 1, 1'000'000)},
        {"query_wait_timeout_ms", r.duration(lim.query_wait_timeout, max_duration_ms)},
        {"idle_transaction_timeout_ms", r.duration(lim.idle_transaction_timeout, max_duration_ms)},
        {"client_idle_timeout_ms", r.duration(lim.client_idle_timeout, max_duration_ms)},
        {"shutdown_timeout_ms", r.duration(lim.shutdown_timeout, max_duration_ms)},
        {"max_message_bytes", r.size(lim.max_message_bytes, 1024, std::size_t{1} << 30)},
        {"auth_failure_delay_ms", r.duration(lim.auth_failure_delay, 60000)},
        {"client_login_timeout_ms", r.duration(lim.client_login_timeout, max_duration_ms)}};
    const field root_fields[] = {
        {"workers", r.size(cfg.workers, 1, 256)},
        {"listen", section(listen_fields)},
        {"tls", section(tls_fields)},
        {"databases", [&](const YAML::Node& v, const std::string& path,
                          position at) { parse_databases(r, v, path, at, cfg.databases); }},
        {"users", [&](const YAML::Node& v, const std::string& path,
                      position at) { parse_users(r, v, path, at, cfg.users); }},
        {"tenancy", section(tenancy_fields)},
        {"http", section(http_fields)},
        {"admin", section(admin_fields)},
        {"limits", section(limits_fields)},
        {"log_level", r.one_of(cfg.log_level, log_levels)}};
    r.fields(root, "", reader::pos(root.Mark()), root_fields);
    return cfg;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0u : 1u)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

} // namespace qail::proxy::detail
