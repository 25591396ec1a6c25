// Field-level decoding: the values each message exposes, and the specific error
// for each malformed field (negative counts, bad lengths, bad enum values).
#include "codec_samples.hpp"
#include "test_support.hpp"

#include <qail/protocol/message.hpp>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

namespace qail::protocol {
namespace {

using namespace std::string_view_literals;
using namespace std::string_literals;

std::string raw(char type, std::string body) {
    std::string out;
    writer w(out);
    const auto mark = w.begin_message(type);
    w.put_bytes(body);
    w.end_message(mark);
    return out;
}

std::string be16(std::int16_t v) {
    std::string s;
    writer w(s);
    w.put_i16(v);
    return s;
}

std::string be32(std::int32_t v) {
    std::string s;
    writer w(s);
    w.put_i32(v);
    return s;
}

template <class T, class Variant>
const T& as(const Variant& v) {
    REQUIRE(std::holds_alternative<T>(v));
    return std::get<T>(v);
}

} // namespace

TEST_CASE("Bind exposes formats, NULL and binary values, result formats") {
    const std::vector<std::optional<byte_view>> params = {byte_view{"42"}, std::nullopt,
                                                          byte_view{"a\0b"sv}};
    const std::vector<std::int16_t> formats = {0, 1};
    const std::vector<std::int16_t> results = {1, 0, 1};
    const auto bytes =
        test::build([&](writer& w) { encode_bind(w, "portal", "stmt", formats, params, results); });
    const auto d = decode_frontend(bytes);
    REQUIRE(d.complete());
    const auto& b = as<bind>(d.message);
    CHECK(b.portal == "portal");
    CHECK(b.statement == "stmt");
    CHECK(std::vector<std::int16_t>(b.parameter_formats.begin(), b.parameter_formats.end()) ==
          formats);
    CHECK(std::vector<std::optional<byte_view>>(b.parameters.begin(), b.parameters.end()) ==
          params);
    CHECK(b.parameters.size() == 3);
    CHECK(std::vector<std::int16_t>(b.result_formats.begin(), b.result_formats.end()) == results);
}

TEST_CASE("negative counts are negative_count") {
    // Bind with -1 parameter formats.
    CHECK(decode_frontend(raw('B', "\0\0"s + be16(-1))).error == errc::negative_count);
    // Parse with -2 parameter types.
    CHECK(decode_frontend(raw('P', "s\0q\0"s + be16(-2))).error == errc::negative_count);
    // DataRow with -1 columns.
    CHECK(decode_backend(raw('D', be16(-1))).error == errc::negative_count);
    // RowDescription with -3 fields.
    CHECK(decode_backend(raw('T', be16(-3))).error == errc::negative_count);
    // ParameterDescription with -1 OIDs.
    CHECK(decode_backend(raw('t', be16(-1))).error == errc::negative_count);
    // NegotiateProtocolVersion with -1 options.
    CHECK(decode_backend(raw('v', be32(0) + be32(-1))).error == errc::negative_count);
    // CopyInResponse with -1 column formats.
    CHECK(decode_backend(raw('G', "\0"s + be16(-1))).error == errc::negative_count);
    // FunctionCall with -1 arguments.
    CHECK(decode_frontend(raw('F', be32(1) + be16(0) + be16(-1))).error == errc::negative_count);
}

TEST_CASE("value lengths below -1 are invalid_value_length, overlong ones truncated_field") {
    CHECK(decode_backend(raw('D', be16(1) + be32(-2))).error == errc::invalid_value_length);
    CHECK(
        decode_backend(raw('D', be16(1) + be32(std::numeric_limits<std::int32_t>::min()))).error ==
        errc::invalid_value_length);
    CHECK(decode_backend(raw('D', be16(1) + be32(5) + "abc")).error == errc::truncated_field);
    CHECK(decode_backend(raw('D', be16(1) + be32(0x7fffffff) + "abc")).error ==
          errc::truncated_field);
    CHECK(decode_backend(raw('D', be16(2) + be32(-1))).error == errc::truncated_field);
    CHECK(decode_backend(raw('V', be32(-7))).error == errc::invalid_value_length);
}

TEST_CASE("DataRow yields NULL as nullopt and empty as an empty view") {
    const std::string d_bytes = raw('D', be16(3) + be32(-1) + be32(0) + be32(2) + "hi");
    const auto d = decode_backend(d_bytes);
    REQUIRE(d.complete());
    const auto& row = as<data_row>(d.message);
    std::vector<std::optional<byte_view>> values(row.values.begin(), row.values.end());
    REQUIRE(values.size() == 3);
    CHECK_FALSE(values[0].has_value());
    CHECK(values[1] == byte_view{""});
    CHECK(values[2] == byte_view{"hi"});
}

TEST_CASE("RowDescription fields decode in order") {
    const auto samples = test::backend_samples();
    const auto it = std::find_if(samples.begin(), samples.end(),
                                 [](const auto& s) { return s.name == "row description"; });
    REQUIRE(it != samples.end());
    const auto d = decode_backend(it->bytes);
    REQUIRE(d.complete());
    const auto& rd = as<row_description>(d.message);
    std::vector<field_description> f(rd.fields.begin(), rd.fields.end());
    REQUIRE(f.size() == 3);
    CHECK(f[0].name == "id");
    CHECK(f[0].type_oid == 23);
    CHECK(f[0].type_modifier == -1);
    CHECK(f[1].format == format_code::binary);
    CHECK(f[1].type_size == -1);
    CHECK(f[2].name.empty());
    // A format code other than 0/1 is refused.
    const std::string bad =
        be16(1) + "x\0"s + be32(0) + be16(0) + be32(23) + be16(4) + be32(-1) + be16(7);
    CHECK(decode_backend(raw('T', bad)).error == errc::invalid_field_value);
}

TEST_CASE("ErrorResponse carries every field type and skips unknown ones") {
    const auto samples = test::backend_samples();
    const auto it = std::find_if(samples.begin(), samples.end(), [](const auto& s) {
        return s.name == "error response all fields";
    });
    REQUIRE(it != samples.end());
    const auto d = decode_backend(it->bytes);
    REQUIRE(d.complete());
    const auto& f = as<error_response>(d.message).fields;
    CHECK(f.severity == "ERROR");
    CHECK(f.sqlstate == "23505");
    CHECK(f.detail == "Key (id)=(1) already exists.");
    CHECK(f.position == "8");
    CHECK(f.internal_position == "3");
    CHECK(f.internal_query == "SELECT 1");
    CHECK(f.where == "PL/pgSQL function f()");
    CHECK(f.schema_name == "public");
    CHECK(f.table_name == "users");
    CHECK(f.column_name == "id");
    CHECK(f.data_type_name == "int4");
    CHECK(f.constraint_name == "users_pkey");
    CHECK(f.file == "nbtinsert.c");
    CHECK(f.line == "666");
    CHECK(f.routine == "_bt_check_unique");
    CHECK(f.get('C') == "23505");
    CHECK(f.get('?').empty());

    // Unknown field code 'Z' is skipped; a missing SQLSTATE stays empty (no crash).
    const std::string u_bytes = raw('E', "SFATAL\0Zfuture\0Mboom\0\0"s);
    const auto u = decode_backend(u_bytes);
    REQUIRE(u.complete());
    const auto& uf = as<error_response>(u.message).fields;
    CHECK(uf.severity == "FATAL");
    CHECK(uf.message == "boom");
    CHECK(uf.sqlstate.empty());
    // A field without terminator, and a list without the final NUL, are errors.
    CHECK(decode_backend(raw('E', "SERROR"s)).error == errc::missing_terminator);
    CHECK(decode_backend(raw('E', "SERROR\0"s)).error == errc::truncated_field);
}

TEST_CASE("Describe and Close refuse targets other than S and P") {
    CHECK(decode_frontend(raw('D', "Xname\0"s)).error == errc::invalid_field_value);
    CHECK(decode_frontend(raw('C', "Qname\0"s)).error == errc::invalid_field_value);
    const std::string d_bytes = raw('D', "Pp1\0"s);
    const auto d = decode_frontend(d_bytes);
    REQUIRE(d.complete());
    CHECK(as<describe>(d.message).kind == target_kind::portal);
    CHECK(as<describe>(d.message).name == "p1");
}

TEST_CASE("ReadyForQuery refuses unknown transaction status") {
    CHECK(decode_backend(raw('Z', "X")).error == errc::invalid_field_value);
    CHECK(decode_backend(raw('Z', "")).error == errc::truncated_field);
    CHECK(decode_backend(raw('Z', "II")).error == errc::trailing_bytes);
    const std::string d_bytes = raw('Z', "E");
    const auto d = decode_backend(d_bytes);
    REQUIRE(d.complete());
    CHECK(as<ready_for_query>(d.message).status == transaction_status::failed);
}

TEST_CASE("Copy responses refuse bad format codes") {
    CHECK(decode_backend(raw('G', "\2"s + be16(0))).error == errc::invalid_field_value);
    CHECK(decode_backend(raw('H', "\0"s + be16(1) + be16(5))).error == errc::invalid_field_value);
    const std::string d_bytes = raw('H', "\1"s + be16(2) + be16(1) + be16(1));
    const auto d = decode_backend(d_bytes);
    REQUIRE(d.complete());
    const auto& c = as<copy_out_response>(d.message);
    CHECK(c.format.overall == format_code::binary);
    CHECK(c.format.column_formats.size() == 2);
    CHECK(c.format.column_formats[1] == 1);
}

TEST_CASE("Authentication requests decode each sub-type") {
    const std::string md5_bytes = raw('R', be32(5) + "\xde\xad\xbe\xef");
    const auto md5 = decode_backend(md5_bytes);
    REQUIRE(md5.complete());
    const auto& req = as<authentication_request>(md5.message);
    REQUIRE(std::holds_alternative<authentication_md5_password>(req));
    CHECK(std::get<authentication_md5_password>(req).salt == "\xde\xad\xbe\xef");
    CHECK(decode_backend(raw('R', be32(5) + "\1\2\3")).error == errc::truncated_field);
    CHECK(decode_backend(raw('R', be32(6))).error == errc::unknown_auth_type);
    CHECK(decode_backend(raw('R', be32(0) + "x")).error == errc::trailing_bytes);

    const std::string sasl_bytes = raw('R', be32(10) + "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s);
    const auto sasl = decode_backend(sasl_bytes);
    REQUIRE(sasl.complete());
    const auto& mechs =
        std::get<authentication_sasl>(as<authentication_request>(sasl.message)).mechanisms;
    CHECK(mechs.size() == 2);
    CHECK(mechs.contains("SCRAM-SHA-256"));
    CHECK(mechs.contains("SCRAM-SHA-256-PLUS"));
    CHECK_FALSE(mechs.contains("SCRAM"));
    CHECK(decode_backend(raw('R', be32(10) + "SCRAM-SHA-256\0"s)).error ==
          errc::missing_terminator);
}

TEST_CASE("frontend authentication responses decode by context") {
    sasl_initial_response first;
    const std::string with_data = "SCRAM-SHA-256\0"s + be32(3) + "abc";
    REQUIRE_FALSE(decode(with_data, first));
    CHECK(first.mechanism == "SCRAM-SHA-256");
    CHECK(first.data == byte_view{"abc"});
    REQUIRE_FALSE(decode("SCRAM-SHA-256\0"s + be32(-1), first));
    CHECK_FALSE(first.data.has_value());
    CHECK(decode("SCRAM-SHA-256\0"s + be32(-5), first) == errc::invalid_value_length);
    CHECK(decode("SCRAM-SHA-256\0"s + be32(9) + "abc", first) == errc::truncated_field);
    password_message pw;
    const std::string secret = "secret\0"s;
    REQUIRE_FALSE(decode(secret, pw));
    CHECK(pw.password == "secret");
    CHECK(decode("secret"s, pw) == errc::missing_terminator);
    CHECK(decode("a\0b\0"s, pw) == errc::trailing_bytes);
}

TEST_CASE("BackendKeyData accepts 4..256-byte keys and nothing else") {
    for (std::size_t len : {std::size_t{4}, std::size_t{32}, std::size_t{256}}) {
        const std::string d_bytes = raw('K', be32(9) + std::string(len, 'k'));
        const auto d = decode_backend(d_bytes);
        REQUIRE(d.complete());
        CHECK(as<backend_key_data>(d.message).secret_key.size() == len);
        CHECK(as<backend_key_data>(d.message).process_id == 9);
    }
    for (std::size_t len : {std::size_t{0}, std::size_t{3}, std::size_t{257}})
        CHECK(decode_backend(raw('K', be32(9) + std::string(len, 'k'))).error ==
              errc::invalid_key_length);
    std::string out;
    writer w(out);
    encode(w, backend_key_data{1, "abc"});
    CHECK(w.error() == errc::invalid_key_length);
}

TEST_CASE("NegotiateProtocolVersion exposes newest minor and options") {
    const std::string d_bytes = raw('v', be32(0) + be32(2) + "_pq_.a\0_pq_.b\0"s);
    const auto d = decode_backend(d_bytes);
    REQUIRE(d.complete());
    const auto& n = as<negotiate_protocol_version>(d.message);
    CHECK(n.newest_version == 0);
    CHECK(n.unrecognized_options.size() == 2);
    CHECK(n.unrecognized_options.contains("_pq_.b"));
    CHECK(decode_backend(raw('v', be32(0) + be32(3) + "_pq_.a\0_pq_.b\0"s)).error ==
          errc::missing_terminator);
}

TEST_CASE("NotificationResponse and FunctionCallResponse fields") {
    const std::string n_bytes = raw('A', be32(77) + "chan\0pay\0"s);
    const auto n = decode_backend(n_bytes);
    REQUIRE(n.complete());
    CHECK(as<notification_response>(n.message) == notification_response{77, "chan", "pay"});
    const std::string f_bytes = raw('V', be32(-1));
    const auto f = decode_backend(f_bytes);
    REQUIRE(f.complete());
    CHECK_FALSE(as<function_call_response>(f.message).result.has_value());
}

TEST_CASE("the writer refuses what the wire cannot carry") {
    std::string out;
    writer w(out);
    encode(w, query{"SELECT '\0'"sv});
    CHECK(w.error() == errc::embedded_nul);

    std::string out2;
    writer w2(out2);
    const std::vector<std::int16_t> too_many(40000, 0);
    encode_bind(w2, "", "", too_many, std::vector<std::optional<byte_view>>{},
                std::vector<std::int16_t>{});
    CHECK(w2.error() == errc::negative_count);

    std::string out3;
    writer w3(out3);
    encode(w3, authentication_request{authentication_md5_password{"abc"}});
    CHECK(w3.error() == errc::invalid_field_value);
}

TEST_CASE("the writer back-patches lengths of consecutive messages") {
    std::string out;
    writer w(out);
    encode(w, query{"SELECT 1"});
    encode(w, sync{});
    REQUIRE_FALSE(w.error());
    // 'Q' + len(4 + 9) + "SELECT 1\0", then 'S' + len 4.
    CHECK(out.size() == 1 + 4 + 9 + 1 + 4);
    CHECK(out.substr(1, 4) == be32(13));
    CHECK(out.substr(15, 4) == be32(4));
}

} // namespace qail::protocol
