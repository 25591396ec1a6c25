// Error codes of the client layer and the owned copy of a server ErrorResponse.
#pragma once

#include <qail/protocol/error_response.hpp>

#include <boost/system/error_code.hpp>
#include <string>
#include <string_view>

namespace qail::client {

/// Why a client operation failed, when the cause is not a server ErrorResponse
/// (those are errc::server_error with a pg_error beside it) nor a transport error
/// (those keep their Asio/OpenSSL code).
enum class errc {
    ok = 0,
    // --- connection options ---
    /// A connection string is neither a valid postgres:// URL nor key=value list.
    invalid_connection_string,
    /// A key=value list or URL query names an option this driver does not know.
    unknown_option,
    /// An option has a value outside its allowed set or range.
    invalid_option_value,
    // --- transport and TLS ---
    /// No host of the list accepted a connection.
    connect_failed,
    /// The connect (including TLS and authentication) did not finish in connect_timeout.
    connect_timeout,
    /// An operation exceeded its timeout and the connection was abandoned.
    operation_timeout,
    /// sslmode requires TLS and the server answered SSLRequest with 'N'.
    tls_refused_by_server,
    /// The server sent bytes after its SSLRequest answer before the TLS handshake
    /// (CVE-2021-23222 style injection).
    tls_unexpected_data,
    /// The server certificate did not verify against sslrootcert.
    tls_certificate_untrusted,
    /// verify-full: the host name or IP is not in the server certificate.
    tls_host_name_mismatch,
    /// A TLS file (root certificate, client certificate or key) could not be loaded.
    tls_file_error,
    // --- authentication ---
    /// The server asked for an authentication method the auth policy does not allow.
    auth_method_not_allowed,
    /// The server asked for a method this driver does not implement (GSS, SSPI, Kerberos).
    auth_method_unsupported,
    /// channel_binding=require but the connection cannot bind (no TLS, or no -PLUS offered).
    channel_binding_required,
    /// AuthenticationOk arrived before the server proved it knows the SCRAM verifier.
    auth_incomplete,
    /// A password is required by the server but none was configured.
    password_required,
    // --- protocol ---
    /// The server broke the protocol (unexpected message in this state, bad order, ...).
    protocol_violation,
    /// The server rejected protocol 3.2 twice (or 3.0): no further retry.
    protocol_version_rejected,
    /// NegotiateProtocolVersion offered a version above the one requested, or came after
    /// AuthenticationOk.
    invalid_protocol_negotiation,
    // --- state and results ---
    /// The connection hit an I/O or protocol error earlier and refuses reuse.
    connection_broken,
    /// The connection was closed by close() or by the server.
    connection_closed,
    /// The server answered with an ErrorResponse (see the pg_error returned beside it).
    server_error,
    /// A pipeline command did not run because an earlier one failed.
    pipeline_skipped,
    /// A column does not exist in the result.
    column_not_found,
    /// A NULL was read into a non-optional type.
    unexpected_null,
    /// A value's type does not match the requested C++ type, or its bytes are malformed.
    type_mismatch,
    /// A query text or parameter holds a NUL byte.
    embedded_nul,
    /// The operation was cancelled by the caller (CopyFail sent, etc.).
    aborted,
};

[[nodiscard]] const boost::system::error_category& client_category() noexcept;

[[nodiscard]] inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}

/// An owned copy of every ErrorResponse/NoticeResponse field (the codec's views
/// die with the receive buffer).
struct pg_error {
    std::string severity;
    std::string sqlstate;
    std::string message;
    std::string detail;
    std::string hint;
    std::string position;
    std::string internal_position;
    std::string internal_query;
    std::string where;
    std::string schema_name;
    std::string table_name;
    std::string column_name;
    std::string data_type_name;
    std::string constraint_name;
    std::string file;
    std::string line;
    std::string routine;

    [[nodiscard]] static pg_error from(const protocol::error_fields& f);
    /// "SEVERITY SQLSTATE: message" for logs and exceptions.
    [[nodiscard]] std::string to_string() const;
    /// The two-character SQLSTATE class ("28" for 28P01), empty if there is no SQLSTATE.
    [[nodiscard]] std::string_view sqlstate_class() const noexcept {
        return std::string_view{sqlstate}.substr(0, sqlstate.size() >= 2 ? 2 : 0);
    }
};

} // namespace qail::client

template <>
struct boost::system::is_error_code_enum<qail::client::errc> : std::true_type {};
