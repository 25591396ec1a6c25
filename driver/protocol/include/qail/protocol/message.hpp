// Every message of one direction as a variant, and the table-driven decoders
// that frame and decode a message from the front of a byte span.
#pragma once

#include <qail/protocol/async.hpp>
#include <qail/protocol/authentication.hpp>
#include <qail/protocol/buffer.hpp>
#include <qail/protocol/copy.hpp>
#include <qail/protocol/error_response.hpp>
#include <qail/protocol/extended_query.hpp>
#include <qail/protocol/frame.hpp>
#include <qail/protocol/function_call.hpp>
#include <qail/protocol/simple_query.hpp>
#include <qail/protocol/startup.hpp>

#include <system_error>
#include <variant>

namespace qail::protocol {

/// Typed messages a frontend sends after startup. 'p' stays undecoded
/// (authentication_response) because its shape depends on the auth exchange.
using frontend_message =
    std::variant<query, parse, bind, describe, execute, sync, flush, close, copy_data, copy_done,
                 copy_fail, function_call, terminate, authentication_response>;

/// Typed messages a backend sends.
using backend_message =
    std::variant<authentication_request, backend_key_data, negotiate_protocol_version,
                 parameter_status, ready_for_query, row_description, data_row, command_complete,
                 empty_query_response, error_response, notice_response, parse_complete,
                 bind_complete, close_complete, parameter_description, no_data, portal_suspended,
                 copy_in_response, copy_out_response, copy_both_response, copy_data, copy_done,
                 notification_response, function_call_response>;

/// Decodes the body of a framed frontend message by its type byte.
[[nodiscard]] std::error_code decode_frontend_body(const frame& f, frontend_message& out) noexcept;
/// Decodes the body of a framed backend message by its type byte.
[[nodiscard]] std::error_code decode_backend_body(const frame& f, backend_message& out) noexcept;

/// Frames and decodes the frontend message at the front of `in`.
[[nodiscard]] decoded<frontend_message> decode_frontend(byte_view in,
                                                        const limits& lim = {}) noexcept;
/// Frames and decodes the backend message at the front of `in`.
[[nodiscard]] decoded<backend_message> decode_backend(byte_view in,
                                                      const limits& lim = {}) noexcept;

void encode(writer& w, const frontend_message& m);
void encode(writer& w, const backend_message& m);

} // namespace qail::protocol
