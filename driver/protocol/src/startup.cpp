// Startup and session-lifecycle messages: decoding with strict validation, encoding.
#include <qail/protocol/startup.hpp>

namespace qail::protocol {
namespace {

std::error_code check_key(byte_view key) noexcept {
    if (key.size() < min_cancel_key_size || key.size() > max_cancel_key_size)
        return make_error_code(errc::invalid_key_length);
    return {};
}

std::error_code decode_startup_message(std::int32_t version, byte_view payload,
                                       startup_message& out) noexcept {
    reader r(payload);
    std::size_t count = 0;
    const std::size_t begin = r.position();
    std::size_t end = begin;
    for (;;) {
        const std::string_view name = r.cstr();
        if (r.error())
            return r.error();
        if (name.empty())
            break;
        (void)r.cstr();
        if (r.error() == make_error_code(errc::missing_terminator))
            return make_error_code(errc::invalid_startup_parameters);
        if (r.error())
            return r.error();
        ++count;
        end = r.position();
    }
    if (auto ec = r.finish())
        return ec;
    out.version = version;
    out.params = startup_params{payload.substr(begin, end - begin), count};
    return {};
}

} // namespace

std::optional<std::string_view> startup_params::find(std::string_view name) const noexcept {
    std::optional<std::string_view> found;
    for (const param p : *this)
        if (p.name == name)
            found = p.value;
    return found;
}

std::error_code decode(const startup_frame& f, startup_request& out) noexcept {
    const int major = protocol_major(f.code);
    if (major == 3) {
        startup_message m;
        if (auto ec = decode_startup_message(f.code, f.payload, m))
            return ec;
        out = m;
        return {};
    }
    switch (f.code) {
    case request_code::ssl:
        if (!f.payload.empty())
            return make_error_code(errc::trailing_bytes);
        out = ssl_request{};
        return {};
    case request_code::gssenc:
        if (!f.payload.empty())
            return make_error_code(errc::trailing_bytes);
        out = gssenc_request{};
        return {};
    case request_code::cancel: {
        reader r(f.payload);
        cancel_request c;
        c.process_id = r.i32();
        c.secret_key = r.rest();
        if (auto ec = r.finish())
            return ec;
        if (auto ec = check_key(c.secret_key))
            return ec;
        out = c;
        return {};
    }
    default:
        return make_error_code(errc::unknown_request_code);
    }
}

decoded<startup_request> decode_startup(byte_view in, const limits& lim) noexcept {
    decoded<startup_request> out;
    const auto f = decode_startup_frame(in, lim);
    out.need = f.need;
    out.error = f.error;
    if (!f.complete())
        return out;
    out.error = decode(f.message, out.message);
    out.size = f.size;
    return out;
}

void encode(writer& w, const startup_message& m) {
    encode_startup_message(w, m.version, m.params);
}

void encode(writer& w, const ssl_request&) {
    const std::size_t mark = w.begin_untyped();
    w.put_i32(request_code::ssl);
    w.end_message(mark);
}

void encode(writer& w, const gssenc_request&) {
    const std::size_t mark = w.begin_untyped();
    w.put_i32(request_code::gssenc);
    w.end_message(mark);
}

void encode(writer& w, const cancel_request& m) {
    if (check_key(m.secret_key))
        w.fail(errc::invalid_key_length);
    const std::size_t mark = w.begin_untyped();
    w.put_i32(request_code::cancel);
    w.put_i32(m.process_id);
    w.put_bytes(m.secret_key);
    w.end_message(mark);
}

std::error_code decode(byte_view body, backend_key_data& out) noexcept {
    reader r(body);
    out.process_id = r.i32();
    out.secret_key = r.rest();
    if (auto ec = r.finish())
        return ec;
    return check_key(out.secret_key);
}

std::error_code decode(byte_view body, negotiate_protocol_version& out) noexcept {
    reader r(body);
    out.newest_version = r.i32();
    const std::size_t n = r.count32();
    out.unrecognized_options = cstring_list::read(r, n);
    return r.finish();
}

std::error_code decode(byte_view body, parameter_status& out) noexcept {
    reader r(body);
    out.name = r.cstr();
    out.value = r.cstr();
    return r.finish();
}

std::error_code decode(byte_view body, ready_for_query& out) noexcept {
    reader r(body);
    const char s = r.byte();
    if (auto ec = r.finish())
        return ec;
    if (s != 'I' && s != 'T' && s != 'E')
        return make_error_code(errc::invalid_field_value);
    out.status = static_cast<transaction_status>(s);
    return {};
}

std::error_code decode(byte_view body, terminate&) noexcept {
    return reader(body).finish();
}

void encode(writer& w, const backend_key_data& m) {
    if (check_key(m.secret_key))
        w.fail(errc::invalid_key_length);
    const std::size_t mark = w.begin_message(backend_tag::backend_key_data);
    w.put_i32(m.process_id);
    w.put_bytes(m.secret_key);
    w.end_message(mark);
}

void encode(writer& w, const negotiate_protocol_version& m) {
    encode_negotiate_protocol_version(w, m.newest_version, m.unrecognized_options);
}

void encode(writer& w, const parameter_status& m) {
    const std::size_t mark = w.begin_message(backend_tag::parameter_status);
    w.put_cstr(m.name);
    w.put_cstr(m.value);
    w.end_message(mark);
}

void encode(writer& w, const ready_for_query& m) {
    const std::size_t mark = w.begin_message(backend_tag::ready_for_query);
    w.put_char(static_cast<char>(m.status));
    w.end_message(mark);
}

void encode(writer& w, const terminate&) {
    const std::size_t mark = w.begin_message(frontend_tag::terminate);
    w.end_message(mark);
}

} // namespace qail::protocol
