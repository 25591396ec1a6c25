// Client authentication at the proxy: the server side of SCRAM-SHA-256(-PLUS), md5,
// trust and certificate logins, as a sans-IO state machine over 'R' and 'p' messages.
#pragma once

#include <qail/protocol/md5_password.hpp>
#include <qail/protocol/scram.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qail::proxy {

enum class login_method : std::uint8_t { scram_sha_256, md5, trust, cert };

/// What the proxy knows about one user's secret, prepared once per config load.
struct login_credentials {
    login_method method = login_method::scram_sha_256;
    /// scram_sha_256 (and md5 users whose password was given in plaintext can also be
    /// checked by SCRAM): the verifier.
    std::optional<protocol::scram_verifier> verifier;
    /// md5: the stored hash "md5" + hex(md5(password + user)).
    std::string md5_hash;
};

/// Builds credentials from a configured password: a SCRAM verifier, an md5 hash, or
/// plaintext (from which both are derived). Nullopt when the password cannot serve
/// the method (an md5 login with only a SCRAM verifier, a malformed verifier).
[[nodiscard]] std::optional<login_credentials>
make_login_credentials(login_method method, std::string_view user, std::string_view password);

/// Credentials that fail like a wrong password, for a user that does not exist, so the
/// exchange looks the same from outside. Stable for a user name within a process.
[[nodiscard]] login_credentials decoy_credentials(std::string_view user);

struct auth_context {
    std::string user;
    bool tls = false;
    /// tls-server-end-point data of our certificate; set = SCRAM-SHA-256-PLUS offered.
    std::optional<std::vector<std::uint8_t>> channel_binding_data;
    /// The verified client certificate's CN, when there is one.
    std::optional<std::string> certificate_cn;
};

class client_authenticator {
public:
    enum class status : std::uint8_t { in_progress, ok, failed };

    client_authenticator(login_credentials credentials, auth_context context);

    /// Writes the first authentication request (or AuthenticationOk for trust and a
    /// matching certificate) to `out`.
    [[nodiscard]] status start(std::string& out);
    /// Consumes the body of a client 'p' message and writes the next request.
    [[nodiscard]] status on_response(std::string_view body, std::string& out);

    /// Why it failed, for the log (never contains a secret).
    [[nodiscard]] std::string_view failure_reason() const noexcept { return reason_; }
    /// The SASL mechanism used, or the method name.
    [[nodiscard]] std::string_view mechanism() const noexcept { return mechanism_; }

private:
    status fail(std::string_view reason);

    login_credentials credentials_;
    auth_context context_;
    std::optional<protocol::scram_server> scram_;
    protocol::md5_salt salt_{};
    enum class step : std::uint8_t {
        initial,
        sasl_first,
        sasl_final,
        md5,
        done
    } step_ = step::initial;
    std::string reason_;
    std::string mechanism_;
};

} // namespace qail::proxy
