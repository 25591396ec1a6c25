// MD5: RFC 1321 test suite, incremental updates, and OpenSSL as reference.
#include <qail/protocol/md5.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <openssl/evp.h>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace qail::protocol {
namespace {

std::vector<std::uint8_t> random_bytes(std::mt19937& rng, std::size_t n) {
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<std::uint8_t> out(n);
    for (auto& b : out) {
        b = static_cast<std::uint8_t>(byte(rng));
    }
    return out;
}

md5_hash openssl_md5(std::span<const std::uint8_t> data) {
    md5_hash out{};
    unsigned int length = 0;
    REQUIRE(EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_md5(), nullptr) == 1);
    REQUIRE(length == out.size());
    return out;
}

TEST_CASE("md5: RFC 1321 test suite") {
    CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(md5_hex("a") == "0cc175b9c0f1b6a831c399e269772661");
    CHECK(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
    CHECK(md5_hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
    CHECK(md5_hex("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
    CHECK(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") ==
          "d174ab98d277d9f5a5611c2c9f419d9f");
    CHECK(md5_hex("1234567890123456789012345678901234567890123456789012345678901234567890123456"
                  "7890") == "57edf4a22be3c955ac49da2e2107b67a");
}

TEST_CASE("md5: random inputs of 0..300 bytes equal OpenSSL") {
    std::mt19937 rng(5150);
    for (std::size_t n = 0; n <= 300; ++n) {
        const auto data = random_bytes(rng, n);
        CAPTURE(n);
        CHECK(md5_digest(data) == openssl_md5(data));
    }
}

TEST_CASE("md5: incremental updates split at every offset equal the one-shot digest") {
    std::mt19937 rng(77);
    for (const std::size_t n : {0U, 1U, 55U, 56U, 63U, 64U, 65U, 120U, 128U, 190U}) {
        const auto data = random_bytes(rng, n);
        const md5_hash expected = openssl_md5(data);
        for (std::size_t split = 0; split <= n; ++split) {
            md5 hasher;
            hasher.update(std::span(data).first(split));
            hasher.update(std::span(data).subspan(split));
            CAPTURE(n);
            CAPTURE(split);
            CHECK(hasher.finish() == expected);
        }
    }
}

TEST_CASE("md5: hex helper agrees with the digest and finish resets") {
    const std::vector<std::uint8_t> data = {0x00, 0xff, 0x10};
    const md5_hash digest = md5_digest(data);
    std::string hex;
    for (const std::uint8_t b : digest) {
        constexpr const char* digits = "0123456789abcdef";
        hex.push_back(digits[b >> 4]);
        hex.push_back(digits[b & 0x0fU]);
    }
    CHECK(md5_hex(data) == hex);
    md5 hasher;
    hasher.update("junk");
    (void)hasher.finish();
    hasher.update("abc");
    CHECK(hasher.finish() == md5_digest("abc"));
}

} // namespace
} // namespace qail::protocol
