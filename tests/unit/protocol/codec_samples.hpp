// Shared test data: one or more encoded samples of every message of both directions.
#pragma once

#include "test_support.hpp"

#include <qail/protocol/message.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qail::protocol::test {

/// One encoded message and the name used in failure output.
struct sample {
    std::string name;
    std::string bytes;
};

/// Encodes `m` with the public encoder and returns the bytes.
template <class Message>
std::string encoded(const Message& m) {
    std::string out;
    writer w(out);
    encode(w, m);
    REQUIRE_FALSE(w.error());
    return out;
}

/// Runs `fn(writer&)` and returns the bytes it wrote.
template <class Fn>
std::string build(Fn&& fn) {
    std::string out;
    writer w(out);
    fn(w);
    REQUIRE_FALSE(w.error());
    return out;
}

inline std::vector<sample> frontend_samples() {
    using namespace std::string_view_literals;
    const std::vector<std::optional<byte_view>> params = {byte_view{"42"}, std::nullopt,
                                                          byte_view{""}, byte_view{"a\0b"sv}};
    const std::vector<std::int16_t> formats = {0, 1, 0, 1};
    const std::vector<std::int16_t> result_formats = {1};
    const std::vector<std::int32_t> oids = {23, 25, 0, 17};
    const std::vector<std::int32_t> no_oids;
    return {
        {"query", encoded(query{"SELECT 1; SELECT 'é'"})},
        {"query empty", encoded(query{""})},
        {"parse", build([&](writer& w) { encode_parse(w, "s1", "SELECT $1,$2,$3,$4", oids); })},
        {"parse unnamed", build([&](writer& w) { encode_parse(w, "", "SELECT 1", no_oids); })},
        {"bind",
         build([&](writer& w) { encode_bind(w, "p1", "s1", formats, params, result_formats); })},
        {"bind empty",
         build([&](writer& w) { encode_bind(w, "", "", no_oids, params, result_formats); })},
        {"describe statement", encoded(describe{target_kind::statement, "s1"})},
        {"describe portal", encoded(describe{target_kind::portal, ""})},
        {"execute", encoded(execute{"p1", 100})},
        {"sync", encoded(sync{})},
        {"flush", encoded(flush{})},
        {"close statement", encoded(close{target_kind::statement, "s1"})},
        {"close portal", encoded(close{target_kind::portal, "p1"})},
        {"copy data", encoded(copy_data{"1\tfoo\n2\t\\N\n"})},
        {"copy done", encoded(copy_done{})},
        {"copy fail", encoded(copy_fail{"aborted by user"})},
        {"function call", build([&](writer& w) {
             encode_function_call(w, 1598, formats, params, format_code::binary);
         })},
        {"terminate", encoded(terminate{})},
        {"sasl initial response",
         encoded(sasl_initial_response{"SCRAM-SHA-256", byte_view{"n,,n=,r=abc"}})},
        {"sasl initial response without data",
         encoded(sasl_initial_response{"SCRAM-SHA-256", std::nullopt})},
        {"sasl response", encoded(sasl_response{"c=biws,r=abc,p=xyz"})},
        {"password", encoded(password_message{"md5abcdef"})},
    };
}

