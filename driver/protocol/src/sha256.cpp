// SHA-256, HMAC-SHA-256 and PBKDF2-HMAC-SHA-256 without a crypto library: portable C++,
// and the x86 SHA extensions where the CPU has them.
#include <qail/protocol/sha256.hpp>

#include <algorithm>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define QAIL_SHA256_X86 1
#endif

namespace qail::protocol {
namespace {

constexpr std::array<std::uint32_t, 64> round_constants = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

constexpr std::array<std::uint32_t, 8> initial_state = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

[[nodiscard]] std::span<const std::uint8_t> bytes_of(std::string_view text) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

[[nodiscard]] std::uint32_t load_be32(const std::uint8_t* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

/// The two hash states of an HMAC key (after absorbing key^ipad and key^opad), so
/// PBKDF2 pays for the key schedule once instead of once per iteration.
struct hmac_key_state {
    sha256 inner;
    sha256 outer;
};

[[nodiscard]] hmac_key_state make_hmac_key_state(std::span<const std::uint8_t> key) noexcept {
    std::array<std::uint8_t, sha256_block_size> block{};
    if (key.size() > sha256_block_size) {
        const sha256_hash hashed = sha256_digest(key);
        std::copy(hashed.begin(), hashed.end(), block.begin());
    } else {
        std::copy(key.begin(), key.end(), block.begin());
    }
    hmac_key_state state;
    std::array<std::uint8_t, sha256_block_size> pad{};
    for (std::size_t i = 0; i < block.size(); ++i) {
        pad[i] = static_cast<std::uint8_t>(block[i] ^ 0x36U);
    }
    state.inner.update(pad);
    for (std::size_t i = 0; i < block.size(); ++i) {
        pad[i] = static_cast<std::uint8_t>(block[i] ^ 0x5cU);
    }
    state.outer.update(pad);
    return state;
}

[[nodiscard]] sha256_hash hmac_with(const hmac_key_state& key,
                                    std::span<const std::uint8_t> data) noexcept {
    sha256 inner = key.inner;
    inner.update(data);
    const sha256_hash inner_digest = inner.finish();
    sha256 outer = key.outer;
    outer.update(inner_digest);
    return outer.finish();
}

} // namespace

sha256::sha256() noexcept : state_(initial_state) {}

void detail::sha256_block_portable(std::array<std::uint32_t, 8>& state,
                                   const std::uint8_t* block) noexcept {
    std::array<std::uint32_t, 64> w{};
    for (std::size_t i = 0; i < 16; ++i) {
        w[i] = load_be32(block + 4 * i);
    }
    for (std::size_t i = 16; i < 64; ++i) {
        const std::uint32_t s0 =
            std::rotr(w[i - 15], 7) ^ std::rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const std::uint32_t s1 =
            std::rotr(w[i - 2], 17) ^ std::rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = state[0];
    std::uint32_t b = state[1];
    std::uint32_t c = state[2];
    std::uint32_t d = state[3];
    std::uint32_t e = state[4];
    std::uint32_t f = state[5];
    std::uint32_t g = state[6];
    std::uint32_t h = state[7];
    for (std::size_t i = 0; i < 64; ++i) {
        const std::uint32_t big_s1 = std::rotr(e, 6) ^ std::rotr(e, 11) ^ std::rotr(e, 25);
        const std::uint32_t choose = (e & f) ^ (~e & g);
        const std::uint32_t t1 = h + big_s1 + choose + round_constants[i] + w[i];
        const std::uint32_t big_s0 = std::rotr(a, 2) ^ std::rotr(a, 13) ^ std::rotr(a, 22);
        const std::uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
        const std::uint32_t t2 = big_s0 + majority;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

#if defined(QAIL_SHA256_X86)

bool detail::sha256_x86_available() noexcept {
    unsigned int eax = 0;
    unsigned int ebx = 0;
    unsigned int ecx = 0;
    unsigned int edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) {
        return false;
    }
    const bool ssse3_and_sse41 = (ecx & bit_SSSE3) != 0 && (ecx & bit_SSE4_1) != 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) {
        return false;
    }
    return ssse3_and_sse41 && (ebx & bit_SHA) != 0;
}

// SHA256RNDS2 keeps the working variables as two vectors, ABEF and CDGH (highest lane
// first), runs two rounds per instruction with W[t] + K[t] in the low lanes of its third
// operand, and returns the new ABEF; the old ABEF is the new CDGH. SHA256MSG1 and
// SHA256MSG2 compute the message schedule four words at a time.
__attribute__((target("sha,ssse3,sse4.1"))) void
detail::sha256_block_x86(std::array<std::uint32_t, 8>& state, const std::uint8_t* block) noexcept {
    const __m128i big_endian = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    const __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state.data()));
    const __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state.data() + 4));
    const __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    const __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
    const __m128i abef_in = abef;
    const __m128i cdgh_in = cdgh;

    // words[g % 4] holds W[4g..4g+3] once computed; it replaces W[4g-16..4g-13].
    // A plain array: std::array<__m128i, N> drops the vector type's alignment attribute.
    __m128i words[4];
    for (std::size_t i = 0; i < 4; ++i) {
        words[i] = _mm_shuffle_epi8(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * i)), big_endian);
    }
    // Unrolled, so words[] stays in registers.
