// NotificationResponse decoding and encoding.
#include <qail/protocol/async.hpp>

namespace qail::protocol {

std::error_code decode(byte_view body, notification_response& out) noexcept {
    reader r(body);
    out.process_id = r.i32();
    out.channel = r.cstr();
    out.payload = r.cstr();
    return r.finish();
}

void encode(writer& w, const notification_response& m) {
    const std::size_t mark = w.begin_message(backend_tag::notification_response);
    w.put_i32(m.process_id);
    w.put_cstr(m.channel);
    w.put_cstr(m.payload);
    w.end_message(mark);
}

} // namespace qail::protocol
