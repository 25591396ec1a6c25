// MD5 (RFC 1321), needed only for PostgreSQL's legacy md5 password authentication.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace qail::protocol {

inline constexpr std::size_t md5_digest_size = 16;
inline constexpr std::size_t md5_block_size = 64;

using md5_hash = std::array<std::uint8_t, md5_digest_size>;

/// Incremental MD5; finish() returns the digest and resets the object for reuse.
/// MD5 is broken as a general-purpose hash: use it only where the protocol demands it.
class md5 {
public:
    md5() noexcept;

    void update(std::span<const std::uint8_t> data) noexcept;
    void update(std::string_view data) noexcept;

    [[nodiscard]] md5_hash finish() noexcept;

private:
    void compress(const std::uint8_t* block) noexcept;

    std::array<std::uint32_t, 4> state_{};
    std::array<std::uint8_t, md5_block_size> buffer_{};
    std::size_t buffered_ = 0;
    std::uint64_t total_bytes_ = 0;
};

/// One-shot MD5.
[[nodiscard]] md5_hash md5_digest(std::span<const std::uint8_t> data) noexcept;
[[nodiscard]] md5_hash md5_digest(std::string_view data) noexcept;

/// One-shot MD5 as 32 lowercase hex digits, the form PostgreSQL's md5 auth works with.
[[nodiscard]] std::string md5_hex(std::span<const std::uint8_t> data);
[[nodiscard]] std::string md5_hex(std::string_view data);

} // namespace qail::protocol
