// TLS on a client's socket with OpenSSL on the socket itself (see tls_socket.hpp).
#include <qail/client/send_now.hpp>
#include <qail/proxy/tls_socket.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <climits>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

namespace qail::proxy {

namespace {
namespace asio = boost::asio;
} // namespace

// OpenSSL's BIO for a tls_socket: recv(2) and send(2) on its descriptor, never blocking
// (MSG_DONTWAIT, whatever the socket's mode) and without SIGPIPE (MSG_NOSIGNAL). The
// descriptor is looked up at every call, so once the socket is closed nothing reaches
// the number the kernel may have given to another connection.
struct tls_socket_bio {
    static tls_socket& owner(BIO* b) { return *static_cast<tls_socket*>(BIO_get_data(b)); }

    // One recv(2) or send(2) (`call`, given the descriptor), as OpenSSL wants it: the
    // bytes, 0 at end of stream, or -1 with the retry flag set when the socket is not
    // ready and errno kept otherwise.
    template <class Call>
    static int transfer(BIO* b, bool reading, Call call) {
        BIO_clear_retry_flags(b);
        tls_socket& s = owner(b);
        if (!s.socket_.is_open()) {
            s.last_errno_ = EBADF;
            return -1;
        }
        for (;;) {
            const ssize_t n = call(s.socket_.native_handle());
            if (n >= 0)
                return static_cast<int>(n);
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (reading)
                    BIO_set_retry_read(b);
                else
                    BIO_set_retry_write(b);
            } else {
                s.last_errno_ = errno;
            }
            return -1;
        }
    }

    static int read(BIO* b, char* out, int size) {
        return transfer(b, true, [&](int fd) {
            return client::recv_syscall(fd, out, static_cast<std::size_t>(size), MSG_DONTWAIT);
        });
    }

    static int write(BIO* b, const char* in, int size) {
        return transfer(b, false, [&](int fd) {
            return client::send_syscall(fd, in, static_cast<std::size_t>(size),
                                        MSG_DONTWAIT | MSG_NOSIGNAL);
        });
    }

    static long ctrl(BIO*, int cmd, long, void*) {
        return cmd == BIO_CTRL_FLUSH ? 1 : 0; // writes go straight to the socket
    }

    static int create(BIO* b) {
        BIO_set_init(b, 1);
        return 1;
    }

    static const BIO_METHOD* method() {
        static BIO_METHOD* const m = [] {
            BIO_METHOD* made =
                BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "qail-proxy socket");
            if (made != nullptr) {
                BIO_meth_set_read(made, read);
                BIO_meth_set_write(made, write);
                BIO_meth_set_ctrl(made, ctrl);
                BIO_meth_set_create(made, create);
            }
            return made;
        }();
        return m;
    }
};

tls_socket::tls_socket(tcp::socket socket, SSL_CTX* ctx) : socket_(std::move(socket)) {
    const BIO_METHOD* m = tls_socket_bio::method();
    if (m == nullptr || ctx == nullptr)
        return;
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr)
        return;
    BIO* bio = BIO_new(m);
    if (bio == nullptr) {
        SSL_free(ssl_);
        ssl_ = nullptr;
        return;
    }
    BIO_set_data(bio, this);
    SSL_set_bio(ssl_, bio, bio); // the SSL object owns it now
    SSL_set_accept_state(ssl_);
    // Partial writes and a moving buffer: a write that the socket cannot take whole
    // resumes with the rest, wherever the caller keeps it. Released buffers: an idle
    // connection holds no record buffers. Read-ahead: a read takes what the socket has,
    // not a record header and then its body.
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                           SSL_MODE_RELEASE_BUFFERS);
    SSL_set_read_ahead(ssl_, 1);
}

tls_socket::~tls_socket() {
    close(); // no BIO call after the SSL object is gone, nor on the closed socket
    if (ssl_ != nullptr)
        SSL_free(ssl_);
}

void tls_socket::close() noexcept {
    boost::system::error_code ignored;
    socket_.close(ignored);
}

// Before an OpenSSL call: false with the error that ended the connection (OpenSSL is not
// called after one: it would report it again, with its error queue empty by then); else
// a clean error queue and errno.
bool tls_socket::usable(attempt& failed) {
    if (ssl_ == nullptr)
        failed_ = asio::error::no_memory;
    if (failed_) {
        failed = {.ec = failed_};
        return false;
    }
    ERR_clear_error();
    last_errno_ = 0;
    return true;
}

tls_socket::attempt tls_socket::try_handshake() {
    attempt a;
    if (!usable(a))
        return a;
    return outcome(SSL_do_handshake(ssl_), 0);
}

tls_socket::attempt tls_socket::try_read(asio::mutable_buffer b) {
    attempt a;
    if (b.size() == 0 || !usable(a))
        return a;
    std::size_t n = 0;
    const int rc = SSL_read_ex(ssl_, b.data(), b.size(), &n);
    a = outcome(rc, n);
    starved_ = !a.ec && a.wait == want::read;
    return a;
}

tls_socket::attempt tls_socket::write_some_now(asio::const_buffer b) {
    std::size_t done = 0;
    while (done < b.size()) {
        attempt a;
        if (!usable(a))
            return a;
        std::size_t n = 0;
        const asio::const_buffer rest = b + done;
        const int rc = SSL_write_ex(ssl_, rest.data(), rest.size(), &n);
        a = outcome(rc, n);
        done += a.bytes;
        if (a.ec || a.wait != want::nothing) {
            a.bytes = done;
            return a;
        }
    }
    return {.bytes = done};
}

std::size_t tls_socket::write_now(asio::const_buffer b, boost::system::error_code& ec) {
    const attempt a = write_some_now(b);
    ec = a.ec;
    return a.bytes;
}

// An OpenSSL call's result as an attempt: the bytes it moved, the wait it asks for, or
// the error (end of stream as asio::error::eof, OpenSSL's reasons in Asio's ssl
// category, the socket's errno in the system category), which ends the connection.
tls_socket::attempt tls_socket::outcome(int rc, std::size_t bytes) {
    const attempt a = classify(rc, bytes);
    if (a.ec)
        failed_ = a.ec;
    return a;
}

tls_socket::attempt tls_socket::classify(int rc, std::size_t bytes) {
    if (rc == 1)
        return {.bytes = bytes};
    switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
        return {.wait = want::read};
    case SSL_ERROR_WANT_WRITE:
        return {.wait = want::write};
    case SSL_ERROR_ZERO_RETURN: // close_notify
        return {.ec = asio::error::eof};
    case SSL_ERROR_SYSCALL:
        if (last_errno_ != 0)
            return {.ec = {last_errno_, asio::error::get_system_category()}};
        return {.ec = asio::error::eof}; // the peer closed without close_notify
    default: {
        const unsigned long e = ERR_get_error();
        ERR_clear_error();
        if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            return {.ec = asio::error::eof};
        if (e == 0)
            return {.ec = asio::error::fault};
        return {.ec = {static_cast<int>(e), asio::error::get_ssl_category()}};
    }
    }
}

} // namespace qail::proxy
