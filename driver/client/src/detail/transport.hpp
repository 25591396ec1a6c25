// One socket of any kind the driver speaks over (TCP, Unix, TLS over TCP), private to
// connection.cpp: reads and writes as initiating functions, a non-blocking send.
#pragma once

#include <qail/client/send_now.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <cstddef>
#include <type_traits>
#include <variant>

namespace qail::client::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol::socket;
using tls_stream = asio::ssl::stream<tcp::socket>;
// For the operations on every relayed message: a co_await of a deferred operation
// allocates no coroutine frame, where use_awaitable allocates one per operation.
constexpr auto deferred_tuple = asio::as_tuple(asio::deferred);

// One socket of any kind the driver speaks over.
class transport {
public:
    using variant = std::variant<std::monostate, tcp::socket, unix_socket, tls_stream>;

    transport() = default;
    explicit transport(variant v) : s_(std::move(v)) {}

    // Initiating functions rather than coroutines: awaited with a deferred token (as
    // read_some() and write() do), a co_await of them allocates no coroutine frame (they
    // are on every relayed message).
    template <typename Token>
    auto async_read_some(asio::mutable_buffer b, Token&& token) {
        return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, asio::mutable_buffer buf) {
                if (auto* t = std::get_if<tcp::socket>(&s_))
                    t->async_read_some(buf, std::move(handler));
                else if (auto* u = std::get_if<unix_socket>(&s_))
                    u->async_read_some(buf, std::move(handler));
                else if (auto* l = std::get_if<tls_stream>(&s_))
                    l->async_read_some(buf, std::move(handler));
                else
                    not_connected(std::move(handler));
            },
            token, b);
    }

    template <typename Token>
    auto async_write(asio::const_buffer b, Token&& token) {
        return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, asio::const_buffer buf) {
                if (auto* t = std::get_if<tcp::socket>(&s_))
                    asio::async_write(*t, buf, std::move(handler));
                else if (auto* u = std::get_if<unix_socket>(&s_))
                    asio::async_write(*u, buf, std::move(handler));
                else if (auto* l = std::get_if<tls_stream>(&s_))
                    asio::async_write(*l, buf, std::move(handler));
                else
                    not_connected(std::move(handler));
            },
            token, b);
    }

    auto read_some(asio::mutable_buffer b) { return async_read_some(b, deferred_tuple); }

    /// One non-blocking send on a plain socket: the bytes it took (0 over TLS or when
    /// the socket buffer is full).
    [[nodiscard]] std::size_t write_now(asio::const_buffer b, boost::system::error_code& ec) {
        if (auto* t = std::get_if<tcp::socket>(&s_))
            return send_now(*t, b, ec);
        if (auto* u = std::get_if<unix_socket>(&s_))
            return send_now(*u, b, ec);
        return 0;
    }

    asio::awaitable<boost::system::error_code> write(asio::const_buffer b) {
        auto [ec, n] = co_await async_write(b, deferred_tuple);
        (void)n;
        co_return ec;
    }

    void close() noexcept {
        boost::system::error_code ignored;
        std::visit(
            [&](auto& s) {
                using T = std::decay_t<decltype(s)>;
                if constexpr (std::is_same_v<T, tls_stream>)
                    s.lowest_layer().close(ignored);
                else if constexpr (!std::is_same_v<T, std::monostate>)
                    s.close(ignored);
            },
            s_);
    }

    /// The socket's descriptor, -1 when not connected.
    [[nodiscard]] int native_fd() noexcept {
        return std::visit(
            [](auto& s) -> int {
                using T = std::decay_t<decltype(s)>;
                if constexpr (std::is_same_v<T, tls_stream>)
                    return s.lowest_layer().is_open() ? s.lowest_layer().native_handle() : -1;
                else if constexpr (std::is_same_v<T, std::monostate>)
                    return -1;
                else
                    return s.is_open() ? s.native_handle() : -1;
            },
            s_);
    }

    [[nodiscard]] tls_stream* tls() noexcept { return std::get_if<tls_stream>(&s_); }
    [[nodiscard]] tcp::socket* tcp_socket() noexcept { return std::get_if<tcp::socket>(&s_); }
    variant& raw() noexcept { return s_; }

private:
    template <typename Handler>
    static void not_connected(Handler handler) {
        const auto ex = asio::get_associated_executor(handler);
        asio::post(ex, [h = std::move(handler)]() mutable {
            std::move(h)(asio::error::make_error_code(asio::error::not_connected), std::size_t{0});
        });
    }

    variant s_;
};

} // namespace qail::client::detail
