// The qail-proxy server: worker event loops, listeners, pools, reload and shutdown.
#include "server/shared_state.hpp"
#include "session/client_session.hpp"

#include <qail/client/tls.hpp>
#include <qail/proxy/http_api.hpp>
#include <qail/proxy/proxy_server.hpp>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <thread>

namespace qail::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// "address:port" of a client, for logs and /admin/clients. IPv4 by hand: Asio's
// to_string() goes through inet_ntop(), which formats with sprintf, once per connection.
std::string peer_text(const tcp::endpoint& ep) {
    const auto address = ep.address();
    if (!address.is_v4())
        return address.to_string() + ":" + std::to_string(ep.port());
    const auto bytes = address.to_v4().to_bytes();
    std::array<char, 24> text{}; // "255.255.255.255:65535"
    char* at = text.data();
    char* const end = text.data() + text.size();
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        at = std::to_chars(at, end, bytes[i]).ptr;
        // Never false (21 characters at most), but GCC's -O3 cannot tell.
        if (at != end)
            *at++ = i + 1 < bytes.size() ? '.' : ':';
    }
    at = std::to_chars(at, end, ep.port()).ptr;
    return {text.data(), at};
}

// The kernel completes a TCP handshake on the listener but wakes the accept only when the
// client's first bytes (its startup packet: a PostgreSQL client always speaks first) are
// there, so the session's first read finds them instead of failing with EAGAIN and
// waiting, and connections that never speak (port probes, scanners) never reach a
// session. After defer_accept_seconds without data the kernel hands the connection over
// anyway (Linux rounds the time up to its SYN-ACK retransmission schedule). Where the
// option does not exist, or is refused, accepts are as before.
constexpr int defer_accept_seconds = 45;

void defer_accept_until_data(asio::ip::tcp::acceptor& a) {
#if defined(TCP_DEFER_ACCEPT)
    const int seconds = defer_accept_seconds;
    if (::setsockopt(a.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds) !=
        0)
        spdlog::debug("TCP_DEFER_ACCEPT refused: {}", std::strerror(errno));
#else
    (void)a;
#endif
}

// A worker's event loop, shut down (its pending handlers and coroutines destroyed) apart
// from its destruction: sessions and pools hold I/O objects of several workers (a backend
// connection lives on the worker that opened it, a pool's timers on the first), so every
// worker is shut down, releasing them, before any is destroyed.
class worker_context : public asio::io_context {
public:
    using asio::io_context::io_context;
    void shut_down() { shutdown(); }
};

} // namespace

struct proxy_server::impl : std::enable_shared_from_this<proxy_server::impl> {
    using work_guard = asio::executor_work_guard<asio::io_context::executor_type>;

    // Once the workers' threads have stopped: destroys what the workers hold (pending
    // handlers and coroutines, among them the accept loops, which hold this object: a
    // cycle otherwise), then the listeners, HTTP server and pools (their idle connections
    // and maintenance timers), while every worker still exists. Again in ~impl (a no-op).
    void teardown() {
        for (auto& w : workers)
            w->shut_down();
        tcp_acceptors.clear();
        unix_acceptor.reset();
        http.reset();
        state.reset();
    }
    ~impl() { teardown(); }

    std::shared_ptr<shared_state> state;
    std::vector<std::unique_ptr<worker_context>> workers;
    std::vector<work_guard> guards;
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<tcp::acceptor>> tcp_acceptors;
    std::unique_ptr<asio::local::stream_protocol::acceptor> unix_acceptor;
    std::string unix_path;
    std::shared_ptr<asio::ssl::context> tls;
    std::mutex tls_mutex;
    std::atomic<std::size_t> next_worker{0};
    std::atomic<std::uint16_t> bound_port{0};
    std::unique_ptr<http_api_server> http;

    asio::io_context& pick_worker() {
        return *workers[next_worker.fetch_add(1, std::memory_order_relaxed) % workers.size()];
    }

    std::shared_ptr<asio::ssl::context> current_tls() {
        std::lock_guard lock(tls_mutex);
        return tls;
    }

