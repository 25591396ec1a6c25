// Round trips, byte-offset splits and strict error reporting for every message.
#include "codec_samples.hpp"
#include "test_support.hpp"

#include <qail/protocol/message.hpp>

#include <set>
#include <string>
#include <vector>

namespace qail::protocol {
namespace {

using test::sample;

template <class Message>
std::string reencode(const Message& m) {
    std::string out;
    writer w(out);
    encode(w, m);
    REQUIRE_FALSE(w.error());
    return out;
}

std::string reencode(const startup_request& m) {
    std::string out;
    writer w(out);
    std::visit([&w](const auto& v) { encode(w, v); }, m);
    REQUIRE_FALSE(w.error());
    return out;
}

// Runs the round-trip, split and concatenation checks for one direction.
template <class Decode>
void check_samples(const std::vector<sample>& samples, Decode decode_fn) {
    for (const sample& s : samples) {
        CAPTURE(s.name);
        // Round trip: decode the whole message, re-encode it, get the same bytes.
        const auto whole = decode_fn(s.bytes);
        REQUIRE(whole.complete());
        CHECK(whole.size == s.bytes.size());
        CHECK(reencode(whole.message) == s.bytes);

        // Split at every byte offset: every proper prefix asks for more, never
        // more than the message still lacks, and exactly that once the header is in.
        for (std::size_t k = 0; k < s.bytes.size(); ++k) {
            CAPTURE(k);
            const auto part = decode_fn(byte_view{s.bytes}.substr(0, k));
            REQUIRE(part.needs_more());
            CHECK(part.need > 0);
            CHECK(k + part.need <= s.bytes.size());
        }

        // Two messages in one buffer: the first is consumed alone, then the second.
        for (const sample& t : samples) {
            const std::string both = s.bytes + t.bytes;
            const auto first = decode_fn(both);
            REQUIRE(first.complete());
            REQUIRE(first.size == s.bytes.size());
            const auto second = decode_fn(byte_view{both}.substr(first.size));
            REQUIRE(second.complete());
            CHECK(second.size == t.bytes.size());
            CHECK(reencode(second.message) == t.bytes);
        }
    }
}

// Rebuilds a typed message with a different body (length re-computed).
std::string with_body(char type, byte_view body) {
    std::string out;
    writer w(out);
    const auto mark = w.begin_message(type);
    w.put_bytes(body);
    w.end_message(mark);
    return out;
}

// Messages whose body is opaque bytes: any truncation is still a valid message.
const std::set<std::string> opaque_frontend = {"copy data", "sasl initial response",
                                               "sasl initial response without data",
                                               "sasl response", "password"};
const std::set<std::string> opaque_backend = {"auth gss continue", "auth sasl continue",
                                              "auth sasl final", "copy data"};

template <class Decode>
void check_truncations(const std::vector<sample>& samples, const std::set<std::string>& opaque,
                       Decode decode_fn) {
    for (const sample& s : samples) {
        CAPTURE(s.name);
        const byte_view body = byte_view{s.bytes}.substr(frame_header_size);
        // Every shortened body is an error (a specific one), never a crash.
        for (std::size_t cut = 1; cut <= body.size(); ++cut) {
            CAPTURE(cut);
            const std::string shorter = with_body(s.bytes[0], body.substr(0, body.size() - cut));
            const auto d = decode_fn(shorter);
            REQUIRE_FALSE(d.needs_more());
            if (opaque.count(s.name) != 0)
                continue;
            if (d.complete()) {
                // A few shortened bodies are themselves valid messages (a
                // BackendKeyData key of another allowed length, an SASL list
                // ending early); they must re-encode to exactly what was read.
                CHECK(reencode(d.message) == shorter);
                continue;
            }
            const auto e = static_cast<errc>(d.error.value());
            CHECK((e == errc::truncated_field || e == errc::missing_terminator ||
                   e == errc::invalid_key_length || e == errc::invalid_field_value ||
                   e == errc::trailing_bytes));
        }
        // One byte more than the fields need is trailing_bytes for structured bodies.
        if (opaque.count(s.name) == 0) {
            const std::string longer = with_body(s.bytes[0], std::string{body} + "X");
            const auto d = decode_fn(longer);
            if (!d.complete()) {
                const auto e = static_cast<errc>(d.error.value());
                CHECK((e == errc::trailing_bytes || e == errc::invalid_key_length));
            } else {
                // Bodies that end in a variable-length field absorb the byte.
                CHECK(reencode(d.message) == longer);
            }
        }
    }
}

} // namespace

TEST_CASE("every frontend message round-trips, splits at every offset and concatenates") {
    check_samples(test::frontend_samples(), [](byte_view in) { return decode_frontend(in); });
}

TEST_CASE("every backend message round-trips, splits at every offset and concatenates") {
    check_samples(test::backend_samples(), [](byte_view in) { return decode_backend(in); });
}

TEST_CASE("every startup packet round-trips, splits at every offset and concatenates") {
    check_samples(test::startup_samples(), [](byte_view in) { return decode_startup(in); });
}

TEST_CASE("shortened or lengthened frontend bodies give a specific error") {
    check_truncations(test::frontend_samples(), opaque_frontend,
                      [](byte_view in) { return decode_frontend(in); });
}

TEST_CASE("shortened or lengthened backend bodies give a specific error") {
    check_truncations(test::backend_samples(), opaque_backend,
                      [](byte_view in) { return decode_backend(in); });
}

TEST_CASE("unknown type bytes are rejected in each direction") {
    const std::string m = with_body('!', "");
    CHECK(decode_frontend(m).error == errc::unknown_message_type);
    CHECK(decode_backend(m).error == errc::unknown_message_type);
    // 'T' (RowDescription) is a backend message only; 'Q' a frontend one.
    CHECK(decode_frontend(with_body('T', std::string(2, '\0'))).error ==
          errc::unknown_message_type);
    CHECK(decode_backend(with_body('Q', std::string(1, '\0'))).error == errc::unknown_message_type);
}

} // namespace qail::protocol
