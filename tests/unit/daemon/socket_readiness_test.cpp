// Telling Asio's reactor that a socket is empty: reads wait for the kernel's next event
// instead of trying first, and nothing that arrives (data, an end of stream, even one
// queued behind the last bytes read) is missed. Real sockets: loopback TCP connections
// and Unix-domain socket pairs, each test on both.
#include "test_support.hpp"

#include <qail/proxy/socket_readiness.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <poll.h>
#include <string>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace readiness = qail::proxy::readiness;
using asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;
using namespace std::chrono_literals;

template <class Protocol>
struct socket_pair {
    typename Protocol::socket ours;
    typename Protocol::socket peer;
};

socket_pair<tcp> connected(asio::io_context& ctx, tcp) {
    tcp::acceptor acceptor(ctx, {asio::ip::address_v4::loopback(), 0});
    tcp::socket peer(ctx);
    peer.connect(acceptor.local_endpoint());
    tcp::socket ours = acceptor.accept();
    return {std::move(ours), std::move(peer)};
}

socket_pair<unix_stream> connected(asio::io_context& ctx, unix_stream) {
    unix_stream::socket ours(ctx);
    unix_stream::socket peer(ctx);
    asio::local::connect_pair(ours, peer);
    return {std::move(ours), std::move(peer)};
}

// Runs `body(protocol)` for a TCP and for a Unix-domain socket, one subcase each.
template <class Body>
void on_tcp_and_unix(Body body) {
    SUBCASE("TCP") {
        body(tcp::v4());
    }
    SUBCASE("Unix") {
        body(unix_stream{});
    }
}

// Sends `bytes` from `from` and waits (bounded) until `to` holds `total` unread bytes.
template <class Socket>
void deliver(Socket& from, std::string_view bytes, Socket& to, std::size_t total) {
    asio::write(from, asio::buffer(bytes));
    for (int i = 0; i < 500 && to.available() < total; ++i)
        std::this_thread::sleep_for(2ms);
    REQUIRE(to.available() == total);
}

// Runs `f` on `ctx`'s loop (this thread), then the loop until it is out of work or
// `limit` has passed.
template <class F>
void run_on(asio::io_context& ctx, F f, std::chrono::milliseconds limit) {
    ctx.restart();
    asio::post(ctx, std::move(f));
    ctx.run_for(limit);
}

// Runs `ctx`'s reactor once more after deliver(): the event for the bytes delivered is
// taken now (with no read waiting), not later in the middle of a test's steps.
void settle(asio::io_context& ctx) {
    asio::steady_timer timer(ctx, 20ms);
    timer.async_wait([](boost::system::error_code) {});
    ctx.restart();
    ctx.run();
}

// A read started on `s`, and what it completed with.
struct pending_read {
    bool done = false;
    boost::system::error_code ec;
    std::string got;
    char room[64]{};

    template <class Socket>
    void start(Socket& s) {
        s.async_read_some(asio::buffer(room), [this](boost::system::error_code e, std::size_t n) {
            done = true;
            ec = e;
            got.assign(room, n);
        });
    }
};

// On `ctx`'s loop: `s` is marked empty (its flag set by hand) and `r` started on it; then
// the loop runs 150 ms, in which `r` must not complete.
template <class Socket>
void start_marked_empty(asio::io_context& ctx, Socket& s, pending_read& r) {
    run_on(
        ctx,
        [&] {
            *readiness::try_first_flag(s) = false;
            r.start(s);
        },
        150ms);
    CHECK_FALSE(r.done);
}

// Runs `ctx` until `r` completes, for at most 5 s.
void finish(asio::io_context& ctx, const pending_read& r) {
    ctx.restart();
    for (int i = 0; i < 50 && !r.done; ++i)
        ctx.run_for(100ms);
}

TEST_CASE("this build reaches the reactor's per-socket state") {
    // With another Boost or reactor the relay falls back to Asio's own reads; the build
    // this suite runs on must be the one that saves the system call.
    CHECK(readiness::available);
}

TEST_CASE("read_now reads what is there, marks an empty socket, and the read left waits for "
          "the next data") {
    on_tcp_and_unix([](auto protocol) {
        asio::io_context ctx;
        auto [ours, peer] = connected(ctx, protocol);
        deliver(peer, "abc", ours, 3);
        char room[64];
        std::size_t first = 0, second = 9, third = 9;
        bool tried_after_first = false;
        bool tried_after_second = true;
        bool tried_after_third = true;
        run_on(
            ctx,
            [&] {
                first = readiness::read_now(ours, room);
                tried_after_first = *readiness::try_first_flag(ours);
                second = readiness::read_now(ours, room); // recv(2): EAGAIN
                tried_after_second = *readiness::try_first_flag(ours);
                third = readiness::read_now(ours, room); // no system call: marked empty
                tried_after_third = *readiness::try_first_flag(ours);
            },
            1s);
        CHECK(tried_after_first); // a read that fills part of the room does not mark it
        CHECK_FALSE(tried_after_second);
        CHECK(first == 3);
        CHECK(std::string_view(room, 3) == "abc");
        CHECK(second == 0);
        CHECK(third == 0);
        CHECK_FALSE(tried_after_third);

        pending_read r;
        run_on(
            ctx, [&] { r.start(ours); }, 150ms);
        CHECK_FALSE(r.done);
        asio::write(peer, asio::buffer(std::string_view("d")));
        finish(ctx, r);
        REQUIRE(r.done);
        CHECK_FALSE(r.ec);
        CHECK(r.got == "d");
    });
}

