// Unit tests for the admin HTTP server over real loopback sockets with a small Beast client.
#include "test_support.hpp"

#include <qail/proxy/admin_server.hpp>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using qail::proxy::admin_handlers;
using qail::proxy::admin_server;

using response = http::response<http::string_body>;

/// An admin_server running on its own io_context thread.
struct running_server {
    asio::io_context ctx;
    admin_server server;
    std::thread thread;

    explicit running_server(admin_handlers handlers, std::string token = {},
                            std::optional<std::chrono::milliseconds> read_timeout = {})
        : server(ctx.get_executor(), "127.0.0.1", 0, std::move(token), std::move(handlers)) {
        if (read_timeout) {
            server.set_read_timeout(*read_timeout);
        }
        server.start();
        thread = std::thread([this] { ctx.run(); });
    }
    running_server(const running_server&) = delete;
    running_server& operator=(const running_server&) = delete;
    ~running_server() { shutdown(); }

    void shutdown() {
        if (thread.joinable()) {
            server.stop();
            thread.join();
        }
    }
};

admin_handlers sample_handlers(bool ready = true) {
    admin_handlers h;
    h.metrics = [] { return std::string("qail_proxy_build_info{version=\"0.1.0\"} 1\n"); };
    h.ready = [ready] {
        return std::pair<bool, std::string>{
            ready, ready ? R"({"databases":{"appdb":"ok"}})"
                         : R"({"databases":{"appdb":"connection refused"}})"};
    };
    h.pools = [] { return std::string(R"({"pools":[]})"); };
    h.clients = [] { return std::string(R"({"clients":[]})"); };
    return h;
}

/// A blocking-looking client: every operation runs its own io_context with a 5 s deadline,
/// so a misbehaving server fails the test instead of hanging it.
class client {
public:
    explicit client(std::uint16_t port) : stream_(ctx_) {
        stream_.expires_after(5s);
        stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }

    response get(std::string target, std::string authorization = {},
                 http::verb method = http::verb::get, bool keep_alive = true) {
        http::request<http::string_body> req{method, target, 11};
        req.set(http::field::host, "localhost");
        if (!authorization.empty()) {
            req.set(http::field::authorization, authorization);
        }
        req.keep_alive(keep_alive);
        req.prepare_payload();
        stream_.expires_after(5s);
        http::write(stream_, req);
        return read_response();
    }

    void send_raw(std::string_view bytes) {
        stream_.expires_after(5s);
        asio::write(stream_, asio::buffer(bytes.data(), bytes.size()));
    }

    response read_response() {
        response res;
        beast::error_code ec;
        stream_.expires_after(5s);
        bool done = false;
        http::async_read(stream_, buffer_, res, [&](beast::error_code e, std::size_t) {
            ec = e;
            done = true;
        });
        ctx_.restart();
        ctx_.run();
        REQUIRE(done);
        REQUIRE_MESSAGE(!ec, ec.message());
        return res;
    }

    /// Whether the server closes the connection within `within` (reads until EOF).
    bool closed_by_server(std::chrono::milliseconds within) {
        stream_.expires_after(within);
        std::array<char, 256> scratch{};
        beast::error_code result;
        bool done = false;
        std::function<void(beast::error_code, std::size_t)> on_read;
        on_read = [&](beast::error_code e, std::size_t) {
            if (!e) {
                stream_.async_read_some(asio::buffer(scratch), on_read);
                return;
            }
            result = e;
            done = true;
        };
        stream_.async_read_some(asio::buffer(scratch), on_read);
        ctx_.restart();
        ctx_.run();
        return done && result != beast::error::timeout;
    }

private:
    asio::io_context ctx_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
};

std::string content_type(const response& res) {
    return std::string(res[http::field::content_type]);
}

} // namespace

