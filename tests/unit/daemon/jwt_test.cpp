// Unit tests for the HTTP API's JWT verifier: HS256/RS256/ES256 with keys generated here
// through OpenSSL EVP, and every refusal (alg none, tampering, exp/nbf, iss, aud).
#include "../../../daemon/src/http/jwt.hpp"
#include "test_support.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using qail::proxy::jwt_config;
using qail::proxy::http::base64url_decode;
using qail::proxy::http::base64url_encode;
using qail::proxy::http::bearer_token;
using qail::proxy::http::jwt_errc;
using qail::proxy::http::jwt_verifier;
using clock_type = std::chrono::system_clock;

constexpr std::int64_t now_s = 1'700'000'000;
const clock_type::time_point now{std::chrono::seconds(now_s)};

struct pkey_free {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

std::string signing_input(const boost::json::value& header, const boost::json::value& claims) {
    return base64url_encode(boost::json::serialize(header)) + "." +
           base64url_encode(boost::json::serialize(claims));
}

std::string hs256(std::string_view secret, std::string_view input) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string evp_sign(EVP_PKEY* key, std::string_view input) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    REQUIRE(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1);
    std::size_t len = 0;
    REQUIRE(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1);
    std::string sig(len, '\0');
    REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1);
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return sig;
}

/// DER ECDSA-Sig-Value -> JWS r||s (32 bytes each).
std::string der_to_raw(const std::string& der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    REQUIRE(sig != nullptr);
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data() + 32), 32);
    ECDSA_SIG_free(sig);
    return raw;
}

/// Writes the public half of `key` as PEM to a temporary file, removed on destruction.
struct pem_file {
    std::string path;
    explicit pem_file(EVP_PKEY* key) {
        path = (std::filesystem::temp_directory_path() /
                ("qail-jwt-" + std::to_string(::getpid()) + "-" +
                 std::to_string(reinterpret_cast<std::uintptr_t>(key)) + ".pem"))
                   .string();
        std::FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f != nullptr);
        REQUIRE(PEM_write_PUBKEY(f, key) == 1);
        std::fclose(f);
    }
    pem_file(const pem_file&) = delete;
    pem_file& operator=(const pem_file&) = delete;
    ~pem_file() { std::filesystem::remove(path); }
};

boost::json::value
claims_with(std::initializer_list<std::pair<std::string, boost::json::value>> kv) {
    boost::json::object o;
    o["sub"] = "user-7";
    o["tenant_id"] = "acme";
    o["exp"] = now_s + 300;
    for (const auto& [k, v] : kv)
        o[k] = v;
    return o;
}

std::string make_hs256(std::string_view secret, const boost::json::value& claims,
                       std::string_view alg = "HS256") {
    const std::string input = signing_input({{"alg", alg}, {"typ", "JWT"}}, claims);
    return input + "." + base64url_encode(hs256(secret, input));
}

jwt_config hs_config() {
    jwt_config c;
    c.hs256_secret = "s3cret-key-for-tests";
    return c;
}

jwt_errc refusal(const jwt_verifier& v, const std::string& token) {
    const auto r = v.verify(token, now);
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().category() == qail::proxy::http::jwt_category());
    return static_cast<jwt_errc>(r.error().value());
}

} // namespace

TEST_CASE("jwt: base64url round trip and strictness") {
    for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"})
        CHECK(base64url_decode(base64url_encode(s)) == s);
    CHECK(base64url_encode("\xfb\xff") == "-_8");
    CHECK_FALSE(base64url_decode("ab=c").has_value()); // padding is not base64url
    CHECK_FALSE(base64url_decode("a").has_value());    // impossible length
    CHECK_FALSE(base64url_decode("ab+/").has_value()); // standard alphabet
    CHECK_FALSE(base64url_decode("Zh").has_value());   // non-zero leftover bits
}

TEST_CASE("jwt: bearer header parsing") {
    CHECK(bearer_token("Bearer abc.def.ghi") == std::string_view("abc.def.ghi"));
    CHECK(bearer_token("bearer   tok  ") == std::string_view("tok"));
    CHECK_FALSE(bearer_token("Basic dXNlcjpwdw==").has_value());
    CHECK_FALSE(bearer_token("Bearer").has_value());
    CHECK_FALSE(bearer_token("Bearer    ").has_value());
    CHECK_FALSE(bearer_token("").has_value());
}

TEST_CASE("jwt: HS256 accepts a good token and returns the identity claims") {
    const auto v = jwt_verifier::create(hs_config());
    const auto r = v->verify(make_hs256("s3cret-key-for-tests", claims_with({})), now);
    REQUIRE(r.has_value());
    CHECK(r->tenant == std::optional<std::string>("acme"));
    CHECK(r->user == std::optional<std::string>("user-7"));

    // Numeric claims become their decimal text; configurable claim names.
    jwt_config c = hs_config();
    c.tenant_claim = "org";
    c.user_claim = "uid";
    const auto v2 = jwt_verifier::create(c);
    const auto r2 = v2->verify(
        make_hs256("s3cret-key-for-tests", claims_with({{"org", 42}, {"uid", "u"}})), now);
    REQUIRE(r2.has_value());
    CHECK(r2->tenant == std::optional<std::string>("42"));
    CHECK(r2->user == std::optional<std::string>("u"));
}

