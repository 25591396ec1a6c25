// Loading a config file end to end, --check-config, and lookups on a loaded config.
#include "config/config_detail.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>

namespace qail::proxy {

const database_config* config::find_database(std::string_view name) const {
    const auto it = std::find_if(databases.begin(), databases.end(),
                                 [&](const database_config& d) { return d.name == name; });
    return it == databases.end() ? nullptr : &*it;
}

const user_config* config::find_user(std::string_view name) const {
    const auto it = std::find_if(users.begin(), users.end(),
                                 [&](const user_config& u) { return u.name == name; });
    return it == users.end() ? nullptr : &*it;
}

std::string config_error::to_string() const {
    std::string out = file;
    if (line > 0) {
        out += ':' + std::to_string(line);
        if (column > 0)
            out += ':' + std::to_string(column);
    }
    out += ": ";
    out += message;
    return out;
}

std::string_view to_string(pool_mode m) noexcept {
    switch (m) {
    case pool_mode::session:
        return "session";
    case pool_mode::transaction:
        return "transaction";
    case pool_mode::statement:
        return "statement";
    }
    return "?";
}

std::string_view to_string(reset_mode m) noexcept {
    switch (m) {
    case reset_mode::smart:
        return "smart";
    case reset_mode::discard_all:
        return "discard_all";
    case reset_mode::none:
        return "none";
    }
    return "?";
}

std::string_view to_string(auth_method m) noexcept {
    switch (m) {
    case auth_method::scram_sha_256:
        return "scram-sha-256";
    case auth_method::md5:
        return "md5";
    case auth_method::trust:
        return "trust";
    case auth_method::cert:
        return "cert";
    }
    return "?";
}

std::string_view to_string(tls_mode m) noexcept {
    switch (m) {
    case tls_mode::allow:
        return "allow";
    case tls_mode::require:
        return "require";
    }
    return "?";
}

namespace detail {

position source_map::of(std::string_view path) const {
    while (true) {
        if (const auto it = at_.find(path); it != at_.end() && it->second.line > 0)
            return it->second;
        if (path.empty())
            return {1, 1};
        // Parent: drop the last ".key" or "[i]".
        const std::size_t cut = path.find_last_of(".[");
        path = cut == std::string_view::npos ? std::string_view{} : path.substr(0, cut);
    }
}

} // namespace detail

load_result load_config_string(std::string_view yaml, std::string_view name_for_errors) {
    load_result result;
    detail::error_sink errors(std::string(name_for_errors), result.errors);
    const detail::expanded_text expanded = detail::expand_env(yaml, errors);
    detail::source_map where;
    const std::size_t before_parse = result.errors.size();
    config cfg = detail::parse_config(expanded, errors, where);
    // Cross-setting checks on a config whose parse failed would mostly repeat its errors.
    if (result.errors.size() == before_parse || !cfg.databases.empty())
        detail::validate_config(cfg, where, errors);
    std::stable_sort(result.errors.begin(), result.errors.end(),
                     [](const config_error& a, const config_error& b) {
                         return a.line != b.line ? a.line < b.line : a.column < b.column;
                     });
    if (result.errors.empty())
        result.cfg = std::move(cfg);
    return result;
}

load_result load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        load_result result;
        result.errors.push_back(
            {path, 0, 0, std::string("cannot read the config file: ") + std::strerror(err)});
        return result;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return load_config_string(text.str(), path);
}

int check_config(const std::string& path, std::ostream& out, std::ostream& err) {
    const load_result result = load_config_file(path);
    if (!result.errors.empty()) {
        for (const auto& e : result.errors)
            err << e.to_string() << '\n';
        return 1;
    }
    out << "config OK: " << result.cfg->databases.size() << " databases, "
        << result.cfg->users.size() << " users\n";
    return 0;
}

} // namespace qail::proxy
