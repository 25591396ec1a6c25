// Relay framing: finds message boundaries in a byte stream being forwarded, handing
// small messages over whole (so the pooler can look at them) and letting large ones
// pass through in pieces without being buffered. Sans-IO.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace qail::proxy {

/// What the front of the unread input is.
struct scan_step {
    enum class kind : std::uint8_t {
        /// Not enough bytes to decide; at least `size` more are needed.
        need_more,
        /// A complete message of `size` bytes (type byte, length, body).
        message,
        /// `size` bytes of a large message being passed through; `first` marks the
        /// piece that holds its header, `last` the one that ends it.
        piece,
        /// The declared length is below 4 or above the limit: the stream is unusable.
        bad_length,
    };
    kind what = kind::need_more;
    char type = 0;
    std::size_t size = 0;
    bool first = false;
    bool last = false;
};

class relay_scanner {
public:
    /// `max_message`: largest body accepted. `whole_limit`: messages up to this many
    /// bytes (header included) are always handed over whole; larger ones of a type
    /// that need_whole() does not claim pass through in pieces.
    relay_scanner(std::size_t max_message, std::size_t whole_limit) noexcept
        : max_message_(max_message), whole_limit_(whole_limit) {}

    /// Types whose messages are always handed over whole, whatever their size (up to
    /// max_message): a bit per type byte.
    void require_whole(char type) noexcept {
        whole_types_[static_cast<unsigned char>(type) / 64] |=
            std::uint64_t{1} << (static_cast<unsigned char>(type) % 64);
    }
    [[nodiscard]] bool need_whole(char type) const noexcept {
        return (whole_types_[static_cast<unsigned char>(type) / 64] >>
                (static_cast<unsigned char>(type) % 64)) &
               1U;
    }

    /// Classifies the front of `unread`. The caller consumes `size` bytes of a
    /// `message` or `piece` before calling again (the scanner counts a piece as
    /// consumed when it returns it).
    [[nodiscard]] scan_step next(std::string_view unread) noexcept;

    /// True while a large message is being passed through.
    [[nodiscard]] bool in_piece() const noexcept { return remaining_ > 0; }

private:
    std::size_t max_message_;
    std::size_t whole_limit_;
    std::uint64_t whole_types_[4] = {};
    std::size_t remaining_ = 0; // bytes of the current large message still to come
    char piece_type_ = 0;
};

} // namespace qail::proxy