TEST_CASE("jwt: a verified token is remembered, its time checked again at every use") {
    const auto v = jwt_verifier::create(hs_config());
    const std::string secret = "s3cret-key-for-tests";
    const std::string good = make_hs256(secret, claims_with({{"nbf", now_s - 10}}));
    REQUIRE(v->verify(good, now).has_value());
    CHECK(v->cached_tokens() == 1);
    const auto again = v->verify(good, now);
    REQUIRE(again.has_value());
    CHECK(again->tenant == std::optional<std::string>("acme"));
    CHECK(again->user == std::optional<std::string>("user-7"));
    CHECK(v->cached_tokens() == 1);

    // Remembered, yet expired once exp (+ leeway) has passed, and not valid before nbf.
    const auto late = v->verify(good, now + std::chrono::seconds(400));
    REQUIRE_FALSE(late.has_value());
    CHECK(late.error() == make_error_code(jwt_errc::expired));
    const auto early = v->verify(good, now - std::chrono::seconds(100));
    REQUIRE_FALSE(early.has_value());
    CHECK(early.error() == make_error_code(jwt_errc::not_yet_valid));

    // Another text is verified on its own: a changed signature or payload still fails.
    std::string forged = good;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    CHECK(refusal(*v, forged) == jwt_errc::bad_signature);
    CHECK(refusal(*v, good + "x") == jwt_errc::bad_signature);

    // Refused tokens are not remembered; a token not yet valid is not either.
    const std::string future = make_hs256(secret, claims_with({{"nbf", now_s + 100}}));
    CHECK(refusal(*v, future) == jwt_errc::not_yet_valid);
    CHECK(v->cached_tokens() == 1);
    CHECK(v->verify(future, now + std::chrono::seconds(150)).has_value());
    CHECK(v->cached_tokens() == 2);

    // Bounded.
    for (std::size_t i = 0; i < jwt_verifier::cache_capacity + 10; ++i)
        REQUIRE(v->verify(make_hs256(secret, claims_with({{"n", i}})), now).has_value());
    CHECK(v->cached_tokens() <= jwt_verifier::cache_capacity);
    CHECK(v->cached_tokens() > 0);
}

TEST_CASE("jwt: refusals name the reason") {
    const auto v = jwt_verifier::create(hs_config());
    const std::string secret = "s3cret-key-for-tests";
    const std::string good = make_hs256(secret, claims_with({}));

    SUBCASE("wrong secret") {
        CHECK(refusal(*v, make_hs256("other", claims_with({}))) == jwt_errc::bad_signature);
    }
    SUBCASE("tampered payload") {
        const auto dot1 = good.find('.');
        const auto dot2 = good.find('.', dot1 + 1);
        const std::string forged =
            good.substr(0, dot1 + 1) +
            base64url_encode(boost::json::serialize(claims_with({{"tenant_id", "evil"}}))) +
            good.substr(dot2);
        CHECK(refusal(*v, forged) == jwt_errc::bad_signature);
    }
    SUBCASE("truncated signature") {
        CHECK(refusal(*v, good.substr(0, good.size() - 3)) == jwt_errc::bad_signature);
    }
    SUBCASE("alg none, with or without a signature") {
        const std::string input = signing_input({{"alg", "none"}, {"typ", "JWT"}}, claims_with({}));
        CHECK(refusal(*v, input + ".") == jwt_errc::unsupported_algorithm);
        CHECK(refusal(*v, make_hs256(secret, claims_with({}), "none")) ==
              jwt_errc::unsupported_algorithm);
    }
    SUBCASE("an algorithm that is not configured") {
        CHECK(refusal(*v, make_hs256(secret, claims_with({}), "RS256")) ==
              jwt_errc::unsupported_algorithm);
        CHECK(refusal(*v, make_hs256(secret, claims_with({}), "HS512")) ==
              jwt_errc::unsupported_algorithm);
    }
    SUBCASE("expired, and the leeway") {
        CHECK(refusal(*v, make_hs256(secret, claims_with({{"exp", now_s - 31}}))) ==
              jwt_errc::expired);
        CHECK(v->verify(make_hs256(secret, claims_with({{"exp", now_s - 10}})), now).has_value());
    }
    SUBCASE("not yet valid") {
        CHECK(refusal(*v, make_hs256(secret, claims_with({{"nbf", now_s + 120}}))) ==
              jwt_errc::not_yet_valid);
        CHECK(v->verify(make_hs256(secret, claims_with({{"nbf", now_s + 5}})), now).has_value());
    }
    SUBCASE("exp that is not a number") {
        CHECK(refusal(*v, make_hs256(secret, claims_with({{"exp", "soon"}}))) ==
              jwt_errc::malformed);
    }
    SUBCASE("malformed shapes") {
        CHECK(refusal(*v, "abc") == jwt_errc::malformed);
        CHECK(refusal(*v, "a.b") == jwt_errc::malformed);
        CHECK(refusal(*v, "a.b.c.d") == jwt_errc::malformed);
        CHECK(refusal(*v, base64url_encode("[1]") + "." + base64url_encode("{}") + ".") ==
              jwt_errc::malformed);
        CHECK(refusal(*v, base64url_encode("{\"alg\":\"HS256\"}") + ".!!.") == jwt_errc::malformed);
    }
    SUBCASE("crit header") {
        const std::string input = signing_input(
            {{"alg", "HS256"}, {"crit", boost::json::array{"x"}}, {"x", 1}}, claims_with({}));
        CHECK(refusal(*v, input + "." + base64url_encode(hs256(secret, input))) ==
              jwt_errc::unsupported_extension);
    }
}

