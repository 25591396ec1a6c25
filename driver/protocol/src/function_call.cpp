// FunctionCall / FunctionCallResponse decoding and encoding.
#include <qail/protocol/function_call.hpp>

namespace qail::protocol {

std::error_code decode(byte_view body, function_call& out) noexcept {
    reader r(body);
    out.function_oid = r.i32();
    std::size_t n = r.count16();
    const byte_view formats = r.bytes(n * 2);
    out.argument_formats = int16_array{formats, r.error() ? 0 : n};
    n = r.count16();
    out.arguments = value_list::read(r, n);
    const std::int16_t result = r.i16();
    if (auto ec = r.finish())
        return ec;
    if (result != 0 && result != 1)
        return make_error_code(errc::invalid_field_value);
    out.result_format = static_cast<format_code>(result);
    return {};
}

std::error_code decode(byte_view body, function_call_response& out) noexcept {
    reader r(body);
    byte_view v;
    if (r.value(v))
        out.result = v;
    else
        out.result.reset();
    return r.finish();
}

void encode(writer& w, const function_call& m) {
    encode_function_call(w, m.function_oid, m.argument_formats, m.arguments, m.result_format);
}

void encode(writer& w, const function_call_response& m) {
    const std::size_t mark = w.begin_message(backend_tag::function_call_response);
    w.put_value(m.result);
    w.end_message(mark);
}

} // namespace qail::protocol