inline std::vector<sample> backend_samples() {
    using namespace std::string_view_literals;
    const std::vector<std::optional<byte_view>> row = {byte_view{"1"}, std::nullopt, byte_view{""},
                                                       byte_view{"\0\1\2"sv}};
    const std::vector<field_description> fields = {
        {"id", 16384, 1, 23, 4, -1, format_code::text},
        {"name", 16384, 2, 25, -1, -1, format_code::binary},
        {"", 0, 0, 705, -2, -1, format_code::text},
    };
    const std::vector<std::string_view> mechanisms = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
    const std::vector<std::string_view> options = {"_pq_.foo", "_pq_.bar"};
    const std::vector<std::int16_t> copy_formats = {0, 1, 0};
    const std::vector<std::int32_t> oids = {23, 25};
    const std::string key32(32, '\x7f');
    error_fields all;
    all.severity = "ERROR";
    all.severity_nonlocalized = "ERROR";
    all.sqlstate = "23505";
    all.message = "duplicate key value violates unique constraint \"users_pkey\"";
    all.detail = "Key (id)=(1) already exists.";
    all.hint = "hint";
    all.position = "8";
    all.internal_position = "3";
    all.internal_query = "SELECT 1";
    all.where = "PL/pgSQL function f()";
    all.schema_name = "public";
    all.table_name = "users";
    all.column_name = "id";
    all.data_type_name = "int4";
    all.constraint_name = "users_pkey";
    all.file = "nbtinsert.c";
    all.line = "666";
    all.routine = "_bt_check_unique";
    error_fields few;
    few.severity = "NOTICE";
    few.message = "hello";
    return {
        {"auth ok", encoded(authentication_request{authentication_ok{}})},
        {"auth kerberos", encoded(authentication_request{authentication_kerberos_v5{}})},
        {"auth cleartext", encoded(authentication_request{authentication_cleartext_password{}})},
        {"auth md5", encoded(authentication_request{authentication_md5_password{"\1\2\0\4"sv}})},
        {"auth gss", encoded(authentication_request{authentication_gss{}})},
        {"auth gss continue", encoded(authentication_request{authentication_gss_continue{"tok"}})},
        {"auth sspi", encoded(authentication_request{authentication_sspi{}})},
        {"auth sasl", build([&](writer& w) { encode_authentication_sasl(w, mechanisms); })},
        {"auth sasl continue",
         encoded(authentication_request{authentication_sasl_continue{"r=abc,s=c2FsdA==,i=4096"}})},
        {"auth sasl final", encoded(authentication_request{authentication_sasl_final{"v=xyz"}})},
        {"backend key data 3.0", encoded(backend_key_data{1234, "\0\1\2\3"sv})},
        {"backend key data 3.2", encoded(backend_key_data{-5, key32})},
        {"negotiate protocol version",
         build([&](writer& w) { encode_negotiate_protocol_version(w, 0, options); })},
        {"parameter status", encoded(parameter_status{"server_version", "18.4"})},
        {"ready idle", encoded(ready_for_query{transaction_status::idle})},
        {"ready in transaction", encoded(ready_for_query{transaction_status::in_transaction})},
        {"ready failed", encoded(ready_for_query{transaction_status::failed})},
        {"row description", build([&](writer& w) { encode_row_description(w, fields); })},
        {"data row", build([&](writer& w) { encode_data_row(w, row); })},
        {"data row empty",
         build([&](writer& w) { encode_data_row(w, std::vector<std::optional<byte_view>>{}); })},
        {"command complete", encoded(command_complete{"INSERT 0 1"})},
        {"empty query", encoded(empty_query_response{})},
        {"error response all fields", encoded(error_response{all})},
        {"notice response", encoded(notice_response{few})},
        {"parse complete", encoded(parse_complete{})},
        {"bind complete", encoded(bind_complete{})},
        {"close complete", encoded(close_complete{})},
        {"parameter description", build([&](writer& w) { encode_parameter_description(w, oids); })},
        {"no data", encoded(no_data{})},
        {"portal suspended", encoded(portal_suspended{})},
        {"copy in response", build([&](writer& w) {
             encode_copy_response(w, backend_tag::copy_in_response, format_code::text,
                                  copy_formats);
         })},
        {"copy out response", build([&](writer& w) {
             encode_copy_response(w, backend_tag::copy_out_response, format_code::binary,
                                  copy_formats);
         })},
        {"copy both response", build([&](writer& w) {
             encode_copy_response(w, backend_tag::copy_both_response, format_code::text,
                                  std::vector<std::int16_t>{});
         })},
        {"copy data", encoded(copy_data{"abc"})},
        {"copy done", encoded(copy_done{})},
        {"notification", encoded(notification_response{77, "chan", "payload"})},
        {"function call response", encoded(function_call_response{byte_view{"\0\0\0\1"sv}})},
        {"function call response null", encoded(function_call_response{std::nullopt})},
    };
}

inline std::vector<sample> startup_samples() {
    using namespace std::string_view_literals;
    const std::vector<std::pair<std::string_view, std::string_view>> params = {
        {"user", "alice"},
        {"database", "appdb"},
        {"options", "-c search_path=a\\,b"},
        {"_pq_.test", ""}};
    const std::string key256(256, 'k');
    return {
        {"startup 3.2",
         build([&](writer& w) { encode_startup_message(w, request_code::protocol_3_2, params); })},
        {"startup 3.0 no params", build([&](writer& w) {
             encode_startup_message(w, request_code::protocol_3_0,
                                    std::vector<std::pair<std::string_view, std::string_view>>{});
         })},
        {"ssl request", encoded(ssl_request{})},
        {"gssenc request", encoded(gssenc_request{})},
        {"cancel 3.0", encoded(cancel_request{42, "\1\2\3\4"sv})},
        {"cancel 3.2 max key", encoded(cancel_request{42, key256})},
    };
}

} // namespace qail::protocol::test
