// PostgreSQL md5 password auth: stored hash, salted response, server-side check.
#include <qail/protocol/md5.hpp>
#include <qail/protocol/md5_password.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace qail::protocol {
namespace {

constexpr md5_salt salt_1234 = {1, 2, 3, 4};

TEST_CASE("md5_password: hash and response for postgres/secret match hand-computed values") {
    // md5("secret" + "postgres") and md5(that hex + "\x01\x02\x03\x04"), computed by hand
    // with an independent MD5 tool.
    CHECK(md5_password_hash("postgres", "secret") == "md553f48b7c4b76a86ce72276c5755f217d");
    CHECK(md5_salted_response("postgres", "secret", salt_1234) ==
          "md5bb41a296aab6baccb36ff243a562abff");
    // The same composition, spelt out with the md5 primitive.
    std::string inner = md5_hex("secretpostgres");
    inner += std::string{'\x01', '\x02', '\x03', '\x04'};
    CHECK(md5_salted_response("postgres", "secret", salt_1234) == "md5" + md5_hex(inner));
}

TEST_CASE("md5_password: server side computes the same response from the stored hash") {
    const std::string stored = md5_password_hash("postgres", "secret");
    const auto expected = md5_expected_response(stored, salt_1234);
    REQUIRE(expected.has_value());
    CHECK(*expected == md5_salted_response("postgres", "secret", salt_1234));
    CHECK(verify_md5_response(stored, salt_1234, *expected));
    CHECK_FALSE(verify_md5_response(stored, salt_1234,
                                    md5_salted_response("postgres", "wrong", salt_1234)));
    CHECK_FALSE(verify_md5_response(stored, md5_salt{4, 3, 2, 1}, *expected));
    CHECK_FALSE(verify_md5_response(stored, salt_1234, ""));
    CHECK_FALSE(verify_md5_response(stored, salt_1234, expected->substr(0, 34)));
    // The user name is part of the hash: same password, other user, other hash.
    CHECK(md5_password_hash("alice", "secret") != stored);
}

TEST_CASE("md5_password: stored hash shape is checked strictly") {
    CHECK(is_md5_password_hash("md553f48b7c4b76a86ce72276c5755f217d"));
    CHECK_FALSE(is_md5_password_hash("md553F48B7C4B76A86CE72276C5755F217D"));  // uppercase
    CHECK_FALSE(is_md5_password_hash("md553f48b7c4b76a86ce72276c5755f217"));   // short
    CHECK_FALSE(is_md5_password_hash("md553f48b7c4b76a86ce72276c5755f217dd")); // long
    CHECK_FALSE(is_md5_password_hash("MD553f48b7c4b76a86ce72276c5755f217d"));
    CHECK_FALSE(is_md5_password_hash("xyz53f48b7c4b76a86ce72276c5755f217d"));
    CHECK_FALSE(is_md5_password_hash("md553f48b7c4b76a86ce72276c5755f217g"));
    CHECK_FALSE(is_md5_password_hash(""));
    CHECK_FALSE(is_md5_password_hash("secret"));
    CHECK_FALSE(md5_expected_response("secret", salt_1234).has_value());
    CHECK_FALSE(md5_expected_response("SCRAM-SHA-256$4096:abc", salt_1234).has_value());
    CHECK_FALSE(verify_md5_response("secret", salt_1234, "secret"));
}

TEST_CASE("md5_password: constant_time_equal") {
    CHECK(constant_time_equal(std::string_view{}, std::string_view{}));
    CHECK(constant_time_equal("abc", "abc"));
    CHECK_FALSE(constant_time_equal("abc", "abd"));
    CHECK_FALSE(constant_time_equal("abc", "ab"));
    CHECK_FALSE(constant_time_equal("xbc", "abc"));
    const std::vector<std::uint8_t> a = {0, 1, 2};
    const std::vector<std::uint8_t> b = {0, 1, 2};
    const std::vector<std::uint8_t> c = {0, 1, 3};
    CHECK(constant_time_equal(a, b));
    CHECK_FALSE(constant_time_equal(a, c));
    CHECK_FALSE(constant_time_equal(a, std::span<const std::uint8_t>(b).first(2)));
}

TEST_CASE("md5_password: garbage stored hashes and responses never crash") {
    std::mt19937 rng(4242);
    std::uniform_int_distribution<int> length(0, 70);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 5000; ++round) {
        const auto n = static_cast<std::size_t>(length(rng));
        auto block = std::make_unique<char[]>(n);
        for (std::size_t i = 0; i < n; ++i) {
            block[i] = static_cast<char>(byte(rng));
        }
        if (n >= 3 && round % 2 == 0) {
            block[0] = 'm';
            block[1] = 'd';
            block[2] = '5';
        }
        const std::string_view text(block.get(), n);
        const bool shaped = is_md5_password_hash(text);
        CHECK(md5_expected_response(text, salt_1234).has_value() == shaped);
        CHECK_FALSE(verify_md5_response(md5_password_hash("u", "p"), salt_1234, text));
    }
}

} // namespace
} // namespace qail::protocol
