// Type-byte dispatch tables from a frame to the message decoders of each direction.
#include <qail/protocol/message.hpp>

#include <array>

namespace qail::protocol {
namespace {

template <class Variant>
using body_decoder = std::error_code (*)(byte_view, Variant&) noexcept;

// Decodes into alternative T of the variant.
template <class Variant, class T>
std::error_code decode_as(byte_view body, Variant& out) noexcept {
    T m{};
    if (auto ec = decode(body, m))
        return ec;
    out = m;
    return {};
}

template <class Variant>
struct decoder_table {
    std::array<body_decoder<Variant>, 256> by_type{};
    template <class T>
    constexpr void add(char type) {
        by_type[static_cast<unsigned char>(type)] = &decode_as<Variant, T>;
    }
};

constexpr decoder_table<frontend_message> make_frontend_table() {
    decoder_table<frontend_message> t;
    t.add<query>(frontend_tag::query);
    t.add<parse>(frontend_tag::parse);
    t.add<bind>(frontend_tag::bind);
    t.add<describe>(frontend_tag::describe);
    t.add<execute>(frontend_tag::execute);
    t.add<sync>(frontend_tag::sync);
    t.add<flush>(frontend_tag::flush);
    t.add<close>(frontend_tag::close);
    t.add<copy_data>(frontend_tag::copy_data);
    t.add<copy_done>(frontend_tag::copy_done);
    t.add<copy_fail>(frontend_tag::copy_fail);
    t.add<function_call>(frontend_tag::function_call);
    t.add<terminate>(frontend_tag::terminate);
    t.add<authentication_response>(frontend_tag::authentication_response);
    return t;
}

constexpr decoder_table<backend_message> make_backend_table() {
    decoder_table<backend_message> t;
    t.add<authentication_request>(backend_tag::authentication);
    t.add<backend_key_data>(backend_tag::backend_key_data);
    t.add<negotiate_protocol_version>(backend_tag::negotiate_protocol_version);
    t.add<parameter_status>(backend_tag::parameter_status);
    t.add<ready_for_query>(backend_tag::ready_for_query);
    t.add<row_description>(backend_tag::row_description);
    t.add<data_row>(backend_tag::data_row);
    t.add<command_complete>(backend_tag::command_complete);
    t.add<empty_query_response>(backend_tag::empty_query_response);
    t.add<error_response>(backend_tag::error_response);
    t.add<notice_response>(backend_tag::notice_response);
    t.add<parse_complete>(backend_tag::parse_complete);
    t.add<bind_complete>(backend_tag::bind_complete);
    t.add<close_complete>(backend_tag::close_complete);
    t.add<parameter_description>(backend_tag::parameter_description);
    t.add<no_data>(backend_tag::no_data);
    t.add<portal_suspended>(backend_tag::portal_suspended);
    t.add<copy_in_response>(backend_tag::copy_in_response);
    t.add<copy_out_response>(backend_tag::copy_out_response);
    t.add<copy_both_response>(backend_tag::copy_both_response);
    t.add<copy_data>(backend_tag::copy_data);
    t.add<copy_done>(backend_tag::copy_done);
    t.add<notification_response>(backend_tag::notification_response);
    t.add<function_call_response>(backend_tag::function_call_response);
    return t;
}

constexpr auto frontend_table = make_frontend_table();
constexpr auto backend_table = make_backend_table();

template <class Variant>
std::error_code dispatch(const decoder_table<Variant>& table, const frame& f,
                         Variant& out) noexcept {
    const auto fn = table.by_type[static_cast<unsigned char>(f.type)];
    if (fn == nullptr)
        return make_error_code(errc::unknown_message_type);
    return fn(f.body, out);
}

template <class Variant>
decoded<Variant> frame_and_decode(const decoder_table<Variant>& table, byte_view in,
                                  const limits& lim) noexcept {
    decoded<Variant> out;
    const auto f = decode_frame(in, lim);
    out.need = f.need;
    out.error = f.error;
    if (!f.complete())
        return out;
    out.error = dispatch(table, f.message, out.message);
    out.size = f.size;
    return out;
}

} // namespace

std::error_code decode_frontend_body(const frame& f, frontend_message& out) noexcept {
    return dispatch(frontend_table, f, out);
}
std::error_code decode_backend_body(const frame& f, backend_message& out) noexcept {
    return dispatch(backend_table, f, out);
}

decoded<frontend_message> decode_frontend(byte_view in, const limits& lim) noexcept {
    return frame_and_decode(frontend_table, in, lim);
}
decoded<backend_message> decode_backend(byte_view in, const limits& lim) noexcept {
    return frame_and_decode(backend_table, in, lim);
}

void encode(writer& w, const frontend_message& m) {
    std::visit([&w](const auto& msg) { encode(w, msg); }, m);
}
void encode(writer& w, const backend_message& m) {
    std::visit([&w](const auto& msg) { encode(w, msg); }, m);
}

} // namespace qail::protocol
