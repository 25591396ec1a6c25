// Unit tests for the HTTP API's result encoding: every type mapping from PostgreSQL text
// output to JSON, including NULLs, int8 beyond 2^53 and arrays, and the result envelope.
#include "../../../daemon/src/http/json_result.hpp"
#include "test_support.hpp"

#include <qail/client/types.hpp>
#include <qail/protocol/buffer.hpp>
#include <qail/protocol/simple_query.hpp>

#include <boost/json/parse.hpp>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace oid = qail::client::oid;
using qail::proxy::http::append_json_string;
using qail::proxy::http::append_json_value;
using qail::proxy::http::append_result_json;
using qail::proxy::http::column_type_name;
using qail::proxy::http::row_format;

std::string value(std::int32_t type_oid, std::string_view text) {
    std::string out;
    append_json_value(out, type_oid, text);
    // Whatever we produce must be valid JSON on its own.
    boost::system::error_code ec;
    (void)boost::json::parse(out, ec);
    CHECK_MESSAGE(!ec, out);
    return out;
}

std::string str(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

struct column_spec {
    std::string name;
    std::int32_t type_oid;
};

/// A result_set built from the wire messages the server would send.
qail::client::result_set
make_result(const std::vector<column_spec>& columns,
            const std::vector<std::vector<std::optional<std::string>>>& rows,
            std::string_view tag) {
    namespace proto = qail::protocol;
    qail::client::result_set rs;
    std::string buf;
    proto::writer w(buf);
    std::vector<proto::field_description> fields;
    for (const auto& c : columns) {
        proto::field_description f;
        f.name = c.name;
        f.type_oid = c.type_oid;
        fields.push_back(f);
    }
    proto::encode_row_description(w, fields);
    proto::row_description rd;
    REQUIRE(!proto::decode(std::string_view(buf).substr(5), rd));
    rs.set_columns(rd);
    for (const auto& r : rows) {
        std::string rb;
        proto::writer rw(rb);
        std::vector<std::optional<std::string_view>> values;
        for (const auto& v : r)
            values.push_back(v ? std::optional<std::string_view>(*v) : std::nullopt);
        proto::encode_data_row(rw, values);
        proto::data_row dr;
        REQUIRE(!proto::decode(std::string_view(rb).substr(5), dr));
        REQUIRE(rs.add_row(dr));
    }
    rs.set_command_tag(tag);
    return rs;
}

} // namespace

TEST_CASE("http result: integers and floats") {
    CHECK(value(oid::int2, "-32768") == "-32768");
    CHECK(value(oid::int4, "2147483647") == "2147483647");
    CHECK(value(oid::oid, "4294967295") == "4294967295");
    CHECK(value(oid::float8, "3.141592653589793") == "3.141592653589793");
    CHECK(value(oid::float8, "1e+100") == "1e+100");
    CHECK(value(oid::float4, "-0") == "-0");
    CHECK(value(oid::float8, "NaN") == "\"NaN\"");
    CHECK(value(oid::float8, "Infinity") == "\"Infinity\"");
    CHECK(value(oid::float4, "-Infinity") == "\"-Infinity\"");
}

TEST_CASE("http result: int8 stays exact beyond 2^53") {
    CHECK(value(oid::int8, "9007199254740992") == "9007199254740992");   // 2^53
    CHECK(value(oid::int8, "-9007199254740992") == "-9007199254740992"); // -2^53
    CHECK(value(oid::int8, "9007199254740993") == "\"9007199254740993\"");
    CHECK(value(oid::int8, "-9007199254740993") == "\"-9007199254740993\"");
    CHECK(value(oid::int8, "9223372036854775807") == "\"9223372036854775807\"");
    CHECK(value(oid::int8, "0") == "0");
}

TEST_CASE("http result: numeric as number only when a double holds it exactly") {
    CHECK(value(oid::numeric, "123.450") == "123.450");
    CHECK(value(oid::numeric, "-0.000001") == "-0.000001");
    CHECK(value(oid::numeric, "100000000000000000000") == "100000000000000000000");
    CHECK(value(oid::numeric, "123456789012345") == "123456789012345");       // 15 digits
    CHECK(value(oid::numeric, "1234567890123456") == "\"1234567890123456\""); // 16 digits
    CHECK(value(oid::numeric, "0.1234567890123456789") == "\"0.1234567890123456789\"");
    CHECK(value(oid::numeric, "NaN") == "\"NaN\"");
    CHECK(value(oid::numeric, "-Infinity") == "\"-Infinity\"");
    CHECK(value(oid::numeric, "0") == "0");
}

