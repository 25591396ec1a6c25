// Every supported type through a real server and back, in text and binary format,
// with NULLs, empty strings, unicode, zero bytes and numeric extremes.
#include "support/async.hpp"
#include "support/pg_env.hpp"

#include <qail/client/connection.hpp>

#include <doctest/doctest.h>

#include <boost/asio/this_coro.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

namespace qail::client {
namespace {

namespace asio = boost::asio;
namespace proto = qail::protocol;
using test::env;

template <class T>
bool same(const T& a, const T& b) {
    if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a) || std::isnan(b))
            return std::isnan(a) && std::isnan(b);
        return a == b && std::signbit(a) == std::signbit(b);
    } else {
        return a == b;
    }
}

// Sends `v` as a parameter cast to `type` and reads it back as T, in `fmt` both ways.
template <class T>
asio::awaitable<void> roundtrip(connection& c, const char* type, const T& v) {
    for (const auto fmt :
         std::vector<proto::format_code>{proto::format_code::text, proto::format_code::binary}) {
        CAPTURE(type);
        CAPTURE(static_cast<int>(fmt));
        const param p = to_param(v, fmt);
        const std::string sql = std::string("SELECT $1::") + type;
        auto r = co_await c.query(sql, std::span<const param>(&p, 1), fmt);
        REQUIRE_MESSAGE(r.has_value(), (r ? std::string{} : r.error().message()));
        REQUIRE(r->size() == 1);
        auto got = (*r)[0].template get<T>(0);
        REQUIRE_MESSAGE(got.has_value(), (got ? std::string{} : got.error().message()));
        CHECK(same(*got, v));
    }
}

// A round trip to run later: built in a plain function, because GCC 12 rejects
// initializer lists inside coroutine bodies ("array used as initializer").
using roundtrip_case = std::function<asio::awaitable<void>(connection&)>;

template <class T>
void add(std::vector<roundtrip_case>& cases, const char* type, T v) {
    cases.push_back([type, v](connection& c) { return roundtrip(c, type, v); });
}

