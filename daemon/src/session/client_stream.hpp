// A client's socket: TCP, Unix, or TLS over TCP after an SSLRequest.
#pragma once

#include <qail/client/send_now.hpp>
#include <qail/proxy/socket_readiness.hpp>
#include <qail/proxy/tls_socket.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <span>
#include <tuple>
#include <variant>

namespace qail::proxy {

class client_stream {
public:
    using tcp = boost::asio::ip::tcp;
    using unix_socket = boost::asio::local::stream_protocol::socket;

    explicit client_stream(tcp::socket s) : s_(std::move(s)) {}
    explicit client_stream(unix_socket s) : s_(std::move(s)) {}

    /// Reads what is there (at least one byte), as the socket's async_read_some: the
    /// handler gets (error_code, bytes). An initiating function, not a coroutine, so a
    /// co_await of it costs no frame of its own (this is on every relayed message).
    template <typename Token>
    auto async_read_some(boost::asio::mutable_buffer b, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, boost::asio::mutable_buffer buf) {
                if (auto* t = std::get_if<tcp::socket>(&s_))
                    t->async_read_some(buf, std::move(handler));
                else if (auto* u = std::get_if<unix_socket>(&s_))
                    u->async_read_some(buf, std::move(handler));
                else
                    std::get<std::unique_ptr<tls_socket>>(s_)->async_read_some(buf,
                                                                               std::move(handler));
            },
            token, b);
    }

    /// Writes all of `b` (asio::async_write): the handler gets (error_code, bytes).
    template <typename Token>
    auto async_write(boost::asio::const_buffer b, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, boost::asio::const_buffer buf) {
                if (auto* t = std::get_if<tcp::socket>(&s_))
                    boost::asio::async_write(*t, buf, std::move(handler));
                else if (auto* u = std::get_if<unix_socket>(&s_))
                    boost::asio::async_write(*u, buf, std::move(handler));
                else
                    std::get<std::unique_ptr<tls_socket>>(s_)->async_write(buf, std::move(handler));
            },
            token, b);
    }

    /// What the socket takes now, without waiting: the bytes taken (0 when its buffer is
    /// full); async_write() the rest, and nothing else before it (over TLS a record of
    /// those bytes may be half sent).
    [[nodiscard]] std::size_t write_now(boost::asio::const_buffer b,
                                        boost::system::error_code& ec) {
        if (auto* t = std::get_if<tcp::socket>(&s_))
            return client::send_now(*t, b, ec);
        if (auto* u = std::get_if<unix_socket>(&s_))
            return client::send_now(*u, b, ec);
        return std::get<std::unique_ptr<tls_socket>>(s_)->write_now(b, ec);
    }

    /// co_await it for a tuple (error_code, bytes). Deferred rather than use_awaitable:
    /// the co_await then allocates no coroutine frame (this is on every relayed message).
    auto read_some(boost::asio::mutable_buffer b) {
        return async_read_some(b, boost::asio::as_tuple(boost::asio::deferred));
    }

    boost::asio::awaitable<boost::system::error_code> write(boost::asio::const_buffer b) {
        auto [ec, n] = co_await async_write(b, boost::asio::as_tuple(boost::asio::deferred));
        co_return ec;
    }

    /// Wraps the TCP socket in TLS and runs the server handshake.
    boost::asio::awaitable<boost::system::error_code> start_tls(boost::asio::ssl::context& ctx) {
        auto* t = std::get_if<tcp::socket>(&s_);
        if (t == nullptr)
            co_return boost::asio::error::operation_not_supported;
        auto stream = std::make_unique<tls_socket>(std::move(*t), ctx.native_handle());
        tls_socket& ts = *stream;
        s_ = std::move(stream);
        auto [ec] = co_await ts.async_handshake(boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return ec;
    }

    [[nodiscard]] bool is_tcp() const noexcept { return std::holds_alternative<tcp::socket>(s_); }

    // A plain socket's (TCP or Unix) reads skip the EAGAIN read before a wait
    // (socket_readiness.hpp); over TLS watch_peer_close() and note_empty() do nothing.
    /// readiness::watch_peer_close() of the plain socket.
    [[nodiscard]] bool watch_peer_close() noexcept {
        return on_plain([](auto& s) { return readiness::watch_peer_close(s); }, false);
    }
    /// What can be read without waiting (0: nothing, or an error that read_some() meets
    /// again): readiness::read_now() on a plain socket, one SSL_read over TLS.
    [[nodiscard]] std::size_t read_now(std::span<char> room) {
        if (auto* p = std::get_if<std::unique_ptr<tls_socket>>(&s_))
            return (*p)->read_now(boost::asio::buffer(room.data(), room.size()));
        return on_plain([room](auto& s) { return readiness::read_now(s, room); }, std::size_t{0});
    }
    /// Whether the socket is known to hold nothing to read (the last read found it empty
    /// and no event has come since; over TLS, OpenSSL's buffers empty too): a
    /// wait_readable() then ends at the kernel's next event for it. False where a plain
    /// socket's readiness is not tracked.
    [[nodiscard]] bool known_empty() noexcept {
        if (auto* p = std::get_if<std::unique_ptr<tls_socket>>(&s_))
            return (*p)->known_empty();
        return on_plain(
            [](auto& s) {
                const bool* flag = readiness::try_first_flag(s);
                return flag != nullptr && !*flag;
            },
            false);
    }
    /// Waits until the socket has something to read (data, end of stream, an error):
    /// handler(error_code). Only after known_empty(): an event that came before is not
    /// waited for again, and over TLS OpenSSL may hold bytes the socket does not show.
    template <typename Token>
    auto async_wait_readable(Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
            [this](auto handler) {
                if (auto* t = std::get_if<tcp::socket>(&s_))
                    t->async_wait(tcp::socket::wait_read, std::move(handler));
                else if (auto* u = std::get_if<unix_socket>(&s_))
                    u->async_wait(unix_socket::wait_read, std::move(handler));
                else
                    std::get<std::unique_ptr<tls_socket>>(s_)->socket().async_wait(
                        tcp::socket::wait_read, std::move(handler));
            },
            token);
    }
    /// co_await it for a tuple (error_code), without a coroutine frame (as read_some()).
    auto wait_readable() {
        return async_wait_readable(boost::asio::as_tuple(boost::asio::deferred));
    }

    /// readiness::note_empty() of the plain socket.
    void note_empty() noexcept {
        (void)on_plain(
            [](auto& s) {
                readiness::note_empty(s);
                return true;
            },
            false);
    }
    [[nodiscard]] SSL* ssl() noexcept {
        auto* p = std::get_if<std::unique_ptr<tls_socket>>(&s_);
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
        else if (auto* p = std::get_if<std::unique_ptr<tls_socket>>(&s_); p && *p)
            (*p)->close();
    }

private:
    template <class F, class R>
    R on_plain(F f, R over_tls) {
        if (auto* t = std::get_if<tcp::socket>(&s_))
            return f(*t);
        if (auto* u = std::get_if<unix_socket>(&s_))
            return f(*u);
        return over_tls;
    }

    std::variant<tcp::socket, unix_socket, std::unique_ptr<tls_socket>> s_;
};

} // namespace qail::proxy
