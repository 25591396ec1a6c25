// The HTTP API listener on Boost.Beast: accept loop, round-robin workers, optional TLS,
// keep-alive and pipelined requests in order, 413 from Content-Length, read deadlines.
#include "api_error.hpp"
#include "api_handler.hpp"
#include "server/log_failure.hpp"
#include "server/shared_state.hpp"

#include <qail/proxy/http_api.hpp>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace qail::proxy {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::uint32_t header_limit = 16 * 1024;
/// A request (headers and body) must arrive within this, and so must the first byte of
/// the next one on a kept-alive connection.
constexpr auto read_timeout = 30s;
constexpr auto write_timeout = 30s;
constexpr auto handshake_timeout = 10s;
constexpr auto drain_timeout = 2s;
constexpr std::size_t drain_limit = 8 * 1024 * 1024;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

using response = bhttp::response<bhttp::string_body>;

response make_response(unsigned version, const http::api_answer& a, bool keep_alive) {
    response res{static_cast<bhttp::status>(a.status), version};
    res.set(bhttp::field::server, "qail-proxy");
    res.set(bhttp::field::content_type, "application/json");
    res.set(bhttp::field::cache_control, "no-store");
    if (a.www_authenticate)
        res.set(bhttp::field::www_authenticate, R"(Bearer realm="qail-proxy")");
    if (!a.allow.empty())
        res.set(bhttp::field::allow, a.allow);
    res.body() = a.body;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

http::api_answer fixed_answer(unsigned status, std::string_view code, std::string_view message,
                              std::string_view route) {
    http::api_answer a;
    a.status = status;
    a.body = http::to_json(http::make_error(status, std::string(code), std::string(message)));
    a.route = route;
    return a;
}

/// A read error that deserves an answer (the request was malformed) rather than a close.
bool answerable(const beast::error_code& ec) {
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::eof || ec == asio::error::connection_reset)
        return false;
    return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

} // namespace

struct http_api_server::impl : std::enable_shared_from_this<impl> {
    std::vector<asio::any_io_executor> workers;
    std::string host;
    std::uint16_t requested_port;
    std::shared_ptr<shared_state> state;
    std::shared_ptr<asio::ssl::context> tls; // guarded by tls_mutex (replaced on reload)
    std::mutex tls_mutex;
    http::api_handler handler;
    tcp::acceptor acceptor;
    std::atomic<std::uint16_t> bound_port{0};
    std::atomic<bool> stopped{false};
    std::size_t next_worker = 0; // acceptor executor only

    /// Open connections: how to close each (posted to its executor).
    std::mutex mutex;
    std::unordered_map<std::uint64_t, std::function<void()>> closers;
    std::uint64_t next_id = 0;

    impl(std::vector<asio::any_io_executor> workers_, std::string host_, std::uint16_t port,
         std::shared_ptr<shared_state> state_, std::shared_ptr<asio::ssl::context> tls_)
        : workers(std::move(workers_)), host(std::move(host_)), requested_port(port),
          state(std::move(state_)), tls(std::move(tls_)), handler(state), acceptor(workers.at(0)) {}

    /// Registers a connection; nullopt when max_client_conn connections are open.
    std::optional<std::uint64_t> admit(std::function<void()> closer) {
        const std::size_t limit = state->current()->limits.max_client_conn;
        std::lock_guard lock(mutex);
        if (stopped || closers.size() >= limit)
            return std::nullopt;
        const std::uint64_t id = next_id++;
        closers.emplace(id, std::move(closer));
        return id;
    }
    void leave(std::uint64_t id) {
        std::lock_guard lock(mutex);
        closers.erase(id);
    }

    void report(std::string_view route, unsigned status,
                std::chrono::steady_clock::time_point started) const {
        const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
        state->metrics().http_request(route, static_cast<int>(status), elapsed.count());
    }

