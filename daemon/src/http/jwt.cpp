// JWT verification with OpenSSL EVP: HS256 (constant-time HMAC compare), RS256 (PKCS#1
// v1.5) and ES256 (JWS raw r||s converted to DER for OpenSSL), then the time and
// audience claims.
#include "jwt.hpp"

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdexcept>
#include <vector>

namespace qail::proxy::http {

namespace {

class jwt_category_impl final : public boost::system::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "qail.jwt"; }
    [[nodiscard]] std::string message(int ev) const override {
        switch (static_cast<jwt_errc>(ev)) {
        case jwt_errc::ok:
            return "ok";
        case jwt_errc::missing_token:
            return "a bearer token is required (Authorization: Bearer <JWT>)";
        case jwt_errc::malformed:
            return "the token is not a well-formed JWT";
        case jwt_errc::unsupported_algorithm:
            return "the token's signing algorithm is not accepted";
        case jwt_errc::bad_signature:
            return "the token's signature does not verify";
        case jwt_errc::expired:
            return "the token has expired";
        case jwt_errc::not_yet_valid:
            return "the token is not valid yet (nbf)";
        case jwt_errc::wrong_issuer:
            return "the token's issuer is not accepted";
        case jwt_errc::wrong_audience:
            return "the token is not meant for this audience";
        case jwt_errc::unsupported_extension:
            return "the token names critical header extensions this server does not support";
        }
        return "unknown JWT error";
    }
};

constexpr std::string_view b64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64url_value(char c) noexcept {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

struct pkey_deleter {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct md_ctx_deleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct ecdsa_sig_deleter {
    void operator()(ECDSA_SIG* s) const noexcept { ECDSA_SIG_free(s); }
};

const unsigned char* as_uchar(std::string_view s) noexcept {
    return reinterpret_cast<const unsigned char*>(s.data());
}

/// JWS ES256 signatures are r||s, 32 bytes each; OpenSSL verifies DER ECDSA-Sig-Value.
std::optional<std::vector<unsigned char>> es256_to_der(std::string_view raw) {
    if (raw.size() != 64)
        return std::nullopt;
    std::unique_ptr<ECDSA_SIG, ecdsa_sig_deleter> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(as_uchar(raw), 32, nullptr);
    BIGNUM* s = BN_bin2bn(as_uchar(raw.substr(32)), 32, nullptr);
    if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return std::nullopt;
    }
    const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (len <= 0)
        return std::nullopt;
    std::vector<unsigned char> der(static_cast<std::size_t>(len));
    unsigned char* p = der.data();
    if (i2d_ECDSA_SIG(sig.get(), &p) != len)
        return std::nullopt;
    return der;
}

/// A NumericDate claim as seconds, nullopt when absent; `bad` set when present but not
/// a number.
std::optional<double> numeric_date(const boost::json::object& claims, std::string_view name,
                                   bool& bad) {
    const auto* v = claims.if_contains(name);
    if (v == nullptr)
        return std::nullopt;
    if (v->is_int64())
        return static_cast<double>(v->get_int64());
    if (v->is_uint64())
        return static_cast<double>(v->get_uint64());
    if (v->is_double() && std::isfinite(v->get_double()))
        return v->get_double();
    bad = true;
    return std::nullopt;
}

/// A claim used as an identity: strings as they are, integers as their decimal text.
std::optional<std::string> identity_claim(const boost::json::object& claims,
                                          std::string_view name) {
    if (name.empty())
        return std::nullopt;
    const auto* v = claims.if_contains(name);
    if (v == nullptr || v->is_null())
        return std::nullopt;
    if (v->is_string())
        return std::string(v->get_string());
    if (v->is_int64())
        return std::to_string(v->get_int64());
    if (v->is_uint64())
        return std::to_string(v->get_uint64());
    return std::nullopt;
}

std::optional<boost::json::object> decode_json_object(std::string_view part) {
    const auto bytes = base64url_decode(part);
    if (!bytes)
        return std::nullopt;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(*bytes, ec);
    if (ec || !v.is_object())
        return std::nullopt;
    return std::move(v.get_object());
}

enum class algorithm { hs256, rs256, es256 };

} // namespace

