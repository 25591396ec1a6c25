// Message framing: split a byte stream into typed messages (or startup-phase
// packets) without looking at their bodies. The forwarding hot path uses only this.
#pragma once

#include <qail/protocol/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <system_error>

namespace qail::protocol {

/// Size limits enforced on a declared length before anything is allocated.
struct limits {
    /// Largest body (length field minus its own 4 bytes) of a typed message.
    std::size_t max_message_size = std::size_t{256} * 1024 * 1024;
    /// Largest startup-phase packet including its length field. PostgreSQL
    /// itself refuses startup packets above 10,000 bytes.
    std::size_t max_startup_size = 10000;
};

/// Outcome of decoding one unit from the front of a byte span: a complete
/// value, a request for more bytes, or an error that makes the stream unusable.
template <class T>
struct decoded {
    T message{};
    /// Bytes of the input the value occupies (valid when complete()).
    std::size_t size = 0;
    /// At least this many more bytes are needed before decoding can finish.
    std::size_t need = 0;
    std::error_code error;

    [[nodiscard]] bool complete() const noexcept { return !error && need == 0; }
    [[nodiscard]] bool needs_more() const noexcept { return !error && need != 0; }
};

/// One typed message: the type byte and a view of its body (the bytes after
/// the length field). The view points into the caller's buffer.
struct frame {
    char type = 0;
    byte_view body;
    /// Header (type + length) plus body: what to forward verbatim.
    [[nodiscard]] std::size_t wire_size() const noexcept { return 5 + body.size(); }
    bool operator==(const frame&) const = default;
};

/// Bytes of the type + length header of a typed message.
inline constexpr std::size_t frame_header_size = 5;

/// Frames the typed message at the front of `in`.
[[nodiscard]] decoded<frame> decode_frame(byte_view in, const limits& lim = {}) noexcept;

/// One startup-phase packet: the request code (protocol version or a special
/// request) and the payload after it.
struct startup_frame {
    std::int32_t code = 0;
    byte_view payload;
    bool operator==(const startup_frame&) const = default;
};

/// Frames the untyped startup-phase packet at the front of `in`
/// (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
[[nodiscard]] decoded<startup_frame> decode_startup_frame(byte_view in,
                                                          const limits& lim = {}) noexcept;

} // namespace qail::protocol
