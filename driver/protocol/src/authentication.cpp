// Authentication request/response messages: strict decoding and encoding.
#include <qail/protocol/authentication.hpp>

#include <type_traits>

namespace qail::protocol {

std::error_code decode(byte_view body, authentication_request& out) noexcept {
    reader r(body);
    const std::int32_t code = r.i32();
    if (r.error())
        return r.error();
    switch (code) {
    case auth_code::ok:
        out = authentication_ok{};
        break;
    case auth_code::kerberos_v5:
        out = authentication_kerberos_v5{};
        break;
    case auth_code::cleartext_password:
        out = authentication_cleartext_password{};
        break;
    case auth_code::md5_password:
        out = authentication_md5_password{r.bytes(4)};
        break;
    case auth_code::gss:
        out = authentication_gss{};
        break;
    case auth_code::gss_continue:
        out = authentication_gss_continue{r.rest()};
        break;
    case auth_code::sspi:
        out = authentication_sspi{};
        break;
    case auth_code::sasl: {
        authentication_sasl m;
        m.mechanisms = cstring_list::read_until_empty(r);
        out = m;
        break;
    }
    case auth_code::sasl_continue:
        out = authentication_sasl_continue{r.rest()};
        break;
    case auth_code::sasl_final:
        out = authentication_sasl_final{r.rest()};
        break;
    default:
        return make_error_code(errc::unknown_auth_type);
    }
    return r.finish();
}

void encode(writer& w, const authentication_request& m) {
    std::visit(
        [&w](const auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, authentication_sasl>) {
                encode_authentication_sasl(w, msg.mechanisms);
                return;
            } else {
                const std::size_t mark = w.begin_message(backend_tag::authentication);
                if constexpr (std::is_same_v<T, authentication_ok>) {
                    w.put_i32(auth_code::ok);
                } else if constexpr (std::is_same_v<T, authentication_kerberos_v5>) {
                    w.put_i32(auth_code::kerberos_v5);
                } else if constexpr (std::is_same_v<T, authentication_cleartext_password>) {
                    w.put_i32(auth_code::cleartext_password);
                } else if constexpr (std::is_same_v<T, authentication_md5_password>) {
                    if (msg.salt.size() != 4)
                        w.fail(errc::invalid_field_value);
                    w.put_i32(auth_code::md5_password);
                    w.put_bytes(msg.salt);
                } else if constexpr (std::is_same_v<T, authentication_gss>) {
                    w.put_i32(auth_code::gss);
                } else if constexpr (std::is_same_v<T, authentication_gss_continue>) {
                    w.put_i32(auth_code::gss_continue);
                    w.put_bytes(msg.data);
                } else if constexpr (std::is_same_v<T, authentication_sspi>) {
                    w.put_i32(auth_code::sspi);
                } else if constexpr (std::is_same_v<T, authentication_sasl_continue>) {
                    w.put_i32(auth_code::sasl_continue);
                    w.put_bytes(msg.data);
                } else {
                    static_assert(std::is_same_v<T, authentication_sasl_final>);
                    w.put_i32(auth_code::sasl_final);
                    w.put_bytes(msg.data);
                }
                w.end_message(mark);
            }
        },
        m);
}

std::error_code decode(byte_view body, authentication_response& out) noexcept {
    out.body = body;
    return {};
}

std::error_code decode(byte_view body, password_message& out) noexcept {
    reader r(body);
    out.password = r.cstr();
    return r.finish();
}

std::error_code decode(byte_view body, sasl_initial_response& out) noexcept {
    reader r(body);
    out.mechanism = r.cstr();
    byte_view data;
    if (r.value(data))
        out.data = data;
    else
        out.data.reset();
    return r.finish();
}

std::error_code decode(byte_view body, sasl_response& out) noexcept {
    out.data = body;
    return {};
}

std::error_code decode(byte_view body, gss_response& out) noexcept {
    out.data = body;
    return {};
}

namespace {
void encode_raw_p(writer& w, byte_view body) {
    const std::size_t mark = w.begin_message(frontend_tag::authentication_response);
    w.put_bytes(body);
    w.end_message(mark);
}
} // namespace

void encode(writer& w, const authentication_response& m) {
    encode_raw_p(w, m.body);
}

void encode(writer& w, const password_message& m) {
    const std::size_t mark = w.begin_message(frontend_tag::authentication_response);
    w.put_cstr(m.password);
    w.end_message(mark);
}

void encode(writer& w, const sasl_initial_response& m) {
    const std::size_t mark = w.begin_message(frontend_tag::authentication_response);
    w.put_cstr(m.mechanism);
    w.put_value(m.data);
    w.end_message(mark);
}

void encode(writer& w, const sasl_response& m) {
    encode_raw_p(w, m.data);
}
void encode(writer& w, const gss_response& m) {
    encode_raw_p(w, m.data);
}

} // namespace qail::protocol