std::vector<roundtrip_case> all_cases() {
    std::vector<roundtrip_case> cases;
    using std::numeric_limits;
    add(cases, "bool", true);
    add(cases, "bool", false);
    for (std::int16_t v :
         std::vector<std::int16_t>{std::int16_t{0}, numeric_limits<std::int16_t>::min(),
                                   numeric_limits<std::int16_t>::max()})
        add(cases, "int2", v);
    for (std::int32_t v : std::vector<std::int32_t>{0, -1, numeric_limits<std::int32_t>::min(),
                                                    numeric_limits<std::int32_t>::max()})
        add(cases, "int4", v);
    for (std::int64_t v : std::vector<std::int64_t>{
             std::int64_t{0}, numeric_limits<std::int64_t>::min(),
             numeric_limits<std::int64_t>::max(), std::int64_t{9007199254740993}})
        add(cases, "int8", v);
    for (float v :
         std::vector<float>{0.0F, -0.0F, 1.5F, numeric_limits<float>::max(),
                            numeric_limits<float>::denorm_min(), numeric_limits<float>::infinity(),
                            -numeric_limits<float>::infinity(), numeric_limits<float>::quiet_NaN()})
        add(cases, "float4", v);
    for (double v : std::vector<double>{
             0.1, -0.0, numeric_limits<double>::max(), numeric_limits<double>::min(),
             numeric_limits<double>::denorm_min(), numeric_limits<double>::infinity(),
             -numeric_limits<double>::infinity(), numeric_limits<double>::quiet_NaN()})
        add(cases, "float8", v);
    for (std::string v : std::vector<std::string>{std::string{}, std::string{"plain"},
                                                  std::string{"unicode: żółw 🐢 中文"},
                                                  std::string{"quote ' and \" and \\ backslash"}})
        add(cases, "text", v);
    add(cases, "varchar", std::string{"varchar ✓"});
    add(cases, "bytea", bytea{std::string("\0\1\2\xff\0", 5)});
    add(cases, "bytea", bytea{});
    add(cases, "uuid", uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").value());
    for (std::string_view n : std::vector<std::string_view>{
             "0", "-0.0001", "12345.678", "1.500", "NaN", "Infinity", "-Infinity",
             "123456789012345678901234567890.123456789012345678901234567890"})
        add(cases, "numeric", numeric::parse(n).value());
    for (std::string_view d : std::vector<std::string_view>{
             "2000-01-01", "1999-12-31", "2026-11-24", "0001-01-01", "9999-12-31"})
        add(cases, "date", date::parse(d).value());
    add(cases, "date", date::infinity());
    add(cases, "date", date::minus_infinity());
    for (std::string_view t : std::vector<std::string_view>{
             "2026-11-24 04:20:46", "2000-01-01 00:00:00.000001", "1970-01-01 00:00:00"})
        add(cases, "timestamp", timestamp::parse(t).value());
    add(cases, "timestamp", timestamp::infinity());
    add(cases, "timestamptz", timestamptz::parse("2026-11-24 04:20:46.5+05:30").value());
    add(cases, "timestamptz", timestamptz::minus_infinity());
    add(cases, "json", json{R"({"b": [1, 2], "a": null})"});
    add(cases, "jsonb", jsonb{R"({"a": 1, "b": "x"})"});
    add(cases, "int4[]", std::vector<std::int32_t>{1, -2, 3});
    add(cases, "int8[]", std::vector<std::int64_t>{});
    add(cases, "text[]",
        std::vector<std::optional<std::string>>{"a", std::nullopt, "", "with space", "NULL",
                                                "{brace}", "quote\"", "back\\slash"});
    add(cases, "float8[]", std::vector<double>{1.5, -0.25});
    add(cases, "bool[]", std::vector<bool>{true, false});
    add(cases, "uuid[]",
        std::vector<uuid>{uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").value()});
    add(cases, "numeric[]", std::vector<numeric>{numeric::parse("1.10").value()});
    add(cases, "date[]", std::vector<date>{date::parse("2026-11-24").value()});
    add(cases, "timestamptz[]",
        std::vector<timestamptz>{timestamptz::parse("2026-11-24 00:00:00+00").value()});
    add(cases, "jsonb[]", std::vector<jsonb>{jsonb{R"({"k": [true]})"}});
    add(cases, "bytea[]", std::vector<bytea>{bytea{std::string("\0z", 2)}});
    // NULL through optional, in both formats.
    add(cases, "int4", std::optional<std::int32_t>{});
    add(cases, "text", std::optional<std::string>{});
    add(cases, "text", std::optional<std::string>{""});
    return cases;
}

asio::awaitable<void> all_types(connection& c) {
    for (const auto& one : all_cases())
        co_await one(c);
}

} // namespace

TEST_CASE("driver types: every supported type round-trips in text and binary on PG 15 and 18") {
    test::run_async([]() -> asio::awaitable<void> {
        for (const auto* server : env().servers()) {
            CAPTURE(server->name);
            connect_options o;
            o.hosts = {host_spec{env().host, server->port, {}}};
            o.user = env().scram.user;
            o.password = env().scram.password;
            o.dbname = env().database;
            o.sslmode = ssl_mode::disable;
            auto ex = co_await asio::this_coro::executor;
            auto c = co_await connection::connect(ex, o);
            REQUIRE(c.has_value());
            co_await all_types(**c);
        }
    });
}

TEST_CASE("driver types: rows by name, typed access errors") {
    test::run_async([]() -> asio::awaitable<void> {
        connect_options o;
        o.hosts = {host_spec{env().host, env().pg18.port, {}}};
        o.user = env().scram.user;
        o.password = env().scram.password;
        o.dbname = env().database;
        o.sslmode = ssl_mode::disable;
        auto ex = co_await asio::this_coro::executor;
        auto c = co_await connection::connect(ex, o);
        REQUIRE(c.has_value());
        auto r = co_await (*c)->execute("SELECT $1::int AS id, $2::text AS name, NULL::int AS none",
                                        std::int32_t{7}, std::string{"alice"});
        REQUIRE(r.has_value());
        const row first = (*r)[0];
        CHECK(first.as<std::int32_t>("id") == 7);
        CHECK(first.as<std::string>("name") == "alice");
        CHECK(first.get<std::int32_t>("none").error() == errc::unexpected_null);
        CHECK_FALSE(first.get<std::optional<std::int32_t>>("none")->has_value());
        CHECK(first.get<std::int32_t>("missing").error() == errc::column_not_found);
        CHECK(first.get<uuid>("name").error() == errc::type_mismatch);
    });
}

} // namespace qail::client
