// Asynchronous server messages that can arrive at any time: NotificationResponse
// (ParameterStatus and NoticeResponse live with their families).
#pragma once

#include <qail/protocol/buffer.hpp>
#include <qail/protocol/tags.hpp>

#include <cstdint>
#include <string_view>
#include <system_error>

namespace qail::protocol {

/// NotificationResponse: a NOTIFY delivered to a LISTENing session.
struct notification_response {
    std::int32_t process_id = 0;
    std::string_view channel;
    std::string_view payload;
    bool operator==(const notification_response&) const = default;
};

[[nodiscard]] std::error_code decode(byte_view body, notification_response& out) noexcept;
void encode(writer& w, const notification_response& m);

} // namespace qail::protocol
