// Reads the harness env file (tests/harness/pg-cluster writes it) and implements the
// blocking TCP helpers; POSIX sockets only, so wire-level tests need no Asio.
#include "support/pg_env.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <limits>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

namespace qail::test {
namespace {

[[noreturn]] void throw_errno(int error, const std::string& what) {
    throw std::system_error(error, std::generic_category(), what);
}

int to_int(const std::string& key, const std::string& text) {
    int value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end) {
        throw std::runtime_error("harness env: " + key + "=" + text + " is not an integer");
    }
    return value;
}

std::uint16_t to_port(const std::string& key, const std::string& text) {
    const int value = to_int(key, text);
    if (value <= 0 || value > std::numeric_limits<std::uint16_t>::max()) {
        throw std::runtime_error("harness env: " + key + "=" + text + " is not a TCP port");
    }
    return static_cast<std::uint16_t>(value);
}

pg_server load_server(const pg_env& env, const std::string& name, int major_version) {
    const std::string prefix = "QAIL_" + std::string(name == "pg15" ? "PG15" : "PG18") + "_";
    pg_server server;
    server.name = name;
    server.major_version = major_version;
    server.version_num = to_int(prefix + "VERSION_NUM", env.get(prefix + "VERSION_NUM"));
    server.port = to_port(prefix + "PORT", env.get(prefix + "PORT"));
    server.socket_dir = env.get(prefix + "SOCKET_DIR");
    server.bin_dir = env.get(prefix + "BIN");
    server.data_dir = env.get(prefix + "DATA");
    server.log_file = env.get(prefix + "LOG");
    if (server.version_num / 10000 != major_version) {
        throw std::runtime_error("harness env: " + prefix +
                                 "VERSION_NUM=" + std::to_string(server.version_num) +
                                 " is not PostgreSQL " + std::to_string(major_version));
    }
    return server;
}

/// Milliseconds left until `deadline`, clamped to what poll() takes.
int remaining_ms(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
        return 0;
    }
    return static_cast<int>(
        std::min<std::chrono::milliseconds::rep>(left.count(), std::numeric_limits<int>::max()));
}

/// Waits for `events` on fd; false on timeout.
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        pollfd pfd{fd, events, 0};
        const int n = ::poll(&pfd, 1, remaining_ms(deadline));
        if (n > 0) {
            return true;
        }
        if (n == 0) {
            return false;
        }
        if (errno != EINTR) {
            throw_errno(errno, "poll");
        }
    }
}

void set_blocking(int fd, bool blocking) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 ||
        ::fcntl(fd, F_SETFL, blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK)) < 0) {
        throw_errno(errno, "fcntl");
    }
}

/// One connect attempt to one resolved address, bounded by `deadline`.
unique_fd try_connect(const addrinfo& ai, std::chrono::steady_clock::time_point deadline,
                      int& error) {
    unique_fd fd{::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC, ai.ai_protocol)};
    if (!fd) {
        error = errno;
        return {};
    }
    set_blocking(fd.get(), false);
    if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            error = errno;
            return {};
        }
        if (!wait_for(fd.get(), POLLOUT, deadline)) {
            error = ETIMEDOUT;
            return {};
        }
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
            error = errno;
            return {};
        }
        if (so_error != 0) {
            error = so_error;
            return {};
        }
    }
    set_blocking(fd.get(), true);
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

} // namespace

const std::string& pg_env::get(std::string_view key) const {
    const auto it = values.find(key);
    if (it == values.end()) {
        throw std::runtime_error("harness env: no key " + std::string(key) +
                                 " (is tests/harness/pg-cluster out of date?)");
    }
    return it->second;
}

