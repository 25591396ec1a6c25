// The startup-phase state machine: protocol negotiation, authentication, strict ordering.
#include <qail/client/handshake.hpp>
#include <qail/protocol/md5_password.hpp>

#include <type_traits>

namespace qail::client {

namespace proto = qail::protocol;

std::string_view to_string(auth_method m) noexcept {
    switch (m) {
    case auth_method::none:
        return "none";
    case auth_method::cleartext:
        return "password";
    case auth_method::md5:
        return "md5";
    case auth_method::scram_sha_256:
        return "SCRAM-SHA-256";
    case auth_method::scram_sha_256_plus:
        return "SCRAM-SHA-256-PLUS";
    }
    return "unknown";
}

bool is_protocol_version_rejection(const proto::error_fields& f) noexcept {
    if (f.sqlstate == "0A000" && f.message.find("protocol") != std::string_view::npos)
        return true;
    return f.message.find("unsupported frontend protocol") != std::string_view::npos;
}

startup_handshake::startup_handshake(handshake_settings settings)
    : settings_(std::move(settings)), version_(settings_.requested_version) {}

void startup_handshake::start(std::string& out) {
    std::vector<std::pair<std::string_view, std::string_view>> params;
    params.reserve(settings_.parameters.size() + 2);
    params.emplace_back("user", settings_.user);
    if (!settings_.database.empty())
        params.emplace_back("database", settings_.database);
    for (const auto& [k, v] : settings_.parameters)
        if (k != "user" && k != "database")
            params.emplace_back(k, v);
    proto::writer w(out);
    proto::encode_startup_message(w, settings_.requested_version, params);
    if (w.error())
        fail(errc::embedded_nul);
}

handshake_status startup_handshake::fail(errc e) {
    error_ = make_error_code(e);
    status_ = handshake_status::failed;
    return status_;
}

handshake_status startup_handshake::on_error(const proto::error_response& e) {
    server_error_ = pg_error::from(e.fields);
    if (!authenticated_ && settings_.requested_version != proto::request_code::protocol_3_0 &&
        is_protocol_version_rejection(e.fields)) {
        status_ = handshake_status::retry_with_3_0;
        return status_;
    }
    error_ = make_error_code(errc::server_error);
    status_ = handshake_status::failed;
    return status_;
}

handshake_status startup_handshake::on_auth(const proto::authentication_request& a,
                                            std::string& out) {
    if (authenticated_)
        return fail(errc::protocol_violation); // a second challenge after AuthenticationOk
    proto::writer w(out);
    const bool binding_possible = settings_.tls && !settings_.channel_binding_data.empty();
    return std::visit(
        [&](const auto& req) -> handshake_status {
            using T = std::decay_t<decltype(req)>;
            if constexpr (std::is_same_v<T, proto::authentication_ok>) {
                if (scram_) {
                    // SASLFinal must have arrived and verified the server.
                    if (!scram_final_seen_ || !scram_->complete())
                        return fail(errc::auth_incomplete);
                } else if (!auth_started_) {
                    if (settings_.channel_binding == channel_binding_mode::require)
                        return fail(errc::channel_binding_required);
                    if (!settings_.policy.allow_none)
                        return fail(errc::auth_method_not_allowed);
                }
                authenticated_ = true;
                return status_;
            } else if constexpr (std::is_same_v<T, proto::authentication_cleartext_password> ||
                                 std::is_same_v<T, proto::authentication_md5_password>) {
                if (auth_started_)
                    return fail(errc::protocol_violation);
                constexpr bool md5 = std::is_same_v<T, proto::authentication_md5_password>;
                if (settings_.channel_binding == channel_binding_mode::require)
                    return fail(errc::channel_binding_required);
                if (md5 ? !settings_.policy.allow_md5 : !settings_.policy.allow_cleartext)
                    return fail(errc::auth_method_not_allowed);
                if (settings_.password.empty())
                    return fail(errc::password_required);
                auth_started_ = true;
                if constexpr (md5) {
                    method_ = auth_method::md5;
                    proto::md5_salt salt{};
                    for (std::size_t i = 0; i < salt.size(); ++i)
                        salt[i] = static_cast<std::uint8_t>(req.salt[i]);
                    const std::string response =
                        proto::md5_salted_response(settings_.user, settings_.password, salt);
                    proto::encode(w, proto::password_message{response});
                } else {
                    method_ = auth_method::cleartext;
                    proto::encode(w, proto::password_message{settings_.password});
                }
                if (w.error())
                    return fail(errc::embedded_nul);
                return status_;
            } else if constexpr (std::is_same_v<T, proto::authentication_sasl>) {
                if (auth_started_)
                    return fail(errc::protocol_violation);
                if (!settings_.policy.allow_scram)
                    return fail(errc::auth_method_not_allowed);
                const bool plus_offered = req.mechanisms.contains("SCRAM-SHA-256-PLUS");
                const bool plain_offered = req.mechanisms.contains("SCRAM-SHA-256");
                proto::scram_client_options opts;
                using mode = proto::scram_channel_binding_mode;
                if (settings_.channel_binding == channel_binding_mode::require) {
                    if (!binding_possible || !plus_offered)
                        return fail(errc::channel_binding_required);
                    opts.channel_binding.mode = mode::tls_server_end_point;
                } else if (settings_.channel_binding == channel_binding_mode::prefer &&
                           binding_possible && plus_offered) {
                    opts.channel_binding.mode = mode::tls_server_end_point;
                } else if (settings_.channel_binding == channel_binding_mode::prefer &&
                           binding_possible) {
                    opts.channel_binding.mode = mode::client_supports_but_server_did_not_offer;
                }
                if (opts.channel_binding.mode == mode::tls_server_end_point)
                    opts.channel_binding.data = settings_.channel_binding_data;
                else if (!plain_offered)
                    return fail(errc::auth_method_unsupported);
                if (settings_.password.empty())
                    return fail(errc::password_required);
                opts.keys = settings_.scram_keys;
                auth_started_ = true;
                scram_.emplace(settings_.password, settings_.nonce, opts);
                method_ = scram_->mechanism() == proto::scram_mechanism::sha_256_plus
                              ? auth_method::scram_sha_256_plus
                              : auth_method::scram_sha_256;
                const std::string& first = scram_->client_first_message();
                proto::encode(w, proto::sasl_initial_response{
                                     proto::scram_mechanism_name(scram_->mechanism()), first});
                return status_;
            } else if constexpr (std::is_same_v<T, proto::authentication_sasl_continue>) {
                if (!scram_)
                    return fail(errc::protocol_violation);
                const auto r = scram_->handle_server_first(req.data);
                if (!r.ok())
                    return fail(errc::protocol_violation);
                proto::encode(w, proto::sasl_response{r.message});
                return status_;
            } else if constexpr (std::is_same_v<T, proto::authentication_sasl_final>) {
                if (!scram_ || scram_final_seen_)
                    return fail(errc::protocol_violation);
                scram_final_seen_ = true;
                if (scram_->verify_server_final(req.data))
                    return fail(errc::auth_incomplete);
                return status_;
            } else {
                // Kerberos, GSSAPI, SSPI.
                return fail(errc::auth_method_unsupported);
            }
        },
        a);
}

handshake_status startup_handshake::on_message(const proto::backend_message& m, std::string& out) {
    if (status_ != handshake_status::in_progress)
        return status_;
    return std::visit(
        [&](const auto& msg) -> handshake_status {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, proto::error_response>) {
                return on_error(msg);
            } else if constexpr (std::is_same_v<T, proto::notice_response>) {
                notices_.push_back(pg_error::from(msg.fields));
                return status_;
            } else if constexpr (std::is_same_v<T, proto::negotiate_protocol_version>) {
                // Only before authentication, once, and only downwards within major 3.
                if (authenticated_ || auth_started_ || negotiated_)
                    return fail(errc::invalid_protocol_negotiation);
                const std::int32_t v = msg.newest_version;
                if (proto::protocol_major(v) != 3 || v >= settings_.requested_version)
                    return fail(errc::invalid_protocol_negotiation);
                if (!msg.unrecognized_options.empty())
                    return fail(errc::invalid_protocol_negotiation); // we sent none
                negotiated_ = true;
                version_ = v;
                return status_;
            } else if constexpr (std::is_same_v<T, proto::authentication_request>) {
                return on_auth(msg, out);
            } else if constexpr (std::is_same_v<T, proto::parameter_status>) {
                if (!authenticated_)
                    return fail(errc::protocol_violation);
                parameters_.emplace_back(msg.name, msg.value);
                return status_;
            } else if constexpr (std::is_same_v<T, proto::backend_key_data>) {
                if (!authenticated_ || key_seen_)
                    return fail(errc::protocol_violation);
                // Under 3.0 the key is exactly 4 bytes.
                if (version_ == proto::request_code::protocol_3_0 && msg.secret_key.size() != 4)
                    return fail(errc::protocol_violation);
                key_seen_ = true;
                pid_ = msg.process_id;
                key_.assign(msg.secret_key);
                return status_;
            } else if constexpr (std::is_same_v<T, proto::ready_for_query>) {
                if (!authenticated_ || msg.status != proto::transaction_status::idle)
                    return fail(errc::protocol_violation);
                status_ = handshake_status::ready;
                return status_;
            } else {
                return fail(errc::protocol_violation);
            }
        },
        m);
}

} // namespace qail::client
