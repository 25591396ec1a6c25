// Handling one HTTP API request (transport-independent): route, JWT, database, plan, one
// pipelined round trip on a pooled backend, and the JSON answer.
#pragma once

#include "jwt.hpp"

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace qail::proxy {
class shared_state;
struct config;
} // namespace qail::proxy

namespace qail::proxy::http {

/// The answer to one request.
struct api_answer {
    unsigned status = 200;
    std::string body; ///< JSON
    bool www_authenticate = false;
    /// Set on 405: the methods the route takes.
    std::string_view allow;
    /// The route pattern for metrics: "/v1/query", "/v1/batch" or "other".
    std::string_view route = "other";
};

/// The routes, shared by the server (which may answer 413 before calling handle()).
[[nodiscard]] std::string_view route_of(std::string_view target) noexcept;

class api_handler {
public:
    explicit api_handler(std::shared_ptr<shared_state> state);

    /// Builds the JWT verifier for the current configuration now, so that a bad
    /// public_key_file is reported at startup. Throws std::runtime_error.
    void prepare();

    /// Answers one request. Never throws for bad input; backend failures become 5xx.
    [[nodiscard]] boost::asio::awaitable<api_answer> handle(std::string_view method,
                                                            std::string_view target,
                                                            std::string_view authorization,
                                                            std::string body);

private:
    /// The verifier for `cfg`, rebuilt when the configuration was reloaded.
    [[nodiscard]] std::shared_ptr<const jwt_verifier>
    verifier_for(const std::shared_ptr<const config>& cfg);

    std::shared_ptr<shared_state> state_;
    std::mutex mutex_;
    std::weak_ptr<const config> verifier_config_;
    std::shared_ptr<const jwt_verifier> verifier_;
};

} // namespace qail::proxy::http
