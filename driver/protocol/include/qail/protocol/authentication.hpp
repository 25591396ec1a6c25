// Authentication messages: every AuthenticationXXX request from the server and
// the frontend's PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse.
#pragma once

#include <qail/protocol/buffer.hpp>
#include <qail/protocol/packed.hpp>
#include <qail/protocol/tags.hpp>

#include <optional>
#include <string_view>
#include <system_error>
#include <variant>

namespace qail::protocol {

struct authentication_ok {
    bool operator==(const authentication_ok&) const = default;
};
struct authentication_kerberos_v5 {
    bool operator==(const authentication_kerberos_v5&) const = default;
};
struct authentication_cleartext_password {
    bool operator==(const authentication_cleartext_password&) const = default;
};
/// AuthenticationMD5Password with its 4-byte salt.
struct authentication_md5_password {
    byte_view salt; // exactly 4 bytes
    bool operator==(const authentication_md5_password&) const = default;
};
struct authentication_gss {
    bool operator==(const authentication_gss&) const = default;
};
struct authentication_gss_continue {
    byte_view data;
    bool operator==(const authentication_gss_continue&) const = default;
};
struct authentication_sspi {
    bool operator==(const authentication_sspi&) const = default;
};
/// AuthenticationSASL with the mechanisms the server offers, in its order of preference.
struct authentication_sasl {
    cstring_list mechanisms;
    bool operator==(const authentication_sasl&) const = default;
};
struct authentication_sasl_continue {
    byte_view data;
    bool operator==(const authentication_sasl_continue&) const = default;
};
struct authentication_sasl_final {
    byte_view data;
    bool operator==(const authentication_sasl_final&) const = default;
};

/// Everything a server can send under type byte 'R'.
using authentication_request =
    std::variant<authentication_ok, authentication_kerberos_v5, authentication_cleartext_password,
                 authentication_md5_password, authentication_gss, authentication_gss_continue,
                 authentication_sspi, authentication_sasl, authentication_sasl_continue,
                 authentication_sasl_final>;

[[nodiscard]] std::error_code decode(byte_view body, authentication_request& out) noexcept;
void encode(writer& w, const authentication_request& m);
/// AuthenticationSASL from any range of mechanism names.
template <class Mechanisms>
void encode_authentication_sasl(writer& w, const Mechanisms& mechanisms) {
    const std::size_t mark = w.begin_message(backend_tag::authentication);
    w.put_i32(auth_code::sasl);
    for (const auto& m : mechanisms) {
        if (std::string_view{m}.empty())
            w.fail(errc::invalid_field_value);
        w.put_cstr(m);
    }
    w.put_u8(0);
    w.end_message(mark);
}

/// The body of a frontend 'p' message. Which message it is depends on the
/// authentication exchange in progress, so the session decodes it with one
/// of the functions below.
struct authentication_response {
    byte_view body;
    bool operator==(const authentication_response&) const = default;
};
/// PasswordMessage: a cleartext or MD5-hashed password.
struct password_message {
    std::string_view password;
    bool operator==(const password_message&) const = default;
};
/// SASLInitialResponse: the chosen mechanism and its optional first message.
struct sasl_initial_response {
    std::string_view mechanism;
    std::optional<byte_view> data;
    bool operator==(const sasl_initial_response&) const = default;
};
/// SASLResponse: a further message of the SASL exchange.
struct sasl_response {
    byte_view data;
    bool operator==(const sasl_response&) const = default;
};
/// GSSResponse: a GSSAPI/SSPI token.
struct gss_response {
    byte_view data;
    bool operator==(const gss_response&) const = default;
};

[[nodiscard]] std::error_code decode(byte_view body, authentication_response& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, password_message& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, sasl_initial_response& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, sasl_response& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, gss_response& out) noexcept;

void encode(writer& w, const authentication_response& m);
void encode(writer& w, const password_message& m);
void encode(writer& w, const sasl_initial_response& m);
void encode(writer& w, const sasl_response& m);
void encode(writer& w, const gss_response& m);

} // namespace qail::protocol
