// The legacy fast-path interface: FunctionCall and FunctionCallResponse.
#pragma once

#include <qail/protocol/buffer.hpp>
#include <qail/protocol/packed.hpp>
#include <qail/protocol/simple_query.hpp>
#include <qail/protocol/tags.hpp>

#include <cstdint>
#include <optional>
#include <system_error>

namespace qail::protocol {

struct function_call {
    std::int32_t function_oid = 0;
    int16_array argument_formats;
    value_list arguments;
    format_code result_format = format_code::text;
    bool operator==(const function_call&) const = default;
};
/// FunctionCallResponse: the result value, nullopt for NULL.
struct function_call_response {
    std::optional<byte_view> result;
    bool operator==(const function_call_response&) const = default;
};

[[nodiscard]] std::error_code decode(byte_view body, function_call& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, function_call_response& out) noexcept;

template <class Formats, class Values>
void encode_function_call(writer& w, std::int32_t function_oid, const Formats& formats,
                          const Values& arguments, format_code result_format) {
    const std::size_t mark = w.begin_message(frontend_tag::function_call);
    w.put_i32(function_oid);
    put_int_array<std::int16_t>(w, formats);
    put_value_list(w, arguments);
    w.put_i16(static_cast<std::int16_t>(result_format));
    w.end_message(mark);
}
void encode(writer& w, const function_call& m);
void encode(writer& w, const function_call_response& m);

} // namespace qail::protocol
