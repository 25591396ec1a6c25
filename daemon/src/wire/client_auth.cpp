// Client authentication at the proxy (see client_auth.hpp).
#include <qail/protocol/authentication.hpp>
#include <qail/protocol/sha256.hpp>
#include <qail/proxy/client_auth.hpp>
#include <qail/proxy/secure_random.hpp>

#include <array>
#include <stdexcept>

namespace qail::proxy {

namespace proto = qail::protocol;

namespace {

template <std::size_t N>
std::array<std::uint8_t, N> random_bytes() {
    std::array<std::uint8_t, N> out{};
    secure_random(out);
    return out;
}

// A per-process secret so decoy salts differ between processes but stay stable for a
// user name within one (a fresh salt per attempt would reveal that the user is unknown).
const std::array<std::uint8_t, 32>& decoy_secret() {
    static const auto secret = random_bytes<32>();
    return secret;
}

} // namespace

std::optional<login_credentials> make_login_credentials(login_method method, std::string_view user,
                                                        std::string_view password) {
    login_credentials c;
    c.method = method;
    if (method == login_method::trust || method == login_method::cert)
        return c;
    if (proto::looks_like_scram_verifier(password)) {
        auto v = proto::parse_scram_verifier(password);
        if (!v || method == login_method::md5)
            return std::nullopt;
        c.verifier = std::move(*v);
        return c;
    }
    if (proto::is_md5_password_hash(password)) {
        if (method != login_method::md5)
            return std::nullopt;
        c.md5_hash = std::string(password);
        return c;
    }
    if (password.empty())
        return std::nullopt;
    const auto salt = random_bytes<proto::scram_default_salt_size>();
    c.verifier = proto::make_scram_verifier(password, salt);
    c.md5_hash = proto::md5_password_hash(user, password);
    return c;
}

login_credentials decoy_credentials(std::string_view user) {
    login_credentials c;
    c.method = login_method::scram_sha_256;
    std::string material(reinterpret_cast<const char*>(decoy_secret().data()),
                         decoy_secret().size());
    material.append(user);
    const auto digest = proto::sha256_digest(material);
    proto::scram_verifier v;
    v.iterations = proto::scram_default_iterations;
    v.salt.assign(digest.begin(), digest.begin() + proto::scram_default_salt_size);
    // Keys no password derives: every proof fails.
    v.stored_key = proto::sha256_digest("decoy stored key");
    v.server_key = proto::sha256_digest("decoy server key");
    c.verifier = std::move(v);
    return c;
}

client_authenticator::client_authenticator(login_credentials credentials, auth_context context)
    : credentials_(std::move(credentials)), context_(std::move(context)) {}

client_authenticator::status client_authenticator::fail(std::string_view reason) {
    step_ = step::done;
    reason_ = reason;
    return status::failed;
}

client_authenticator::status client_authenticator::start(std::string& out) {
    proto::writer w(out);
    switch (credentials_.method) {
    case login_method::trust:
        mechanism_ = "trust";
        proto::encode(w, proto::authentication_request{proto::authentication_ok{}});
        step_ = step::done;
        return status::ok;
    case login_method::cert:
        mechanism_ = "cert";
        if (!context_.certificate_cn)
            return fail("no verified client certificate");
        if (*context_.certificate_cn != context_.user)
            return fail("the certificate's CN is not the user name");
        proto::encode(w, proto::authentication_request{proto::authentication_ok{}});
        step_ = step::done;
        return status::ok;
    case login_method::md5: {
        mechanism_ = "md5";
        salt_ = random_bytes<4>();
        const std::string_view salt{reinterpret_cast<const char*>(salt_.data()), salt_.size()};
        proto::encode(w, proto::authentication_request{proto::authentication_md5_password{salt}});
        step_ = step::md5;
        return status::in_progress;
    }
    case login_method::scram_sha_256:
        break;
    }
    if (!credentials_.verifier)
        return fail("no SCRAM verifier for this user");
    std::vector<std::string_view> mechanisms;
    proto::scram_server_options options;
    if (context_.channel_binding_data) {
        mechanisms.emplace_back("SCRAM-SHA-256-PLUS");
        options.channel_binding_offered = true;
        options.channel_binding_data = *context_.channel_binding_data;
    }
    mechanisms.emplace_back("SCRAM-SHA-256");
    scram_.emplace(*credentials_.verifier, random_bytes<proto::scram_raw_nonce_size>(),
                   std::move(options));
    proto::encode_authentication_sasl(w, mechanisms);
    step_ = step::sasl_first;
    return status::in_progress;
}

client_authenticator::status client_authenticator::on_response(std::string_view body,
                                                               std::string& out) {
    proto::writer w(out);
    switch (step_) {
    case step::md5: {
        proto::password_message m;
        if (proto::decode(body, m))
            return fail("malformed password message");
        if (!proto::verify_md5_response(credentials_.md5_hash, salt_, m.password))
            return fail("wrong password");
        proto::encode(w, proto::authentication_request{proto::authentication_ok{}});
        step_ = step::done;
        return status::ok;
    }
    case step::sasl_first: {
        proto::sasl_initial_response m;
        if (proto::decode(body, m))
            return fail("malformed SASLInitialResponse");
        mechanism_ = std::string(m.mechanism);
        const std::string_view data = m.data ? std::string_view{*m.data} : std::string_view{};
        auto r = scram_->handle_client_first(m.mechanism, data);
        if (!r.ok())
            return fail(r.error.message());
        proto::encode(
            w, proto::authentication_request{proto::authentication_sasl_continue{r.message}});
        step_ = step::sasl_final;
        return status::in_progress;
    }
    case step::sasl_final: {
        proto::sasl_response m;
        if (proto::decode(body, m))
            return fail("malformed SASLResponse");
        auto r = scram_->handle_client_final(m.data);
        if (!r.ok())
            return fail(r.error == proto::make_error_code(proto::errc::scram_invalid_proof)
                            ? std::string_view{"wrong password"}
                            : std::string_view{r.error.message()});
        proto::encode(w,
                      proto::authentication_request{proto::authentication_sasl_final{r.message}});
        proto::encode(w, proto::authentication_request{proto::authentication_ok{}});
        step_ = step::done;
        return status::ok;
    }
    case step::initial:
    case step::done:
        break;
    }
    return fail("unexpected authentication message");
}

} // namespace qail::proxy
