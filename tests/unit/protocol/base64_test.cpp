// Base64: RFC 4648 vectors, OpenSSL as reference, strict-decode rejections, garbage.
#include <qail/protocol/base64.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <openssl/evp.h>
#include <random>
#include <string>
#include <string_view>
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

std::string openssl_base64(const std::vector<std::uint8_t>& data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                        static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

std::vector<std::uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

TEST_CASE("base64: RFC 4648 section 10 vectors") {
    const std::pair<std::string_view, std::string_view> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        CAPTURE(plain);
        CHECK(base64_encode(plain) == encoded);
        const auto decoded = base64_decode(encoded);
        REQUIRE(decoded.has_value());
        CHECK(*decoded == bytes(plain));
    }
}

TEST_CASE("base64: random data round-trips and equals OpenSSL's encoding") {
    std::mt19937 rng(2024);
    for (std::size_t n = 0; n <= 300; ++n) {
        const auto data = random_bytes(rng, n);
        const std::string encoded = base64_encode(data);
        CAPTURE(n);
        CHECK(encoded == openssl_base64(data));
        const auto decoded = base64_decode(encoded);
        REQUIRE(decoded.has_value());
        CHECK(*decoded == data);
    }
}

TEST_CASE("base64: strict decode rejects bad characters, padding and length") {
    using namespace std::string_view_literals;
    const std::string_view rejected[] = {
        "Z"sv,        // length not a multiple of 4
        "Zg"sv,       // unpadded
        "Zg="sv,      // short padding
        "Zm9vY"sv,    // length 5
        "Zg==="sv,    // length 5, triple padding
        "Z==="sv,     // three padding characters
        "===="sv,     // only padding
        "=Zm9"sv,     // padding first
        "Zg=a"sv,     // padding before data
        "Zg==Zg=="sv, // padding in the middle
        "Zm9v===="sv, // a whole quantum of padding
        "Zh=="sv,     // non-zero bits under the padding (non-canonical "f")
        "Zm9="sv,     // non-canonical "fo"
        "Zm 9v"sv,    // whitespace
        "Zm9v\n"sv,   // trailing newline
        " Zm9v"sv,    // leading space
        "Zm-_"sv,     // URL-safe alphabet
        "Zm9\0"sv,    // NUL
        "Zm9\xff"sv,  // non-ASCII byte
        "Zm9v\xc3\xa9="sv,
        "Zm.v"sv,
    };
    for (const std::string_view text : rejected) {
        CAPTURE(text);
        CHECK_FALSE(base64_decode(text).has_value());
    }
    CHECK(base64_decode("").has_value());
    CHECK(base64_decode("").value().empty());
    CHECK(base64_decode("+/+/").has_value());
}

TEST_CASE("base64: garbage either fails or is the canonical encoding of what it decodes to") {
    std::mt19937 rng(31337);
    std::uniform_int_distribution<int> length(0, 64);
    // Mostly alphabet characters, so a good share of inputs get deep into the decoder.
    const std::string_view pool =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/==-_ \x80";
    std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
    std::size_t accepted = 0;
    for (int round = 0; round < 20000; ++round) {
        const auto n = static_cast<std::size_t>(length(rng));
        // An exactly sized heap block, so an over-read lands in ASan's redzone.
        auto block = std::make_unique<char[]>(n);
        for (std::size_t i = 0; i < n; ++i) {
            block[i] = pool[pick(rng)];
        }
        const std::string_view text(block.get(), n);
        const auto decoded = base64_decode(text);
        if (decoded) {
            ++accepted;
            CHECK(base64_encode(*decoded) == text);
        }
    }
    CHECK(accepted > 0);
}

} // namespace
} // namespace qail::protocol
