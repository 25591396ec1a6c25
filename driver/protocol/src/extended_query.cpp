// Extended-query messages: strict decoding and encoding.
#include <qail/protocol/extended_query.hpp>

namespace qail::protocol {
namespace {

template <class Int>
int_array<Int> read_int_array(reader& r, std::size_t count) noexcept {
    const byte_view raw = r.bytes(count * sizeof(Int));
    if (r.error())
        return {};
    return int_array<Int>{raw, count};
}

std::error_code read_target(reader& r, target_kind& out) noexcept {
    const char k = r.byte();
    if (r.error())
        return r.error();
    if (k != 'S' && k != 'P')
        return make_error_code(errc::invalid_field_value);
    out = static_cast<target_kind>(k);
    return {};
}

std::error_code decode_empty(byte_view body) noexcept {
    return reader(body).finish();
}

void encode_empty(writer& w, char type) {
    const std::size_t mark = w.begin_message(type);
    w.end_message(mark);
}

void encode_target(writer& w, char type, target_kind kind, std::string_view name) {
    const std::size_t mark = w.begin_message(type);
    w.put_char(static_cast<char>(kind));
    w.put_cstr(name);
    w.end_message(mark);
}

} // namespace

std::error_code decode(byte_view body, parse& out) noexcept {
    reader r(body);
    out.statement = r.cstr();
    out.sql = r.cstr();
    const std::size_t n = r.count16();
    out.parameter_types = read_int_array<std::int32_t>(r, n);
    return r.finish();
}

std::error_code decode(byte_view body, bind& out) noexcept {
    reader r(body);
    out.portal = r.cstr();
    out.statement = r.cstr();
    std::size_t n = r.count16();
    out.parameter_formats = read_int_array<std::int16_t>(r, n);
    n = r.count16();
    out.parameters = value_list::read(r, n);
    n = r.count16();
    out.result_formats = read_int_array<std::int16_t>(r, n);
    return r.finish();
}

std::error_code decode(byte_view body, describe& out) noexcept {
    reader r(body);
    if (auto ec = read_target(r, out.kind))
        return ec;
    out.name = r.cstr();
    return r.finish();
}

std::error_code decode(byte_view body, execute& out) noexcept {
    reader r(body);
    out.portal = r.cstr();
    out.max_rows = r.i32();
    return r.finish();
}

std::error_code decode(byte_view body, sync&) noexcept {
    return decode_empty(body);
}
std::error_code decode(byte_view body, flush&) noexcept {
    return decode_empty(body);
}

std::error_code decode(byte_view body, close& out) noexcept {
    reader r(body);
    if (auto ec = read_target(r, out.kind))
        return ec;
    out.name = r.cstr();
    return r.finish();
}

std::error_code decode(byte_view body, parse_complete&) noexcept {
    return decode_empty(body);
}
std::error_code decode(byte_view body, bind_complete&) noexcept {
    return decode_empty(body);
}
std::error_code decode(byte_view body, close_complete&) noexcept {
    return decode_empty(body);
}

std::error_code decode(byte_view body, parameter_description& out) noexcept {
    reader r(body);
    const std::size_t n = r.count16();
    out.type_oids = read_int_array<std::int32_t>(r, n);
    return r.finish();
}

std::error_code decode(byte_view body, no_data&) noexcept {
    return decode_empty(body);
}
std::error_code decode(byte_view body, portal_suspended&) noexcept {
    return decode_empty(body);
}

void encode(writer& w, const parse& m) {
    encode_parse(w, m.statement, m.sql, m.parameter_types);
}
void encode(writer& w, const bind& m) {
    encode_bind(w, m.portal, m.statement, m.parameter_formats, m.parameters, m.result_formats);
}
void encode(writer& w, const describe& m) {
    encode_target(w, frontend_tag::describe, m.kind, m.name);
}
void encode(writer& w, const execute& m) {
    const std::size_t mark = w.begin_message(frontend_tag::execute);
    w.put_cstr(m.portal);
    w.put_i32(m.max_rows);
    w.end_message(mark);
}
void encode(writer& w, const sync&) {
    encode_empty(w, frontend_tag::sync);
}
void encode(writer& w, const flush&) {
    encode_empty(w, frontend_tag::flush);
}
void encode(writer& w, const close& m) {
    encode_target(w, frontend_tag::close, m.kind, m.name);
}
void encode(writer& w, const parse_complete&) {
    encode_empty(w, backend_tag::parse_complete);
}
void encode(writer& w, const bind_complete&) {
    encode_empty(w, backend_tag::bind_complete);
}
void encode(writer& w, const close_complete&) {
    encode_empty(w, backend_tag::close_complete);
}
void encode(writer& w, const parameter_description& m) {
    encode_parameter_description(w, m.type_oids);
}
void encode(writer& w, const no_data&) {
    encode_empty(w, backend_tag::no_data);
}
void encode(writer& w, const portal_suspended&) {
    encode_empty(w, backend_tag::portal_suspended);
}

} // namespace qail::protocol
