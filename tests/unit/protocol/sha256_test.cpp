// SHA-256, HMAC-SHA-256 and PBKDF2-HMAC-SHA-256: known answers and OpenSSL as reference.
#include <qail/protocol/sha256.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace qail::protocol {
namespace {

std::string to_hex(std::span<const std::uint8_t> bytes) {
    constexpr std::string_view digits = "0123456789abcdef";
    std::string out;
    for (const std::uint8_t b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0x0fU]);
    }
    return out;
}

std::vector<std::uint8_t> random_bytes(std::mt19937& rng, std::size_t n) {
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<std::uint8_t> out(n);
    for (auto& b : out) {
        b = static_cast<std::uint8_t>(byte(rng));
    }
    return out;
}

std::span<const std::uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

sha256_hash openssl_sha256(std::span<const std::uint8_t> data) {
    sha256_hash out{};
    unsigned int length = 0;
    REQUIRE(EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr) == 1);
    REQUIRE(length == out.size());
    return out;
}

sha256_hash openssl_hmac(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
    sha256_hash out{};
    unsigned int length = 0;
    // A non-null pointer for empty keys: OpenSSL treats a null key as "reuse the old one".
    static const std::uint8_t empty = 0;
    const void* key_ptr = key.empty() ? &empty : key.data();
    REQUIRE(HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), data.data(), data.size(),
                 out.data(), &length) != nullptr);
    REQUIRE(length == out.size());
    return out;
}

sha256_hash openssl_pbkdf2(std::span<const std::uint8_t> password,
                           std::span<const std::uint8_t> salt, int iterations) {
    sha256_hash out{};
    REQUIRE(PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(password.data()),
                              static_cast<int>(password.size()), salt.data(),
                              static_cast<int>(salt.size()), iterations, EVP_sha256(),
                              static_cast<int>(out.size()), out.data()) == 1);
    return out;
}

