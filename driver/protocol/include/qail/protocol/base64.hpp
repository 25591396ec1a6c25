// Standard base64 (RFC 4648 section 4, with padding), as SCRAM messages and verifiers use it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qail::protocol {

/// Encodes with the standard alphabet and '=' padding; never inserts line breaks.
[[nodiscard]] std::string base64_encode(std::span<const std::uint8_t> data);
[[nodiscard]] std::string base64_encode(std::string_view data);

/// Strict decode: the length must be a multiple of 4, only the standard alphabet is
/// accepted (no whitespace, no URL-safe characters), '=' may appear only as one or two
/// final padding characters, and the bits the padding leaves unused must be zero (so
/// every byte string has exactly one accepted encoding). Returns nullopt on any
/// violation; the empty string decodes to no bytes.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

} // namespace qail::protocol
