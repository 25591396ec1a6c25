// Admin HTTP server on Boost.Beast: routing, bearer-token check, keep-alive sessions, timeouts.
#include "server/log_failure.hpp"

#include <qail/protocol/md5_password.hpp>
#include <qail/protocol/sha256.hpp>
#include <qail/proxy/admin_server.hpp>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <spdlog/spdlog.h>
#include <system_error>
#include <unordered_set>

namespace qail::proxy {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::size_t header_limit = 8 * 1024;
/// No route takes a body; a small one is read and ignored so keep-alive stays in sync.
constexpr std::uint64_t body_limit = 1024;
/// Headers, a tolerated body and some pipelined bytes.
constexpr std::size_t buffer_limit = 16 * 1024;
/// Admin traffic is a scraper and a few probes; more open connections than this is abuse.
constexpr std::size_t max_sessions = 128;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

enum class route_id { metrics, healthz, readyz, pools, clients };

struct route_def {
    std::string_view path;
    route_id id;
    bool needs_token; ///< under /admin/: guarded by the admin token when one is configured
};

constexpr std::array<route_def, 5> routes{{
    {"/metrics", route_id::metrics, false},
    {"/healthz", route_id::healthz, false},
    {"/readyz", route_id::readyz, false},
    {"/admin/pools", route_id::pools, true},
    {"/admin/clients", route_id::clients, true},
}};

constexpr std::string_view unknown_route = "other";
constexpr std::string_view json_type = "application/json";

response make_response(unsigned version, http::status status, std::string_view content_type,
                       std::string body) {
    response res{status, version};
    res.set(http::field::server, "qail-proxy");
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-store");
    res.body() = std::move(body);
    return res;
}

/// Error bodies use the HTTP API's shape; `code` and `message` are fixed strings here.
response error_response(unsigned version, http::status status, std::string_view code,
                        std::string_view message) {
    std::string body = R"({"error":{"code":")";
    body += code;
    body += R"(","message":")";
    body += message;
    body += R"("}})";
    return make_response(version, status, json_type, std::move(body));
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

/// The credentials of an `Authorization: Bearer <token>` header, or nullopt.
std::optional<std::string_view> bearer_token(std::string_view header) {
    constexpr std::string_view scheme = "bearer";
    if (header.size() <= scheme.size() || !iequals(header.substr(0, scheme.size()), scheme) ||
        header[scheme.size()] != ' ') {
        return std::nullopt;
    }
    header.remove_prefix(scheme.size());
    while (!header.empty() && header.front() == ' ') {
        header.remove_prefix(1);
    }
    while (!header.empty() && header.back() == ' ') {
        header.remove_suffix(1);
    }
    if (header.empty()) {
        return std::nullopt;
    }
    return header;
}

/// Whether a read error is the peer's malformed request (answered with 4xx) rather than
/// a closed or timed-out connection.
std::optional<http::status> status_for_parse_error(const beast::error_code& ec) {
    if (ec == http::error::header_limit) {
        return http::status::request_header_fields_too_large;
    }
    if (ec == http::error::body_limit) {
        return http::status::payload_too_large;
    }
    if (ec == http::error::partial_message || ec == http::error::end_of_stream) {
        return std::nullopt; // the peer went away mid-request: nobody to answer
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
        return http::status::bad_request;
    }
    return std::nullopt;
}

} // namespace

struct admin_server::impl : std::enable_shared_from_this<impl> {
    asio::strand<asio::any_io_executor> strand;
    std::string host;
    std::uint16_t requested_port;
    std::optional<protocol::sha256_hash> token_digest; ///< the token never stays in memory
    admin_handlers handlers;
    std::chrono::milliseconds read_timeout{10s};
    tcp::acceptor acceptor;
    std::atomic<std::uint16_t> bound_port{0};

    // Strand-only state.
    bool stopped = false;
    std::unordered_set<beast::tcp_stream*> sessions;

    impl(asio::any_io_executor executor, std::string host_, std::uint16_t port, std::string token,
         admin_handlers handlers_)
        : strand(asio::make_strand(std::move(executor))), host(std::move(host_)),
          requested_port(port), handlers(std::move(handlers_)), acceptor(strand) {
        if (!token.empty()) {
            // Comparing digests keeps the comparison constant-time in the token's length too.
            token_digest = protocol::sha256_digest(token);
        }
    }

