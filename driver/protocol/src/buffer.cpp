// Byte-level reader and writer: the only place that touches integer encoding.
#include <qail/protocol/buffer.hpp>

#include <cstring>
#include <limits>

namespace qail::protocol {

void writer::put_i16(std::int16_t v) {
    const auto u = static_cast<std::uint16_t>(v);
    const char b[2] = {static_cast<char>(u >> 8U), static_cast<char>(u & 0xFFU)};
    out_->append(b, 2);
}

void writer::put_i32(std::int32_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    const char b[4] = {static_cast<char>(u >> 24U), static_cast<char>((u >> 16U) & 0xFFU),
                       static_cast<char>((u >> 8U) & 0xFFU), static_cast<char>(u & 0xFFU)};
    out_->append(b, 4);
}

void writer::put_cstr(std::string_view s) {
    if (s.find('\0') != std::string_view::npos)
        fail(errc::embedded_nul);
    out_->append(s);
    out_->push_back('\0');
}

void writer::put_count16(std::size_t n) {
    if (n > static_cast<std::size_t>(std::numeric_limits<std::int16_t>::max())) {
        fail(errc::negative_count);
        n = 0;
    }
    put_i16(static_cast<std::int16_t>(n));
}

void writer::put_value(std::optional<byte_view> value) {
    if (!value) {
        put_i32(-1);
        return;
    }
    if (value->size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
        fail(errc::message_too_large);
        put_i32(0);
        return;
    }
    put_i32(static_cast<std::int32_t>(value->size()));
    out_->append(*value);
}

std::size_t writer::begin_message(char type) {
    out_->push_back(type);
    const std::size_t mark = out_->size();
    put_i32(0);
    return mark;
}

std::size_t writer::begin_untyped() {
    const std::size_t mark = out_->size();
    put_i32(0);
    return mark;
}

void writer::end_message(std::size_t mark) {
    const std::size_t len = out_->size() - mark;
    if (len > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
        fail(errc::message_too_large);
        return;
    }
    const auto u = static_cast<std::uint32_t>(len);
    char* p = out_->data() + mark;
    p[0] = static_cast<char>(u >> 24U);
    p[1] = static_cast<char>((u >> 16U) & 0xFFU);
    p[2] = static_cast<char>((u >> 8U) & 0xFFU);
    p[3] = static_cast<char>(u & 0xFFU);
}

bool reader::take(std::size_t n) noexcept {
    if (error_)
        return false;
    if (remaining() < n) {
        fail(errc::truncated_field);
        return false;
    }
    return true;
}

std::uint8_t reader::u8() noexcept {
    if (!take(1))
        return 0;
    return static_cast<std::uint8_t>(data_[pos_++]);
}

std::int16_t reader::i16() noexcept {
    if (!take(2))
        return 0;
    const auto v = load_i16(data_.data() + pos_);
    pos_ += 2;
    return v;
}

std::int32_t reader::i32() noexcept {
    if (!take(4))
        return 0;
    const auto v = load_i32(data_.data() + pos_);
    pos_ += 4;
    return v;
}

std::string_view reader::cstr() noexcept {
    if (error_)
        return {};
    const std::size_t end = data_.find('\0', pos_);
    if (end == byte_view::npos) {
        fail(errc::missing_terminator);
        return {};
    }
    const std::string_view s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
}

byte_view reader::bytes(std::size_t n) noexcept {
    if (!take(n))
        return {};
    const byte_view b = data_.substr(pos_, n);
    pos_ += n;
    return b;
}

byte_view reader::rest() noexcept {
    if (error_)
        return {};
    const byte_view b = data_.substr(pos_);
    pos_ = data_.size();
    return b;
}

std::size_t reader::count16() noexcept {
    const std::int16_t n = i16();
    if (n < 0) {
        fail(errc::negative_count);
        return 0;
    }
    return static_cast<std::size_t>(n);
}

std::size_t reader::count32() noexcept {
    const std::int32_t n = i32();
    if (n < 0) {
        fail(errc::negative_count);
        return 0;
    }
    return static_cast<std::size_t>(n);
}

bool reader::value(byte_view& out) noexcept {
    out = {};
    const std::int32_t len = i32();
    if (error_)
        return false;
    if (len == -1)
        return false;
    if (len < -1) {
        fail(errc::invalid_value_length);
        return false;
    }
    out = bytes(static_cast<std::size_t>(len));
    return !error_;
}

std::error_code reader::finish() noexcept {
    if (error_)
        return error_;
    if (pos_ != data_.size())
        return make_error_code(errc::trailing_bytes);
    return {};
}

} // namespace qail::protocol