const boost::system::error_category& jwt_category() noexcept {
    static const jwt_category_impl instance;
    return instance;
}

struct jwt_verifier::key_holder {
    std::unique_ptr<EVP_PKEY, pkey_deleter> key;
    algorithm alg = algorithm::rs256;
};

jwt_verifier::~jwt_verifier() = default;

std::shared_ptr<const jwt_verifier> jwt_verifier::create(const jwt_config& cfg) {
    std::shared_ptr<jwt_verifier> v(new jwt_verifier());
    v->cfg_ = cfg;
    if (cfg.public_key_file.empty())
        return v;
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(cfg.public_key_file.c_str(), "rb"),
                                                      &std::fclose);
    if (!f)
        throw std::runtime_error("http.jwt.public_key_file: cannot open " + cfg.public_key_file);
    std::unique_ptr<EVP_PKEY, pkey_deleter> key(
        PEM_read_PUBKEY(f.get(), nullptr, nullptr, nullptr));
    if (!key)
        throw std::runtime_error("http.jwt.public_key_file: " + cfg.public_key_file +
                                 " holds no PEM public key");
    auto holder = std::make_unique<key_holder>();
    const int type = EVP_PKEY_get_base_id(key.get());
    if (type == EVP_PKEY_RSA) {
        holder->alg = algorithm::rs256;
    } else if (type == EVP_PKEY_EC && EVP_PKEY_get_bits(key.get()) == 256) {
        holder->alg = algorithm::es256;
    } else {
        throw std::runtime_error("http.jwt.public_key_file: " + cfg.public_key_file +
                                 " is neither an RSA nor a P-256 EC public key");
    }
    holder->key = std::move(key);
    v->key_ = std::move(holder);
    return v;
}

boost::system::result<jwt_identity>
jwt_verifier::verify(std::string_view token, std::chrono::system_clock::time_point now) const {
    {
        std::lock_guard lock(cache_mutex_);
        if (const auto it = cache_.find(token); it != cache_.end())
            return in_time(it->second, now);
    }
    auto v = check(token);
    if (!v)
        return v.error();
    auto r = in_time(*v, now);
    if (r) {
        std::lock_guard lock(cache_mutex_);
        if (cache_.size() >= cache_capacity)
            cache_.clear();
        cache_.emplace(std::string(token), std::move(*v));
    }
    return r;
}

std::size_t jwt_verifier::cached_tokens() const {
    std::lock_guard lock(cache_mutex_);
    return cache_.size();
}

boost::system::result<jwt_identity>
jwt_verifier::in_time(const verified& v, std::chrono::system_clock::time_point now) const {
    const double now_s = std::chrono::duration<double>(now.time_since_epoch()).count();
    const auto leeway = static_cast<double>(cfg_.leeway.count());
    if (v.exp && now_s >= *v.exp + leeway)
        return make_error_code(jwt_errc::expired);
    if (v.nbf && now_s + leeway < *v.nbf)
        return make_error_code(jwt_errc::not_yet_valid);
    return v.identity;
}

