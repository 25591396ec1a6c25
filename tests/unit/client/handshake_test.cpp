// The startup state machine against scripted server messages: negotiation, the
// 3.0 retry rule, auth policy, channel binding, and strict ordering.
#include "test_support.hpp"

#include <qail/client/handshake.hpp>
#include <qail/protocol/md5_password.hpp>
#include <qail/protocol/message.hpp>
#include <qail/protocol/scram.hpp>

#include <deque>
#include <string>
#include <vector>

namespace qail::client {
namespace {

namespace proto = qail::protocol;
using namespace std::string_literals;

// Encodes a backend message and decodes it back, so tests feed exactly what a
// socket would deliver. The bytes are kept alive for the views.
proto::backend_message wire(const proto::backend_message& m) {
    static std::deque<std::string> keep;
    std::string& bytes = keep.emplace_back();
    proto::writer w(bytes);
    proto::encode(w, m);
    REQUIRE_FALSE(w.error());
    const auto d = proto::decode_backend(bytes);
    REQUIRE(d.complete());
    return d.message;
}

proto::backend_message auth(proto::authentication_request r) {
    return wire(r);
}

proto::backend_message sasl(std::vector<std::string_view> mechs) {
    static std::deque<std::string> keep;
    std::string& bytes = keep.emplace_back();
    proto::writer w(bytes);
    proto::encode_authentication_sasl(w, mechs);
    const auto d = proto::decode_backend(bytes);
    REQUIRE(d.complete());
    return d.message;
}

proto::backend_message error(std::string_view sqlstate, std::string_view message) {
    proto::error_fields f;
    f.severity = "FATAL";
    f.sqlstate = sqlstate;
    f.message = message;
    return wire(proto::error_response{f});
}

handshake_settings settings() {
    handshake_settings s;
    s.user = "alice";
    s.password = "secret";
    s.database = "appdb";
    s.parameters = {{"application_name", "test"}};
    return s;
}

// Runs the tail every successful startup shares.
void finish_startup(startup_handshake& h) {
    std::string out;
    REQUIRE(h.on_message(wire(proto::parameter_status{"server_version", "18.4"}), out) ==
            handshake_status::in_progress);
    REQUIRE(h.on_message(wire(proto::backend_key_data{42, std::string(32, 'k')}), out) ==
            handshake_status::in_progress);
    REQUIRE(h.on_message(wire(proto::ready_for_query{proto::transaction_status::idle}), out) ==
            handshake_status::ready);
    CHECK(out.empty());
}

// Plays a SCRAM server (verifier of "secret") against the handshake.
struct scram_peer {
    proto::scram_server server;
    explicit scram_peer(std::string_view password = "secret", proto::scram_server_options opts = {})
        : server(proto::make_scram_verifier(password, std::vector<std::uint8_t>(16, 7)),
                 proto::scram_nonce_bytes{}, std::move(opts)) {}
};

// Extracts the SASL payload of the 'p' message(s) the client wrote.
proto::sasl_initial_response initial_response(const std::string& out) {
    const auto f = proto::decode_frame(out);
    REQUIRE(f.complete());
    REQUIRE(f.message.type == 'p');
    proto::sasl_initial_response r;
    REQUIRE_FALSE(proto::decode(f.message.body, r));
    return r;
}

} // namespace

TEST_CASE("handshake: StartupMessage requests 3.2 with user, database and parameters") {
    startup_handshake h(settings());
    std::string out;
    h.start(out);
    const auto d = proto::decode_startup(out);
    REQUIRE(d.complete());
    const auto& m = std::get<proto::startup_message>(d.message);
    CHECK(m.version == proto::request_code::protocol_3_2);
    CHECK(m.params.find("user") == std::optional<std::string_view>{"alice"});
    CHECK(m.params.find("database") == std::optional<std::string_view>{"appdb"});
    CHECK(m.params.find("application_name") == std::optional<std::string_view>{"test"});
}

TEST_CASE("handshake: NegotiateProtocolVersion before auth lowers the version to 3.0") {
    startup_handshake h(settings());
    std::string out;
    h.start(out);
    out.clear();
    const std::vector<std::string_view> none;
    std::string npv;
    proto::writer w(npv);
    proto::encode_negotiate_protocol_version(w, proto::request_code::protocol_3_0, none);
    REQUIRE(h.on_message(proto::decode_backend(npv).message, out) == handshake_status::in_progress);
    CHECK(h.protocol_version() == proto::request_code::protocol_3_0);
    REQUIRE(h.on_message(auth(proto::authentication_ok{}), out) == handshake_status::in_progress);
    std::string rest;
    CHECK(h.on_message(wire(proto::backend_key_data{1, "abcd"}), rest) ==
          handshake_status::in_progress);
    CHECK(h.on_message(wire(proto::ready_for_query{}), rest) == handshake_status::ready);
}

TEST_CASE("handshake: NegotiateProtocolVersion upwards, twice, or after auth is refused") {
    const std::vector<std::string_view> none;
    auto npv = [&](std::int32_t v) {
        static std::deque<std::string> keep;
        std::string& b = keep.emplace_back();
        proto::writer w(b);
        proto::encode_negotiate_protocol_version(w, v, none);
        return proto::decode_backend(b).message;
    };
    std::string out;
    {
        startup_handshake h(settings());
        CHECK(h.on_message(npv(proto::protocol_version(3, 5)), out) == handshake_status::failed);
        CHECK(h.error() == errc::invalid_protocol_negotiation);
    }
    {
        startup_handshake h(settings());
        REQUIRE(h.on_message(npv(proto::request_code::protocol_3_0), out) ==
                handshake_status::in_progress);
        CHECK(h.on_message(npv(proto::request_code::protocol_3_0), out) ==
              handshake_status::failed);
    }
    {
        startup_handshake h(settings());
        REQUIRE(h.on_message(auth(proto::authentication_ok{}), out) ==
                handshake_status::in_progress);
        CHECK(h.on_message(npv(proto::request_code::protocol_3_0), out) ==
              handshake_status::failed);
        CHECK(h.error() == errc::invalid_protocol_negotiation);
    }
}

TEST_CASE("handshake: 0A000 rejection of 3.2 asks for one retry, under 3.0 it is final") {
    std::string out;
    startup_handshake h(settings());
    CHECK(h.on_message(error("0A000", "unsupported frontend protocol 3.2: server supports 3.0 "
                                      "to 3.0"),
                       out) == handshake_status::retry_with_3_0);
    auto s = settings();
    s.requested_version = proto::request_code::protocol_3_0;
    startup_handshake again(s);
    CHECK(again.on_message(error("0A000", "unsupported frontend protocol 3.0"), out) ==
          handshake_status::failed);
    CHECK(again.error() == errc::server_error);
    REQUIRE(again.server_error().has_value());
    CHECK(again.server_error()->sqlstate == "0A000");
}

TEST_CASE("handshake: an auth failure 28P01 never triggers the retry") {
    std::string out;
    startup_handshake h(settings());
    CHECK(h.on_message(error("28P01", "password authentication failed for user \"alice\""), out) ==
          handshake_status::failed);
    CHECK(h.error() == errc::server_error);
    CHECK(h.server_error()->sqlstate == "28P01");
}

TEST_CASE("handshake: full SCRAM-SHA-256 exchange with a verifying server") {
    scram_peer peer;
    startup_handshake h(settings());
    std::string out;
    REQUIRE(h.on_message(sasl({"SCRAM-SHA-256"}), out) == handshake_status::in_progress);
    const auto first = initial_response(out);
    CHECK(first.mechanism == "SCRAM-SHA-256");
    REQUIRE(first.data.has_value());
    const auto server_first = peer.server.handle_client_first(first.mechanism, *first.data);
    REQUIRE(server_first.ok());
    out.clear();
    REQUIRE(h.on_message(auth(proto::authentication_sasl_continue{server_first.message}), out) ==
            handshake_status::in_progress);
    const auto f = proto::decode_frame(out);
    REQUIRE(f.complete());
    const auto server_final = peer.server.handle_client_final(f.message.body);
    REQUIRE(server_final.ok());
    out.clear();
    REQUIRE(h.on_message(auth(proto::authentication_sasl_final{server_final.message}), out) ==
            handshake_status::in_progress);
    REQUIRE(h.on_message(auth(proto::authentication_ok{}), out) == handshake_status::in_progress);
    finish_startup(h);
    CHECK(h.method() == auth_method::scram_sha_256);
    CHECK(h.backend_pid() == 42);
    CHECK(h.backend_key().size() == 32);
}

TEST_CASE("handshake: AuthenticationOk without SASLFinal is auth_incomplete") {
    startup_handshake h(settings());
    std::string out;
    REQUIRE(h.on_message(sasl({"SCRAM-SHA-256"}), out) == handshake_status::in_progress);
    CHECK(h.on_message(auth(proto::authentication_ok{}), out) == handshake_status::failed);
    CHECK(h.error() == errc::auth_incomplete);
}

TEST_CASE("handshake: a wrong server signature fails even if the server says OK") {
    startup_handshake h(settings());
    scram_peer impostor("other-password");
    std::string out;
    REQUIRE(h.on_message(sasl({"SCRAM-SHA-256"}), out) == handshake_status::in_progress);
    const auto first = initial_response(out);
    const auto server_first = impostor.server.handle_client_first(first.mechanism, *first.data);
    out.clear();
    REQUIRE(h.on_message(auth(proto::authentication_sasl_continue{server_first.message}), out) ==
            handshake_status::in_progress);
    CHECK(h.on_message(auth(proto::authentication_sasl_final{
                           "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}),
                       out) == handshake_status::failed);
}

TEST_CASE("handshake: the auth policy refuses before any secret is sent") {
    std::string out;
    auto s = settings();
    s.policy.allow_md5 = false;
    s.policy.allow_cleartext = false;
    {
        startup_handshake h(s);
        CHECK(h.on_message(auth(proto::authentication_md5_password{"\1\2\3\4"}), out) ==
              handshake_status::failed);
        CHECK(h.error() == errc::auth_method_not_allowed);
    }
    {
        startup_handshake h(s);
        CHECK(h.on_message(auth(proto::authentication_cleartext_password{}), out) ==
              handshake_status::failed);
        CHECK(h.error() == errc::auth_method_not_allowed);
    }
    CHECK(out.empty());
    s = settings();
    s.policy.allow_scram = false;
    startup_handshake h(s);
    CHECK(h.on_message(sasl({"SCRAM-SHA-256"}), out) == handshake_status::failed);
    CHECK(out.empty());
}

TEST_CASE("handshake: md5 and cleartext answers") {
    std::string out;
    {
        startup_handshake h(settings());
        REQUIRE(h.on_message(auth(proto::authentication_md5_password{"\1\2\3\4"}), out) ==
                handshake_status::in_progress);
        const auto f = proto::decode_frame(out);
        REQUIRE(f.complete());
        proto::password_message pm;
        REQUIRE_FALSE(proto::decode(f.message.body, pm));
        CHECK(pm.password ==
              proto::md5_salted_response("alice", "secret", proto::md5_salt{1, 2, 3, 4}));
        CHECK(h.method() == auth_method::md5);
    }
    out.clear();
    {
        startup_handshake h(settings());
        REQUIRE(h.on_message(auth(proto::authentication_cleartext_password{}), out) ==
                handshake_status::in_progress);
        const auto f = proto::decode_frame(out);
        proto::password_message pm;
        REQUIRE_FALSE(proto::decode(f.message.body, pm));
        CHECK(pm.password == "secret");
    }
}

TEST_CASE("handshake: channel_binding=require without TLS fails before sending anything") {
    auto s = settings();
    s.channel_binding = channel_binding_mode::require;
    std::string out;
    {
        startup_handshake h(s);
        CHECK(h.on_message(sasl({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}), out) ==
              handshake_status::failed);
        CHECK(h.error() == errc::channel_binding_required);
    }
    {
        startup_handshake h(s);
        CHECK(h.on_message(auth(proto::authentication_cleartext_password{}), out) ==
              handshake_status::failed);
        CHECK(h.error() == errc::channel_binding_required);
    }
    {
        // Trust auth: the server lets us in without proving anything.
        startup_handshake h(s);
        CHECK(h.on_message(auth(proto::authentication_ok{}), out) == handshake_status::failed);
        CHECK(h.error() == errc::channel_binding_required);
    }
    CHECK(out.empty());
}

TEST_CASE("handshake: with TLS binding data, SCRAM-SHA-256-PLUS is chosen and verified") {
    auto s = settings();
    s.tls = true;
    s.channel_binding_data = std::vector<std::uint8_t>(32, 0xab);
    proto::scram_server_options so;
    so.channel_binding_offered = true;
    so.channel_binding_data = s.channel_binding_data;
    scram_peer peer("secret", so);
    startup_handshake h(s);
    std::string out;
    REQUIRE(h.on_message(sasl({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}), out) ==
            handshake_status::in_progress);
    const auto first = initial_response(out);
    CHECK(first.mechanism == "SCRAM-SHA-256-PLUS");
    CHECK(first.data->substr(0, 23) == "p=tls-server-end-point,");
    const auto sf = peer.server.handle_client_first(first.mechanism, *first.data);
    REQUIRE(sf.ok());
    out.clear();
    REQUIRE(h.on_message(auth(proto::authentication_sasl_continue{sf.message}), out) ==
            handshake_status::in_progress);
    const auto f = proto::decode_frame(out);
    const auto fin = peer.server.handle_client_final(f.message.body);
    REQUIRE_MESSAGE(fin.ok(), fin.error.message());
    REQUIRE(h.on_message(auth(proto::authentication_sasl_final{fin.message}), out) ==
            handshake_status::in_progress);
    REQUIRE(h.on_message(auth(proto::authentication_ok{}), out) == handshake_status::in_progress);
    finish_startup(h);
    CHECK(h.method() == auth_method::scram_sha_256_plus);
}

TEST_CASE("handshake: strict ordering of the startup messages") {
    std::string out;
    {
        startup_handshake h(settings());
        CHECK(h.on_message(wire(proto::parameter_status{"a", "b"}), out) ==
              handshake_status::failed);
        CHECK(h.error() == errc::protocol_violation);
    }
    {
        startup_handshake h(settings());
        CHECK(h.on_message(wire(proto::backend_key_data{1, "abcd"}), out) ==
              handshake_status::failed);
    }
    {
        startup_handshake h(settings());
        REQUIRE(h.on_message(auth(proto::authentication_ok{}), out) ==
                handshake_status::in_progress);
        CHECK(h.on_message(auth(proto::authentication_cleartext_password{}), out) ==
              handshake_status::failed);
    }
    {
        startup_handshake h(settings());
        REQUIRE(h.on_message(auth(proto::authentication_ok{}), out) ==
                handshake_status::in_progress);
        CHECK(h.on_message(wire(proto::ready_for_query{proto::transaction_status::in_transaction}),
                           out) == handshake_status::failed);
    }
    {
        startup_handshake h(settings());
        REQUIRE(h.on_message(sasl({"SCRAM-SHA-256"}), out) == handshake_status::in_progress);
        CHECK(h.on_message(auth(proto::authentication_sasl_final{"v=x"}), out) ==
              handshake_status::failed);
    }
    {
        startup_handshake h(settings());
        CHECK(h.on_message(wire(proto::data_row{}), out) == handshake_status::failed);
    }
}

} // namespace qail::client