    [[nodiscard]] bool authorized(const request& req) const {
        if (!token_digest) {
            return true;
        }
        const auto it = req.find(http::field::authorization);
        if (it == req.end()) {
            return false;
        }
        const auto presented = bearer_token(it->value());
        if (!presented) {
            return false;
        }
        const protocol::sha256_hash digest = protocol::sha256_digest(*presented);
        return protocol::constant_time_equal(digest, *token_digest);
    }

    /// A response and the route pattern it answered, for on_request.
    struct routed {
        response res;
        std::string_view route;
    };

    /// Routes one request.
    routed handle(const request& req) const {
        std::string_view target = req.target();
        target = target.substr(0, target.find('?'));
        const route_def* route = nullptr;
        for (const route_def& r : routes) {
            if (r.path == target) {
                route = &r;
            }
        }
        const unsigned version = req.version();
        if (route == nullptr) {
            return {error_response(version, http::status::not_found, "not_found", "no such route"),
                    unknown_route};
        }
        if (req.method() != http::verb::get) {
            auto res = error_response(version, http::status::method_not_allowed,
                                      "method_not_allowed", "only GET is allowed");
            res.set(http::field::allow, "GET");
            return {std::move(res), route->path};
        }
        if (route->needs_token && !authorized(req)) {
            auto res = error_response(version, http::status::unauthorized, "unauthorized",
                                      "a valid admin token is required (Authorization: Bearer)");
            res.set(http::field::www_authenticate, R"(Bearer realm="qail-proxy admin")");
            return {std::move(res), route->path};
        }
        try {
            return {call(*route, version), route->path};
        } catch (const std::exception& e) {
            spdlog::error("admin: handler for {} failed: {}", route->path, e.what());
        } catch (...) {
            spdlog::error("admin: handler for {} failed with a non-standard exception",
                          route->path);
        }
        return {error_response(version, http::status::internal_server_error, "internal_error",
                               "the handler failed; see the proxy log"),
                route->path};
    }

    response call(const route_def& route, unsigned version) const {
        const auto not_configured = [&] {
            return error_response(version, http::status::not_found, "not_found",
                                  "route not configured");
        };
        switch (route.id) {
        case route_id::healthz:
            return make_response(version, http::status::ok, "text/plain", "ok");
        case route_id::metrics:
            if (!handlers.metrics) {
                return not_configured();
            }
            return make_response(version, http::status::ok, "text/plain; version=0.0.4",
                                 handlers.metrics());
        case route_id::readyz: {
            if (!handlers.ready) {
                return not_configured();
            }
            auto [ok, body] = handlers.ready();
            return make_response(version, ok ? http::status::ok : http::status::service_unavailable,
                                 json_type, std::move(body));
        }
        case route_id::pools:
            if (!handlers.pools) {
                return not_configured();
            }
            return make_response(version, http::status::ok, json_type, handlers.pools());
        case route_id::clients:
            if (!handlers.clients) {
                return not_configured();
            }
            return make_response(version, http::status::ok, json_type, handlers.clients());
        }
        return not_configured();
    }

    void report(std::string_view route, http::status status,
                std::chrono::steady_clock::time_point started) const {
        if (!handlers.on_request) {
            return;
        }
        const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
        try {
            handlers.on_request(route, static_cast<int>(status), elapsed.count());
        } catch (const std::exception& e) {
            spdlog::error("admin: on_request callback failed: {}", e.what());
        }
    }

