// Admin HTTP server: /metrics, /healthz, /readyz and the token-protected /admin/* JSON.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace qail::proxy {

/// What the admin routes serve. Called on the server's executor; an empty function makes
/// its route answer 404, a throwing one 500 (the exception is logged).
struct admin_handlers {
    std::function<std::string()> metrics;                ///< text exposition format
    std::function<std::pair<bool, std::string>()> ready; ///< ok?, JSON body explaining
    std::function<std::string()> pools;                  ///< JSON
    std::function<std::string()> clients;                ///< JSON
    /// Optional: called once per answered request with the route pattern ("/metrics",
    /// ..., "other" for unknown targets), the status and the handling time, e.g. to feed
    /// metrics_sink::http_request.
    std::function<void(std::string_view route, int status, double seconds)> on_request;
};

/// The admin listener. Routes: GET /metrics, /healthz, /readyz, /admin/pools,
/// /admin/clients; anything else 404, another method on a known route 405. HTTP/1.1
/// keep-alive; headers limited to 8 KiB; a connection that does not deliver a complete
/// request within the read timeout is closed. Everything runs on one strand of the
/// executor, so the server is safe on a multi-threaded io_context.
class admin_server {
public:
    /// Listens on host:port (port 0 = pick one) on `executor`; `token` empty = /admin/*
    /// open, else it requires `Authorization: Bearer <token>` (compared in constant time).
    admin_server(boost::asio::any_io_executor executor, std::string host, std::uint16_t port,
                 std::string token, admin_handlers handlers);
    admin_server(const admin_server&) = delete;
    admin_server& operator=(const admin_server&) = delete;
    /// Stops the server (see stop()).
    ~admin_server();

    /// Binds, listens and begins accepting. A failed bind throws std::system_error whose
    /// message names the address.
    void start();

    /// The bound port (after start()).
    [[nodiscard]] std::uint16_t port() const;

    /// Stops accepting and closes open connections. Safe from any thread; the closing
    /// runs on the server's strand, so it completes once the executor runs it.
    void stop();

    /// Per-request read deadline (default 10 s). Set before start().
    void set_read_timeout(std::chrono::milliseconds timeout);

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace qail::proxy
