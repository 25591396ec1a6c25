// numeric's two wire forms converted into each other: decimal text (numeric_in/numeric_out)
// and numeric_send's base-10000 binary layout.
#pragma once

#include <string>
#include <string_view>

namespace qail::client::detail {

/// Appends the binary form numeric_send would produce for numeric_in(text): ndigits,
/// weight, sign (0x0000, 0x4000 negative, 0xC000 NaN, 0xD000 +Inf, 0xF000 -Inf), dscale,
/// then the base-10000 digits with leading and trailing zero digits stripped.
/// Returns false, appending nothing, when numeric_in would refuse the text or the value
/// overflows the format (weight beyond Int16, more than 16383 fraction digits).
[[nodiscard]] bool numeric_text_to_binary(std::string_view text, std::string& out);

/// Appends the text numeric_out prints for the binary value, after the normalisation
/// numeric_recv applies (digits below dscale truncated, zero made positive). Returns false
/// for malformed bytes: a wrong length, an invalid sign, dscale or digit.
[[nodiscard]] bool numeric_binary_to_text(std::string_view bytes, std::string& out);

} // namespace qail::client::detail
