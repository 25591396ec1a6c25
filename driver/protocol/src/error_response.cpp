// ErrorResponse / NoticeResponse field decoding and encoding.
#include <qail/protocol/error_response.hpp>

#include <array>

namespace qail::protocol {
namespace {

constexpr std::array<char, 18> field_order = {
    error_field::severity,
    error_field::severity_nonlocalized,
    error_field::sqlstate,
    error_field::message,
    error_field::detail,
    error_field::hint,
    error_field::position,
    error_field::internal_position,
    error_field::internal_query,
    error_field::where,
    error_field::schema_name,
    error_field::table_name,
    error_field::column_name,
    error_field::data_type_name,
    error_field::constraint_name,
    error_field::file,
    error_field::line,
    error_field::routine,
};

void encode_fields(writer& w, char type, const error_fields& f) {
    const std::size_t mark = w.begin_message(type);
    for (const char code : field_order) {
        const std::string_view v = f.get(code);
        if (v.empty())
            continue;
        w.put_char(code);
        w.put_cstr(v);
    }
    w.put_u8(0);
    w.end_message(mark);
}

// One mapping from field code to member, for const and non-const access.
template <class Fields>
auto* field_member(Fields& f, char code) noexcept {
    using ptr = decltype(&f.severity);
    switch (code) {
    case error_field::severity:
        return &f.severity;
    case error_field::severity_nonlocalized:
        return &f.severity_nonlocalized;
    case error_field::sqlstate:
        return &f.sqlstate;
    case error_field::message:
        return &f.message;
    case error_field::detail:
        return &f.detail;
    case error_field::hint:
        return &f.hint;
    case error_field::position:
        return &f.position;
    case error_field::internal_position:
        return &f.internal_position;
    case error_field::internal_query:
        return &f.internal_query;
    case error_field::where:
        return &f.where;
    case error_field::schema_name:
        return &f.schema_name;
    case error_field::table_name:
        return &f.table_name;
    case error_field::column_name:
        return &f.column_name;
    case error_field::data_type_name:
        return &f.data_type_name;
    case error_field::constraint_name:
        return &f.constraint_name;
    case error_field::file:
        return &f.file;
    case error_field::line:
        return &f.line;
    case error_field::routine:
        return &f.routine;
    default:
        return static_cast<ptr>(nullptr);
    }
}

} // namespace

std::string_view* error_fields::slot(char code) noexcept {
    return field_member(*this, code);
}

std::string_view error_fields::get(char code) const noexcept {
    const std::string_view* p = field_member(*this, code);
    return p ? *p : std::string_view{};
}

std::error_code decode_error_fields(byte_view body, error_fields& out) noexcept {
    out = {};
    reader r(body);
    for (;;) {
        const char code = r.byte();
        if (r.error())
            return r.error();
        if (code == '\0')
            break;
        const std::string_view value = r.cstr();
        if (r.error())
            return r.error();
        if (std::string_view* s = out.slot(code))
            *s = value;
    }
    return r.finish();
}

std::error_code decode(byte_view body, error_response& out) noexcept {
    return decode_error_fields(body, out.fields);
}
std::error_code decode(byte_view body, notice_response& out) noexcept {
    return decode_error_fields(body, out.fields);
}

void encode(writer& w, const error_response& m) {
    encode_fields(w, backend_tag::error_response, m.fields);
}
void encode(writer& w, const notice_response& m) {
    encode_fields(w, backend_tag::notice_response, m.fields);
}

} // namespace qail::protocol
