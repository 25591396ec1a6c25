// State every worker shares: the live configuration, user credentials, one pool per
// database, and the registries for cancel routing and /admin/clients. Thread-safe.
#pragma once

#include <qail/pool/pg_pool.hpp>
#include <qail/proxy/client_auth.hpp>
#include <qail/proxy/config.hpp>
#include <qail/proxy/metrics.hpp>
#include <qail/proxy/prepared.hpp>
#include <qail/proxy/settings_registry.hpp>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qail::proxy {

/// Driver options and pool settings for a configured database.
[[nodiscard]] client::connect_options backend_options(const database_config& db);
[[nodiscard]] pool::pool_config backend_pool_config(const config& cfg, const database_config& db);

/// Setting names are case-insensitive; sessions and the greeting key them in lower case.
[[nodiscard]] std::string lower_name(std::string_view name);

/// The ParameterStatus values of a database's first backend, as every client of it is
/// greeted: each with its lower-case key (what a client's own value is filed under), and
/// all of them encoded once for the clients that set none of them.
struct server_parameters {
    struct entry {
        std::string name, key;
        std::size_t at = 0, size = 0; // its message in `encoded`
    };
    std::vector<entry> entries;
    std::string encoded; // one ParameterStatus message per entry, in order

    [[nodiscard]] static std::shared_ptr<const server_parameters>
    from(const std::vector<std::pair<std::string, std::string>>& reported);
};

/// One configured database: its pool and the server parameters clients are shown.
struct database_state {
    database_config cfg;
    std::shared_ptr<pool::pg_pool> pool;
    mutable std::mutex mutex;
    /// ParameterStatus values of the first backend that connected (server_version...);
    /// null until one has.
    std::shared_ptr<const server_parameters> server_params;
    /// The server-side statements prepared for this database's clients.
    statement_registry statements;
    /// Its clients' settings lists, equal ones shared (pool::binding::settings).
    settings_registry settings;
};

/// What a client session exposes to other threads (cancel routing, admin listing).
struct session_handle {
    boost::asio::any_io_executor executor;
    /// Runs on `executor`: cancels whatever the session's backend is running.
    std::function<void()> cancel;
    std::string address, user, database;
    std::chrono::steady_clock::time_point connected_at;
    std::atomic<int> state{0}; // a client_state, for /admin/clients
};

class shared_state {
public:
    shared_state(std::shared_ptr<const config> cfg, std::shared_ptr<metrics_sink> metrics);

    [[nodiscard]] std::shared_ptr<const config> current() const;
    /// Swaps in a new configuration (users, pool sizes). Databases keep their pools.
    void update(std::shared_ptr<const config> cfg);

    /// A configured user and its credentials.
    struct user_entry {
        user_config config;
        login_credentials credentials;
    };
    /// The credentials for `user` under the current configuration (shared, not copied:
    /// one lookup per login), or null.
    [[nodiscard]] std::shared_ptr<const user_entry> find_user(std::string_view user) const;
    [[nodiscard]] std::shared_ptr<database_state> database(std::string_view name) const;
    [[nodiscard]] std::vector<std::shared_ptr<database_state>> databases() const;
    /// Creates the pools (once, at start) on `maintenance`.
    void create_pools(boost::asio::any_io_executor maintenance);

    /// Registers a session; returns its proxy-issued process id and fills `key`.
    std::int32_t register_session(std::shared_ptr<session_handle> h, std::string& key,
                                  std::size_t key_size);
    void unregister_session(std::int32_t pid);
    /// Routes a CancelRequest; unknown or mismatching keys do nothing.
    void cancel(std::int32_t pid, std::string_view key) const;
    [[nodiscard]] std::vector<std::shared_ptr<session_handle>> sessions() const;
    [[nodiscard]] std::size_t session_count() const;

    metrics_sink& metrics() noexcept { return *metrics_; }
    std::atomic<bool> shutting_down{false};

private:
    void rebuild_users(const config& cfg);

    mutable std::mutex mutex_;
    std::shared_ptr<const config> cfg_;
    std::map<std::string, std::shared_ptr<const user_entry>, std::less<>> users_;
    std::map<std::string, std::shared_ptr<database_state>, std::less<>> databases_;
    struct registered {
        std::string key;
        std::shared_ptr<session_handle> handle;
    };
    std::unordered_map<std::int32_t, registered> sessions_;
    std::int32_t next_pid_;
    std::shared_ptr<metrics_sink> metrics_;
};

} // namespace qail::proxy
