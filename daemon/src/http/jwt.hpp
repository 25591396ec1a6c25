// JWT (JWS compact serialisation) verification for the HTTP API: HS256, RS256, ES256 and
// the exp/nbf/iss/aud claims; the tenant and user come from configured claims.
#pragma once

#include <qail/proxy/config.hpp>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

namespace qail::proxy::http {

/// Why a bearer token was refused. Every value answers 401.
enum class jwt_errc {
    ok = 0,
    /// No `Authorization: Bearer <token>` header.
    missing_token,
    /// Not three base64url parts, or a header/payload that is not a JSON object.
    malformed,
    /// `alg` is none, unknown, or not the one the configured key is for.
    unsupported_algorithm,
    /// The signature does not verify.
    bad_signature,
    /// `exp` (plus leeway) is in the past.
    expired,
    /// `nbf` (minus leeway) is in the future.
    not_yet_valid,
    /// `iss` differs from http.jwt.issuer.
    wrong_issuer,
    /// `aud` (a string or an array) does not hold http.jwt.audience.
    wrong_audience,
    /// The header has `crit` extensions, which this verifier does not understand.
    unsupported_extension,
};

[[nodiscard]] const boost::system::error_category& jwt_category() noexcept;

[[nodiscard]] inline boost::system::error_code make_error_code(jwt_errc e) noexcept {
    return {static_cast<int>(e), jwt_category()};
}

/// What a verified token says about its bearer.
struct jwt_identity {
    /// The tenant claim (a string, or a number written as its JSON text); unset if absent.
    std::optional<std::string> tenant;
    /// The user claim, likewise.
    std::optional<std::string> user;
};

/// Verifies tokens against one http.jwt configuration. Immutable after create(), so one
/// instance may be used from every thread.
class jwt_verifier {
public:
    /// Loads the public key file (if any). Throws std::runtime_error naming the file when
    /// it cannot be read or holds neither an RSA nor a P-256 EC public key.
    [[nodiscard]] static std::shared_ptr<const jwt_verifier> create(const jwt_config& cfg);

    jwt_verifier(const jwt_verifier&) = delete;
    jwt_verifier& operator=(const jwt_verifier&) = delete;
    ~jwt_verifier();

    /// Checks the signature with the algorithm the configuration allows (HS256 with a
    /// secret; RS256 or ES256 by the key's type), then exp/nbf (with the leeway), iss and
    /// aud, and returns the identity claims.
    /// A token that verified is remembered (up to `cache_capacity` of them, the exact
    /// text): its next uses check only exp and nbf again, not the signature (an HMAC or
    /// a public-key operation and two JSON parses per request otherwise).
    [[nodiscard]] boost::system::result<jwt_identity>
    verify(std::string_view token, std::chrono::system_clock::time_point now) const;

    static constexpr std::size_t cache_capacity = 1024;
    /// How many verified tokens are remembered now.
    [[nodiscard]] std::size_t cached_tokens() const;

private:
    struct key_holder;
    struct verified {
        jwt_identity identity;
        std::optional<double> exp, nbf;
    };
    jwt_verifier() = default;
    [[nodiscard]] boost::system::result<verified> check(std::string_view token) const;
    [[nodiscard]] boost::system::result<jwt_identity>
    in_time(const verified& v, std::chrono::system_clock::time_point now) const;

    jwt_config cfg_;
    std::unique_ptr<key_holder> key_;
    // Verified tokens by their text; emptied when full (a valid signature is needed to
    // get in, so only holders of good tokens can fill it).
    struct text_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, verified, text_hash, std::equal_to<>> cache_;
};

/// The token of an `Authorization` header value ("Bearer <token>", scheme in any case),
/// or nullopt.
[[nodiscard]] std::optional<std::string_view> bearer_token(std::string_view header) noexcept;

/// base64url without padding (RFC 7515 section 2) to bytes; nullopt for other characters
/// or an impossible length.
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view text);
[[nodiscard]] std::string base64url_encode(std::string_view bytes);

} // namespace qail::proxy::http

template <>
struct boost::system::is_error_code_enum<qail::proxy::http::jwt_errc> : std::true_type {};
