// TLS with OpenSSL on the socket itself: real handshakes with Asio's ssl::stream as the
// client over loopback TCP, bytes read in pieces smaller than a record, writes the socket
// cannot take at once, the peer's end of stream, junk, and a close() after which no call
// reaches the descriptor.
#include "test_support.hpp"

#include <qail/proxy/tls_socket.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <memory>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string>
#include <sys/socket.h>
#include <thread>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using qail::proxy::tls_socket;
using error_code = boost::system::error_code;
using namespace std::chrono_literals;

// A server context with a self-signed P-256 certificate made in memory, once; like the
// proxy's (client::make_server_context), it sends no session tickets.
asio::ssl::context& server_context() {
    static asio::ssl::context* const ctx = [] {
        auto* c = new asio::ssl::context(asio::ssl::context::tls_server);
        EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        X509* cert = X509_new();
        REQUIRE(key != nullptr);
        REQUIRE(cert != nullptr);
        X509_set_version(cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
        X509_set_pubkey(cert, key);
        X509_NAME* name = X509_get_subject_name(cert);
        const std::string cn = "localhost";
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_set_issuer_name(cert, name);
        REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
        REQUIRE(SSL_CTX_use_certificate(c->native_handle(), cert) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey(c->native_handle(), key) == 1);
        SSL_CTX_set_num_tickets(c->native_handle(), 0);
        X509_free(cert);
        EVP_PKEY_free(key);
        return c;
    }();
    return *ctx;
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
}

// A tls_socket on the accepting end of a loopback connection, Asio's ssl::stream on the
// connecting end.
struct tls_link {
    asio::io_context io;
    asio::ssl::context client_ctx{asio::ssl::context::tls_client};
    asio::ssl::stream<tcp::socket> client{io, client_ctx};
    std::unique_ptr<tls_socket> server;

    tls_link() {
        tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
        client.next_layer().connect(acceptor.local_endpoint());
        server = std::make_unique<tls_socket>(acceptor.accept(), server_context().native_handle());
        REQUIRE(server->native_handle() != nullptr);
    }

    // Runs the loop until `done()` (at most 10 s; a hang fails the test).
    template <class Done>
    void run_until(Done done) {
        io.restart();
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done() && std::chrono::steady_clock::now() < deadline)
            io.run_one_for(50ms);
        REQUIRE(done());
    }

    void handshake() {
        bool server_done = false;
        bool client_done = false;
        error_code server_ec;
        error_code client_ec;
        server->async_handshake([&](error_code ec) {
            server_ec = ec;
            server_done = true;
        });
        client.async_handshake(asio::ssl::stream_base::client, [&](error_code ec) {
            client_ec = ec;
            client_done = true;
        });
        run_until([&] { return server_done && client_done; });
        REQUIRE_MESSAGE(!server_ec, server_ec.message());
        REQUIRE_MESSAGE(!client_ec, client_ec.message());
    }

    // The server writes `data` from `offset` on with async_write() while the client reads
    // all of `data`: both finish, and the client has the bytes in order.
    void server_writes_client_reads(const std::string& data, std::size_t offset) {
        bool written = false;
        bool read_all = false;
        std::string received(data.size(), '\0');
        server->async_write(asio::buffer(data) + offset, [&](error_code ec, std::size_t n) {
            CHECK_FALSE(ec);
            CHECK(n == data.size() - offset);
            written = true;
        });
        asio::async_read(client, asio::buffer(received), [&](error_code ec, std::size_t n) {
            CHECK_FALSE(ec);
            CHECK(n == data.size());
            read_all = true;
        });
        run_until([&] { return written && read_all; });
        CHECK(received == data);
    }

    // The server's next read, with `room` bytes of room.
    struct read_result {
        bool done = false;
        error_code ec;
        std::size_t n = 0;
    };
    read_result read_once(std::string& into, std::size_t room) {
        read_result r;
        into.resize(room);
        server->async_read_some(asio::buffer(into), [&](error_code ec, std::size_t n) {
            r = {true, ec, n};
        });
        run_until([&] { return r.done; });
        into.resize(r.n);
        return r;
    }
};