TEST_CASE("http result: bool, json, text, uuid") {
    CHECK(value(oid::bool_, "t") == "true");
    CHECK(value(oid::bool_, "f") == "false");
    CHECK(value(oid::jsonb, R"({"a": [1, 2, {"b": null}]})") == R"({"a": [1, 2, {"b": null}]})");
    CHECK(value(oid::json, "\"x\"") == "\"x\"");
    CHECK(value(oid::text, "he said \"hi\"\n\\") == R"("he said \"hi\"\n\\")");
    CHECK(value(oid::varchar, "") == "\"\"");
    CHECK(value(oid::uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11") ==
          "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
    CHECK(value(1186, "1 day 02:00:00") == "\"1 day 02:00:00\""); // interval: text
}

TEST_CASE("http result: bytea as base64, hex and escape output") {
    CHECK(value(oid::bytea, "\\x") == "\"\"");
    CHECK(value(oid::bytea, "\\x48656c6c6f") == "\"SGVsbG8=\"");
    CHECK(value(oid::bytea, "\\x00ff10") == "\"AP8Q\"");
    CHECK(value(oid::bytea, "Hel\\\\lo\\000") == "\"SGVsXGxvAA==\""); // escape format
}

TEST_CASE("http result: dates and times as ISO-8601") {
    CHECK(value(oid::date, "2024-02-29") == "\"2024-02-29\"");
    CHECK(value(oid::timestamp, "2024-02-29 13:45:00.123456") == "\"2024-02-29T13:45:00.123456\"");
    CHECK(value(oid::timestamptz, "2024-02-29 13:45:00+00") == "\"2024-02-29T13:45:00+00:00\"");
    CHECK(value(oid::timestamptz, "2024-02-29 13:45:00-03:30") == "\"2024-02-29T13:45:00-03:30\"");
    CHECK(value(oid::timestamptz, "infinity") == "\"infinity\"");
    CHECK(value(1083, "13:45:00") == "\"13:45:00\"");
    CHECK(value(1266, "13:45:00+02") == "\"13:45:00+02:00\"");
}

TEST_CASE("http result: arrays, nested, quoted and NULL elements") {
    CHECK(value(oid::_int4, "{1,2,3}") == "[1,2,3]");
    CHECK(value(oid::_int4, "{}") == "[]");
    CHECK(value(oid::_int8, "{1,9007199254740993,NULL}") == R"([1,"9007199254740993",null])");
    CHECK(value(oid::_text, R"({a,"b c","NULL",NULL,"q\"x","back\\slash"})") ==
          R"(["a","b c","NULL",null,"q\"x","back\\slash"])");
    CHECK(value(oid::_int4, "{{1,2},{3,4}}") == "[[1,2],[3,4]]");
    CHECK(value(oid::_bool, "{t,f}") == "[true,false]");
    CHECK(value(oid::_jsonb, R"({"{\"a\": 1}",null})") == R"([{"a": 1},null])");
    CHECK(value(oid::_int4, "[0:1]={5,6}") == "[5,6]");
    CHECK(value(oid::_timestamptz, R"({"2024-01-01 00:00:00+00"})") ==
          R"(["2024-01-01T00:00:00+00:00"])");
    // Not an array literal after all: the text, as a string.
    CHECK(value(oid::_int4, "{1,2") == "\"{1,2\"");
}

TEST_CASE("http result: JSON string escaping and invalid UTF-8") {
    CHECK(str("a\x01z") == "\"a\\u0001z\"");
    CHECK(str("tab\there") == "\"tab\\there\"");
    CHECK(str("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
    CHECK(str("bad\xc3(") == "\"bad\xef\xbf\xbd(\"");
    CHECK(str("\xed\xa0\x80") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); // surrogate
}

TEST_CASE("http result: type names") {
    CHECK(column_type_name(oid::int4) == "int4");
    CHECK(column_type_name(oid::_text) == "_text");
    CHECK(column_type_name(1186) == "interval");
    CHECK(column_type_name(999999) == "unknown");
}

TEST_CASE("http result: envelope as objects and as arrays") {
    const auto rs =
        make_result({{"id", oid::int8}, {"name", oid::text}, {"tags", oid::_text}},
                    {{"1", "ann", "{x,y}"}, {"9007199254740993", std::nullopt, "{}"}}, "SELECT 2");
    std::string objects;
    append_result_json(objects, rs, row_format::objects);
    CHECK(objects ==
          R"({"columns":[{"name":"id","type":"int8"},{"name":"name","type":"text"},)"
          R"({"name":"tags","type":"_text"}],"rows":[{"id":1,"name":"ann","tags":["x","y"]},)"
          R"({"id":"9007199254740993","name":null,"tags":[]}],"count":2,"command":"SELECT 2"})");
    std::string arrays;
    append_result_json(arrays, rs, row_format::arrays);
    CHECK(arrays.find(R"("rows":[[1,"ann",["x","y"]],["9007199254740993",null,[]]])") !=
          std::string::npos);

    // DML without RETURNING: no columns, the count from the tag.
    const auto dml = make_result({}, {}, "UPDATE 7");
    std::string out;
    append_result_json(out, dml, row_format::objects);
    CHECK(out == R"({"columns":[],"rows":[],"count":7,"command":"UPDATE 7"})");
}