    /// Serves requests on one connection until it closes, fails or times out.
    template <class Stream>
    static asio::awaitable<void> serve(std::shared_ptr<impl> self, Stream& stream) {
        auto& lowest = beast::get_lowest_layer(stream);
        beast::flat_buffer buffer;
        const std::size_t max_body = self->state->current()->http.max_body_bytes;
        for (;;) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(header_limit);
            // Content-Length is compared below (413 before reading the body); the parser's
            // own limit would turn it into a header error. It is set for the body read.
            parser.body_limit(std::numeric_limits<std::uint64_t>::max());
            lowest.expires_after(read_timeout);
            auto [header_error, header_bytes] =
                co_await bhttp::async_read_header(stream, buffer, parser, use_tuple);
            if (self->stopped)
                co_return;
            const auto started = std::chrono::steady_clock::now();
            if (header_error) {
                if (!answerable(header_error))
                    co_return;
                const auto status = header_error == bhttp::error::header_limit ? 431U : 400U;
                co_await answer(
                    self, stream, 11,
                    fixed_answer(status, "bad_request", "malformed HTTP request", "other"), false,
                    started);
                co_return;
            }
            const auto& head = parser.get();
            const unsigned version = head.version();
            const std::string_view route = http::route_of(head.target());
            // 413 from Content-Length, before reading any of the body. The connection is
            // closed afterwards: the unread body would be taken for the next request.
            if (const auto length = parser.content_length(); length && *length > max_body) {
                co_await answer(self, stream, version,
                                fixed_answer(413, "payload_too_large",
                                             "the body is larger than http.max_body_bytes (" +
                                                 std::to_string(max_body) + " bytes)",
                                             route),
                                false, started);
                co_await drain(lowest);
                co_return;
            }
            if (const auto expect = head[bhttp::field::expect];
                !expect.empty() && beast::iequals(expect, "100-continue")) {
                bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
                lowest.expires_after(write_timeout);
                auto [cont_error, cont_bytes] =
                    co_await bhttp::async_write(stream, cont, use_tuple);
                if (cont_error)
                    co_return;
            }
            parser.body_limit(max_body); // chunked bodies
            lowest.expires_after(read_timeout);
            auto [body_error, body_bytes] =
                co_await bhttp::async_read(stream, buffer, parser, use_tuple);
            if (self->stopped)
                co_return;
            if (body_error) {
                if (body_error == bhttp::error::body_limit) {
                    co_await answer(self, stream, version,
                                    fixed_answer(413, "payload_too_large",
                                                 "the body is larger than http.max_body_bytes",
                                                 route),
                                    false, started);
                    co_await drain(lowest);
                } else if (answerable(body_error))
                    co_await answer(
                        self, stream, version,
                        fixed_answer(400, "bad_request", "malformed HTTP request", route), false,
                        started);
                co_return;
            }
            auto req = parser.release();
            const bool keep_alive = req.keep_alive();
            lowest.expires_never(); // the database work has its own limits
            http::api_answer a;
            try {
                a = co_await self->handler.handle(
                    std::string_view(req.method_string()), std::string_view(req.target()),
                    std::string_view(req[bhttp::field::authorization]), std::move(req.body()));
            } catch (const std::exception& e) {
                spdlog::error("http: request to {} failed: {}", route, e.what());
                a = fixed_answer(500, "internal_error", "the request failed; see the proxy log",
                                 route);
            }
            if (self->stopped)
                co_return;
            // (Bound first: GCC 12 miscompiles `!co_await` inside a condition.)
            const bool answered = co_await answer(self, stream, version, a, keep_alive, started);
            if (!answered || !keep_alive)
                co_return;
        }
    }

    /// Before closing after an early answer (413): stop sending and read what the client
    /// is still sending, briefly, so the close does not reset the connection (a reset can
    /// destroy the answer before the client has read it).
    static asio::awaitable<void> drain(beast::tcp_stream& s) {
        beast::error_code ignored;
        s.socket().shutdown(tcp::socket::shutdown_send, ignored);
        std::array<char, 16 * 1024> scratch{};
        std::size_t total = 0;
        s.expires_after(drain_timeout);
        while (total < drain_limit) {
            auto [error, n] = co_await s.async_read_some(asio::buffer(scratch), use_tuple);
            if (error)
                break;
            total += n;
        }
    }

    template <class Stream>
    static asio::awaitable<bool>
    answer(std::shared_ptr<impl> self, Stream& stream, unsigned version, const http::api_answer& a,
           bool keep_alive, std::chrono::steady_clock::time_point started) {
        response res = make_response(version, a, keep_alive);
        beast::get_lowest_layer(stream).expires_after(write_timeout);
        auto [error, written] = co_await bhttp::async_write(stream, res, use_tuple);
        self->report(a.route, a.status, started);
        if (error) {
            spdlog::debug("http: write failed: {}", error.message());
            co_return false;
        }
        co_return true;
    }

    std::shared_ptr<asio::ssl::context> current_tls() {
        std::lock_guard lock(tls_mutex);
        return tls;
    }

    static asio::awaitable<void> connection(std::shared_ptr<impl> self, tcp::socket socket) {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        // This connection keeps the context it started with, even if a reload replaces it.
        const auto tls_context = self->current_tls();
        if (!tls_context) {
            auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
            const auto id = self->admit(closer_for(stream));
            if (!id)
                co_return;
            co_await serve(self, *stream);
            self->leave(*id);
            stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
            stream->socket().close(ignored);
            co_return;
        }
        using tls_stream = beast::ssl_stream<beast::tcp_stream>;
        auto stream =
            std::make_shared<tls_stream>(beast::tcp_stream(std::move(socket)), *tls_context);
        const auto id = self->admit(closer_for(stream));
        if (!id)
            co_return;
        beast::get_lowest_layer(*stream).expires_after(handshake_timeout);
        auto [hs_error] =
            co_await stream->async_handshake(asio::ssl::stream_base::server, use_tuple);
        self->state->metrics().tls_handshake(!hs_error);
        if (!hs_error) {
            co_await serve(self, *stream);
            beast::get_lowest_layer(*stream).expires_after(handshake_timeout);
            (void)co_await stream->async_shutdown(use_tuple);
        }
        self->leave(*id);
        beast::get_lowest_layer(*stream).socket().close(ignored);
    }

    template <class Stream>
    static std::function<void()> closer_for(const std::shared_ptr<Stream>& stream) {
        auto ex = beast::get_lowest_layer(*stream).get_executor();
        return [ex, weak = std::weak_ptr<Stream>(stream)] {
            asio::post(ex, [weak] {
                if (const auto s = weak.lock()) {
                    beast::error_code ignored;
                    beast::get_lowest_layer(*s).socket().shutdown(tcp::socket::shutdown_both,
                                                                  ignored);
                    beast::get_lowest_layer(*s).socket().close(ignored);
                }
            });
        };
    }

    static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
        for (;;) {
            const auto& worker = self->workers[self->next_worker++ % self->workers.size()];
            auto [error, socket] = co_await self->acceptor.async_accept(worker, use_tuple);
            if (self->stopped || error == asio::error::operation_aborted)
                co_return;
            if (error) {
                // E.g. out of file descriptors: back off instead of spinning.
                spdlog::warn("http: accept failed: {}", error.message());
                asio::steady_timer backoff(self->acceptor.get_executor(), 100ms);
                co_await backoff.async_wait(use_tuple);
                continue;
            }
            const auto ex = socket.get_executor();
            asio::co_spawn(ex, connection(self, std::move(socket)),
                           log_failure("http", "connection"));
        }
    }

    void close_all() {
        stopped = true;
        asio::dispatch(acceptor.get_executor(), [self = shared_from_this()] {
            beast::error_code ignored;
            self->acceptor.close(ignored);
        });
        std::lock_guard lock(mutex);
        for (auto& [id, close] : closers)
            close();
    }
};