TEST_CASE("admin: each route answers with its status, body and content type") {
    running_server s(sample_handlers());
    REQUIRE(s.server.port() != 0);
    client c(s.server.port());

    auto res = c.get("/healthz");
    CHECK(res.result_int() == 200);
    CHECK(res.body() == "ok");

    res = c.get("/metrics");
    CHECK(res.result_int() == 200);
    CHECK(content_type(res) == "text/plain; version=0.0.4");
    CHECK(res.body() == "qail_proxy_build_info{version=\"0.1.0\"} 1\n");

    res = c.get("/metrics?name[]=x"); // a query string does not change the route
    CHECK(res.result_int() == 200);

    res = c.get("/readyz");
    CHECK(res.result_int() == 200);
    CHECK(content_type(res) == "application/json");
    CHECK(res.body() == R"({"databases":{"appdb":"ok"}})");

    res = c.get("/admin/pools"); // no token configured: open
    CHECK(res.result_int() == 200);
    CHECK(content_type(res) == "application/json");
    CHECK(res.body() == R"({"pools":[]})");

    res = c.get("/admin/clients");
    CHECK(res.result_int() == 200);
    CHECK(content_type(res) == "application/json");
    CHECK(res.body() == R"({"clients":[]})");

    res = c.get("/nope");
    CHECK(res.result_int() == 404);
    CHECK(content_type(res) == "application/json");
    CHECK(res.body().find(R"("code":"not_found")") != std::string::npos);

    res = c.get("/metrics/", {});
    CHECK(res.result_int() == 404);

    res = c.get("/metrics", {}, http::verb::post);
    CHECK(res.result_int() == 405);
    CHECK(res[http::field::allow] == "GET");

    res = c.get("/admin/pools", {}, http::verb::delete_);
    CHECK(res.result_int() == 405);

    res = c.get("/healthz"); // still serving on the same connection after the errors
    CHECK(res.result_int() == 200);
}

TEST_CASE("admin: /readyz answers 503 with the handler's JSON when not ready") {
    running_server s(sample_handlers(false));
    client c(s.server.port());
    const auto res = c.get("/readyz");
    CHECK(res.result_int() == 503);
    CHECK(content_type(res) == "application/json");
    CHECK(res.body() == R"({"databases":{"appdb":"connection refused"}})");
    CHECK(c.get("/healthz").result_int() == 200); // alive even when not ready
}

TEST_CASE("admin: /admin/* requires the bearer token when one is configured") {
    running_server s(sample_handlers(), "s3cret-token");
    client c(s.server.port());

    for (const std::string target : {"/admin/pools", "/admin/clients"}) {
        INFO(target);
        auto res = c.get(target);
        CHECK(res.result_int() == 401);
        CHECK(content_type(res) == "application/json");
        CHECK(res.body().find(R"("code":"unauthorized")") != std::string::npos);
        CHECK(res.body().find("s3cret") == std::string::npos);
        CHECK(res[http::field::www_authenticate].starts_with("Bearer"));

        CHECK(c.get(target, "Bearer wrong").result_int() == 401);
        CHECK(c.get(target, "Bearer s3cret-toke").result_int() == 401);
        CHECK(c.get(target, "Bearer s3cret-token-and-more").result_int() == 401);
        CHECK(c.get(target, "Bearer ").result_int() == 401);
        CHECK(c.get(target, "Basic s3cret-token").result_int() == 401);
        CHECK(c.get(target, "s3cret-token").result_int() == 401);

        res = c.get(target, "Bearer s3cret-token");
        CHECK(res.result_int() == 200);
        CHECK(content_type(res) == "application/json");
        CHECK(c.get(target, "bearer s3cret-token").result_int() == 200); // scheme is case-blind
    }
    // The public routes need no token.
    CHECK(c.get("/metrics").result_int() == 200);
    CHECK(c.get("/healthz").result_int() == 200);
    CHECK(c.get("/readyz").result_int() == 200);
}

