// qail-proxy entry point: command line, logging, signals, sd_notify, then the server.
#include <qail/proxy/admin_server.hpp>
#include <qail/proxy/config.hpp>
#include <qail/proxy/metrics.hpp>
#include <qail/proxy/proxy_server.hpp>
#include <qail/proxy/version.hpp>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
using namespace qail::proxy;

constexpr const char* usage = "usage: qail-proxy --config FILE      run the proxy\n"
                              "       qail-proxy --check-config FILE  validate a config file\n"
                              "       qail-proxy --version\n";

// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET.
void sd_notify(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr || path[0] == '\0')
        return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::size_t len = std::strlen(path);
    if (len >= sizeof addr.sun_path)
        return;
    std::memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = '\0'; // abstract namespace
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    (void)::sendto(fd, state.data(), state.size(), 0, reinterpret_cast<const sockaddr*>(&addr),
                   addr_len);
    ::close(fd);
}

// /readyz: every configured backend accepted a TCP connection within the last probe
// (every 2 s, 1 s timeout each), and the proxy is not shutting down.
struct readiness {
    struct entry {
        std::string database;
        std::string host;
        std::uint16_t port = 0;
        std::atomic<bool> reachable{false};
        std::string error; // guarded by mutex
    };
    std::vector<std::unique_ptr<entry>> entries;
    std::mutex mutex;
    std::atomic<bool> stopping{false};

    asio::awaitable<void> probe_loop() {
        using namespace asio::experimental::awaitable_operators;
        constexpr auto tok = asio::as_tuple(asio::use_awaitable);
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer pause(ex);
        while (!stopping) {
            for (auto& e : entries) {
                asio::ip::tcp::resolver resolver(ex);
                auto [rec, results] =
                    co_await resolver.async_resolve(e->host, std::to_string(e->port), tok);
                std::string err = rec ? rec.message() : std::string{};
                bool ok = false;
                if (!rec) {
                    asio::ip::tcp::socket sock(ex);
                    asio::steady_timer limit(ex, std::chrono::seconds(1));
                    auto r =
                        co_await (asio::async_connect(sock, results, tok) || limit.async_wait(tok));
                    if (r.index() == 0) {
                        const auto& [cec, ep] = std::get<0>(r);
                        ok = !cec;
                        err = cec ? cec.message() : std::string{};
                    } else {
                        err = "connect timed out";
                    }
                }
                e->reachable = ok;
                std::lock_guard lock(mutex);
                e->error = err;
            }
            pause.expires_after(std::chrono::seconds(2));
            co_await pause.async_wait(tok);
        }
    }

    std::pair<bool, std::string> report() {
        bool ok = !stopping;
        std::string body =
            "{\"shutting_down\":" + std::string(stopping ? "true" : "false") + ",\"databases\":[";
        std::lock_guard lock(mutex);
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const auto& e = *entries[i];
            ok = ok && e.reachable;
            body += (i ? "," : "") + std::string("{\"database\":\"") + e.database +
                    "\",\"reachable\":" + (e.reachable ? "true" : "false");
            if (!e.reachable && !e.error.empty())
                body += ",\"error\":\"" + e.error + "\"";
            body += "}";
        }
        body += "]}";
        return {ok, body};
    }
};

void print_errors(const load_result& r) {
    for (const auto& e : r.errors)
        std::cerr << e.to_string() << '\n';
}

