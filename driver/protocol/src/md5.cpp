// MD5 (RFC 1321) in portable C++ (no crypto library).
#include <qail/protocol/md5.hpp>

#include <algorithm>
#include <bit>
#include <cstring>

namespace qail::protocol {
namespace {

// K[i] = floor(abs(sin(i + 1)) * 2^32), RFC 1321 section 3.4.
constexpr std::array<std::uint32_t, 64> sine_table = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

constexpr std::array<int, 64> shifts = {
    7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 5,  9,  14, 20, 5,  9,
    14, 20, 5,  9,  14, 20, 5,  9,  14, 20, 4,  11, 16, 23, 4,  11, 16, 23, 4,  11, 16, 23,
    4,  11, 16, 23, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21,
};

constexpr std::array<std::uint32_t, 4> initial_state = {0x67452301, 0xefcdab89, 0x98badcfe,
                                                        0x10325476};

[[nodiscard]] std::span<const std::uint8_t> bytes_of(std::string_view text) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

[[nodiscard]] std::uint32_t load_le32(const std::uint8_t* p) noexcept {
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
           (std::uint32_t{p[3]} << 24);
}

void store_le32(std::uint8_t* p, std::uint32_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v);
    p[1] = static_cast<std::uint8_t>(v >> 8);
    p[2] = static_cast<std::uint8_t>(v >> 16);
    p[3] = static_cast<std::uint8_t>(v >> 24);
}

} // namespace

md5::md5() noexcept : state_(initial_state) {}

void md5::compress(const std::uint8_t* block) noexcept {
    std::array<std::uint32_t, 16> m{};
    for (std::size_t i = 0; i < 16; ++i) {
        m[i] = load_le32(block + 4 * i);
    }
    std::uint32_t a = state_[0];
    std::uint32_t b = state_[1];
    std::uint32_t c = state_[2];
    std::uint32_t d = state_[3];
    for (std::size_t i = 0; i < 64; ++i) {
        std::uint32_t f = 0;
        std::size_t g = 0;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) % 16;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) % 16;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) % 16;
        }
        const std::uint32_t rotated = std::rotl(a + f + sine_table[i] + m[g], shifts[i]);
        a = d;
        d = c;
        c = b;
        b = b + rotated;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
}

void md5::update(std::span<const std::uint8_t> data) noexcept {
    if (data.empty()) {
        return; // an empty span may carry a null pointer, which memcpy must not see
    }
    total_bytes_ += data.size();
    std::size_t offset = 0;
    if (buffered_ > 0) {
        const std::size_t take = std::min(md5_block_size - buffered_, data.size());
        std::memcpy(buffer_.data() + buffered_, data.data(), take);
        buffered_ += take;
        offset = take;
        if (buffered_ < md5_block_size) {
            return;
        }
        compress(buffer_.data());
        buffered_ = 0;
    }
    while (data.size() - offset >= md5_block_size) {
        compress(data.data() + offset);
        offset += md5_block_size;
    }
    const std::size_t rest = data.size() - offset;
    if (rest > 0) {
        std::memcpy(buffer_.data(), data.data() + offset, rest);
        buffered_ = rest;
    }
}

void md5::update(std::string_view data) noexcept {
    update(bytes_of(data));
}

md5_hash md5::finish() noexcept {
    const std::uint64_t total_bits = total_bytes_ * 8U;
    // Padding: 0x80, zeros up to 56 mod 64, then the 64-bit little-endian bit length.
    buffer_[buffered_++] = 0x80;
    if (buffered_ > md5_block_size - 8) {
        std::fill(buffer_.begin() + static_cast<std::ptrdiff_t>(buffered_), buffer_.end(),
                  std::uint8_t{0});
        compress(buffer_.data());
        buffered_ = 0;
    }
    std::fill(buffer_.begin() + static_cast<std::ptrdiff_t>(buffered_), buffer_.end() - 8,
              std::uint8_t{0});
    store_le32(buffer_.data() + 56, static_cast<std::uint32_t>(total_bits));
    store_le32(buffer_.data() + 60, static_cast<std::uint32_t>(total_bits >> 32));
    compress(buffer_.data());

    md5_hash digest{};
    for (std::size_t i = 0; i < state_.size(); ++i) {
        store_le32(digest.data() + 4 * i, state_[i]);
    }
    *this = md5{};
    return digest;
}

md5_hash md5_digest(std::span<const std::uint8_t> data) noexcept {
    md5 hasher;
    hasher.update(data);
    return hasher.finish();
}

md5_hash md5_digest(std::string_view data) noexcept {
    return md5_digest(bytes_of(data));
}

std::string md5_hex(std::span<const std::uint8_t> data) {
    constexpr std::string_view digits = "0123456789abcdef";
    const md5_hash digest = md5_digest(data);
    std::string hex;
    hex.reserve(2 * digest.size());
    for (const std::uint8_t byte : digest) {
        hex.push_back(digits[byte >> 4]);
        hex.push_back(digits[byte & 0x0fU]);
    }
    return hex;
}

std::string md5_hex(std::string_view data) {
    return md5_hex(bytes_of(data));
}

} // namespace qail::protocol