TEST_CASE("admin: keep-alive serves several requests on one connection") {
    running_server s(sample_handlers());
    client c(s.server.port());
    auto first = c.get("/healthz");
    CHECK(first.result_int() == 200);
    CHECK(first.keep_alive());
    auto second = c.get("/metrics");
    CHECK(second.result_int() == 200);

    // Two pipelined requests in one write get two answers in order.
    c.send_raw(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /admin/pools HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(c.read_response().body() == "ok");
    CHECK(c.read_response().body() == R"({"pools":[]})");

    // Connection: close is honoured.
    auto last = c.get("/healthz", {}, http::verb::get, false);
    CHECK(last.result_int() == 200);
    CHECK(!last.keep_alive());
    CHECK(c.closed_by_server(2s));
}

TEST_CASE("admin: a garbage request gets 400 and the server keeps serving others") {
    running_server s(sample_handlers());
    {
        client c(s.server.port());
        c.send_raw("\x16\x03\x01\x02\x00 this is not HTTP\r\n\r\n");
        const auto res = c.read_response();
        CHECK(res.result_int() == 400);
        CHECK(!res.keep_alive());
        CHECK(c.closed_by_server(2s));
    }
    {
        client c(s.server.port());
        c.send_raw("GET /healthz HTTP/9.9\r\n\r\n");
        CHECK(c.read_response().result_int() == 400);
    }
    {
        client c(s.server.port());
        c.send_raw("GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n"); // Beast speaks 1.0 and 1.1 only
        CHECK(c.read_response().result_int() == 400);
    }
    {
        client c(s.server.port());
        c.send_raw("GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n");
        CHECK(c.read_response().result_int() == 400);
    }
    client c(s.server.port());
    CHECK(c.get("/healthz").result_int() == 200);
}

TEST_CASE("admin: oversized headers get 431 and a body beyond the limit 413") {
    running_server s(sample_handlers());
    {
        client c(s.server.port());
        const std::string big(9000, 'a');
        c.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n");
        CHECK(c.read_response().result_int() == 431);
    }
    {
        client c(s.server.port());
        c.send_raw("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
        CHECK(c.read_response().result_int() == 413);
    }
    client c(s.server.port());
    CHECK(c.get("/healthz").result_int() == 200);
}

TEST_CASE("admin: idle and slow connections are closed after the read timeout") {
    running_server s(sample_handlers(), {}, 200ms);
    client idle(s.server.port());
    client slow(s.server.port());
    slow.send_raw("GET /healthz HTTP/1.1\r\n"); // and never the rest (slowloris)
    const auto started = std::chrono::steady_clock::now();
    CHECK(idle.closed_by_server(3s));
    CHECK(slow.closed_by_server(3s));
    CHECK(std::chrono::steady_clock::now() - started < 2s);

    client c(s.server.port());
    CHECK(c.get("/healthz").result_int() == 200);
}

TEST_CASE("admin: a failed bind throws std::system_error naming the address") {
    running_server s(sample_handlers());
    asio::io_context ctx;
    admin_server second(ctx.get_executor(), "127.0.0.1", s.server.port(), {}, sample_handlers());
    try {
        second.start();
        FAIL("start() on a taken port did not throw");
    } catch (const std::system_error& e) {
        const std::string what = e.what();
        CHECK(what.find("127.0.0.1:" + std::to_string(s.server.port())) != std::string::npos);
        CHECK(e.code() == std::errc::address_in_use);
    }
    admin_server bad(ctx.get_executor(), "no-such-host.invalid", 0, {}, sample_handlers());
    CHECK_THROWS_AS(bad.start(), std::system_error);
}

TEST_CASE("admin: stop closes open connections and stops accepting") {
    running_server s(sample_handlers());
    const auto port = s.server.port();
    client c(port);
    CHECK(c.get("/healthz").result_int() == 200);
    s.shutdown(); // returns once the io_context ran out of work: every coroutine ended
    CHECK(c.closed_by_server(2s));

    asio::io_context ctx;
    tcp::socket socket(ctx);
    beast::error_code ec;
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    CHECK(ec);
}

TEST_CASE("admin: a throwing handler gives 500 and on_request sees every answer") {
    struct seen {
        std::string route;
        int status;
    };
    std::mutex mutex;
    std::vector<seen> requests;
    auto handlers = sample_handlers();
    handlers.metrics = []() -> std::string { throw std::runtime_error("scrape failed"); };
    handlers.clients = nullptr;
    handlers.on_request = [&](std::string_view route, int status, double seconds) {
        CHECK(seconds >= 0.0);
        std::lock_guard lock(mutex);
        requests.push_back({std::string(route), status});
    };
    {
        running_server s(std::move(handlers), "t");
        client c(s.server.port());
        CHECK(c.get("/metrics").result_int() == 500);
        CHECK(c.get("/admin/clients", "Bearer t").result_int() == 404); // not configured
        CHECK(c.get("/admin/pools").result_int() == 401);
        CHECK(c.get("/secret/path").result_int() == 404);
        CHECK(c.get("/healthz").result_int() == 200);
    }
    std::lock_guard lock(mutex);
    REQUIRE(requests.size() == 5);
    CHECK(requests[0].route == "/metrics");
    CHECK(requests[0].status == 500);
    CHECK(requests[1].route == "/admin/clients");
    CHECK(requests[1].status == 404);
    CHECK(requests[2].route == "/admin/pools");
    CHECK(requests[2].status == 401);
    CHECK(requests[3].route == "other"); // the raw target never becomes a label
    CHECK(requests[4].route == "/healthz");
    CHECK(requests[4].status == 200);
}