TEST_CASE("a socket marked empty is not tried: its read waits for the next event, even with "
          "data there") {
    on_tcp_and_unix([](auto protocol) {
        asio::io_context ctx;
        auto [ours, peer] = connected(ctx, protocol);
        deliver(peer, "x", ours, 1); // against the mark, to show the reactor does not look
        settle(ctx);
        pending_read r;
        start_marked_empty(ctx, ours, r);
        asio::write(peer, asio::buffer(std::string_view("y")));
        finish(ctx, r);
        REQUIRE(r.done);
        CHECK_FALSE(r.ec);
        CHECK(r.got == "xy");
    });
}

// A short read on `ctx`'s loop, then note_empty(): whether the reactor would still try
// the next read first.
template <class Socket>
bool tries_after_short_read(asio::io_context& ctx, Socket& ours, std::size_t expected) {
    char room[64];
    std::size_t got = 0;
    bool tries = false;
    run_on(
        ctx,
        [&] {
            got = readiness::read_now(ours, room);
            readiness::note_empty(ours);
            tries = *readiness::try_first_flag(ours);
        },
        1s);
    CHECK(got == expected);
    return tries;
}

template <class Socket>
void watch(asio::io_context& ctx, Socket& s) {
    bool watched = false;
    run_on(
        ctx, [&] { watched = readiness::watch_peer_close(s); }, 1s);
    REQUIRE(watched);
}

TEST_CASE("a short read marks the socket, and the peer's later end of stream ends the read") {
    on_tcp_and_unix([](auto protocol) {
        asio::io_context ctx;
        auto [ours, peer] = connected(ctx, protocol);
        deliver(peer, "abc", ours, 3);
        settle(ctx);
        CHECK_FALSE(tries_after_short_read(ctx, ours, 3));
        pending_read r;
        run_on(
            ctx, [&] { r.start(ours); }, 150ms);
        CHECK_FALSE(r.done);
        peer.shutdown(peer.shutdown_send); // half-closed: it still reads, never resets
        finish(ctx, r);
        REQUIRE(r.done);
        CHECK(r.ec == asio::error::eof);
    });
}

// The peer sends its last bytes and shuts its side in one go, and the reactor takes
// the report of both before the read. Marked, the next read would wait for an event that
// never comes (a half-closed peer does not reset).
template <class Socket>
void send_last_bytes_and_shut(asio::io_context& ctx, Socket& peer, Socket& ours) {
    asio::write(peer, asio::buffer(std::string_view("abc")));
    peer.shutdown(Socket::shutdown_send);
    // poll(2) looks without taking anything from the socket or from epoll.
    pollfd p{ours.native_handle(), POLLRDHUP, 0};
    for (int i = 0; i < 500 && (::poll(&p, 1, 0) != 1 || (p.revents & POLLRDHUP) == 0); ++i)
        std::this_thread::sleep_for(2ms);
    REQUIRE((p.revents & POLLRDHUP) != 0);
    REQUIRE(ours.available() == 3);
    settle(ctx);
}

// A read started on `s` completes with end of stream (within 5 s).
template <class Socket>
void read_ends_at_end_of_stream(asio::io_context& ctx, Socket& s) {
    pending_read r;
    run_on(
        ctx, [&] { r.start(s); }, 100ms);
    finish(ctx, r);
    REQUIRE(r.done);
    CHECK(r.ec == asio::error::eof);
}

TEST_CASE("a watched socket's short read with the end of stream queued behind it is not "
          "marked") {
    on_tcp_and_unix([](auto protocol) {
        asio::io_context ctx;
        auto [ours, peer] = connected(ctx, protocol);
        watch(ctx, ours);
        send_last_bytes_and_shut(ctx, peer, ours);
        CHECK(tries_after_short_read(ctx, ours, 3));
        read_ends_at_end_of_stream(ctx, ours);
    });
}

TEST_CASE("a socket first watched at note_empty still finds the end of stream queued behind "
          "its last bytes") {
    // The report taken before the watch could not say the peer had closed: starting the
    // watch makes epoll report the socket again.
    on_tcp_and_unix([](auto protocol) {
        asio::io_context ctx;
        auto [ours, peer] = connected(ctx, protocol);
        send_last_bytes_and_shut(ctx, peer, ours);
        (void)tries_after_short_read(ctx, ours, 3);
        read_ends_at_end_of_stream(ctx, ours);
    });
}

TEST_CASE("a socket of an io_context this thread does not run is left to Asio") {
    on_tcp_and_unix([](auto protocol) {
        asio::io_context ctx;
        asio::io_context other;
        auto [ours, peer] = connected(other, protocol);
        deliver(peer, "z", ours, 1);
        char room[64];
        std::size_t got = 7;
        bool flagged = true;
        run_on(
            ctx,
            [&] {
                got = readiness::read_now(ours, room);
                flagged = readiness::try_first_flag(ours) != nullptr;
                readiness::note_empty(ours); // not its loop: no effect
            },
            1s);
        CHECK(got == 0);
        CHECK_FALSE(flagged);
        pending_read r;
        r.start(ours);
        other.run_for(1s);
        REQUIRE(r.done); // tried first: the byte was there
        CHECK(r.got == "z");
    });
}

} // namespace
