// Test-side view of the PostgreSQL pair started by tests/harness/pg-cluster, plus a
// small blocking TCP client for tests that speak the wire protocol byte by byte.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qail::test {

/// One test server: PostgreSQL 15 (Debian) or 18 (npm package).
struct pg_server {
    std::string name;       ///< "pg15" or "pg18"
    int major_version = 0;  ///< 15 or 18
    int version_num = 0;    ///< server_version_num, e.g. 180004
    std::uint16_t port = 0; ///< TCP port on host (and ::1 when ipv6)
    std::string socket_dir; ///< unix_socket_directories
    std::string bin_dir;    ///< initdb, pg_ctl, postgres
    std::string data_dir;
    std::string log_file;
};

/// A login role of the test database and its password (empty when it has none).
struct pg_credentials {
    std::string user;
    std::string password;
};

/// Everything DIR/env says, with the keys tests use most as named fields.
struct pg_env {
    std::string host;     ///< QAIL_PG_HOST, 127.0.0.1
    bool ipv6 = false;    ///< both servers also listen on ::1
    std::string database; ///< QAIL_PG_DB, qail_test
    std::string psql;     ///< Debian's psql, which talks to both servers

    pg_server pg15;
    pg_server pg18;

    std::string ca_cert; ///< signed the server and client certificates
    std::string ca_key;
    std::string wrong_ca_cert; ///< an unrelated CA: verify-ca against it must fail
    std::string server_cert;   ///< SAN DNS:localhost, IP:127.0.0.1, IP:::1
    std::string server_key;
    std::string client_cert; ///< CN=cert_user
    std::string client_key;

    pg_credentials scram;    ///< scram-sha-256
    pg_credentials md5;      ///< md5 (password stored as an MD5 hash)
    pg_credentials password; ///< password (cleartext on the wire)
    pg_credentials cert;     ///< cert, hostssl only
    pg_credentials trust;    ///< trust
    pg_credentials admin;    ///< superuser, scram-sha-256

    std::map<std::string, std::string, std::less<>> values; ///< every KEY=VALUE line

    /// The value of `key`; throws std::runtime_error naming the key when it is absent.
    [[nodiscard]] const std::string& get(std::string_view key) const;

    /// Both servers, oldest first, for tests that run against each.
    [[nodiscard]] std::vector<const pg_server*> servers() const { return {&pg15, &pg18}; }

    /// Parses a harness env file; throws std::runtime_error if it is missing or incomplete.
    [[nodiscard]] static pg_env load_file(const std::string& path);

    /// Parses the file named by $QAIL_PG_ENV; throws if the variable is unset. Integration
    /// tests must fail, not skip, when their database is missing.
    [[nodiscard]] static pg_env load();
};

/// The environment of this test process, loaded on first use and then shared.
[[nodiscard]] const pg_env& env();

/// Owns a file descriptor; closes it on destruction.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
    unique_fd& operator=(unique_fd&& other) noexcept;
    ~unique_fd();

    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return valid(); }
    int release() noexcept;
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

inline constexpr std::chrono::milliseconds default_io_timeout{5000};

// Bytes travel as chars, like qail::protocol::byte_view, so tests can hand what they
// receive straight to the codec.

/// Blocking TCP connection to host:port (numeric address or name), TCP_NODELAY set.
/// Throws std::system_error if it cannot connect within `timeout`.
[[nodiscard]] unique_fd connect_tcp(const std::string& host, std::uint16_t port,
                                    std::chrono::milliseconds timeout = default_io_timeout);

/// Writes all of `bytes`; throws std::system_error on failure (SIGPIPE is suppressed).
void send_all(int fd, std::string_view bytes);

/// Waits up to `timeout` for bytes and reads at most buffer.size() of them. Returns the
/// count read, 0 when the peer closed the connection. Throws std::runtime_error on
/// timeout and std::system_error on a socket error.
[[nodiscard]] std::size_t recv_some(int fd, std::span<char> buffer,
                                    std::chrono::milliseconds timeout = default_io_timeout);

/// Reads exactly `count` bytes, waiting up to `timeout` in total. Throws on timeout, on
/// a socket error, and if the peer closes the connection first.
[[nodiscard]] std::string recv_exact(int fd, std::size_t count,
                                     std::chrono::milliseconds timeout = default_io_timeout);

} // namespace qail::test
