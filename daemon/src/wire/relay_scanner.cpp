// Relay framing: message boundaries in a forwarded byte stream (see relay_scanner.hpp).
#include <qail/proxy/relay_scanner.hpp>

#include <algorithm>

namespace qail::proxy {

scan_step relay_scanner::next(std::string_view unread) noexcept {
    scan_step s;
    if (remaining_ > 0) {
        if (unread.empty()) {
            s.size = 1;
            return s;
        }
        s.what = scan_step::kind::piece;
        s.type = piece_type_;
        s.size = std::min(unread.size(), remaining_);
        remaining_ -= s.size;
        s.last = remaining_ == 0;
        return s;
    }
    constexpr std::size_t header = 5;
    if (unread.size() < header) {
        s.size = header - unread.size();
        return s;
    }
    s.type = unread[0];
    const auto* p = reinterpret_cast<const unsigned char*>(unread.data() + 1);
    const std::uint32_t length = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                 (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    // The length counts itself; compare the body against the limit so nothing wraps.
    if (length < 4 || length - 4 > max_message_) {
        s.what = scan_step::kind::bad_length;
        return s;
    }
    const std::size_t total = std::size_t{length} + 1;
    if (total <= unread.size()) {
        s.what = scan_step::kind::message;
        s.size = total;
        return s;
    }
    if (total <= whole_limit_ || need_whole(s.type)) {
        s.size = total - unread.size();
        return s;
    }
    s.what = scan_step::kind::piece;
    s.size = unread.size();
    s.first = true;
    remaining_ = total - unread.size();
    piece_type_ = s.type;
    return s;
}

} // namespace qail::proxy
