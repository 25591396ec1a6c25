// A scripted stand-in for a PostgreSQL server, for what a real server can't be made
// to do (reject protocol 3.2, misbehave during startup). Speaks through the codec.
#pragma once

#include "support/pg_env.hpp"

#include <qail/protocol/message.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace qail::test {

class fake_server {
public:
    /// Called for each connection after its StartupMessage (an SSLRequest before
    /// it is answered 'N'); `version` is the protocol version the client asked for.
    using script = std::function<void(int fd, std::int32_t version)>;

    explicit fake_server(script s);
    ~fake_server();
    fake_server(const fake_server&) = delete;
    fake_server& operator=(const fake_server&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    /// Protocol versions of the StartupMessages received, in order.
    [[nodiscard]] std::vector<std::int32_t> versions() const;

    /// Helpers for scripts: send one encoded backend message.
    template <class Message>
    static void send(int fd, const Message& m) {
        std::string out;
        protocol::writer w(out);
        protocol::encode(w, m);
        send_all(fd, out);
    }
    static void send_error(int fd, std::string_view severity, std::string_view sqlstate,
                           std::string_view message);

    /// How to answer SSLRequest: 'N' (default) continues in plaintext; 'S' hands the
    /// connection to the script at once (version 0), which then sees the TLS bytes.
    void set_ssl_answer(char answer) noexcept { ssl_answer_ = answer; }

private:
    void serve();

    script script_;
    unique_fd listener_;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<char> ssl_answer_{'N'};
    mutable std::mutex mutex_;
    std::vector<std::int32_t> versions_;
    std::thread thread_;
};

} // namespace qail::test
