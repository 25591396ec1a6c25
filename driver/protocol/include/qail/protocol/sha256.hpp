// SHA-256 (FIPS 180-4), HMAC-SHA-256 (RFC 2104) and PBKDF2-HMAC-SHA-256 (RFC 8018), for SCRAM.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace qail::protocol {

inline constexpr std::size_t sha256_digest_size = 32;
inline constexpr std::size_t sha256_block_size = 64;

/// A SHA-256 digest (also the size of every SCRAM-SHA-256 key, proof and signature).
using sha256_hash = std::array<std::uint8_t, sha256_digest_size>;

/// Incremental SHA-256. Feed any number of update() calls, then finish(); finish()
/// returns the digest and resets the object to the empty-message state, so it can be
/// reused for a new message.
class sha256 {
public:
    sha256() noexcept;

    void update(std::span<const std::uint8_t> data) noexcept;
    void update(std::string_view data) noexcept;

    /// The digest of everything fed since construction or the previous finish().
    [[nodiscard]] sha256_hash finish() noexcept;

private:
    void compress(const std::uint8_t* block) noexcept;

    std::array<std::uint32_t, 8> state_{};
    std::array<std::uint8_t, sha256_block_size> buffer_{};
    std::size_t buffered_ = 0;
    std::uint64_t total_bytes_ = 0;
};

/// One-shot SHA-256.
[[nodiscard]] sha256_hash sha256_digest(std::span<const std::uint8_t> data) noexcept;
[[nodiscard]] sha256_hash sha256_digest(std::string_view data) noexcept;

/// HMAC-SHA-256 (RFC 2104); keys longer than the block size are hashed first, as the
/// RFC requires.
[[nodiscard]] sha256_hash hmac_sha256(std::span<const std::uint8_t> key,
                                      std::span<const std::uint8_t> data) noexcept;
[[nodiscard]] sha256_hash hmac_sha256(std::string_view key, std::string_view data) noexcept;

/// PBKDF2 with HMAC-SHA-256 and a 32-byte output: exactly the Hi(password, salt, i)
/// function of RFC 5802 section 2.2. An iteration count of 0 is treated as 1 (the
/// RFC's minimum); callers that take the count from a peer validate it before calling.
[[nodiscard]] sha256_hash pbkdf2_hmac_sha256(std::string_view password,
                                             std::span<const std::uint8_t> salt,
                                             std::uint32_t iterations) noexcept;
[[nodiscard]] sha256_hash pbkdf2_hmac_sha256(std::string_view password, std::string_view salt,
                                             std::uint32_t iterations) noexcept;

namespace detail {

/// A SHA-256 block function: absorbs one 64-byte block into `state` (a..h).
using sha256_block_function = void (*)(std::array<std::uint32_t, 8>& state,
                                       const std::uint8_t* block) noexcept;

/// The block function in portable C++.
void sha256_block_portable(std::array<std::uint32_t, 8>& state, const std::uint8_t* block) noexcept;
/// True when this CPU has the x86 SHA extensions (and SSSE3 and SSE4.1, which the code
/// around them uses); always false on other architectures.
[[nodiscard]] bool sha256_x86_available() noexcept;
/// The block function on the x86 SHA extensions (164 instructions against some 4,000,
/// 52 against 238 ns per block on the CI machine); call only where
/// sha256_x86_available().
void sha256_block_x86(std::array<std::uint32_t, 8>& state, const std::uint8_t* block) noexcept;
/// The block function sha256 uses in this process: the x86 one where available.
[[nodiscard]] sha256_block_function sha256_block_in_use() noexcept;

} // namespace detail
} // namespace qail::protocol