    static std::shared_ptr<asio::ssl::context> make_tls(const tls_config& t) {
        if (!t.enabled())
            return nullptr;
        client::tls_server_config sc;
        sc.cert_file = t.cert;
        sc.key_file = t.key;
        sc.client_ca_file = t.client_ca;
        auto ctx = client::make_server_context(sc);
        if (!ctx)
            throw std::runtime_error("tls: " + ctx.error().message);
        return *ctx;
    }

    // Whether max_client_conn is reached: the client's session then answers its startup
    // packet with FATAL 53300 (session_context::over_limit) rather than refusing it at
    // once, so that a client that starts with an SSLRequest reads the error (libpq does
    // not show an error that answers an SSLRequest) and the packet it sent is read before
    // the close (a close with unread data resets the connection, and the error with it).
    bool over_limit(const std::string& peer) {
        const auto cfg = state->current();
        if (state->session_count() >= cfg->limits.max_client_conn) {
            spdlog::warn("client {} refused: max_client_conn ({}) reached", peer,
                         cfg->limits.max_client_conn);
            return true;
        }
        return false;
    }

    template <class Socket>
    void start_session(Socket socket, std::string peer) {
        const asio::any_io_executor ex = socket.get_executor();
        start_client_session({state, current_tls(), over_limit(peer)},
                             client_stream(std::move(socket)), std::move(peer), ex);
    }

    void accept_tcp(tcp::acceptor& acceptor) {
        auto self = shared_from_this();
        auto& worker = pick_worker();
        acceptor.async_accept(worker,
                              [self, &acceptor](boost::system::error_code ec, tcp::socket socket) {
                                  if (ec == asio::error::operation_aborted || !acceptor.is_open())
                                      return;
                                  if (!ec) {
                                      boost::system::error_code e2;
                                      socket.set_option(tcp::no_delay(true), e2);
                                      const auto ep = socket.remote_endpoint(e2);
                                      std::string peer = e2 ? "?" : peer_text(ep);
                                      self->start_session(std::move(socket), std::move(peer));
                                  } else {
                                      spdlog::warn("accept failed: {}", ec.message());
                                  }
                                  self->accept_tcp(acceptor);
                              });
    }

    void accept_unix() {
        auto self = shared_from_this();
        auto& worker = pick_worker();
        unix_acceptor->async_accept(worker, [self](boost::system::error_code ec,
                                                   asio::local::stream_protocol::socket socket) {
            if (ec == asio::error::operation_aborted || !self->unix_acceptor->is_open())
                return;
            if (!ec) {
                self->start_session(std::move(socket), "unix");
            }
            self->accept_unix();
        });
    }
};

proxy_server::proxy_server(config cfg, std::shared_ptr<metrics_sink> metrics)
    : impl_(std::make_shared<impl>()) {
    if (!metrics)
        metrics = std::make_shared<metrics_sink>();
    impl_->state = std::make_shared<shared_state>(std::make_shared<const config>(std::move(cfg)),
                                                  std::move(metrics));
}

proxy_server::~proxy_server() {
    if (!impl_->threads.empty()) {
        shutdown(std::chrono::milliseconds{0});
        wait();
    }
    impl_->teardown();
}