// Everything about a token but the time: its form, signature, issuer and audience.
boost::system::result<jwt_verifier::verified> jwt_verifier::check(std::string_view token) const {
    using out = boost::system::result<verified>;
    const auto fail = [](jwt_errc e) { return out(boost::system::in_place_error, e); };

    const auto dot1 = token.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return fail(jwt_errc::malformed);
    const std::string_view signing_input = token.substr(0, dot2);
    const auto header = decode_json_object(token.substr(0, dot1));
    const auto claims = decode_json_object(token.substr(dot1 + 1, dot2 - dot1 - 1));
    const auto signature = base64url_decode(token.substr(dot2 + 1));
    if (!header || !claims || !signature)
        return fail(jwt_errc::malformed);
    if (header->contains("crit"))
        return fail(jwt_errc::unsupported_extension);
    const auto* alg_value = header->if_contains("alg");
    if (alg_value == nullptr || !alg_value->is_string())
        return fail(jwt_errc::malformed);
    const std::string_view alg = alg_value->get_string();

    // The algorithm comes from the configuration; the header only has to agree with it
    // (never pick the verification method from the token: RS256-as-HS256 confusion).
    if (alg == "HS256" && !cfg_.hs256_secret.empty()) {
        std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
        unsigned int mac_len = 0;
        if (cfg_.hs256_secret.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
            HMAC(EVP_sha256(), cfg_.hs256_secret.data(), static_cast<int>(cfg_.hs256_secret.size()),
                 as_uchar(signing_input), signing_input.size(), mac.data(), &mac_len) == nullptr)
            return fail(jwt_errc::bad_signature);
        if (signature->size() != mac_len ||
            CRYPTO_memcmp(signature->data(), mac.data(), mac_len) != 0)
            return fail(jwt_errc::bad_signature);
    } else if (key_ && ((alg == "RS256" && key_->alg == algorithm::rs256) ||
                        (alg == "ES256" && key_->alg == algorithm::es256))) {
        std::vector<unsigned char> sig;
        if (key_->alg == algorithm::es256) {
            auto der = es256_to_der(*signature);
            if (!der)
                return fail(jwt_errc::bad_signature);
            sig = std::move(*der);
        } else {
            sig.assign(signature->begin(), signature->end());
        }
        std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
        if (!ctx ||
            EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->key.get()) != 1 ||
            EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), as_uchar(signing_input),
                             signing_input.size()) != 1)
            return fail(jwt_errc::bad_signature);
    } else {
        return fail(jwt_errc::unsupported_algorithm);
    }

    bool bad = false;
    const auto exp = numeric_date(*claims, "exp", bad);
    const auto nbf = numeric_date(*claims, "nbf", bad);
    if (bad)
        return fail(jwt_errc::malformed);
    if (!cfg_.issuer.empty()) {
        const auto* iss = claims->if_contains("iss");
        if (iss == nullptr || !iss->is_string() || iss->get_string() != cfg_.issuer)
            return fail(jwt_errc::wrong_issuer);
    }
    if (!cfg_.audience.empty()) {
        const auto* aud = claims->if_contains("aud");
        bool match = false;
        if (aud != nullptr && aud->is_string()) {
            match = aud->get_string() == cfg_.audience;
        } else if (aud != nullptr && aud->is_array()) {
            for (const auto& a : aud->get_array())
                match = match || (a.is_string() && a.get_string() == cfg_.audience);
        }
        if (!match)
            return fail(jwt_errc::wrong_audience);
    }
    return verified{jwt_identity{identity_claim(*claims, cfg_.tenant_claim),
                                 identity_claim(*claims, cfg_.user_claim)},
                    exp, nbf};
}

std::optional<std::string_view> bearer_token(std::string_view header) noexcept {
    constexpr std::string_view scheme = "bearer";
    if (header.size() <= scheme.size() || header[scheme.size()] != ' ')
        return std::nullopt;
    for (std::size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i])
            return std::nullopt;
    header.remove_prefix(scheme.size());
    while (!header.empty() && header.front() == ' ')
        header.remove_prefix(1);
    while (!header.empty() && header.back() == ' ')
        header.remove_suffix(1);
    if (header.empty())
        return std::nullopt;
    return header;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1)
        return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = b64url_value(c);
        if (v < 0)
            return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
        }
    }
    // Leftover bits must be zero (canonical encoding).
    if (bits > 0 && (acc & ((1u << bits) - 1u)) != 0)
        return std::nullopt;
    return out;
}

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : bytes) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(b64url_alphabet[(acc >> bits) & 0x3Fu]);
        }
    }
    if (bits > 0)
        out.push_back(b64url_alphabet[(acc << (6 - bits)) & 0x3Fu]);
    return out;
}

} // namespace qail::proxy::http