TEST_CASE("jwt: issuer and audience") {
    jwt_config c = hs_config();
    c.issuer = "https://issuer.example";
    c.audience = "qail-proxy";
    const auto v = jwt_verifier::create(c);
    const std::string secret = c.hs256_secret;
    const auto with = [&](boost::json::value iss, boost::json::value aud) {
        return make_hs256(secret, claims_with({{"iss", iss}, {"aud", aud}}));
    };
    CHECK(v->verify(with("https://issuer.example", "qail-proxy"), now).has_value());
    CHECK(v->verify(with("https://issuer.example", boost::json::array{"other", "qail-proxy"}), now)
              .has_value());
    CHECK(refusal(*v, with("https://evil.example", "qail-proxy")) == jwt_errc::wrong_issuer);
    CHECK(refusal(*v, with("https://issuer.example", "other")) == jwt_errc::wrong_audience);
    CHECK(refusal(*v, with("https://issuer.example", boost::json::array{"a", "b"})) ==
          jwt_errc::wrong_audience);
    CHECK(refusal(*v, make_hs256(secret, claims_with({{"iss", "https://issuer.example"}}))) ==
          jwt_errc::wrong_audience);
}

TEST_CASE("jwt: RS256 with a public key file") {
    pkey_ptr key(EVP_RSA_gen(2048));
    REQUIRE(key);
    pem_file pem(key.get());
    jwt_config c;
    c.public_key_file = pem.path;
    const auto v = jwt_verifier::create(c);

    const std::string input = signing_input({{"alg", "RS256"}, {"typ", "JWT"}}, claims_with({}));
    const std::string sig = evp_sign(key.get(), input);
    const auto r = v->verify(input + "." + base64url_encode(sig), now);
    REQUIRE(r.has_value());
    CHECK(r->tenant == std::optional<std::string>("acme"));

    std::string bad = sig;
    bad[10] = static_cast<char>(bad[10] ^ 1);
    CHECK(refusal(*v, input + "." + base64url_encode(bad)) == jwt_errc::bad_signature);
    // The key is RSA: an HS256 token signed with the PEM text as secret (key confusion)
    // and ES256 are refused.
    CHECK(refusal(*v, make_hs256("whatever", claims_with({}))) == jwt_errc::unsupported_algorithm);
    const std::string es_input = signing_input({{"alg", "ES256"}}, claims_with({}));
    CHECK(refusal(*v, es_input + "." + base64url_encode(sig)) == jwt_errc::unsupported_algorithm);
}

TEST_CASE("jwt: ES256 with raw r||s signatures") {
    pkey_ptr key(EVP_EC_gen("P-256"));
    REQUIRE(key);
    pem_file pem(key.get());
    jwt_config c;
    c.public_key_file = pem.path;
    const auto v = jwt_verifier::create(c);

    const std::string input = signing_input({{"alg", "ES256"}, {"typ", "JWT"}}, claims_with({}));
    const std::string der = evp_sign(key.get(), input);
    const std::string raw = der_to_raw(der);
    const auto r = v->verify(input + "." + base64url_encode(raw), now);
    REQUIRE(r.has_value());
    CHECK(r->user == std::optional<std::string>("user-7"));

    // DER (what OpenSSL produces) is not the JWS form; a flipped bit fails.
    CHECK(refusal(*v, input + "." + base64url_encode(der)) == jwt_errc::bad_signature);
    std::string bad = raw;
    bad[40] = static_cast<char>(bad[40] ^ 1);
    CHECK(refusal(*v, input + "." + base64url_encode(bad)) == jwt_errc::bad_signature);
    CHECK(refusal(*v, signing_input({{"alg", "RS256"}}, claims_with({})) + "." +
                          base64url_encode(raw)) == jwt_errc::unsupported_algorithm);
}

TEST_CASE("jwt: a bad public key file fails at creation, naming the file") {
    jwt_config c;
    c.public_key_file = "/nonexistent/key.pem";
    CHECK_THROWS_WITH_AS((void)jwt_verifier::create(c), doctest::Contains("/nonexistent/key.pem"),
                         std::runtime_error);
}