void proxy_server::start() {
    auto& m = *impl_;
    const auto cfg = m.state->current();
    m.tls = impl::make_tls(cfg->tls);
    const std::size_t n = std::max<std::size_t>(1, cfg->workers);
    // Each worker is one thread. With one worker, every operation on a socket of its
    // event loop runs on that thread: sessions, backend connections, the pools' closes
    // and timers, the HTTP API; other threads only post to it (shutdown, reload, the
    // admin and HTTP closers). Asio then needs no lock per socket operation (three or
    // four per relayed transaction); its scheduler, which those posts use, keeps its
    // lock. With several workers a backend opened on one is read on another: locked.
    const int hint = n == 1 ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO : 1;
    for (std::size_t i = 0; i < n; ++i) {
        m.workers.push_back(std::make_unique<worker_context>(hint));
        m.guards.emplace_back(m.workers.back()->get_executor());
    }
    m.state->create_pools(m.workers[0]->get_executor());

    if (cfg->listen.postgres) {
        const auto& ep = *cfg->listen.postgres;
        tcp::resolver resolver(*m.workers[0]);
        boost::system::error_code ec;
        const std::string host = ep.host.empty() ? "::" : ep.host;
        auto results = resolver.resolve(host, std::to_string(ep.port), tcp::resolver::passive, ec);
        if (ec)
            throw std::runtime_error("listen.postgres " + host + ":" + std::to_string(ep.port) +
                                     ": " + ec.message());
        std::uint16_t port = ep.port;
        for (const auto& r : results) {
            auto endpoint = r.endpoint();
            if (port != 0)
                endpoint.port(port);
            auto a = std::make_unique<tcp::acceptor>(*m.workers[0]);
            a->open(endpoint.protocol(), ec);
            if (!ec)
                a->set_option(tcp::acceptor::reuse_address(true), ec);
            if (!ec && endpoint.address().is_v6() && ep.host.empty())
                a->set_option(asio::ip::v6_only(false), ec);
            if (!ec)
                defer_accept_until_data(*a);
            if (!ec)
                a->bind(endpoint, ec);
            if (ec)
                throw std::runtime_error("listen.postgres: cannot listen on " +
                                         endpoint.address().to_string() + ":" +
                                         std::to_string(endpoint.port()) + ": " + ec.message());
            port = a->local_endpoint().port();
            m.tcp_acceptors.push_back(std::move(a));
        }
        m.bound_port = port;
        if (!cfg->listen.unix_socket_dir.empty()) {
            m.unix_path = cfg->listen.unix_socket_dir + "/.s.PGSQL." + std::to_string(port);
            std::filesystem::remove(m.unix_path, ec);
            m.unix_acceptor =
                std::make_unique<asio::local::stream_protocol::acceptor>(*m.workers[0]);
            m.unix_acceptor->open(asio::local::stream_protocol(), ec);
            if (!ec)
                m.unix_acceptor->bind(asio::local::stream_protocol::endpoint(m.unix_path), ec);
            if (!ec)
                m.unix_acceptor->listen(asio::socket_base::max_listen_connections, ec);
            if (ec)
                throw std::runtime_error("listen.unix_socket_dir: cannot listen on " + m.unix_path +
                                         ": " + ec.message());
        }
    }
    if (cfg->listen.http) {
        std::vector<asio::any_io_executor> executors;
        for (auto& w : m.workers)
            executors.push_back(w->get_executor());
        m.http = std::make_unique<http_api_server>(std::move(executors), cfg->listen.http->host,
                                                   cfg->listen.http->port, m.state, m.tls);
        m.http->start();
    }
    // The PostgreSQL port takes connections last: once it does, the Unix socket and the
    // HTTP API are there too (health checks and clients probe the port).
    for (auto& a : m.tcp_acceptors) {
        boost::system::error_code ec;
        a->listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            throw std::runtime_error("listen.postgres: cannot listen on port " +
                                     std::to_string(m.bound_port.load()) + ": " + ec.message());
    }
    for (auto& a : m.tcp_acceptors)
        m.accept_tcp(*a);
    if (m.unix_acceptor)
        m.accept_unix();
    for (auto& w : m.workers) {
        m.threads.emplace_back([ctx = w.get()] {
            for (;;) {
                try {
                    ctx->run();
                    return;
                } catch (const std::exception& e) {
                    spdlog::error("worker: unhandled exception: {}", e.what());
                }
            }
        });
    }
}

void proxy_server::reload(config cfg) {
    auto& m = *impl_;
    const auto old = m.state->current();
    if (cfg.workers != old->workers)
        spdlog::warn("reload: workers changed; needs a restart");
    if (cfg.listen.postgres.has_value() != old->listen.postgres.has_value() ||
        (cfg.listen.postgres && (cfg.listen.postgres->host != old->listen.postgres->host ||
                                 cfg.listen.postgres->port != old->listen.postgres->port)))
        spdlog::warn("reload: listen addresses changed; needs a restart");
    auto tls = impl::make_tls(cfg.tls); // throws: the reload fails, the old config stays
    {
        std::lock_guard lock(m.tls_mutex);
        m.tls = tls;
    }
    if (m.http)
        m.http->set_tls(tls); // new certificate files (or TLS turned on or off) for HTTP too
    m.state->update(std::make_shared<const config>(std::move(cfg)));
    spdlog::info("configuration reloaded");
}

