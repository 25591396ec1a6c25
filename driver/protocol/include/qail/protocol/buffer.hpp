// Byte-level reader and writer for PostgreSQL messages: big-endian integers,
// NUL-terminated strings, and a writer that back-patches message lengths.
#pragma once

#include <qail/protocol/error.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace qail::protocol {

/// Raw bytes of a message body or field. PostgreSQL bytes are carried in a
/// string_view because std::byte has no char_traits; the data is not text.
using byte_view = std::string_view;

/// Appends encoded messages to a caller-owned buffer (reused across batches so
/// steady-state encoding does not allocate). Errors are sticky: the first one
/// is kept and later writes are ignored; check error() once after a batch.
class writer {
public:
    explicit writer(std::string& out) noexcept : out_(&out) {}

    void put_u8(std::uint8_t v) { out_->push_back(static_cast<char>(v)); }
    void put_char(char c) { out_->push_back(c); }
    void put_i16(std::int16_t v);
    void put_i32(std::int32_t v);
    void put_bytes(byte_view bytes) { out_->append(bytes); }
    /// A NUL-terminated string; a NUL inside `s` cannot be carried and sets embedded_nul.
    void put_cstr(std::string_view s);
    /// A count field (Int16): sets negative_count when it does not fit.
    void put_count16(std::size_t n);
    /// A length-prefixed value (Int32 length, -1 for NULL, then the bytes).
    void put_value(std::optional<byte_view> value);

    /// Starts a typed message: writes the type byte and a placeholder length.
    /// Returns the mark to hand to end_message().
    [[nodiscard]] std::size_t begin_message(char type);
    /// Starts an untyped startup-phase packet (StartupMessage, SSLRequest, ...).
    [[nodiscard]] std::size_t begin_untyped();
    /// Back-patches the length of the message begun at `mark`; sets
    /// message_too_large when the body does not fit the Int32 length field.
    void end_message(std::size_t mark);

    void fail(errc e) noexcept {
        if (!error_)
            error_ = make_error_code(e);
    }
    [[nodiscard]] std::error_code error() const noexcept { return error_; }
    [[nodiscard]] std::string& buffer() noexcept { return *out_; }

private:
    std::string* out_;
    std::error_code error_;
};

/// Reads fields from one message body. Errors are sticky: after the first
/// failure every read returns an empty value, so decoders read all their
/// fields and check error() once. finish() reports trailing bytes.
class reader {
public:
    explicit reader(byte_view body) noexcept : data_(body) {}

    std::uint8_t u8() noexcept;
    char byte() noexcept { return static_cast<char>(u8()); }
    std::int16_t i16() noexcept;
    std::int32_t i32() noexcept;
    /// A NUL-terminated string (the view excludes the terminator).
    std::string_view cstr() noexcept;
    /// Exactly `n` bytes.
    byte_view bytes(std::size_t n) noexcept;
    /// Everything left in the body.
    byte_view rest() noexcept;
    /// A non-negative Int16 count; a negative one sets negative_count.
    std::size_t count16() noexcept;
    /// A non-negative Int32 count; a negative one sets negative_count.
    std::size_t count32() noexcept;
    /// A length-prefixed value: Int32 length (-1 = NULL) then that many bytes.
    /// Returns false for NULL. A length below -1 sets invalid_value_length.
    bool value(byte_view& out) noexcept;

    [[nodiscard]] std::size_t remaining() const noexcept { return data_.size() - pos_; }
    [[nodiscard]] std::size_t position() const noexcept { return pos_; }
    /// The bytes read since `position` (a value earlier returned by position()).
    [[nodiscard]] byte_view span_since(std::size_t position) const noexcept {
        return data_.substr(position, pos_ - position);
    }
    [[nodiscard]] std::error_code error() const noexcept { return error_; }
    void fail(errc e) noexcept {
        if (!error_)
            error_ = make_error_code(e);
    }
    /// The decoder's final check: the sticky error, else trailing_bytes if
    /// anything is left unread.
    [[nodiscard]] std::error_code finish() noexcept;

private:
    bool take(std::size_t n) noexcept;

    byte_view data_;
    std::size_t pos_ = 0;
    std::error_code error_;
};

/// Reads a big-endian Int16/Int32 from 2/4 bytes the caller has checked exist.
[[nodiscard]] inline std::int16_t load_i16(const char* p) noexcept {
    const auto hi = static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]));
    const auto lo = static_cast<std::uint16_t>(static_cast<unsigned char>(p[1]));
    return static_cast<std::int16_t>(static_cast<std::uint16_t>((hi << 8U) | lo));
}
[[nodiscard]] inline std::int32_t load_i32(const char* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
        v = (v << 8U) | static_cast<unsigned char>(p[i]);
    return static_cast<std::int32_t>(v);
}

} // namespace qail::protocol
