// Framing: length validation before allocation, need-more accounting, startup packets.
#include "test_support.hpp"

#include <qail/protocol/message.hpp>

#include <deque>
#include <limits>
#include <string>

namespace qail::protocol {
namespace {

using namespace std::string_literals;

std::string header(char type, std::int32_t length) {
    std::string s(1, type);
    writer w(s);
    w.put_i32(length);
    return s;
}

// Keeps a payload alive for the rest of the test run: decoded messages are views.
byte_view keep(std::string s) {
    static std::deque<std::string> store;
    return store.emplace_back(std::move(s));
}

std::string untyped(std::int32_t length, std::int32_t code) {
    std::string s;
    writer w(s);
    w.put_i32(length);
    w.put_i32(code);
    return s;
}

} // namespace

TEST_CASE("a typed message needs its 5-byte header first") {
    for (std::size_t k = 0; k < 5; ++k) {
        const auto d = decode_frame(std::string(k, 'Q'));
        CHECK(d.needs_more());
        CHECK(d.need == 5 - k);
    }
}

TEST_CASE("lengths below 4 are length_too_short, including negative ones") {
    for (std::int32_t len : {0, 1, 2, 3, -1, -4, std::numeric_limits<std::int32_t>::min()}) {
        CAPTURE(len);
        CHECK(decode_frame(header('Q', len)).error == errc::length_too_short);
    }
}

TEST_CASE("a length over the maximum is refused before the body arrives") {
    limits lim;
    lim.max_message_size = 1024;
    CHECK(decode_frame(header('d', 4 + 1024), lim).needs_more());
    CHECK(decode_frame(header('d', 4 + 1025), lim).error == errc::message_too_large);
    // A 2 GiB header with the default limit: refused at once, nothing allocated.
    CHECK(decode_frame(header('d', std::numeric_limits<std::int32_t>::max())).error ==
          errc::message_too_large);
}

TEST_CASE("need counts exactly the missing body bytes once the header is in") {
    const std::string msg = header('d', 4 + 10) + "0123456789";
    for (std::size_t k = 5; k < msg.size(); ++k) {
        const auto d = decode_frame(byte_view{msg}.substr(0, k));
        REQUIRE(d.needs_more());
        CHECK(d.need == msg.size() - k);
    }
    const std::string with_trailing = msg + "trailing";
    const auto d = decode_frame(with_trailing);
    REQUIRE(d.complete());
    CHECK(d.size == msg.size());
    CHECK(d.message.type == 'd');
    CHECK(d.message.body == "0123456789");
    CHECK(d.message.wire_size() == msg.size());
}

TEST_CASE("startup packets: lengths below 8 and above the startup maximum") {
    CHECK(decode_startup_frame("\0\0"s).need == 2);
    for (std::int32_t len : {0, 4, 7, -1, -8})
        CHECK(decode_startup_frame(untyped(len, request_code::ssl)).error ==
              errc::length_too_short);
    CHECK(decode_startup_frame(untyped(10001, request_code::protocol_3_0)).error ==
          errc::message_too_large);
    CHECK(decode_startup_frame(untyped(std::numeric_limits<std::int32_t>::max(), 0)).error ==
          errc::message_too_large);
    const auto d = decode_startup_frame(untyped(10000, request_code::protocol_3_0));
    CHECK(d.needs_more());
    CHECK(d.need == 10000 - 8);
}

TEST_CASE("startup request codes") {
    startup_request r;
    CHECK_FALSE(decode(startup_frame{request_code::ssl, ""}, r));
    CHECK(std::holds_alternative<ssl_request>(r));
    CHECK_FALSE(decode(startup_frame{request_code::gssenc, ""}, r));
    CHECK(std::holds_alternative<gssenc_request>(r));
    CHECK(decode(startup_frame{request_code::ssl, "x"}, r) == errc::trailing_bytes);
    // Protocol 2.0 and garbage codes are unknown_request_code.
    CHECK(decode(startup_frame{protocol_version(2, 0), ""}, r) == errc::unknown_request_code);
    CHECK(decode(startup_frame{protocol_version(1234, 9999), ""}, r) == errc::unknown_request_code);
    // Any 3.x minor version decodes as a StartupMessage.
    CHECK_FALSE(decode(startup_frame{protocol_version(3, 9), keep("user\0bob\0\0"s)}, r));
    REQUIRE(std::holds_alternative<startup_message>(r));
    const auto& m = std::get<startup_message>(r);
    CHECK(protocol_minor(m.version) == 9);
    CHECK(m.params.find("user") == std::optional<std::string_view>{"bob"});
    CHECK_FALSE(m.params.find("database").has_value());
}

TEST_CASE("StartupMessage parameter lists are strict") {
    startup_request r;
    const auto code = request_code::protocol_3_2;
    // Missing final terminator.
    CHECK(decode(startup_frame{code, keep("user\0bob\0"s)}, r) == errc::missing_terminator);
    // Name without value.
    CHECK(decode(startup_frame{code, keep("user\0"s)}, r) == errc::invalid_startup_parameters);
    // Bytes after the terminator.
    CHECK(decode(startup_frame{code, keep("user\0bob\0\0x"s)}, r) == errc::trailing_bytes);
    // Empty list is fine (policy, not the codec, demands "user").
    CHECK_FALSE(decode(startup_frame{code, keep("\0"s)}, r));
    CHECK(std::get<startup_message>(r).params.size() == 0);
    // Duplicate names: find() returns the last, as PostgreSQL does.
    CHECK_FALSE(decode(startup_frame{code, keep("a\0one\0a\0two\0\0"s)}, r));
    CHECK(std::get<startup_message>(r).params.find("a") == std::optional<std::string_view>{"two"});
}

TEST_CASE("CancelRequest keys: 4 bytes (3.0) up to 256 bytes (3.2)") {
    startup_request r;
    std::string pid = "\0\0\0\7"s;
    for (std::size_t len : {std::size_t{4}, std::size_t{32}, std::size_t{256}}) {
        REQUIRE_FALSE(
            decode(startup_frame{request_code::cancel, keep(pid + std::string(len, 'k'))}, r));
        const auto& c = std::get<cancel_request>(r);
        CHECK(c.process_id == 7);
        CHECK(c.secret_key.size() == len);
    }
    for (std::size_t len : {std::size_t{0}, std::size_t{3}, std::size_t{257}})
        CHECK(decode(startup_frame{request_code::cancel, keep(pid + std::string(len, 'k'))}, r) ==
              errc::invalid_key_length);
    CHECK(decode(startup_frame{request_code::cancel, keep("\0\0"s)}, r) == errc::truncated_field);
}

} // namespace qail::protocol
