// COPY sub-protocol messages: CopyInResponse, CopyOutResponse, CopyBothResponse,
// CopyData, CopyDone (both directions) and CopyFail.
#pragma once

#include <qail/protocol/buffer.hpp>
#include <qail/protocol/packed.hpp>
#include <qail/protocol/simple_query.hpp>
#include <qail/protocol/tags.hpp>

#include <string_view>
#include <system_error>

namespace qail::protocol {

/// The body shared by CopyInResponse, CopyOutResponse and CopyBothResponse:
/// the overall format and one format code per column.
struct copy_format {
    format_code overall = format_code::text;
    int16_array column_formats;
    bool operator==(const copy_format&) const = default;
};
struct copy_in_response {
    copy_format format;
    bool operator==(const copy_in_response&) const = default;
};
struct copy_out_response {
    copy_format format;
    bool operator==(const copy_out_response&) const = default;
};
struct copy_both_response {
    copy_format format;
    bool operator==(const copy_both_response&) const = default;
};
/// CopyData: a chunk of the COPY stream (either direction).
struct copy_data {
    byte_view data;
    bool operator==(const copy_data&) const = default;
};
/// CopyDone: the end of the COPY stream (either direction).
struct copy_done {
    bool operator==(const copy_done&) const = default;
};
/// CopyFail: the frontend aborts COPY FROM STDIN with a reason.
struct copy_fail {
    std::string_view message;
    bool operator==(const copy_fail&) const = default;
};

[[nodiscard]] std::error_code decode(byte_view body, copy_in_response& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, copy_out_response& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, copy_both_response& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, copy_data& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, copy_done& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, copy_fail& out) noexcept;

/// A Copy*Response (type 'G', 'H' or 'W') from any range of column formats.
template <class Formats>
void encode_copy_response(writer& w, char type, format_code overall, const Formats& formats) {
    const std::size_t mark = w.begin_message(type);
    w.put_u8(static_cast<std::uint8_t>(overall));
    put_int_array<std::int16_t>(w, formats);
    w.end_message(mark);
}

void encode(writer& w, const copy_in_response& m);
void encode(writer& w, const copy_out_response& m);
void encode(writer& w, const copy_both_response& m);
void encode(writer& w, const copy_data& m);
void encode(writer& w, const copy_done& m);
void encode(writer& w, const copy_fail& m);

} // namespace qail::protocol
