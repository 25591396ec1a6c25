// The codec alone, over a plain blocking socket, against real PostgreSQL 15 and 18:
// request protocol 3.2, follow NegotiateProtocolVersion, authenticate, run SELECT 1.
#include "support/pg_env.hpp"

#include <qail/protocol/md5_password.hpp>
#include <qail/protocol/message.hpp>
#include <qail/protocol/scram.hpp>

#include <doctest/doctest.h>

#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace qail::protocol {
namespace {

// Reads whole backend messages from a socket; each comes back in its own
// string so the decoded views stay valid while the caller uses them.
class backend_reader {
public:
    explicit backend_reader(int fd) : fd_(fd) {}

    std::string next_frame() {
        for (;;) {
            const auto f = decode_frame(pending_);
            REQUIRE_FALSE(f.error);
            if (f.complete()) {
                std::string out = pending_.substr(0, f.size);
                pending_.erase(0, f.size);
                return out;
            }
            char buf[8192];
            const std::size_t n = test::recv_some(fd_, buf);
            REQUIRE_MESSAGE(n > 0, "server closed the connection");
            pending_.append(buf, n);
        }
    }

private:
    int fd_;
    std::string pending_;
};

backend_message decode_owned(const std::string& bytes) {
    const auto d = decode_backend(bytes);
    REQUIRE_MESSAGE(d.complete(), d.error.message());
    CHECK(d.size == bytes.size());
    return d.message;
}

std::string error_text(const backend_message& m) {
    if (const auto* e = std::get_if<error_response>(&m))
        return std::string(e->fields.sqlstate) + " " + std::string(e->fields.message);
    return {};
}

template <class Message>
void send(int fd, const Message& m) {
    std::string out;
    writer w(out);
    encode(w, m);
    REQUIRE_FALSE(w.error());
    test::send_all(fd, out);
}

scram_nonce_bytes random_nonce() {
    std::random_device rd;
    scram_nonce_bytes n{};
    for (auto& b : n)
        b = static_cast<std::uint8_t>(rd());
    return n;
}

struct session_facts {
    bool negotiated_down = false;
    std::int32_t newest_version = -1;
    std::size_t key_size = 0;
    std::string server_version;
    std::string auth_method;
};

// Runs the startup phase for `user` and returns what the server said.
session_facts start_session(int fd, backend_reader& in, const test::pg_credentials& user) {
    const std::vector<std::pair<std::string_view, std::string_view>> params = {
        {"user", user.user}, {"database", test::env().database}, {"application_name", "codec"}};
    {
        std::string out;
        writer w(out);
        encode_startup_message(w, request_code::protocol_3_2, params);
        REQUIRE_FALSE(w.error());
        test::send_all(fd, out);
    }
    session_facts facts;
    std::optional<scram_client> scram;
    bool authenticated = false;
    for (;;) {
        const std::string bytes = in.next_frame();
        const backend_message m = decode_owned(bytes);
        REQUIRE_MESSAGE(!std::holds_alternative<error_response>(m), error_text(m));
        if (const auto* n = std::get_if<negotiate_protocol_version>(&m)) {
            REQUIRE_FALSE(authenticated); // only legal before AuthenticationOk
            facts.negotiated_down = true;
            facts.newest_version = n->newest_version;
            continue;
        }
        if (const auto* a = std::get_if<authentication_request>(&m)) {
            if (const auto* sasl = std::get_if<authentication_sasl>(a)) {
                REQUIRE(sasl->mechanisms.contains("SCRAM-SHA-256"));
                facts.auth_method = "SCRAM-SHA-256";
                scram.emplace(user.password, random_nonce());
                send(fd, sasl_initial_response{"SCRAM-SHA-256", scram->client_first_message()});
            } else if (const auto* cont = std::get_if<authentication_sasl_continue>(a)) {
                REQUIRE(scram.has_value());
                const auto r = scram->handle_server_first(cont->data);
                REQUIRE_MESSAGE(r.ok(), r.error.message());
                send(fd, sasl_response{r.message});
            } else if (const auto* fin = std::get_if<authentication_sasl_final>(a)) {
                REQUIRE(scram.has_value());
                const auto ec = scram->verify_server_final(fin->data);
                REQUIRE_MESSAGE(!ec, ec.message());
            } else if (const auto* md5 = std::get_if<authentication_md5_password>(a)) {
                facts.auth_method = "md5";
                std::array<std::uint8_t, 4> salt{};
                for (std::size_t i = 0; i < 4; ++i)
                    salt[i] = static_cast<std::uint8_t>(md5->salt[i]);
                const std::string response = md5_salted_response(user.user, user.password, salt);
                send(fd, password_message{response});
            } else if (std::holds_alternative<authentication_cleartext_password>(*a)) {
                facts.auth_method = "password";
                send(fd, password_message{user.password});
            } else if (std::holds_alternative<authentication_ok>(*a)) {
                if (scram)
                    REQUIRE(scram->complete()); // the server proved it knows the verifier
                authenticated = true;
            } else {
                FAIL("unexpected authentication request");
            }
            continue;
        }
        REQUIRE(authenticated);
        if (const auto* p = std::get_if<parameter_status>(&m)) {
            if (p->name == "server_version")
                facts.server_version = std::string(p->value);
        } else if (const auto* k = std::get_if<backend_key_data>(&m)) {
            facts.key_size = k->secret_key.size();
        } else if (const auto* r = std::get_if<ready_for_query>(&m)) {
            CHECK(r->status == transaction_status::idle);
            return facts;
        } else if (!std::holds_alternative<notice_response>(m)) {
            FAIL("unexpected message during startup");
        }
    }
}

// Runs a one-row query and returns the first column of the row.
std::string select_one_value(int fd, backend_reader& in, std::string_view sql) {
    send(fd, query{sql});
    std::string value;
    bool saw_row_description = false;
    for (;;) {
        const std::string bytes = in.next_frame();
        const backend_message m = decode_owned(bytes);
        REQUIRE_MESSAGE(!std::holds_alternative<error_response>(m), error_text(m));
        if (const auto* rd = std::get_if<row_description>(&m)) {
            REQUIRE(rd->fields.size() == 1);
            saw_row_description = true;
        } else if (const auto* row = std::get_if<data_row>(&m)) {
            REQUIRE(row->values.size() == 1);
            const auto v = *row->values.begin();
            REQUIRE(v.has_value());
            value = std::string(*v);
        } else if (const auto* cc = std::get_if<command_complete>(&m)) {
            CHECK(cc->tag == "SELECT 1");
        } else if (std::holds_alternative<ready_for_query>(m)) {
            CHECK(saw_row_description);
            return value;
        }
    }
}

void run_against(const test::pg_server& server, const test::pg_credentials& user,
                 std::string_view expected_method) {
    CAPTURE(server.name);
    CAPTURE(user.user);
    auto fd = test::connect_tcp(test::env().host, server.port);
    backend_reader in(fd.get());
    const session_facts facts = start_session(fd.get(), in, user);
    CHECK(facts.auth_method == expected_method);
    CHECK(facts.server_version.rfind(std::to_string(server.major_version) + ".", 0) == 0);
    if (server.major_version >= 18) {
        // PostgreSQL 18 speaks 3.2: no downgrade, and a cancel key longer than 4 bytes.
        CHECK_FALSE(facts.negotiated_down);
        CHECK(facts.key_size > 4);
    } else {
        // PostgreSQL 15 answers NegotiateProtocolVersion offering 3.0, and 4-byte keys.
        CHECK(facts.negotiated_down);
        CHECK(facts.newest_version == request_code::protocol_3_0);
        CHECK(facts.key_size == 4);
    }
    CHECK(select_one_value(fd.get(), in, "SELECT 1") == "1");
    send(fd.get(), terminate{});
}

} // namespace

