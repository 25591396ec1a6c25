// The startup phase of a client connection as a sans-IO state machine: builds the
// StartupMessage, answers authentication requests under an auth policy, and
// enforces the strict ordering rules of the protocol. No sockets: the connection
// feeds it decoded messages and sends what it writes.
#pragma once

#include <qail/client/error.hpp>
#include <qail/client/options.hpp>
#include <qail/protocol/message.hpp>
#include <qail/protocol/scram.hpp>

#include <boost/system/error_code.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace qail::client {

/// The authentication method that actually ran.
enum class auth_method { none, cleartext, md5, scram_sha_256, scram_sha_256_plus };
[[nodiscard]] std::string_view to_string(auth_method m) noexcept;

/// What the handshake needs to know; the connection fills it from its options
/// and the TLS state.
struct handshake_settings {
    std::string user;
    std::string password;
    std::string database;
    /// Extra StartupMessage parameters (application_name, options, client_encoding, ...).
    std::vector<std::pair<std::string, std::string>> parameters;
    /// The protocol version to request (3.2 first; 3.0 on the one retry).
    std::int32_t requested_version = protocol::request_code::protocol_3_2;
    auth_policy policy;
    channel_binding_mode channel_binding = channel_binding_mode::prefer;
    /// tls-server-end-point data of the server certificate when the connection is
    /// TLS and the hash is computable; empty otherwise.
    std::vector<std::uint8_t> channel_binding_data;
    bool tls = false;
    /// CSPRNG bytes for the SCRAM client nonce.
    protocol::scram_nonce_bytes nonce{};
    /// SCRAM's keys for the server's salt and iteration count (see
    /// protocol::scram_client_options::keys); empty: derived from `password` each time.
    std::function<protocol::scram_keys(std::span<const std::uint8_t> salt,
                                       std::uint32_t iterations)>
        scram_keys;
};

/// The state of the handshake after a message.
enum class handshake_status {
    in_progress,
    /// ReadyForQuery arrived: the session is usable.
    ready,
    /// The server rejected protocol 3.2: reconnect once requesting 3.0.
    retry_with_3_0,
    failed,
};

class startup_handshake {
public:
    explicit startup_handshake(handshake_settings settings);

    /// Writes the StartupMessage into `out`.
    void start(std::string& out);

    /// Processes one backend message; answers (if any) are appended to `out`.
    [[nodiscard]] handshake_status on_message(const protocol::backend_message& m, std::string& out);

    [[nodiscard]] handshake_status status() const noexcept { return status_; }
    /// Why the handshake failed (server_error with server_error() set, or a client errc).
    [[nodiscard]] boost::system::error_code error() const noexcept { return error_; }
    [[nodiscard]] const std::optional<pg_error>& server_error() const noexcept {
        return server_error_;
    }
    /// The version in effect: the requested one, or the one NegotiateProtocolVersion lowered it to.
    [[nodiscard]] std::int32_t protocol_version() const noexcept { return version_; }
    [[nodiscard]] auth_method method() const noexcept { return method_; }
    [[nodiscard]] std::int32_t backend_pid() const noexcept { return pid_; }
    [[nodiscard]] const std::string& backend_key() const noexcept { return key_; }
    /// ParameterStatus values received during startup, in arrival order (last wins).
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>&
    parameters() const noexcept {
        return parameters_;
    }
    [[nodiscard]] const std::vector<pg_error>& notices() const noexcept { return notices_; }

private:
    handshake_status fail(errc e);
    handshake_status on_auth(const protocol::authentication_request& a, std::string& out);
    handshake_status on_error(const protocol::error_response& e);

    handshake_settings settings_;
    handshake_status status_ = handshake_status::in_progress;
    boost::system::error_code error_;
    std::optional<pg_error> server_error_;
    std::int32_t version_;
    bool negotiated_ = false;
    bool authenticated_ = false;
    bool auth_started_ = false;
    std::optional<protocol::scram_client> scram_;
    bool scram_final_seen_ = false;
    auth_method method_ = auth_method::none;
    std::int32_t pid_ = 0;
    bool key_seen_ = false;
    std::string key_;
    std::vector<std::pair<std::string, std::string>> parameters_;
    std::vector<pg_error> notices_;
};

/// True when an ErrorResponse during startup means "protocol version not
/// supported" (SQLSTATE 0A000 or the server's message text), which is the only
/// reason to retry with 3.0.
[[nodiscard]] bool is_protocol_version_rejection(const protocol::error_fields& f) noexcept;

} // namespace qail::client
