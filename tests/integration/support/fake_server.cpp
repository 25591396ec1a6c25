// The scripted fake server: accepts on an ephemeral loopback port, reads startup
// packets with the codec, hands each connection to the test's script.
#include "support/fake_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

namespace qail::test {

fake_server::fake_server(script s) : script_(std::move(s)) {
    listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener_)
        throw std::system_error(errno, std::generic_category(), "socket");
    int one = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_.get(), 16) != 0)
        throw std::system_error(errno, std::generic_category(), "bind/listen");
    socklen_t len = sizeof addr;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
}

fake_server::~fake_server() {
    stop_ = true;
    if (thread_.joinable())
        thread_.join();
}

std::vector<std::int32_t> fake_server::versions() const {
    std::lock_guard lock(mutex_);
    return versions_;
}

void fake_server::send_error(int fd, std::string_view severity, std::string_view sqlstate,
                             std::string_view message) {
    protocol::error_fields f;
    f.severity = severity;
    f.severity_nonlocalized = severity;
    f.sqlstate = sqlstate;
    f.message = message;
    send(fd, protocol::error_response{f});
}

void fake_server::serve() {
    while (!stop_) {
        pollfd pfd{listener_.get(), POLLIN, 0};
        if (::poll(&pfd, 1, 50) <= 0)
            continue;
        unique_fd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!conn)
            continue;
        try {
            std::string pending;
            for (;;) {
                const auto d = protocol::decode_startup(pending);
                if (d.error)
                    break;
                if (d.needs_more()) {
                    pending += recv_exact(conn.get(), d.need);
                    continue;
                }
                if (std::holds_alternative<protocol::ssl_request>(d.message) &&
                    ssl_answer_ == 'S') {
                    send_all(conn.get(), "S");
                    script_(conn.get(), 0);
                    break;
                }
                if (std::holds_alternative<protocol::ssl_request>(d.message) ||
                    std::holds_alternative<protocol::gssenc_request>(d.message)) {
                    send_all(conn.get(), "N");
                    pending.erase(0, d.size);
                    continue;
                }
                if (const auto* m = std::get_if<protocol::startup_message>(&d.message)) {
                    const std::int32_t version = m->version;
                    {
                        std::lock_guard lock(mutex_);
                        versions_.push_back(version);
                    }
                    script_(conn.get(), version);
                }
                break;
            }
        } catch (const std::exception&) {
            // The client hung up mid-script: that is the client's business.
        }
    }
}

} // namespace qail::test