TEST_CASE("codec over a socket: protocol 3.2 request, SCRAM-SHA-256, SELECT 1 on PG 15 and 18") {
    for (const auto* server : test::env().servers())
        run_against(*server, test::env().scram, "SCRAM-SHA-256");
}

TEST_CASE("codec over a socket: MD5 and cleartext password auth on PG 15 and 18") {
    for (const auto* server : test::env().servers()) {
        run_against(*server, test::env().md5, "md5");
        run_against(*server, test::env().password, "password");
    }
}

TEST_CASE("codec over a socket: a wrong SCRAM password gets ErrorResponse 28P01") {
    for (const auto* server : test::env().servers()) {
        CAPTURE(server->name);
        auto fd = test::connect_tcp(test::env().host, server->port);
        backend_reader in(fd.get());
        const std::vector<std::pair<std::string_view, std::string_view>> params = {
            {"user", test::env().scram.user}, {"database", test::env().database}};
        std::string out;
        writer w(out);
        encode_startup_message(w, request_code::protocol_3_2, params);
        test::send_all(fd.get(), out);
        std::optional<scram_client> scram;
        std::string sqlstate;
        while (sqlstate.empty()) {
            const std::string bytes = in.next_frame();
            const backend_message m = decode_owned(bytes);
            if (const auto* e = std::get_if<error_response>(&m)) {
                sqlstate = std::string(e->fields.sqlstate);
                CHECK(e->fields.severity == "FATAL");
            } else if (const auto* a = std::get_if<authentication_request>(&m)) {
                if (std::holds_alternative<authentication_sasl>(*a)) {
                    scram.emplace("not-the-password", random_nonce());
                    send(fd.get(),
                         sasl_initial_response{"SCRAM-SHA-256", scram->client_first_message()});
                } else if (const auto* c = std::get_if<authentication_sasl_continue>(a)) {
                    const auto r = scram->handle_server_first(c->data);
                    REQUIRE(r.ok());
                    send(fd.get(), sasl_response{r.message});
                } else {
                    FAIL("unexpected authentication message");
                }
            }
        }
        CHECK(sqlstate == "28P01");
    }
}

} // namespace qail::protocol