    static asio::awaitable<void> session(std::shared_ptr<impl> self, tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        self->sessions.insert(&stream);
        struct unregister {
            impl& server;
            beast::tcp_stream* s;
            ~unregister() { server.sessions.erase(s); }
        } guard{*self, &stream};

        beast::flat_buffer buffer(buffer_limit);
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(header_limit));
            parser.body_limit(body_limit);
            stream.expires_after(self->read_timeout);
            auto [read_error, read_bytes] =
                co_await http::async_read(stream, buffer, parser, use_tuple);
            if (self->stopped) {
                break;
            }
            const auto started = std::chrono::steady_clock::now();
            response res;
            std::string_view route = unknown_route;
            bool keep_alive = false;
            if (read_error) {
                const auto status = status_for_parse_error(read_error);
                if (!status) {
                    if (read_error != beast::error::timeout &&
                        read_error != asio::error::operation_aborted) {
                        spdlog::debug("admin: connection closed: {}", read_error.message());
                    }
                    break;
                }
                beast::error_code ignored;
                spdlog::info("admin: rejected a malformed request from {}: {}",
                             stream.socket().remote_endpoint(ignored).address().to_string(),
                             read_error.message());
                res = error_response(11, *status, "bad_request", "malformed HTTP request");
            } else {
                const request& req = parser.get();
                routed answer = self->handle(req);
                res = std::move(answer.res);
                route = answer.route;
                keep_alive = req.keep_alive();
            }
            // After a parse error the stream position is unknown: answer, then close.
            res.keep_alive(keep_alive);
            res.prepare_payload();
            stream.expires_after(self->read_timeout);
            auto [write_error, written] = co_await http::async_write(stream, res, use_tuple);
            self->report(route, res.result(), started);
            if (write_error) {
                spdlog::debug("admin: write failed: {}", write_error.message());
                break;
            }
            if (!keep_alive) {
                break;
            }
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.socket().close(ignored);
    }

    static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
        for (;;) {
            auto [error, socket] = co_await self->acceptor.async_accept(use_tuple);
            if (self->stopped || error == asio::error::operation_aborted) {
                co_return;
            }
            if (error) {
                // E.g. out of file descriptors: back off instead of spinning.
                spdlog::warn("admin: accept failed: {}", error.message());
                asio::steady_timer backoff(self->strand, 100ms);
                co_await backoff.async_wait(use_tuple);
                continue;
            }
            if (self->sessions.size() >= max_sessions) {
                spdlog::warn("admin: {} connections open; refusing another", max_sessions);
                beast::error_code ignored;
                socket.close(ignored);
                continue;
            }
            asio::co_spawn(self->strand, session(self, std::move(socket)),
                           log_failure("admin", "session"));
        }
    }

    void close_all() {
        stopped = true;
        beast::error_code ignored;
        acceptor.close(ignored);
        for (beast::tcp_stream* s : sessions) {
            s->socket().shutdown(tcp::socket::shutdown_both, ignored);
            s->socket().close(ignored);
        }
    }
};

admin_server::admin_server(boost::asio::any_io_executor executor, std::string host,
                           std::uint16_t port, std::string token, admin_handlers handlers)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(host), port, std::move(token),
                                   std::move(handlers))) {}

admin_server::~admin_server() {
    stop();
}

void admin_server::start() {
    impl& s = *impl_;
    const std::string where = s.host + ":" + std::to_string(s.requested_port);
    beast::error_code ec;
    tcp::endpoint endpoint;
    const auto address = asio::ip::make_address(s.host.empty() ? "0.0.0.0" : s.host, ec);
    if (!ec) {
        endpoint = tcp::endpoint(address, s.requested_port);
    } else {
        tcp::resolver resolver(s.strand);
        const auto results =
            resolver.resolve(s.host, std::to_string(s.requested_port), tcp::resolver::passive, ec);
        if (ec || results.empty()) {
            throw std::system_error(ec ? std::error_code(ec)
                                       : std::make_error_code(std::errc::address_not_available),
                                    "admin: cannot resolve listen address " + where);
        }
        endpoint = results.begin()->endpoint();
    }
    const auto fail = [&where](const beast::error_code& error, std::string_view step) {
        throw std::system_error(error, "admin: cannot " + std::string(step) + " on " + where);
    };
    if (s.acceptor.open(endpoint.protocol(), ec); ec) {
        fail(ec, "open a socket");
    }
    if (s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec); ec) {
        fail(ec, "set SO_REUSEADDR");
    }
    if (s.acceptor.bind(endpoint, ec); ec) {
        beast::error_code ignored;
        s.acceptor.close(ignored);
        fail(ec, "listen");
    }
    if (s.acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
        beast::error_code ignored;
        s.acceptor.close(ignored);
        fail(ec, "listen");
    }
    s.bound_port = s.acceptor.local_endpoint().port();
    spdlog::info("admin: listening on {}:{}{}", endpoint.address().to_string(), port(),
                 s.token_digest ? "" : " (no admin token: /admin/* is open)");
    asio::co_spawn(s.strand, impl::accept_loop(impl_), log_failure("admin", "accept loop"));
}

std::uint16_t admin_server::port() const {
    return impl_->bound_port.load();
}

void admin_server::stop() {
    asio::dispatch(impl_->strand, [self = impl_] { self->close_all(); });
}

void admin_server::set_read_timeout(std::chrono::milliseconds timeout) {
    impl_->read_timeout = timeout;
}

} // namespace qail::proxy
