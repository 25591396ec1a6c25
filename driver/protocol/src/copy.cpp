// COPY sub-protocol messages: strict decoding and encoding.
#include <qail/protocol/copy.hpp>

namespace qail::protocol {
namespace {

std::error_code decode_copy_format(byte_view body, copy_format& out) noexcept {
    reader r(body);
    const std::uint8_t overall = r.u8();
    const std::size_t n = r.count16();
    const byte_view raw = r.bytes(n * 2);
    if (auto ec = r.finish())
        return ec;
    if (overall > 1)
        return make_error_code(errc::invalid_field_value);
    out.overall = static_cast<format_code>(overall);
    out.column_formats = int16_array{raw, n};
    for (const std::int16_t f : out.column_formats)
        if (f != 0 && f != 1)
            return make_error_code(errc::invalid_field_value);
    return {};
}

} // namespace

std::error_code decode(byte_view body, copy_in_response& out) noexcept {
    return decode_copy_format(body, out.format);
}
std::error_code decode(byte_view body, copy_out_response& out) noexcept {
    return decode_copy_format(body, out.format);
}
std::error_code decode(byte_view body, copy_both_response& out) noexcept {
    return decode_copy_format(body, out.format);
}
std::error_code decode(byte_view body, copy_data& out) noexcept {
    out.data = body;
    return {};
}
std::error_code decode(byte_view body, copy_done&) noexcept {
    return reader(body).finish();
}
std::error_code decode(byte_view body, copy_fail& out) noexcept {
    reader r(body);
    out.message = r.cstr();
    return r.finish();
}

void encode(writer& w, const copy_in_response& m) {
    encode_copy_response(w, backend_tag::copy_in_response, m.format.overall,
                         m.format.column_formats);
}
void encode(writer& w, const copy_out_response& m) {
    encode_copy_response(w, backend_tag::copy_out_response, m.format.overall,
                         m.format.column_formats);
}
void encode(writer& w, const copy_both_response& m) {
    encode_copy_response(w, backend_tag::copy_both_response, m.format.overall,
                         m.format.column_formats);
}
void encode(writer& w, const copy_data& m) {
    const std::size_t mark = w.begin_message(frontend_tag::copy_data);
    w.put_bytes(m.data);
    w.end_message(mark);
}
void encode(writer& w, const copy_done&) {
    const std::size_t mark = w.begin_message(frontend_tag::copy_done);
    w.end_message(mark);
}
void encode(writer& w, const copy_fail& m) {
    const std::size_t mark = w.begin_message(frontend_tag::copy_fail);
    w.put_cstr(m.message);
    w.end_message(mark);
}

} // namespace qail::protocol
