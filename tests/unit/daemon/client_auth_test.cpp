// Client authentication at the proxy, driven by the codec's SCRAM client and md5 math.
#include "test_support.hpp"

#include <qail/protocol/authentication.hpp>
#include <qail/protocol/frame.hpp>
#include <qail/protocol/md5_password.hpp>
#include <qail/protocol/scram.hpp>
#include <qail/proxy/client_auth.hpp>

#include <cstring>
#include <variant>

namespace {

namespace proto = qail::protocol;
using qail::proxy::client_authenticator;
using qail::proxy::login_method;
using status = client_authenticator::status;

proto::authentication_request decode_request(const std::string& bytes, std::size_t& offset) {
    const auto f = proto::decode_frame(std::string_view{bytes}.substr(offset));
    REQUIRE(f.complete());
    REQUIRE(f.message.type == 'R');
    offset += f.size;
    proto::authentication_request r;
    REQUIRE_FALSE(proto::decode(f.message.body, r));
    return r;
}

// Runs a SCRAM login with `password` against credentials made from `configured`.
status scram_login(std::string_view configured, std::string_view password) {
    auto creds =
        qail::proxy::make_login_credentials(login_method::scram_sha_256, "alice", configured);
    REQUIRE(creds.has_value());
    client_authenticator auth(*creds, {"alice", false, std::nullopt, std::nullopt});
    std::string out;
    REQUIRE(auth.start(out) == status::in_progress);
    std::size_t off = 0;
    const auto sasl = decode_request(out, off);
    REQUIRE(std::holds_alternative<proto::authentication_sasl>(sasl));
    proto::scram_nonce_bytes nonce{};
    nonce.fill(7);
    proto::scram_client client(password, nonce);
    std::string body = std::string("SCRAM-SHA-256") + '\0';
    const std::string& first = client.client_first_message();
    const auto n = static_cast<std::uint32_t>(first.size());
    for (int shift = 24; shift >= 0; shift -= 8)
        body.push_back(static_cast<char>((n >> shift) & 0xFFU));
    body.append(first);
    out.clear();
    REQUIRE(auth.on_response(body, out) == status::in_progress);
    off = 0;
    const auto cont = decode_request(out, off);
    const auto* c = std::get_if<proto::authentication_sasl_continue>(&cont);
    REQUIRE(c != nullptr);
    const auto final_msg = client.handle_server_first(c->data);
    REQUIRE(final_msg.ok());
    out.clear();
    const auto st = auth.on_response(final_msg.message, out);
    if (st == status::ok) {
        off = 0;
        const auto fin = decode_request(out, off);
        const auto* f = std::get_if<proto::authentication_sasl_final>(&fin);
        REQUIRE(f != nullptr);
        CHECK_FALSE(client.verify_server_final(f->data));
        CHECK(std::holds_alternative<proto::authentication_ok>(decode_request(out, off)));
    } else {
        CHECK(auth.failure_reason() == "wrong password");
    }
    return st;
}

} // namespace

TEST_CASE("client auth: SCRAM with a plaintext or verifier password, wrong passwords fail") {
    CHECK(scram_login("s3cret", "s3cret") == status::ok);
    CHECK(scram_login("s3cret", "S3cret") == status::failed);
    std::vector<std::uint8_t> salt(16, 3);
    const auto verifier = proto::format_scram_verifier(proto::make_scram_verifier("pw", salt));
    CHECK(scram_login(verifier, "pw") == status::ok);
    CHECK(scram_login(verifier, "nope") == status::failed);
}

TEST_CASE("client auth: md5 with a plaintext password or a stored hash") {
    for (const std::string& configured :
         {std::string("pw"), proto::md5_password_hash("bob", "pw")}) {
        for (const bool right : {true, false}) {
            auto creds = qail::proxy::make_login_credentials(login_method::md5, "bob", configured);
            REQUIRE(creds.has_value());
            client_authenticator auth(*creds, {"bob", false, std::nullopt, std::nullopt});
            std::string out;
            REQUIRE(auth.start(out) == status::in_progress);
            std::size_t off = 0;
            const auto req = decode_request(out, off);
            const auto* m = std::get_if<proto::authentication_md5_password>(&req);
            REQUIRE(m != nullptr);
            proto::md5_salt salt{};
            std::memcpy(salt.data(), m->salt.data(), 4);
            const std::string resp =
                proto::md5_salted_response("bob", right ? "pw" : "wrong", salt) + '\0';
            out.clear();
            CHECK(auth.on_response(resp, out) == (right ? status::ok : status::failed));
        }
    }
}

TEST_CASE("client auth: an md5 login cannot use a SCRAM verifier, malformed verifiers refused") {
    std::vector<std::uint8_t> salt(16, 3);
    const auto verifier = proto::format_scram_verifier(proto::make_scram_verifier("pw", salt));
    CHECK_FALSE(qail::proxy::make_login_credentials(login_method::md5, "u", verifier));
    CHECK_FALSE(qail::proxy::make_login_credentials(login_method::scram_sha_256, "u",
                                                    "SCRAM-SHA-256$4096:broken"));
    CHECK_FALSE(qail::proxy::make_login_credentials(login_method::scram_sha_256, "u", ""));
}

TEST_CASE("client auth: an unknown user's decoy fails like a wrong password, stably") {
    const auto a = qail::proxy::decoy_credentials("ghost");
    const auto b = qail::proxy::decoy_credentials("ghost");
    REQUIRE(a.verifier.has_value());
    CHECK(a.verifier->salt == b.verifier->salt); // same salt on every attempt
    client_authenticator auth(a, {"ghost", false, std::nullopt, std::nullopt});
    std::string out;
    CHECK(auth.start(out) == status::in_progress);
}

TEST_CASE("client auth: trust succeeds at once, cert needs a matching verified CN") {
    {
        client_authenticator auth({login_method::trust, std::nullopt, {}},
                                  {"carol", false, std::nullopt, std::nullopt});
        std::string out;
        CHECK(auth.start(out) == status::ok);
    }
    {
        client_authenticator auth({login_method::cert, std::nullopt, {}},
                                  {"dave", true, std::nullopt, std::string("dave")});
        std::string out;
        CHECK(auth.start(out) == status::ok);
    }
    for (const auto& cn : {std::optional<std::string>{}, std::optional<std::string>{"mallory"}}) {
        client_authenticator auth({login_method::cert, std::nullopt, {}},
                                  {"dave", true, std::nullopt, cn});
        std::string out;
        CHECK(auth.start(out) == status::failed);
    }
}

TEST_CASE("client auth: out-of-order or malformed responses fail cleanly") {
    auto creds = qail::proxy::make_login_credentials(login_method::scram_sha_256, "a", "pw");
    client_authenticator auth(*creds, {"a", false, std::nullopt, std::nullopt});
    std::string out;
    REQUIRE(auth.start(out) == status::in_progress);
    out.clear();
    CHECK(auth.on_response(std::string("\x01\x02", 2), out) == status::failed);
    CHECK(auth.on_response("anything", out) == status::failed);
}
