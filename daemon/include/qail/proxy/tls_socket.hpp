// The server side of TLS on a client's TCP socket, with OpenSSL reading and writing the
// socket itself.
//
// Asio's ssl::stream feeds OpenSSL through a BIO pair and keeps buffers of its own: with
// OpenSSL's record buffers that is about 70 KiB held by every TLS client for its whole
// life, idle or not. Here OpenSSL's BIO is the socket (a BIO of ours that calls recv(2)
// and send(2) on it, without waiting and without SIGPIPE), and the SSL object releases its
// record buffers whenever they are empty (SSL_MODE_RELEASE_BUFFERS): an idle TLS client
// holds the SSL object and little else, and a record is copied once fewer.
//
// The operations try OpenSSL first and wait for the socket only when it asks to
// (SSL_ERROR_WANT_READ / WANT_WRITE), so data OpenSSL already holds is never waited for.
// A wait is a socket async_wait(), which the socket's close() ends with
// operation_aborted; after close() no OpenSSL call touches the descriptor again (the BIO
// finds the socket closed and fails with bad_descriptor), so a reused descriptor number
// can never receive this client's bytes.
//
// One object per connection, used from the one thread that runs its io_context; at most
// one read (async_read_some) and one write (async_write or write_now) at a time, as with
// any Asio stream. The object must not move while in use (OpenSSL's BIO points at it).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <openssl/types.h>

namespace qail::proxy {

class tls_socket {
public:
    using tcp = boost::asio::ip::tcp;

    /// The connection `socket` as the TLS server of `ctx` (its certificate, client CA,
    /// verification), not yet handshaken. Without memory for an SSL object, every
    /// operation fails with no_memory.
    tls_socket(tcp::socket socket, SSL_CTX* ctx);
    ~tls_socket();
    tls_socket(const tls_socket&) = delete;
    tls_socket& operator=(const tls_socket&) = delete;

    /// The server handshake: handler(error_code).
    template <typename Token>
    auto async_handshake(Token&& token) {
        return boost::asio::async_compose<Token, void(boost::system::error_code)>(
            io_op<handshake_step>{this, {}}, token, socket_);
    }

    /// Reads what there is, at least one byte: handler(error_code, bytes). End of stream
    /// (close_notify, or the peer's close without it) is boost::asio::error::eof.
    template <typename Token>
    auto async_read_some(boost::asio::mutable_buffer b, Token&& token) {
        return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
            io_op<read_step>{this, {b}}, token, socket_);
    }

    /// Writes all of `b`: handler(error_code, bytes). After a write_now() that took less
    /// than it was given, the next write must start with the bytes it did not take
    /// (OpenSSL may hold a record made of them half sent).
    template <typename Token>
    auto async_write(boost::asio::const_buffer b, Token&& token) {
        return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
            io_op<write_step>{this, {b}}, token, socket_);
    }

    /// Reads what OpenSSL can give now, without waiting: the bytes (0 when it must wait
    /// for the socket, or on an error, which the next async_read_some() meets again).
    [[nodiscard]] std::size_t read_now(boost::asio::mutable_buffer b) {
        return b.size() == 0 ? 0 : try_read(b).bytes;
    }

    /// Whether the last read found nothing, OpenSSL's buffers and the socket both empty
    /// (it asked to wait for the socket), with no read since: an async_read_some() then
    /// waits for the socket first, and so may a wait for readability of the socket alone.
    [[nodiscard]] bool known_empty() const noexcept { return starved_; }

    /// Writes what the socket takes now, without waiting: the bytes taken (see
    /// async_write() for the rest).
    [[nodiscard]] std::size_t write_now(boost::asio::const_buffer b, boost::system::error_code& ec);

    /// The OpenSSL connection (peer certificate, channel binding data), or null.
    [[nodiscard]] SSL* native_handle() const noexcept { return ssl_; }
    [[nodiscard]] tcp::socket& socket() noexcept { return socket_; }

    /// Closes the socket (no close_notify): a pending operation ends with
    /// operation_aborted, and later ones fail. After any error (end of stream included)
    /// every operation fails with that error.
    void close() noexcept;

    /// What OpenSSL said about one attempt.
    enum class want { nothing, read, write };
    struct attempt {
        want wait = want::nothing; ///< wait for this and try again
        std::size_t bytes = 0;     ///< moved by this attempt
        boost::system::error_code ec{};
    };

private:
    // One try of an operation; io_op repeats it after each wait OpenSSL asks for.
    // wait_first(): whether to wait for the socket before the first try.
    struct handshake_step {
        static bool wait_first(const tls_socket&) { return false; }
        attempt operator()(tls_socket& s) const { return s.try_handshake(); }
        void finish(auto& self, boost::system::error_code ec) const { self.complete(ec); }
    };
    struct read_step {
        boost::asio::mutable_buffer b;
        std::size_t bytes = 0;
        static bool wait_first(const tls_socket& s) { return s.starved_; }
        attempt operator()(tls_socket& s) {
            attempt a = s.try_read(b);
            bytes = a.bytes;
            return a;
        }
        void finish(auto& self, boost::system::error_code ec) const { self.complete(ec, bytes); }
    };
    struct write_step {
        boost::asio::const_buffer b;
        std::size_t done = 0;
        static bool wait_first(const tls_socket&) { return false; }
        attempt operator()(tls_socket& s) {
            const attempt a = s.write_some_now(b + done); // all, or until OpenSSL must wait
            done += a.bytes;
            return a;
        }
        void finish(auto& self, boost::system::error_code ec) const { self.complete(ec, done); }
    };

    // The composed operation: try; on want::read / want::write wait on the socket and try
    // again; finish with the attempt's error. A result found without any wait is
    // delivered through a post, never from inside the initiating call.
    template <class Step>
    struct io_op {
        tls_socket* s;
        Step step;
        enum class state { start, waited, posted } at = state::start;
        boost::system::error_code result{};

        template <typename Self>
        void operator()(Self& self, boost::system::error_code ec = {}) {
            if (at == state::posted)
                return step.finish(self, result);
            if (ec) // the wait failed: the socket was closed, or its reactor shut down
                return step.finish(self, ec);
            if (at == state::start && Step::wait_first(*s)) {
                at = state::waited;
                return s->socket_.async_wait(tcp::socket::wait_read, std::move(self));
            }
            const state was = at;
            const attempt a = step(*s);
            if (!a.ec && a.wait != want::nothing) {
                at = state::waited;
                return s->socket_.async_wait(a.wait == want::read ? tcp::socket::wait_read
                                                                  : tcp::socket::wait_write,
                                             std::move(self));
            }
            if (was == state::start) {
                at = state::posted;
                result = a.ec;
                return boost::asio::post(s->socket_.get_executor(), std::move(self));
            }
            step.finish(self, a.ec);
        }
    };

    attempt try_handshake();
    attempt try_read(boost::asio::mutable_buffer b);
    // SSL_write until all of `b` is taken, OpenSSL must wait, or an error; the bytes of
    // all the calls.
    attempt write_some_now(boost::asio::const_buffer b);
    bool usable(attempt& failed);
    attempt outcome(int rc, std::size_t bytes);
    attempt classify(int rc, std::size_t bytes);

    friend struct tls_socket_bio; // the BIO's callbacks: socket_ and last_errno_

    tcp::socket socket_;
    SSL* ssl_ = nullptr;
    int last_errno_ = 0;   // errno of the BIO's last failed recv/send
    bool starved_ = false; // the last read asked to wait for the socket (known_empty())
    boost::system::error_code failed_{}; // what ended the connection: every call's result
};

} // namespace qail::proxy
