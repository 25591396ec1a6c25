// Simple-query and result messages: strict decoding and encoding.
#include <qail/protocol/simple_query.hpp>

namespace qail::protocol {
namespace {
// Fixed part of a RowDescription field after its name: table oid, attribute
// number, type oid, type size, type modifier, format code.
constexpr std::size_t field_fixed_size = 4 + 2 + 4 + 2 + 4 + 2;
} // namespace

field_description field_list::iterator::operator*() const noexcept {
    field_description f;
    f.name = std::string_view{p_};
    const char* q = p_ + f.name.size() + 1;
    f.table_oid = load_i32(q);
    f.column_attribute = load_i16(q + 4);
    f.type_oid = load_i32(q + 6);
    f.type_size = load_i16(q + 10);
    f.type_modifier = load_i32(q + 12);
    f.format = static_cast<format_code>(load_i16(q + 16));
    return f;
}

field_list::iterator& field_list::iterator::operator++() noexcept {
    p_ += std::string_view{p_}.size() + 1 + field_fixed_size;
    return *this;
}

std::error_code decode(byte_view body, query& out) noexcept {
    reader r(body);
    out.sql = r.cstr();
    return r.finish();
}

std::error_code decode(byte_view body, row_description& out) noexcept {
    reader r(body);
    const std::size_t n = r.count16();
    const std::size_t begin = r.position();
    for (std::size_t i = 0; i < n && !r.error(); ++i) {
        (void)r.cstr();
        (void)r.bytes(field_fixed_size - 2);
        const std::int16_t fmt = r.i16();
        if (!r.error() && fmt != 0 && fmt != 1)
            return make_error_code(errc::invalid_field_value);
    }
    if (auto ec = r.finish())
        return ec;
    out.fields = field_list{r.span_since(begin), n};
    return {};
}

std::error_code decode(byte_view body, data_row& out) noexcept {
    reader r(body);
    const std::size_t n = r.count16();
    out.values = value_list::read(r, n);
    return r.finish();
}

std::error_code decode(byte_view body, command_complete& out) noexcept {
    reader r(body);
    out.tag = r.cstr();
    return r.finish();
}

std::error_code decode(byte_view body, empty_query_response&) noexcept {
    return reader(body).finish();
}

void encode(writer& w, const query& m) {
    const std::size_t mark = w.begin_message(frontend_tag::query);
    w.put_cstr(m.sql);
    w.end_message(mark);
}

void encode(writer& w, const row_description& m) {
    encode_row_description(w, m.fields);
}
void encode(writer& w, const data_row& m) {
    encode_data_row(w, m.values);
}

void encode(writer& w, const command_complete& m) {
    const std::size_t mark = w.begin_message(backend_tag::command_complete);
    w.put_cstr(m.tag);
    w.end_message(mark);
}

void encode(writer& w, const empty_query_response&) {
    const std::size_t mark = w.begin_message(backend_tag::empty_query_response);
    w.end_message(mark);
}

} // namespace qail::protocol
