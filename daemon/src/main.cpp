// qail-proxy entry point: command line, logging, signals, sd_notify, then the server.
#include <qail/proxy/admin_server.hpp>
#include <qail/proxy/config.hpp>
#include <qail/proxy/metrics.hpp>
#include <qail/proxy/proxy_server.hpp>
#include <qail/proxy/version.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>
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

    // Signals and the admin server run on the main thread's own loop.
    asio::io_context main_loop(1);
    std::unique_ptr<admin_server> admin;
    if (cfg.listen.admin) {
        admin_handlers h;
        h.metrics = [metrics] { return metrics->render(); };
        h.ready = [&server] {
            // Ready when every pool has, or can open, a connection: no pool may be
            // failing to connect with nothing idle.
            bool ok = true;
            std::string body = "{\"databases\":[";
            bool first = true;
            for (const auto& p : server.pool_snapshots()) {
                const bool db_ok = p.idle + p.in_use > 0 || p.created > p.destroyed;
                ok = ok && db_ok;
                body += (first ? "" : ",") + std::string("{\"database\":\"") + p.database +
                        "\",\"ready\":" + (db_ok ? "true" : "false") + "}";
                first = false;
            }
            body += "]}";
            return std::pair{ok, body};
        };
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