http_api_server::http_api_server(std::vector<boost::asio::any_io_executor> workers,
                                 std::string host, std::uint16_t port,
                                 std::shared_ptr<shared_state> state,
                                 std::shared_ptr<boost::asio::ssl::context> tls) {
    if (workers.empty())
        throw std::invalid_argument("http_api_server: no worker executors");
    impl_ = std::make_shared<impl>(std::move(workers), std::move(host), port, std::move(state),
                                   std::move(tls));
}

http_api_server::~http_api_server() {
    stop();
}

void http_api_server::set_tls(std::shared_ptr<boost::asio::ssl::context> tls) {
    std::lock_guard lock(impl_->tls_mutex);
    impl_->tls = std::move(tls);
}

void http_api_server::start() {
    impl& s = *impl_;
    s.handler.prepare(); // throws for a bad public_key_file
    const std::string where =
        (s.host.empty() ? std::string("*") : s.host) + ":" + std::to_string(s.requested_port);
    beast::error_code ec;
    tcp::endpoint endpoint;
    const auto address = asio::ip::make_address(s.host.empty() ? "0.0.0.0" : s.host, ec);
    if (!ec) {
        endpoint = tcp::endpoint(address, s.requested_port);
    } else {
        tcp::resolver resolver(s.acceptor.get_executor());
        const auto results =
            resolver.resolve(s.host, std::to_string(s.requested_port), tcp::resolver::passive, ec);
        if (ec || results.empty())
            throw std::runtime_error("listen.http: cannot resolve " + where +
                                     (ec ? ": " + ec.message() : std::string{}));
        endpoint = results.begin()->endpoint();
    }
    const auto fail = [&](std::string_view step) {
        beast::error_code ignored;
        s.acceptor.close(ignored);
        throw std::runtime_error("listen.http: cannot " + std::string(step) + " on " + where +
                                 ": " + ec.message());
    };
    if (s.acceptor.open(endpoint.protocol(), ec); ec)
        fail("open a socket");
    if (s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec); ec)
        fail("set SO_REUSEADDR");
    if (s.acceptor.bind(endpoint, ec); ec)
        fail("bind");
    if (s.acceptor.listen(asio::socket_base::max_listen_connections, ec); ec)
        fail("listen");
    s.bound_port = s.acceptor.local_endpoint().port();
    spdlog::info("http: listening on {}:{}{}", endpoint.address().to_string(), port(),
                 s.tls ? " (TLS)" : "");
    asio::co_spawn(s.acceptor.get_executor(), impl::accept_loop(impl_),
                   log_failure("http", "accept loop"));
}

std::uint16_t http_api_server::port() const {
    return impl_->bound_port.load();
}

void http_api_server::stop() {
    if (impl_)
        impl_->close_all();
}

} // namespace qail::proxy
