// Message type bytes and startup request codes, named as the PostgreSQL
// protocol documentation names the messages ("Message Formats", protocol-message-formats.html).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qail::protocol {

/// Startup-phase request codes (the Int32 after the length of an untyped packet).
namespace request_code {
inline constexpr std::int32_t protocol_3_0 = 196608; // 3 << 16
inline constexpr std::int32_t protocol_3_2 = 196610; // (3 << 16) | 2
inline constexpr std::int32_t cancel = 80877102;     // 1234 << 16 | 5678
inline constexpr std::int32_t ssl = 80877103;        // 1234 << 16 | 5679
inline constexpr std::int32_t gssenc = 80877104;     // 1234 << 16 | 5680
} // namespace request_code

[[nodiscard]] constexpr std::int32_t protocol_version(int major, int minor) noexcept {
    return (major << 16) | minor;
}
[[nodiscard]] constexpr int protocol_major(std::int32_t v) noexcept {
    return (v >> 16) & 0xFFFF;
}
[[nodiscard]] constexpr int protocol_minor(std::int32_t v) noexcept {
    return v & 0xFFFF;
}

/// Type bytes of messages sent by the frontend (client).
namespace frontend_tag {
inline constexpr char bind = 'B';
inline constexpr char close = 'C';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char copy_fail = 'f';
inline constexpr char describe = 'D';
inline constexpr char execute = 'E';
inline constexpr char flush = 'H';
inline constexpr char function_call = 'F';
inline constexpr char parse = 'P';
/// PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse share it.
inline constexpr char authentication_response = 'p';
inline constexpr char query = 'Q';
inline constexpr char sync = 'S';
inline constexpr char terminate = 'X';
} // namespace frontend_tag

/// Type bytes of messages sent by the backend (server).
namespace backend_tag {
inline constexpr char authentication = 'R';
inline constexpr char backend_key_data = 'K';
inline constexpr char bind_complete = '2';
inline constexpr char close_complete = '3';
inline constexpr char command_complete = 'C';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char copy_in_response = 'G';
inline constexpr char copy_out_response = 'H';
inline constexpr char copy_both_response = 'W';
inline constexpr char data_row = 'D';
inline constexpr char empty_query_response = 'I';
inline constexpr char error_response = 'E';
inline constexpr char function_call_response = 'V';
inline constexpr char negotiate_protocol_version = 'v';
inline constexpr char no_data = 'n';
inline constexpr char notice_response = 'N';
inline constexpr char notification_response = 'A';
inline constexpr char parameter_description = 't';
inline constexpr char parameter_status = 'S';
inline constexpr char parse_complete = '1';
inline constexpr char portal_suspended = 's';
inline constexpr char ready_for_query = 'Z';
inline constexpr char row_description = 'T';
} // namespace backend_tag

/// Authentication request sub-codes (the Int32 after an 'R' header).
namespace auth_code {
inline constexpr std::int32_t ok = 0;
inline constexpr std::int32_t kerberos_v5 = 2;
inline constexpr std::int32_t cleartext_password = 3;
inline constexpr std::int32_t md5_password = 5;
inline constexpr std::int32_t gss = 7;
inline constexpr std::int32_t gss_continue = 8;
inline constexpr std::int32_t sspi = 9;
inline constexpr std::int32_t sasl = 10;
inline constexpr std::int32_t sasl_continue = 11;
inline constexpr std::int32_t sasl_final = 12;
} // namespace auth_code

/// Smallest and largest cancel/backend key accepted (protocol 3.2 allows up to 256 bytes).
inline constexpr std::size_t min_cancel_key_size = 4;
inline constexpr std::size_t max_cancel_key_size = 256;

} // namespace qail::protocol
