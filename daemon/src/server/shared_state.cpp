// State every worker shares: configuration, credentials, pools, session registry.
#include "server/shared_state.hpp"

#include <qail/protocol/md5_password.hpp>
#include <qail/protocol/startup.hpp>
#include <qail/proxy/secure_random.hpp>

#include <array>
#include <boost/asio/post.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

namespace qail::proxy {

namespace {

login_method to_login_method(auth_method m) {
    switch (m) {
    case auth_method::scram_sha_256:
        return login_method::scram_sha_256;
    case auth_method::md5:
        return login_method::md5;
    case auth_method::trust:
        return login_method::trust;
    case auth_method::cert:
        return login_method::cert;
    }
    return login_method::scram_sha_256;
}

client::ssl_mode to_ssl_mode(std::string_view s) {
    for (const auto m :
         {client::ssl_mode::disable, client::ssl_mode::allow, client::ssl_mode::prefer,
          client::ssl_mode::require, client::ssl_mode::verify_ca, client::ssl_mode::verify_full})
        if (client::to_string(m) == s)
            return m;
    return client::ssl_mode::prefer;
}

pool::reset_policy to_reset_policy(reset_mode m) {
    switch (m) {
    case reset_mode::smart:
        return pool::reset_policy::smart;
    case reset_mode::discard_all:
        return pool::reset_policy::discard_all;
    case reset_mode::none:
        return pool::reset_policy::none;
    }
    return pool::reset_policy::smart;
}

} // namespace

client::connect_options backend_options(const database_config& db) {
    client::connect_options o;
    o.hosts = {client::host_spec{db.host, db.port, {}}};
    o.dbname = db.dbname.empty() ? db.name : db.dbname;
    o.user = db.user;
    o.password = db.password;
    o.sslmode = to_ssl_mode(db.sslmode);
    o.sslrootcert = db.sslrootcert;
    o.sslcert = db.sslcert;
    o.sslkey = db.sslkey;
    o.application_name = "qail-proxy";
    o.connect_timeout = std::chrono::milliseconds{10000};
    return o;
}

pool::pool_config backend_pool_config(const config& cfg, const database_config& db) {
    pool::pool_config p;
    p.max_size = db.pool_size;
    p.min_size = db.min_pool_size;
    p.acquire_timeout = cfg.limits.query_wait_timeout.count() > 0
                            ? cfg.limits.query_wait_timeout
                            : std::chrono::milliseconds{24L * 3600 * 1000};
    p.reset = to_reset_policy(db.reset);
    p.tenant_setting = cfg.tenancy.tenant_setting;
    p.user_setting = cfg.tenancy.user_setting;
    return p;
}

shared_state::shared_state(std::shared_ptr<const config> cfg, std::shared_ptr<metrics_sink> metrics)
    : cfg_(std::move(cfg)), metrics_(std::move(metrics)) {
    std::uint32_t start = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&start), sizeof start) != 1)
        start = 1;
    next_pid_ = static_cast<std::int32_t>(start % 1'000'000'000U) + 1;
    rebuild_users(*cfg_);
    for (const auto& db : cfg_->databases) {
        auto st = std::make_shared<database_state>();
        st->cfg = db;
        databases_.emplace(db.name, std::move(st));
    }
}

void shared_state::rebuild_users(const config& cfg) {
    std::map<std::string, std::shared_ptr<const user_entry>, std::less<>> users;
    for (const auto& u : cfg.users) {
        auto c = make_login_credentials(to_login_method(u.auth), u.name, u.password);
        if (!c) {
            // Validation refuses such configs; keep the user unusable rather than open.
            spdlog::error("user {}: its password cannot be used for {}; logins refused", u.name,
                          to_string(u.auth));
            continue;
        }
        users.emplace(u.name, std::make_shared<const user_entry>(user_entry{u, std::move(*c)}));
    }
    std::lock_guard lock(mutex_);
    users_ = std::move(users);
}

