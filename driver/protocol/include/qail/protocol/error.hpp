// Error codes of the sans-IO codec: every way a decode or a SCRAM exchange can fail.
#pragma once

#include <string>
#include <system_error>

namespace qail::protocol {

/// Why decoding (or an authentication exchange) failed. Registered as a
/// std::error_category, so it travels in std::error_code and converts to
/// boost::system::error_code at I/O boundaries.
enum class errc {
    ok = 0,
    /// The length field of a message is below its own 4 bytes (or, for startup
    /// packets, below the 8 bytes of length plus code).
    length_too_short,
    /// The declared message length exceeds the configured maximum.
    message_too_large,
    /// A count field (number of columns, parameters, format codes, ...) is negative.
    negative_count,
    /// A length-prefixed value declares a length below -1.
    invalid_value_length,
    /// A field runs past the end of the message body.
    truncated_field,
    /// A NUL-terminated string has no terminator inside the message body.
    missing_terminator,
    /// The message body has bytes left after its last field.
    trailing_bytes,
    /// The message type byte is not one the protocol defines for this direction.
    unknown_message_type,
    /// An Authentication message carries an unknown sub-type code.
    unknown_auth_type,
    /// A startup packet carries a request code that is neither a protocol
    /// version 3.x nor SSLRequest, GSSENCRequest or CancelRequest.
    unknown_request_code,
    /// A field holds a value outside its defined set (a Describe target other
    /// than 'S'/'P', a transaction status other than 'I'/'T'/'E', ...).
    invalid_field_value,
    /// A cancel or backend key is shorter than 4 or longer than 256 bytes.
    invalid_key_length,
    /// A StartupMessage parameter list is malformed (name without value, empty name).
    invalid_startup_parameters,
    /// A string field holds a NUL byte where the protocol cannot carry one (encoding).
    embedded_nul,

    // --- SCRAM (RFC 5802 / RFC 7677) and password hashing ---
    /// A SCRAM message does not follow the RFC 5802 grammar.
    scram_malformed_message,
    /// The server nonce does not extend the client nonce, or a nonce holds
    /// characters outside the printable set.
    scram_nonce_mismatch,
    /// The iteration count is missing, not a number, zero or above the accepted maximum.
    scram_invalid_iterations,
    /// The salt is missing or not valid base64.
    scram_invalid_salt,
    /// The server signature in server-final-message does not verify.
    scram_server_signature_mismatch,
    /// The client proof does not verify (wrong password).
    scram_invalid_proof,
    /// The server sent e=... in server-final-message.
    scram_server_error,
    /// Channel binding data or GS2 header does not match what was negotiated.
    scram_channel_binding_mismatch,
    /// The requested mechanism is not SCRAM-SHA-256 or SCRAM-SHA-256-PLUS.
    scram_unsupported_mechanism,
    /// A stored verifier ("SCRAM-SHA-256$iter:salt$stored:server") is malformed.
    scram_invalid_verifier,
    /// A SCRAM call came in the wrong order (e.g. final before first).
    scram_out_of_order,
};

[[nodiscard]] const std::error_category& protocol_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), protocol_category()};
}

} // namespace qail::protocol

template <>
struct std::is_error_code_enum<qail::protocol::errc> : std::true_type {};