#pragma GCC unroll 16
    for (std::size_t g = 0; g < 16; ++g) {
        if (g >= 4) {
            const __m128i minus16 = words[g % 4];
            const __m128i minus12 = words[(g + 1) % 4];
            const __m128i minus8 = words[(g + 2) % 4];
            const __m128i minus4 = words[(g + 3) % 4];
            // W[t-16] + sigma0(W[t-15]) + W[t-7], then + sigma1(W[t-2]).
            const __m128i partial = _mm_add_epi32(_mm_sha256msg1_epu32(minus16, minus12),
                                                  _mm_alignr_epi8(minus4, minus8, 4));
            words[g % 4] = _mm_sha256msg2_epu32(partial, minus4);
        }
        const __m128i wk = _mm_add_epi32(
            words[g % 4],
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(round_constants.data() + 4 * g)));
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);

    const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(state.data()), _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(state.data() + 4), _mm_alignr_epi8(dchg, feba, 8));
}

#else

bool detail::sha256_x86_available() noexcept {
    return false;
}

void detail::sha256_block_x86(std::array<std::uint32_t, 8>& state,
                              const std::uint8_t* block) noexcept {
    sha256_block_portable(state, block);
}

#endif

detail::sha256_block_function detail::sha256_block_in_use() noexcept {
    static const sha256_block_function chosen =
        sha256_x86_available() ? sha256_block_x86 : sha256_block_portable;
    return chosen;
}

void sha256::compress(const std::uint8_t* block) noexcept {
    detail::sha256_block_in_use()(state_, block);
}

void sha256::update(std::span<const std::uint8_t> data) noexcept {
    if (data.empty()) {
        return; // an empty span may carry a null pointer, which memcpy must not see
    }
    total_bytes_ += data.size();
    std::size_t offset = 0;
    if (buffered_ > 0) {
        const std::size_t take = std::min(sha256_block_size - buffered_, data.size());
        std::memcpy(buffer_.data() + buffered_, data.data(), take);
        buffered_ += take;
        offset = take;
        if (buffered_ < sha256_block_size) {
            return;
        }
        compress(buffer_.data());
        buffered_ = 0;
    }
    while (data.size() - offset >= sha256_block_size) {
        compress(data.data() + offset);
        offset += sha256_block_size;
    }
    const std::size_t rest = data.size() - offset;
    if (rest > 0) {
        std::memcpy(buffer_.data(), data.data() + offset, rest);
        buffered_ = rest;
    }
}

void sha256::update(std::string_view data) noexcept {
    update(bytes_of(data));
}

sha256_hash sha256::finish() noexcept {
    const std::uint64_t total_bits = total_bytes_ * 8U;
    // Padding: 0x80, zeros up to 56 mod 64, then the 64-bit big-endian bit length.
    buffer_[buffered_++] = 0x80;
    if (buffered_ > sha256_block_size - 8) {
        std::fill(buffer_.begin() + static_cast<std::ptrdiff_t>(buffered_), buffer_.end(),
                  std::uint8_t{0});
        compress(buffer_.data());
        buffered_ = 0;
    }
    std::fill(buffer_.begin() + static_cast<std::ptrdiff_t>(buffered_), buffer_.end() - 8,
              std::uint8_t{0});
    store_be32(buffer_.data() + 56, static_cast<std::uint32_t>(total_bits >> 32));
    store_be32(buffer_.data() + 60, static_cast<std::uint32_t>(total_bits));
    compress(buffer_.data());

    sha256_hash digest{};
    for (std::size_t i = 0; i < state_.size(); ++i) {
        store_be32(digest.data() + 4 * i, state_[i]);
    }
    *this = sha256{};
    return digest;
}

sha256_hash sha256_digest(std::span<const std::uint8_t> data) noexcept {
    sha256 hasher;
    hasher.update(data);
    return hasher.finish();
}

sha256_hash sha256_digest(std::string_view data) noexcept {
    return sha256_digest(bytes_of(data));
}

sha256_hash hmac_sha256(std::span<const std::uint8_t> key,
                        std::span<const std::uint8_t> data) noexcept {
    return hmac_with(make_hmac_key_state(key), data);
}

sha256_hash hmac_sha256(std::string_view key, std::string_view data) noexcept {
    return hmac_sha256(bytes_of(key), bytes_of(data));
}

sha256_hash pbkdf2_hmac_sha256(std::string_view password, std::span<const std::uint8_t> salt,
                               std::uint32_t iterations) noexcept {
    const hmac_key_state key = make_hmac_key_state(bytes_of(password));
    // U1 = HMAC(password, salt || INT(1)); a 32-byte output needs only block 1.
    sha256 first = key.inner;
    first.update(salt);
    constexpr std::array<std::uint8_t, 4> block_index = {0, 0, 0, 1};
    first.update(block_index);
    const sha256_hash first_inner = first.finish();
    sha256 first_outer = key.outer;
    first_outer.update(first_inner);
    sha256_hash u = first_outer.finish();

    sha256_hash result = u;
    for (std::uint32_t i = 1; i < iterations; ++i) {
        u = hmac_with(key, u);
        for (std::size_t j = 0; j < result.size(); ++j) {
            result[j] ^= u[j];
        }
    }
    return result;
}

sha256_hash pbkdf2_hmac_sha256(std::string_view password, std::string_view salt,
                               std::uint32_t iterations) noexcept {
    return pbkdf2_hmac_sha256(password, bytes_of(salt), iterations);
}

} // namespace qail::protocol