TEST_CASE("sha256: FIPS 180-4 known answers") {
    CHECK(to_hex(sha256_digest("")) ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(to_hex(sha256_digest("abc")) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(to_hex(sha256_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const std::string million(1'000'000, 'a');
    CHECK(to_hex(sha256_digest(million)) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: random inputs of 0..300 bytes equal OpenSSL") {
    std::mt19937 rng(1234);
    for (std::size_t n = 0; n <= 300; ++n) {
        const auto data = random_bytes(rng, n);
        CAPTURE(n);
        CHECK(sha256_digest(data) == openssl_sha256(data));
    }
}

TEST_CASE("sha256: incremental updates split at every offset equal the one-shot digest") {
    std::mt19937 rng(99);
    for (const std::size_t n : {0U, 1U, 55U, 56U, 63U, 64U, 65U, 119U, 120U, 128U, 200U}) {
        const auto data = random_bytes(rng, n);
        const sha256_hash expected = openssl_sha256(data);
        for (std::size_t split = 0; split <= n; ++split) {
            sha256 hasher;
            hasher.update(std::span(data).first(split));
            hasher.update(std::span(data).subspan(split));
            CAPTURE(n);
            CAPTURE(split);
            CHECK(hasher.finish() == expected);
        }
        sha256 byte_by_byte;
        for (const std::uint8_t b : data) {
            byte_by_byte.update(std::span(&b, 1));
        }
        CHECK(byte_by_byte.finish() == expected);
    }
}

TEST_CASE("sha256: finish resets the object for the next message") {
    sha256 hasher;
    hasher.update("first message");
    (void)hasher.finish();
    hasher.update("abc");
    CHECK(to_hex(hasher.finish()) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hasher.finish() == sha256_digest(""));
}

TEST_CASE("sha256: HMAC RFC 4231 test cases") {
    const std::vector<std::uint8_t> key_0b(20, 0x0b);
    CHECK(to_hex(hmac_sha256(key_0b, bytes_of("Hi There"))) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(to_hex(hmac_sha256(std::vector<std::uint8_t>(20, 0xaa),
                             std::vector<std::uint8_t>(50, 0xdd))) ==
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    std::vector<std::uint8_t> key_seq;
    for (std::uint8_t i = 1; i <= 25; ++i) {
        key_seq.push_back(i);
    }
    CHECK(to_hex(hmac_sha256(key_seq, std::vector<std::uint8_t>(50, 0xcd))) ==
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    // Test case 5 compares only the first 128 bits.
    CHECK(to_hex(hmac_sha256(std::vector<std::uint8_t>(20, 0x0c), bytes_of("Test With Truncation")))
              .substr(0, 32) == "a3b6167473100ee06e0c796c2955552b");
    const std::vector<std::uint8_t> key_aa_131(131, 0xaa);
    CHECK(to_hex(hmac_sha256(key_aa_131,
                             bytes_of("Test Using Larger Than Block-Size Key - Hash Key First"))) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK(to_hex(hmac_sha256(
              key_aa_131,
              bytes_of("This is a test using a larger than block-size key and a larger than "
                       "block-size data. The key needs to be hashed before being used by the "
                       "HMAC algorithm."))) ==
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("sha256: HMAC with random keys and data equals OpenSSL") {
    std::mt19937 rng(42);
    for (std::size_t n = 0; n <= 300; n += 3) {
        // Key sizes cycle through the interesting range around the 64-byte block size.
        const std::size_t key_size = (n * 7) % 150;
        const auto key = random_bytes(rng, key_size);
        const auto data = random_bytes(rng, n);
        CAPTURE(n);
        CAPTURE(key_size);
        CHECK(hmac_sha256(key, data) == openssl_hmac(key, data));
    }
}

TEST_CASE("sha256: PBKDF2 RFC 6070-style vectors, checked against OpenSSL too") {
    struct vector_case {
        std::string_view password;
        std::string_view salt;
        std::uint32_t iterations;
        std::string_view expected;
    };
    using namespace std::string_view_literals;
    const vector_case cases[] = {
        {"password", "salt", 1, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"},
        {"password", "salt", 2, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"},
        {"password", "salt", 4096,
         "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"},
        {"passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096,
         "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1"},
        {"pass\0word"sv, "sa\0lt"sv, 4096,
         "89b69d0516f829893c696226650a86878c029ac13ee276509d5ae58b6466a724"},
    };
    for (const vector_case& c : cases) {
        CAPTURE(c.password);
        CAPTURE(c.iterations);
        const sha256_hash ours = pbkdf2_hmac_sha256(c.password, c.salt, c.iterations);
        CHECK(to_hex(ours) == c.expected);
        CHECK(ours == openssl_pbkdf2(bytes_of(c.password), bytes_of(c.salt),
                                     static_cast<int>(c.iterations)));
    }
}

TEST_CASE("sha256: PBKDF2 with random passwords and salts equals OpenSSL") {
    std::mt19937 rng(7);
    for (std::size_t n = 0; n <= 300; n += 13) {
        const auto password = random_bytes(rng, n);
        const auto salt = random_bytes(rng, (n * 5) % 97);
        const std::string_view password_text(reinterpret_cast<const char*>(password.data()),
                                             password.size());
        const std::uint32_t iterations = 1 + static_cast<std::uint32_t>(n % 17);
        CAPTURE(n);
        CHECK(pbkdf2_hmac_sha256(password_text, salt, iterations) ==
              openssl_pbkdf2(password, salt, static_cast<int>(iterations)));
    }
}

TEST_CASE("sha256: PBKDF2 with zero iterations behaves as one") {
    CHECK(pbkdf2_hmac_sha256("password", "salt", 0) == pbkdf2_hmac_sha256("password", "salt", 1));
}

// The digest of `message` computed block by block with `block`: the padding of FIPS
// 180-4 section 5.1.1 done here, so the block function alone is under test.
sha256_hash digest_with(detail::sha256_block_function block,
                        std::span<const std::uint8_t> message) {
    std::vector<std::uint8_t> padded(message.begin(), message.end());
    padded.push_back(0x80);
    while (padded.size() % 64 != 56) {
        padded.push_back(0);
    }
    const std::uint64_t bits = std::uint64_t{message.size()} * 8U;
    for (int shift = 56; shift >= 0; shift -= 8) {
        padded.push_back(static_cast<std::uint8_t>(bits >> shift));
    }
    std::array<std::uint32_t, 8> state = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    for (std::size_t offset = 0; offset < padded.size(); offset += 64) {
        block(state, padded.data() + offset);
    }
    sha256_hash out{};
    for (std::size_t i = 0; i < 8; ++i) {
        for (std::size_t j = 0; j < 4; ++j) {
            out[4 * i + j] = static_cast<std::uint8_t>(state[i] >> (24 - 8 * j));
        }
    }
    return out;
}

// Whether the kernel lists the SHA extensions among this CPU's flags.
bool cpuinfo_lists_sha_ni() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    REQUIRE(cpuinfo.is_open());
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.starts_with("flags")) {
            std::istringstream flags(line);
            std::string flag;
            while (flags >> flag) {
                if (flag == "sha_ni") {
                    return true;
                }
            }
            return false;
        }
    }
    FAIL("no flags line in /proc/cpuinfo");
    return false;
}

TEST_CASE("sha256: the portable block function gives OpenSSL's digests") {
    std::mt19937 rng(5);
    for (std::size_t n = 0; n <= 200; n += 7) {
        const auto data = random_bytes(rng, n);
        CAPTURE(n);
        CHECK(digest_with(detail::sha256_block_portable, data) == openssl_sha256(data));
    }
}

#if defined(__x86_64__)
TEST_CASE("sha256: the x86 SHA extensions are used exactly when the CPU has them") {
    // The CPU of this machine (and of CI, which runs here) has them; on one without, this
    // checks that they are not used.
    CHECK(detail::sha256_x86_available() == cpuinfo_lists_sha_ni());
    const detail::sha256_block_function expected =
        cpuinfo_lists_sha_ni() ? detail::sha256_block_x86 : detail::sha256_block_portable;
    const bool in_use_is_expected = detail::sha256_block_in_use() == expected;
    CHECK(in_use_is_expected);
}

TEST_CASE("sha256: the x86 block function equals the portable one") {
    if (!cpuinfo_lists_sha_ni()) {
        MESSAGE("this CPU has no SHA extensions; only the portable code runs here");
        CHECK_FALSE(detail::sha256_x86_available());
        return;
    }
    std::mt19937 rng(11);
    for (std::size_t n = 0; n <= 200; n += 7) {
        const auto data = random_bytes(rng, n);
        CAPTURE(n);
        CHECK(digest_with(detail::sha256_block_x86, data) == openssl_sha256(data));
    }
    // Arbitrary chaining states too, not only those a digest reaches.
    std::uniform_int_distribution<std::uint32_t> word;
    for (int i = 0; i < 1000; ++i) {
        std::array<std::uint32_t, 8> portable{};
        for (std::uint32_t& w : portable) {
            w = word(rng);
        }
        std::array<std::uint32_t, 8> x86 = portable;
        const auto block = random_bytes(rng, 64);
        detail::sha256_block_portable(portable, block.data());
        detail::sha256_block_x86(x86, block.data());
        CAPTURE(i);
        CHECK(x86 == portable);
    }
}
#endif

} // namespace
} // namespace qail::protocol
