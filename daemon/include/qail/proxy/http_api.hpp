// The HTTP/JSON AST API listener: POST /v1/query and /v1/batch over HTTP/1.1 (optionally
// TLS), JWT-authenticated, each request one pipelined round trip on a pooled backend.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace qail::proxy {

class shared_state;

/// The listener. Connections are spread round robin over the worker executors (the same
/// event loops as the PostgreSQL listener); each serves keep-alive and pipelined requests
/// in order, with a read deadline per request, `http.max_body_bytes` checked against
/// Content-Length before the body is read (413), and at most `limits.max_client_conn`
/// connections open. Routes, statuses and JSON shapes: docs/http-api.md.
class http_api_server {
public:
    /// Accepts on host:port (0 = pick) and serves each connection on one of `workers`
    /// (round robin). `tls` may be null (plain HTTP); when set, every connection does a
    /// TLS handshake first.
    http_api_server(std::vector<boost::asio::any_io_executor> workers, std::string host,
                    std::uint16_t port, std::shared_ptr<shared_state> state,
                    std::shared_ptr<boost::asio::ssl::context> tls);
    http_api_server(const http_api_server&) = delete;
    http_api_server& operator=(const http_api_server&) = delete;
    /// Stops the server (see stop()).
    ~http_api_server();

    /// Binds, listens and begins accepting. Throws std::runtime_error naming the address
    /// when it cannot bind, or naming the key file when http.jwt.public_key_file is bad.
    void start();

    /// The TLS context for connections accepted from now on (a reload with new
    /// certificate files); connections already open keep theirs. Thread-safe.
    void set_tls(std::shared_ptr<boost::asio::ssl::context> tls);

    /// The bound port (after start()).
    [[nodiscard]] std::uint16_t port() const;

    /// Stops accepting and closes every connection (requests in flight finish their
    /// database round trip, their answers are dropped). Safe from any thread; the closing
    /// runs on each connection's executor.
    void stop();

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace qail::proxy