std::string lower_name(std::string_view name) {
    std::string out(name);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::shared_ptr<const server_parameters>
server_parameters::from(const std::vector<std::pair<std::string, std::string>>& reported) {
    auto made = std::make_shared<server_parameters>();
    protocol::writer w(made->encoded);
    for (const auto& [name, value] : reported) {
        const std::size_t at = made->encoded.size();
        protocol::encode(w, protocol::parameter_status{name, value});
        made->entries.push_back({name, lower_name(name), at, made->encoded.size() - at});
    }
    return made;
}

std::shared_ptr<const config> shared_state::current() const {
    std::lock_guard lock(mutex_);
    return cfg_;
}

void shared_state::update(std::shared_ptr<const config> cfg) {
    rebuild_users(*cfg);
    std::lock_guard lock(mutex_);
    for (const auto& db : cfg->databases) {
        auto it = databases_.find(db.name);
        if (it == databases_.end()) {
            spdlog::warn("reload: database {} is new; it needs a restart to be served", db.name);
            continue;
        }
        auto& st = *it->second;
        if (db.host != st.cfg.host || db.port != st.cfg.port || db.dbname != st.cfg.dbname ||
            db.user != st.cfg.user || db.password != st.cfg.password || db.mode != st.cfg.mode)
            spdlog::warn("reload: database {}: a changed host, port, dbname, user, password or "
                         "pool_mode needs a restart",
                         db.name);
        if (st.pool &&
            (db.pool_size != st.cfg.pool_size || db.min_pool_size != st.cfg.min_pool_size))
            st.pool->resize(db.pool_size, db.min_pool_size);
        st.cfg.pool_size = db.pool_size;
        st.cfg.min_pool_size = db.min_pool_size;
        st.cfg.tenant_guard = db.tenant_guard;
    }
    cfg_ = std::move(cfg);
}

std::shared_ptr<const shared_state::user_entry>
shared_state::find_user(std::string_view user) const {
    std::lock_guard lock(mutex_);
    const auto it = users_.find(user);
    return it == users_.end() ? nullptr : it->second;
}

std::shared_ptr<database_state> shared_state::database(std::string_view name) const {
    std::lock_guard lock(mutex_);
    const auto it = databases_.find(name);
    return it == databases_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<database_state>> shared_state::databases() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<database_state>> out;
    for (const auto& [name, st] : databases_)
        out.push_back(st);
    return out;
}

void shared_state::create_pools(boost::asio::any_io_executor maintenance) {
    const auto cfg = current();
    std::lock_guard lock(mutex_);
    for (auto& [name, st] : databases_)
        st->pool = pool::pg_pool::create(maintenance, backend_options(st->cfg),
                                         backend_pool_config(*cfg, st->cfg), name);
}

std::int32_t shared_state::register_session(std::shared_ptr<session_handle> h, std::string& key,
                                            std::size_t key_size) {
    key.assign(key_size, '\0');
    secure_random(std::span(reinterpret_cast<std::uint8_t*>(key.data()), key_size));
    std::lock_guard lock(mutex_);
    std::int32_t pid = 0;
    do {
        pid = next_pid_;
        next_pid_ = next_pid_ >= 2'000'000'000 ? 1 : next_pid_ + 1;
    } while (sessions_.contains(pid));
    sessions_.emplace(pid, registered{key, std::move(h)});
    return pid;
}

void shared_state::unregister_session(std::int32_t pid) {
    std::lock_guard lock(mutex_);
    sessions_.erase(pid);
}

void shared_state::cancel(std::int32_t pid, std::string_view key) const {
    std::shared_ptr<session_handle> h;
    {
        std::lock_guard lock(mutex_);
        const auto it = sessions_.find(pid);
        if (it == sessions_.end() || !protocol::constant_time_equal(it->second.key, key))
            return;
        h = it->second.handle;
    }
    boost::asio::post(h->executor, [h] {
        if (h->cancel)
            h->cancel();
    });
}

std::vector<std::shared_ptr<session_handle>> shared_state::sessions() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<session_handle>> out;
    out.reserve(sessions_.size());
    for (const auto& [pid, r] : sessions_)
        out.push_back(r.handle);
    return out;
}

std::size_t shared_state::session_count() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

} // namespace qail::proxy