void proxy_server::shutdown(std::chrono::milliseconds timeout) {
    auto& m = *impl_;
    if (m.state->shutting_down.exchange(true))
        return;
    for (auto& a : m.tcp_acceptors)
        asio::post(a->get_executor(), [a = a.get()] {
            boost::system::error_code ignored;
            a->close(ignored);
        });
    if (m.unix_acceptor) {
        asio::post(m.unix_acceptor->get_executor(), [u = m.unix_acceptor.get()] {
            boost::system::error_code ignored;
            u->close(ignored);
        });
        std::error_code ignored;
        std::filesystem::remove(m.unix_path, ignored);
    }
    if (m.http)
        m.http->stop();
    // Wait for sessions to leave their transactions, up to the timeout.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        bool busy = false;
        for (const auto& h : m.state->sessions()) {
            const int st = h->state.load();
            if (st == static_cast<int>(client_state::active) ||
                st == static_cast<int>(client_state::waiting))
                busy = true;
        }
        if (!busy)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (auto& g : m.guards)
        g.reset();
    for (auto& w : m.workers)
        w->stop();
}

void proxy_server::wait() {
    for (auto& t : impl_->threads)
        if (t.joinable())
            t.join();
    impl_->threads.clear();
}

std::uint16_t proxy_server::postgres_port() const noexcept {
    return impl_->bound_port.load();
}

std::vector<pool_snapshot> proxy_server::pool_snapshots() const {
    std::vector<pool_snapshot> out;
    for (const auto& db : impl_->state->databases()) {
        if (!db->pool)
            continue;
        const auto s = db->pool->stats();
        pool_snapshot p;
        p.database = db->cfg.name;
        p.mode = std::string(to_string(db->cfg.mode));
        p.in_use = s.in_use;
        p.idle = s.idle;
        p.waiting = s.waiting;
        p.connecting = s.connecting;
        p.max_size = db->pool->config().max_size;
        p.created = s.created;
        p.destroyed = s.destroyed_broken + s.destroyed_expired + s.destroyed_idle +
                      s.destroyed_reset_failed + s.destroyed_health;
        p.acquire_timeouts = s.acquire_timeouts;
        p.resets = s.resets;
        p.wait_seconds_max = s.wait_seconds_max;
        out.push_back(std::move(p));
    }
    return out;
}

std::string proxy_server::pools_json() const {
    boost::json::array arr;
    for (const auto& p : pool_snapshots()) {
        arr.push_back(boost::json::object{{"database", p.database},
                                          {"mode", p.mode},
                                          {"max_size", p.max_size},
                                          {"in_use", p.in_use},
                                          {"idle", p.idle},
                                          {"waiting", p.waiting},
                                          {"connecting", p.connecting},
                                          {"created", p.created},
                                          {"destroyed", p.destroyed},
                                          {"acquire_timeouts", p.acquire_timeouts},
                                          {"wait_seconds_max", p.wait_seconds_max}});
    }
    return boost::json::serialize(boost::json::object{{"pools", arr}});
}

std::string proxy_server::clients_json() const {
    static constexpr std::string_view names[] = {"authenticating", "idle", "waiting", "active"};
    boost::json::array arr;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& h : impl_->state->sessions()) {
        const int st = h->state.load();
        arr.push_back(boost::json::object{
            {"address", h->address},
            {"user", h->user},
            {"database", h->database},
            {"state", st >= 0 && st < 4 ? names[st] : "unknown"},
            {"age_seconds", std::chrono::duration<double>(now - h->connected_at).count()}});
    }
    return boost::json::serialize(boost::json::object{{"clients", arr}});
}

} // namespace qail::proxy