TEST_CASE("tls_socket: bytes go both ways after the handshake and reads may be smaller than "
          "a record") {
    tls_link link;
    link.handshake();
    const std::string up = pattern(1 << 20);
    bool sent = false;
    asio::async_write(link.client, asio::buffer(up), [&](error_code ec, std::size_t n) {
        CHECK_FALSE(ec);
        CHECK(n == up.size());
        sent = true;
    });
    // 100-byte reads: most find their bytes already decrypted in OpenSSL, with nothing new
    // on the socket; a read that waited for the socket then would never finish.
    std::string got;
    std::string piece;
    while (got.size() < up.size()) {
        const auto r = link.read_once(piece, 100);
        REQUIRE_MESSAGE(!r.ec, r.ec.message());
        REQUIRE(r.n > 0);
        got += piece;
    }
    link.run_until([&] { return sent; });
    CHECK(got == up);

    link.server_writes_client_reads(pattern(3 << 20), 0);
}

TEST_CASE("tls_socket: read_now() reads without waiting and an empty read makes the next "
          "async_read_some() wait for the socket first") {
    tls_link link;
    link.handshake();
    std::string room(64, '\0');
    CHECK(link.server->read_now(asio::buffer(room)) == 0);
    CHECK(link.server->known_empty());
    tls_link::read_result r;
    link.server->async_read_some(asio::buffer(room), [&](error_code ec, std::size_t n) {
        r = {true, ec, n};
    });
    link.io.restart();
    link.io.poll(); // nothing has come: the read waits
    CHECK_FALSE(r.done);
    asio::write(link.client, asio::buffer(std::string("hello, world")));
    link.run_until([&] { return r.done; });
    CHECK_FALSE(r.ec);
    CHECK(room.substr(0, r.n) == "hello, world");
    CHECK_FALSE(link.server->known_empty());

    // Bytes already decrypted are read at once, with the socket empty.
    asio::write(link.client, asio::buffer(std::string("0123456789")));
    std::string got;
    std::size_t n = 0;
    for (int i = 0; i < 1000 && n == 0; ++i) { // the record is normally there at once
        n = link.server->read_now(asio::buffer(room.data(), 4));
        if (n == 0)
            std::this_thread::sleep_for(1ms);
    }
    REQUIRE(n == 4);
    got.assign(room.data(), n);
    while (got.size() < 10) {
        n = link.server->read_now(asio::buffer(room.data(), 4));
        REQUIRE(n > 0);
        got.append(room.data(), n);
    }
    CHECK(got == "0123456789");
    CHECK(link.server->read_now(asio::buffer(room)) == 0);
    CHECK(link.server->known_empty());
}