pg_env pg_env::load_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("harness env: cannot read " + path +
                                 " (did the harness_up test run? see tests/harness/pg-cluster)");
    }
    pg_env env;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') {
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw std::runtime_error("harness env: malformed line in " + path + ": " + line);
        }
        env.values.insert_or_assign(line.substr(0, eq), line.substr(eq + 1));
    }

    env.host = env.get("QAIL_PG_HOST");
    env.ipv6 = env.get("QAIL_PG_IPV6") == "1";
    env.database = env.get("QAIL_PG_DB");
    env.psql = env.get("QAIL_PSQL");
    env.pg15 = load_server(env, "pg15", 15);
    env.pg18 = load_server(env, "pg18", 18);
    env.ca_cert = env.get("QAIL_TEST_CA");
    env.ca_key = env.get("QAIL_TEST_CA_KEY");
    env.wrong_ca_cert = env.get("QAIL_TEST_WRONG_CA");
    env.server_cert = env.get("QAIL_TEST_SERVER_CERT");
    env.server_key = env.get("QAIL_TEST_SERVER_KEY");
    env.client_cert = env.get("QAIL_TEST_CLIENT_CERT");
    env.client_key = env.get("QAIL_TEST_CLIENT_KEY");
    env.scram = {env.get("QAIL_SCRAM_USER"), env.get("QAIL_SCRAM_PASSWORD")};
    env.md5 = {env.get("QAIL_MD5_USER"), env.get("QAIL_MD5_PASSWORD")};
    env.password = {env.get("QAIL_PASSWORD_USER"), env.get("QAIL_PASSWORD_PASSWORD")};
    env.cert = {env.get("QAIL_CERT_USER"), {}};
    env.trust = {env.get("QAIL_TRUST_USER"), {}};
    env.admin = {env.get("QAIL_ADMIN_USER"), env.get("QAIL_ADMIN_PASSWORD")};
    return env;
}

pg_env pg_env::load() {
    const char* path = std::getenv("QAIL_PG_ENV");
    if (path == nullptr || *path == '\0') {
        throw std::runtime_error(
            "QAIL_PG_ENV is not set: integration tests need the PostgreSQL harness; run them "
            "through ctest (fixture harness_up) or set QAIL_PG_ENV=DIR/env after "
            "tests/harness/pg-cluster up DIR");
    }
    return load_file(path);
}

const pg_env& env() {
    // Loaded once; a throw here fails every test that asks, and the next call retries.
    static const pg_env loaded = pg_env::load();
    return loaded;
}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
    if (this != &other) {
        reset(other.release());
    }
    return *this;
}

unique_fd::~unique_fd() {
    reset();
}

int unique_fd::release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

void unique_fd::reset(int fd) noexcept {
    if (fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = fd;
}

unique_fd connect_tcp(const std::string& host, std::uint16_t port,
                      std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
        throw std::runtime_error("connect_tcp: cannot resolve " + host + ": " + ::gai_strerror(rc));
    }
    int error = EADDRNOTAVAIL;
    unique_fd fd;
    for (const addrinfo* ai = found; ai != nullptr && !fd; ai = ai->ai_next) {
        fd = try_connect(*ai, deadline, error);
    }
    ::freeaddrinfo(found);
    if (!fd) {
        throw_errno(error, "connect_tcp " + host + ":" + service);
    }
    return fd;
}

void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno(errno, "send");
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::size_t recv_some(int fd, std::span<char> buffer, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (!wait_for(fd, POLLIN, deadline)) {
            throw std::runtime_error("recv_some: no data within " +
                                     std::to_string(timeout.count()) + " ms");
        }
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n >= 0) {
            return static_cast<std::size_t>(n);
        }
        if (errno != EINTR && errno != EAGAIN) {
            throw_errno(errno, "recv");
        }
    }
}

std::string recv_exact(int fd, std::size_t count, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out(count, '\0');
    std::size_t got = 0;
    while (got < count) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        const std::size_t n = recv_some(fd, std::span<char>(out).subspan(got),
                                        std::max(left, std::chrono::milliseconds{0}));
        if (n == 0) {
            throw std::runtime_error("recv_exact: peer closed after " + std::to_string(got) +
                                     " of " + std::to_string(count) + " bytes");
        }
        got += n;
    }
    return out;
}

} // namespace qail::test
