// Message framing with the length checks done in signed 64-bit arithmetic, so a
// hostile length can neither wrap nor cause an allocation.
#include <qail/protocol/frame.hpp>

namespace qail::protocol {

decoded<frame> decode_frame(byte_view in, const limits& lim) noexcept {
    decoded<frame> out;
    if (in.size() < frame_header_size) {
        out.need = frame_header_size - in.size();
        return out;
    }
    const std::int64_t length = load_i32(in.data() + 1);
    if (length < 4) {
        out.error = make_error_code(errc::length_too_short);
        return out;
    }
    const std::int64_t body = length - 4;
    if (static_cast<std::uint64_t>(body) > lim.max_message_size) {
        out.error = make_error_code(errc::message_too_large);
        return out;
    }
    const std::size_t total = static_cast<std::size_t>(body) + frame_header_size;
    if (in.size() < total) {
        out.need = total - in.size();
        return out;
    }
    out.message.type = in[0];
    out.message.body = in.substr(frame_header_size, static_cast<std::size_t>(body));
    out.size = total;
    return out;
}

decoded<startup_frame> decode_startup_frame(byte_view in, const limits& lim) noexcept {
    decoded<startup_frame> out;
    if (in.size() < 4) {
        out.need = 4 - in.size();
        return out;
    }
    const std::int64_t length = load_i32(in.data());
    if (length < 8) {
        out.error = make_error_code(errc::length_too_short);
        return out;
    }
    if (static_cast<std::uint64_t>(length) > lim.max_startup_size) {
        out.error = make_error_code(errc::message_too_large);
        return out;
    }
    const auto total = static_cast<std::size_t>(length);
    if (in.size() < total) {
        out.need = total - in.size();
        return out;
    }
    out.message.code = load_i32(in.data() + 4);
    out.message.payload = in.substr(8, total - 8);
    out.size = total;
    return out;
}

} // namespace qail::protocol
