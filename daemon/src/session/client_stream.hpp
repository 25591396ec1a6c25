// A client's socket: TCP, Unix, or TLS over TCP after an SSLRequest.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <tuple>
#include <variant>

namespace qail::proxy {

class client_stream {
public:
    using tcp = boost::asio::ip::tcp;
    using unix_socket = boost::asio::local::stream_protocol::socket;
    using tls_stream = boost::asio::ssl::stream<tcp::socket>;

    explicit client_stream(tcp::socket s) : s_(std::move(s)) {}
    explicit client_stream(unix_socket s) : s_(std::move(s)) {}

    boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>>
    read_some(boost::asio::mutable_buffer b) {
        constexpr auto tok = boost::asio::as_tuple(boost::asio::use_awaitable);
        if (auto* t = std::get_if<tcp::socket>(&s_))
            co_return co_await t->async_read_some(b, tok);
        if (auto* u = std::get_if<unix_socket>(&s_))
            co_return co_await u->async_read_some(b, tok);
        co_return co_await std::get<std::unique_ptr<tls_stream>>(s_)->async_read_some(b, tok);
    }

    boost::asio::awaitable<boost::system::error_code> write(boost::asio::const_buffer b) {
        constexpr auto tok = boost::asio::as_tuple(boost::asio::use_awaitable);
        if (auto* t = std::get_if<tcp::socket>(&s_)) {
            auto [ec, n] = co_await boost::asio::async_write(*t, b, tok);
            co_return ec;
        }
        if (auto* u = std::get_if<unix_socket>(&s_)) {
            auto [ec, n] = co_await boost::asio::async_write(*u, b, tok);
            co_return ec;
        }
        auto [ec, n] =
            co_await boost::asio::async_write(*std::get<std::unique_ptr<tls_stream>>(s_), b, tok);
        co_return ec;
    }

    /// Wraps the TCP socket in TLS and runs the server handshake.
    boost::asio::awaitable<boost::system::error_code> start_tls(boost::asio::ssl::context& ctx) {
        auto* t = std::get_if<tcp::socket>(&s_);
        if (t == nullptr)
            co_return boost::asio::error::operation_not_supported;
        auto stream = std::make_unique<tls_stream>(std::move(*t), ctx);
        s_ = std::move(stream);
        auto& ts = *std::get<std::unique_ptr<tls_stream>>(s_);
        auto [ec] = co_await ts.async_handshake(boost::asio::ssl::stream_base::server,
                                                boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return ec;
    }

    [[nodiscard]] bool is_tcp() const noexcept { return std::holds_alternative<tcp::socket>(s_); }
    [[nodiscard]] SSL* ssl() noexcept {
        auto* p = std::get_if<std::unique_ptr<tls_stream>>(&s_);
        return p != nullptr ? (*p)->native_handle() : nullptr;
    }
    /// Bytes already received on the plain socket (before a TLS handshake they would be
    /// injected plaintext).
    [[nodiscard]] std::size_t available() {
        boost::system::error_code ec;
        if (auto* t = std::get_if<tcp::socket>(&s_))
            return t->available(ec);
        return 0;
    }

    void close() noexcept {
        boost::system::error_code ignored;
        if (auto* t = std::get_if<tcp::socket>(&s_))
            t->close(ignored);
        else if (auto* u = std::get_if<unix_socket>(&s_))
            u->close(ignored);
        else if (auto* p = std::get_if<std::unique_ptr<tls_stream>>(&s_); p && *p)
            (*p)->lowest_layer().close(ignored);
    }

private:
    std::variant<tcp::socket, unix_socket, std::unique_ptr<tls_stream>> s_;
};

} // namespace qail::proxy