TEST_CASE("tls_socket: write_now() takes what the socket takes and async_write() of the "
          "rest waits for room and keeps the order") {
    tls_link link;
    // Small socket buffers, so that the socket fills long before 8 MiB.
    link.server->socket().set_option(asio::socket_base::send_buffer_size(16 * 1024));
    link.client.next_layer().set_option(asio::socket_base::receive_buffer_size(16 * 1024));
    link.handshake();
    const std::string data = pattern(8 << 20);
    error_code ec;
    const std::size_t taken = link.server->write_now(asio::buffer(data), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(taken > 0);
    REQUIRE(taken < data.size());

    link.server_writes_client_reads(data, taken);
}

TEST_CASE("tls_socket: the peer's end of stream is eof with or without close_notify") {
    tls_link link;
    link.handshake();
    SUBCASE("close_notify") {
        bool shut = false;
        link.client.async_shutdown([&](error_code) { shut = true; });
        std::string piece;
        const auto r = link.read_once(piece, 64);
        CHECK(r.ec == asio::error::eof);
        link.server->close(); // the client's shutdown waits for a close_notify back
        link.run_until([&] { return shut; });
    }
    SUBCASE("the connection closed") {
        link.client.next_layer().close();
        std::string piece;
        const auto r = link.read_once(piece, 64);
        CHECK(r.ec == asio::error::eof);
        // The end is final: the next read and a write meet it too.
        CHECK(link.read_once(piece, 64).ec == asio::error::eof);
        error_code ec;
        CHECK(link.server->write_now(asio::buffer(std::string("late")), ec) == 0);
        CHECK(ec == asio::error::eof);
    }
}

TEST_CASE("tls_socket: a handshake of junk fails with OpenSSL's reason and a client gone "
          "mid-handshake is eof") {
    tls_link link;
    error_code result;
    bool done = false;
    SUBCASE("junk") {
        const std::string junk = std::string("\x16\x03\x01") + "junkjunkjunkjunkjunkjunk";
        asio::write(link.client.next_layer(), asio::buffer(junk));
        link.server->async_handshake([&](error_code ec) {
            result = ec;
            done = true;
        });
        link.run_until([&] { return done; });
        CHECK(result.category() == asio::error::get_ssl_category());
    }
    SUBCASE("closed after half a ClientHello") {
        asio::write(link.client.next_layer(), asio::buffer(std::string("\x16\x03\x01\x02\x00", 5)));
        link.client.next_layer().close();
        link.server->async_handshake([&](error_code ec) {
            result = ec;
            done = true;
        });
        link.run_until([&] { return done; });
        CHECK(result == asio::error::eof);
    }
}

TEST_CASE("tls_socket: close() ends a pending read and no later call reaches the "
          "descriptor even once the kernel has given its number to another connection") {
    tls_link link;
    link.handshake();
    const int fd = link.server->socket().native_handle();
    // The connection that is to get the number, up to its accept.
    tcp::acceptor acceptor(link.io, {asio::ip::address_v4::loopback(), 0});
    tcp::socket other_peer(link.io);
    other_peer.connect(acceptor.local_endpoint());
    tls_link::read_result r;
    std::string room(64, '\0');
    link.server->async_read_some(asio::buffer(room), [&](error_code ec, std::size_t n) {
        r = {true, ec, n};
    });
    asio::post(link.io, [&] { link.server->close(); });
    link.run_until([&] { return r.done; });
    CHECK(r.ec == asio::error::operation_aborted);

    tcp::socket other = acceptor.accept(); // the lowest free number: the closed socket's
    REQUIRE(other.native_handle() == fd);

    error_code ec;
    CHECK(link.server->write_now(asio::buffer(std::string("secret")), ec) == 0);
    CHECK(ec == asio::error::bad_descriptor);
    bool failed = false;
    link.server->async_write(asio::buffer(std::string("secret")), [&](error_code e, std::size_t) {
        CHECK(e);
        failed = true;
    });
    link.run_until([&] { return failed; });
    // Whatever reached `other` came before this marker.
    asio::write(other, asio::buffer(std::string("marker")));
    std::string first(6, '\0');
    asio::read(other_peer, asio::buffer(first));
    CHECK(first == "marker");
}

TEST_CASE("tls_socket: a write to a connection the peer reset fails without SIGPIPE and "
          "so does every later call") {
    tls_link link;
    link.handshake();
    link.client.next_layer().set_option(asio::socket_base::linger(true, 0));
    link.client.next_layer().close(); // RST
    // The reset is taken off the socket by a read of our own (normally at once, on
    // loopback), so that the next send(2) fails with EPIPE, which raises SIGPIPE unless
    // the BIO says MSG_NOSIGNAL.
    const int fd = link.server->socket().native_handle();
    int err = 0;
    for (int i = 0; i < 1000 && err != ECONNRESET; ++i) {
        char byte = 0;
        err = ::recv(fd, &byte, 1, MSG_DONTWAIT) < 0 ? errno : 0;
        if (err != ECONNRESET)
            std::this_thread::sleep_for(1ms);
    }
    REQUIRE(err == ECONNRESET);
    const std::string data = pattern(1024);
    error_code ec;
    CHECK(link.server->write_now(asio::buffer(data), ec) == 0);
    CHECK(ec == asio::error::broken_pipe);
    CHECK(link.server->write_now(asio::buffer(data), ec) == 0);
    CHECK(ec == asio::error::broken_pipe);
    std::string piece;
    CHECK(link.read_once(piece, 64).ec == asio::error::broken_pipe);
}

} // namespace
