// The qail-proxy server: worker event loops, the PostgreSQL-wire listeners, one pool
// per configured database, cancel routing, reload and graceful shutdown.
#pragma once

#include <qail/proxy/config.hpp>
#include <qail/proxy/metrics.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace qail::proxy {

class proxy_server {
public:
    proxy_server(config cfg, std::shared_ptr<metrics_sink> metrics);
    ~proxy_server();
    proxy_server(const proxy_server&) = delete;
    proxy_server& operator=(const proxy_server&) = delete;

    /// Binds every configured listener (throws std::runtime_error naming the address
    /// that failed) and starts the worker threads.
    void start();
    /// Applies a new configuration: users and passwords, pool sizes, TLS files. What
    /// needs a restart (listen addresses, workers, a database's host) is logged as such.
    void reload(config cfg);
    /// Stops accepting; clients in a transaction may finish it; after `timeout` (or
    /// once no client is inside a transaction) every client is disconnected.
    void shutdown(std::chrono::milliseconds timeout);
    /// Blocks until every worker has stopped (after shutdown()).
    void wait();

    /// The bound TCP port of the PostgreSQL listener (0 when there is none).
    [[nodiscard]] std::uint16_t postgres_port() const noexcept;
    /// JSON for /admin/pools and /admin/clients, and readiness for /readyz.
    [[nodiscard]] std::string pools_json() const;
    [[nodiscard]] std::string clients_json() const;
    [[nodiscard]] std::vector<pool_snapshot> pool_snapshots() const;

    struct impl;

private:
    std::shared_ptr<impl> impl_;
};

} // namespace qail::proxy