int run(const std::string& path) {
    auto loaded = load_config_file(path);
    if (!loaded.cfg) {
        print_errors(loaded);
        return 1;
    }
    const config cfg = *loaded.cfg;
    if (auto level = spdlog::level::from_str(cfg.log_level);
        level != spdlog::level::off || cfg.log_level == "off")
        spdlog::set_level(level);

    auto metrics = std::make_shared<prometheus_metrics>(version(), io_backend_name());
    proxy_server server(cfg, metrics);
    try {
        server.start();
    } catch (const std::exception& e) {
        spdlog::critical("cannot start: {}", e.what());
        return 1;
    }
    metrics->set_pool_provider([&server] { return server.pool_snapshots(); });

    // Signals, readiness probes and the admin server run on the main thread's own loop.
    asio::io_context main_loop(1);
    readiness ready;
    for (const auto& db : cfg.databases) {
        auto e = std::make_unique<readiness::entry>();
        e->database = db.name;
        e->host = db.host;
        e->port = db.port;
        ready.entries.push_back(std::move(e));
    }
    asio::co_spawn(main_loop, ready.probe_loop(), [](std::exception_ptr e) {
        if (e)
            spdlog::error("readiness probe stopped with an exception");
    });
    std::unique_ptr<admin_server> admin;
    if (cfg.listen.admin) {
        admin_handlers h;
        h.metrics = [metrics] { return metrics->render(); };
        h.ready = [&ready] { return ready.report(); };
        h.pools = [&server] { return server.pools_json(); };
        h.clients = [&server] { return server.clients_json(); };
        h.on_request = [metrics](std::string_view route, int status, double seconds) {
            metrics->http_request(route, status, seconds);
        };
        admin =
            std::make_unique<admin_server>(main_loop.get_executor(), cfg.listen.admin->host,
                                           cfg.listen.admin->port, cfg.admin.token, std::move(h));
        try {
            admin->start();
        } catch (const std::exception& e) {
            spdlog::critical("cannot start the admin listener: {}", e.what());
            server.shutdown(std::chrono::milliseconds{0});
            server.wait();
            return 1;
        }
    }

    spdlog::info("qail-proxy {} listening on port {} ({} workers, io_backend {})", version(),
                 server.postgres_port(), cfg.workers, io_backend_name());
    sd_notify("READY=1\nSTATUS=serving");

    int exit_code = 0;
    asio::signal_set signals(main_loop, SIGTERM, SIGINT, SIGHUP);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int sig) {
            if (ec)
                return;
            if (sig == SIGHUP) {
                sd_notify("RELOADING=1");
                auto r = load_config_file(path);
                if (!r.cfg) {
                    for (const auto& e : r.errors)
                        spdlog::error("reload refused: {}", e.to_string());
                    metrics->config_reload(false);
                } else {
                    try {
                        server.reload(*r.cfg);
                        metrics->config_reload(true);
                    } catch (const std::exception& e) {
                        spdlog::error("reload refused: {}", e.what());
                        metrics->config_reload(false);
                    }
                }
                sd_notify("READY=1");
                signals.async_wait(on_signal);
                return;
            }
            sd_notify("STOPPING=1");
            ready.stopping = true;
            if (sig == SIGTERM) {
                spdlog::info("SIGTERM: draining (up to {} ms)",
                             cfg.limits.shutdown_timeout.count());
                server.shutdown(cfg.limits.shutdown_timeout);
            } else {
                spdlog::info("SIGINT: stopping now");
                server.shutdown(std::chrono::milliseconds{0});
            }
            if (admin)
                admin->stop();
            main_loop.stop();
        };
    signals.async_wait(on_signal);
    main_loop.run();
    server.wait();
    spdlog::info("stopped");
    return exit_code;
}

} // namespace

int main(int argc, char** argv) {
    std::string config_path;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--version" || a == "-V") {
            std::cout << "qail-proxy " << version() << "\nio_backend: " << io_backend_name()
                      << "\ntls: " << tls_library() << '\n';
            return 0;
        }
        if (a == "--help" || a == "-h") {
            std::cout << usage;
            return 0;
        }
        if ((a == "--check-config") && i + 1 < argc)
            return check_config(argv[i + 1], std::cout, std::cerr);
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            config_path = argv[++i];
            continue;
        }
        if (a.starts_with("--config=")) {
            config_path = std::string(a.substr(9));
            continue;
        }
        std::cerr << "qail-proxy: unknown argument '" << a << "'\n" << usage;
        return 2;
    }
    if (config_path.empty()) {
        std::cerr << usage;
        return 2;
    }
    try {
        return run(config_path);
    } catch (const std::exception& e) {
        spdlog::critical("fatal: {}", e.what());
        return 1;
    }
}
