// SCRAM: RFC 7677 vector both sides, client vs server, malformed input, verifiers, SASLprep.
#include <qail/protocol/base64.hpp>
#include <qail/protocol/error.hpp>
#include <qail/protocol/scram.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Compares an error_code with an errc (errc::ok meaning "no error", whatever the
// category) and prints the actual message on failure. Evaluates `ec` once.
#define CHECK_ERRC(ec, expected)                                                                   \
    do {                                                                                           \
        const std::error_code check_errc_actual = (ec);                                            \
        CHECK_MESSAGE(::qail::protocol::matches(check_errc_actual, (expected)),                    \
                      check_errc_actual.message());                                                \
    } while (false)

namespace qail::protocol {
namespace {

using namespace std::string_literals;

bool matches(std::error_code actual, errc expected) {
    return expected == errc::ok ? !actual : actual == expected;
}

// --- RFC 7677 section 3 -----------------------------------------------------------------
constexpr std::string_view rfc_password = "pencil";
constexpr std::string_view rfc_client_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

scram_verifier rfc_verifier() {
    return make_scram_verifier(rfc_password, base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==").value(),
                               4096);
}

// --- fixtures for in-process exchanges (few iterations: fast under sanitizers) ----------
constexpr std::uint32_t fast_iterations = 16;
const std::vector<std::uint8_t> test_salt = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
                                             0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
const std::vector<std::uint8_t> cert_hash(32, 0xc5);

scram_verifier test_verifier(std::string_view password = "correct horse") {
    return make_scram_verifier(password, test_salt, fast_iterations);
}

scram_nonce_bytes nonce_bytes(std::uint8_t seed) {
    scram_nonce_bytes bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<std::uint8_t>(seed + 31 * i);
    }
    return bytes;
}

scram_client make_client(std::string_view password,
                         scram_channel_binding_mode mode = scram_channel_binding_mode::none,
                         std::vector<std::uint8_t> binding_data = {}) {
    scram_client_options options;
    options.channel_binding.mode = mode;
    options.channel_binding.data = std::move(binding_data);
    return scram_client(password, nonce_bytes(1), std::move(options));
}

scram_server make_server(scram_verifier verifier, bool offered = false,
                         std::vector<std::uint8_t> binding_data = {}) {
    scram_server_options options;
    options.channel_binding_offered = offered;
    options.channel_binding_data = std::move(binding_data);
    return scram_server(std::move(verifier), nonce_bytes(2), std::move(options));
}

struct exchange_outcome {
    std::error_code server_first;
    std::error_code client_final;
    std::error_code server_final;
    std::error_code verify;
    bool client_complete = false;
    bool server_authenticated = false;
};

/// Runs a whole exchange, stopping at the first failing step.
exchange_outcome run_exchange(scram_client& client, scram_server& server) {
    exchange_outcome out;
    const std::string first = client.client_first_message();
    const scram_result r1 =
        server.handle_client_first(scram_mechanism_name(client.mechanism()), first);
    out.server_first = r1.error;
    if (r1.ok()) {
        const scram_result r2 = client.handle_server_first(r1.message);
        out.client_final = r2.error;
        if (r2.ok()) {
            const scram_result r3 = server.handle_client_final(r2.message);
            out.server_final = r3.error;
            if (r3.ok()) {
                out.verify = client.verify_server_final(r3.message);
            }
        }
    }
    out.client_complete = client.complete();
    out.server_authenticated = server.authenticated();
    return out;
}

/// An independent client proof computed with OpenSSL, for hand-built client-final messages.
std::string openssl_proof(std::string_view password, const std::vector<std::uint8_t>& salt,
                          std::uint32_t iterations, std::string_view auth) {
    std::array<std::uint8_t, 32> salted{};
    REQUIRE(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                              static_cast<int>(salt.size()), static_cast<int>(iterations),
                              EVP_sha256(), 32, salted.data()) == 1);
    std::array<std::uint8_t, 32> client_key{};
    std::array<std::uint8_t, 32> stored_key{};
    std::array<std::uint8_t, 32> signature{};
    unsigned int length = 0;
    const std::string client_key_label = "Client Key";
    REQUIRE(HMAC(EVP_sha256(), salted.data(), 32,
                 reinterpret_cast<const unsigned char*>(client_key_label.data()),
                 client_key_label.size(), client_key.data(), &length) != nullptr);
    REQUIRE(EVP_Digest(client_key.data(), 32, stored_key.data(), &length, EVP_sha256(), nullptr) ==
            1);
    REQUIRE(HMAC(EVP_sha256(), stored_key.data(), 32,
                 reinterpret_cast<const unsigned char*>(auth.data()), auth.size(), signature.data(),
                 &length) != nullptr);
    std::vector<std::uint8_t> proof(32);
    for (std::size_t i = 0; i < 32; ++i) {
        proof[i] = static_cast<std::uint8_t>(client_key[i] ^ signature[i]);
    }
    return base64_encode(proof);
}

/// A server that has answered "n,,n=,r=abc" and now waits for the client-final-message.
struct server_at_final {
    scram_server server;
    std::string server_first;
    std::string nonce;
};

server_at_final make_server_at_final(bool offered = false) {
    scram_server_options options;
    options.channel_binding_offered = offered;
    options.channel_binding_data = cert_hash;
    auto server = scram_server::with_nonce(test_verifier(), "XYZ", options).value();
    const scram_result first = server.handle_client_first("n,,n=,r=abc");
    REQUIRE(first.ok());
    return {std::move(server), first.message, "abcXYZ"};
}

/// A client that sent "n,,n=,r=abc" and is waiting for the server-first-message.
scram_client client_at_first(std::uint32_t max_iterations = scram_default_max_iterations) {
    scram_client_options options;
    options.max_iterations = max_iterations;
    auto client = scram_client::with_nonce("correct horse", "abc", options).value();
    (void)client.client_first_message();
    return client;
}

/// The server-first-message the client_at_first() client accepts.
std::string valid_server_first() {
    return "r=abcXYZ,s=" + base64_encode(test_salt) + ",i=" + std::to_string(fast_iterations);
}

/// A client that has sent its client-final-message and waits for server-final.
scram_client client_at_final() {
    scram_client client = client_at_first();
    REQUIRE(client.handle_server_first(valid_server_first()).ok());
    return client;
}

/// The server-final-message the client_at_final() client accepts.
std::string valid_server_final() {
    scram_client client = client_at_first();
    const scram_result final_message = client.handle_server_first(valid_server_first());
    REQUIRE(final_message.ok());
    auto server = scram_server::with_nonce(test_verifier(), "XYZ").value();
    REQUIRE(server.handle_client_first("n,,n=,r=abc").ok());
    const scram_result server_final = server.handle_client_final(final_message.message);
    REQUIRE(server_final.ok());
    return server_final.message;
}

// Copies `text` into an exactly sized heap block so an over-read hits ASan's redzone.
struct exact_text {
    explicit exact_text(std::string_view text)
        : block(std::make_unique<char[]>(text.size())), size(text.size()) {
        std::copy(text.begin(), text.end(), block.get());
    }
    [[nodiscard]] std::string_view view() const { return {block.get(), size}; }
    std::unique_ptr<char[]> block;
    std::size_t size;
};

// --- mechanism names --------------------------------------------------------------------

TEST_CASE("scram: mechanism names") {
    CHECK(scram_mechanism_name(scram_mechanism::sha_256) == "SCRAM-SHA-256");
    CHECK(scram_mechanism_name(scram_mechanism::sha_256_plus) == "SCRAM-SHA-256-PLUS");
    CHECK(parse_scram_mechanism("SCRAM-SHA-256") == scram_mechanism::sha_256);
    CHECK(parse_scram_mechanism("SCRAM-SHA-256-PLUS") == scram_mechanism::sha_256_plus);
    CHECK_FALSE(parse_scram_mechanism("scram-sha-256").has_value());
    CHECK_FALSE(parse_scram_mechanism("SCRAM-SHA-1").has_value());
    CHECK_FALSE(parse_scram_mechanism("").has_value());
    CHECK_FALSE(parse_scram_mechanism("SCRAM-SHA-256 ").has_value());

    CHECK(make_client("pw").mechanism() == scram_mechanism::sha_256);
    CHECK(make_client("pw", scram_channel_binding_mode::client_supports_but_server_did_not_offer)
              .mechanism() == scram_mechanism::sha_256);
    CHECK(make_client("pw", scram_channel_binding_mode::tls_server_end_point, cert_hash)
              .mechanism() == scram_mechanism::sha_256_plus);
}

// --- RFC 7677 -----------------------------------------------------------------------------

TEST_CASE("scram: RFC 7677 test vector, client side") {
    scram_client_options options;
    options.user = "user";
    auto client = scram_client::with_nonce(rfc_password, rfc_client_nonce, options);
    REQUIRE(client.has_value());
    CHECK(client->client_first_message() == rfc_client_first);
    const scram_result final_message = client->handle_server_first(rfc_server_first);
    REQUIRE(final_message.ok());
    CHECK(final_message.message == rfc_client_final);
    CHECK_FALSE(client->complete());
    CHECK_ERRC(client->verify_server_final(rfc_server_final), errc::ok);
    CHECK(client->complete());
}

TEST_CASE("scram: RFC 7677 test vector with the keys from the caller's hook") {
    const std::vector<std::uint8_t> rfc_salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==").value();
    int calls = 0;
    scram_client_options options;
    options.user = "user";
    // Given the server's salt and iteration count, once; what it returns is used.
    options.keys = [&](std::span<const std::uint8_t> salt, std::uint32_t iterations) {
        ++calls;
        CHECK(std::ranges::equal(salt, rfc_salt));
        CHECK(iterations == 4096);
        return derive_scram_keys(rfc_password, salt, iterations);
    };
    auto client = scram_client::with_nonce("not the password", rfc_client_nonce, options);
    REQUIRE(client.has_value());
    CHECK(client->client_first_message() == rfc_client_first);
    const scram_result final_message = client->handle_server_first(rfc_server_first);
    REQUIRE(final_message.ok());
    CHECK(final_message.message == rfc_client_final);
    CHECK_ERRC(client->verify_server_final(rfc_server_final), errc::ok);
    CHECK(client->complete());
    CHECK(calls == 1);

    // Keys of another password: the proof is wrong and so is the server's signature.
    options.keys = [](std::span<const std::uint8_t> salt, std::uint32_t iterations) {
        return derive_scram_keys("pencil2", salt, iterations);
    };
    auto wrong = scram_client::with_nonce(rfc_password, rfc_client_nonce, options).value();
    (void)wrong.client_first_message();
    const scram_result other = wrong.handle_server_first(rfc_server_first);
    REQUIRE(other.ok());
    CHECK(other.message != rfc_client_final);
    CHECK_ERRC(wrong.verify_server_final(rfc_server_final), errc::scram_server_signature_mismatch);
}

TEST_CASE("scram: derive_scram_keys gives the verifier's ServerKey and StoredKey") {
    const scram_verifier verifier = rfc_verifier();
    const scram_keys keys = derive_scram_keys(rfc_password, verifier.salt, verifier.iterations);
    CHECK(keys.server_key == verifier.server_key);
    CHECK(sha256_digest(keys.client_key) == verifier.stored_key);
    CHECK(derive_scram_keys("pencil ", verifier.salt, verifier.iterations) != keys);
    CHECK(derive_scram_keys(rfc_password, verifier.salt, 4095) != keys);
}

TEST_CASE("scram: RFC 7677 test vector, server side") {
    auto server = scram_server::with_nonce(rfc_verifier(), rfc_server_nonce);
    REQUIRE(server.has_value());
    const scram_result first = server->handle_client_first("SCRAM-SHA-256", rfc_client_first);
    REQUIRE(first.ok());
    CHECK(first.message == rfc_server_first);
    CHECK_FALSE(server->authenticated());
    const scram_result final_message = server->handle_client_final(rfc_client_final);
    REQUIRE(final_message.ok());
    CHECK(final_message.message == rfc_server_final);
    CHECK(server->authenticated());
}

TEST_CASE("scram: RFC 7677 verifier derivation equals OpenSSL-derived keys") {
    const scram_verifier verifier = rfc_verifier();
    const std::vector<std::uint8_t> salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==").value();
    std::array<std::uint8_t, 32> salted{};
    REQUIRE(PKCS5_PBKDF2_HMAC("pencil", 6, salt.data(), static_cast<int>(salt.size()), 4096,
                              EVP_sha256(), 32, salted.data()) == 1);
    std::array<std::uint8_t, 32> server_key{};
    unsigned int length = 0;
    REQUIRE(HMAC(EVP_sha256(), salted.data(), 32,
                 reinterpret_cast<const unsigned char*>("Server Key"), 10, server_key.data(),
                 &length) != nullptr);
    CHECK(std::equal(server_key.begin(), server_key.end(), verifier.server_key.begin()));
    CHECK(verify_scram_password(verifier, "pencil"));
    CHECK_FALSE(verify_scram_password(verifier, "pencil "));
    CHECK_FALSE(verify_scram_password(verifier, ""));
}

// --- client against server ----------------------------------------------------------------

TEST_CASE("scram: client and server agree with the right password") {
    scram_client client = make_client("correct horse");
    scram_server server = make_server(test_verifier());
    const exchange_outcome out = run_exchange(client, server);
    CHECK_ERRC(out.server_first, errc::ok);
    CHECK_ERRC(out.client_final, errc::ok);
    CHECK_ERRC(out.server_final, errc::ok);
    CHECK_ERRC(out.verify, errc::ok);
    CHECK(out.client_complete);
    CHECK(out.server_authenticated);
}

TEST_CASE("scram: wrong password fails the proof and the client never completes") {
    scram_client client = make_client("correct horse battery");
    scram_server server = make_server(test_verifier());
    const exchange_outcome out = run_exchange(client, server);
    CHECK_ERRC(out.server_final, errc::scram_invalid_proof);
    CHECK_FALSE(out.client_complete);
    CHECK_FALSE(out.server_authenticated);
}

TEST_CASE("scram: a server that does not know the verifier cannot complete the client") {
    // Same salt and iterations, other password: the impostor's signature is wrong.
    scram_client client = make_client("correct horse");
    auto impostor = scram_server::with_nonce(test_verifier("other"), "XYZ").value();
    const std::string first = client.client_first_message();
    const scram_result server_first = impostor.handle_client_first(first);
    REQUIRE(server_first.ok());
    const scram_result client_final = client.handle_server_first(server_first.message);
    REQUIRE(client_final.ok());
    // Whatever the impostor answers with, the signature cannot verify.
    const std::string forged = "v=" + base64_encode(std::vector<std::uint8_t>(32, 0x42));
    CHECK_ERRC(client.verify_server_final(forged), errc::scram_server_signature_mismatch);
    CHECK_FALSE(client.complete());
}

TEST_CASE("scram: SCRAM-SHA-256-PLUS with matching binding data") {
    scram_client client =
        make_client("correct horse", scram_channel_binding_mode::tls_server_end_point, cert_hash);
    scram_server server = make_server(test_verifier(), true, cert_hash);
    CHECK(client.client_first_message().starts_with("p=tls-server-end-point,,n=,r="));
    const exchange_outcome out = run_exchange(client, server);
    CHECK_ERRC(out.verify, errc::ok);
    CHECK(out.client_complete);
    CHECK(out.server_authenticated);
}

TEST_CASE("scram: SCRAM-SHA-256-PLUS client-final carries header and binding data in c=") {
    scram_client client =
        make_client("correct horse", scram_channel_binding_mode::tls_server_end_point, cert_hash);
    scram_server server = make_server(test_verifier(), true, cert_hash);
    const scram_result first =
        server.handle_client_first("SCRAM-SHA-256-PLUS", client.client_first_message());
    REQUIRE(first.ok());
    const scram_result final_message = client.handle_server_first(first.message);
    REQUIRE(final_message.ok());
    std::string expected_input = "p=tls-server-end-point,,";
    expected_input.append(cert_hash.begin(), cert_hash.end());
    CHECK(final_message.message.starts_with("c=" + base64_encode(expected_input) + ",r="));
}

TEST_CASE("scram: SCRAM-SHA-256-PLUS with mismatching binding data is refused") {
    // A man in the middle terminates TLS with its own certificate: the hashes differ.
    std::vector<std::uint8_t> other_hash = cert_hash;
    other_hash[7] ^= 0x01;
    scram_client client =
        make_client("correct horse", scram_channel_binding_mode::tls_server_end_point, other_hash);
    scram_server server = make_server(test_verifier(), true, cert_hash);
    const exchange_outcome out = run_exchange(client, server);
    CHECK_ERRC(out.server_final, errc::scram_channel_binding_mismatch);
    CHECK_FALSE(out.server_authenticated);
}

TEST_CASE("scram: y flag passes when PLUS was not offered, is a downgrade when it was") {
    {
        scram_client client = make_client(
            "correct horse", scram_channel_binding_mode::client_supports_but_server_did_not_offer);
        scram_server server = make_server(test_verifier(), false);
        CHECK(client.client_first_message().starts_with("y,,n=,r="));
        const exchange_outcome out = run_exchange(client, server);
        CHECK_ERRC(out.verify, errc::ok);
        CHECK(out.server_authenticated);
    }
    {
        scram_client client = make_client(
            "correct horse", scram_channel_binding_mode::client_supports_but_server_did_not_offer);
        scram_server server = make_server(test_verifier(), true, cert_hash);
        const exchange_outcome out = run_exchange(client, server);
        CHECK_ERRC(out.server_first, errc::scram_channel_binding_mismatch);
        CHECK_FALSE(out.server_authenticated);
    }
}

TEST_CASE("scram: plain SCRAM-SHA-256 with the n flag is fine even when PLUS is offered") {
    scram_client client = make_client("correct horse");
    scram_server server = make_server(test_verifier(), true, cert_hash);
    const exchange_outcome out = run_exchange(client, server);
    CHECK_ERRC(out.verify, errc::ok);
    CHECK(out.server_authenticated);
}

TEST_CASE("scram: mechanism and GS2 flag must agree") {
    struct case_t {
        std::string_view mechanism;
        std::string_view message;
        bool offered;
        errc expected;
    };
    const case_t cases[] = {
        {"SCRAM-SHA-1", "n,,n=,r=abc", true, errc::scram_unsupported_mechanism},
        {"", "n,,n=,r=abc", true, errc::scram_unsupported_mechanism},
        {"SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc", false,
         errc::scram_unsupported_mechanism},
        {"SCRAM-SHA-256-PLUS", "n,,n=,r=abc", true, errc::scram_channel_binding_mismatch},
        {"SCRAM-SHA-256-PLUS", "y,,n=,r=abc", true, errc::scram_channel_binding_mismatch},
        {"SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abc", true,
         errc::scram_channel_binding_mismatch},
        {"SCRAM-SHA-256", "y,,n=,r=abc", true, errc::scram_channel_binding_mismatch},
        {"SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc", true, errc::ok},
        {"SCRAM-SHA-256", "n,,n=,r=abc", true, errc::ok},
        {"SCRAM-SHA-256", "y,,n=,r=abc", false, errc::ok},
    };
    for (const case_t& c : cases) {
        CAPTURE(c.mechanism);
        CAPTURE(c.message);
        scram_server server = make_server(test_verifier(), c.offered, cert_hash);
        CHECK_ERRC(server.handle_client_first(c.mechanism, c.message).error, c.expected);
    }
}

TEST_CASE("scram: tampered nonces are refused on both sides") {
    SUBCASE("server-first nonce does not extend the client nonce") {
        scram_client client = client_at_first();
        CHECK_ERRC(
            client.handle_server_first("r=abdXYZ,s=" + base64_encode(test_salt) + ",i=16").error,
            errc::scram_nonce_mismatch);
    }
    SUBCASE("server-first nonce equals the client nonce (no server part)") {
        scram_client client = client_at_first();
        CHECK_ERRC(
            client.handle_server_first("r=abc,s=" + base64_encode(test_salt) + ",i=16").error,
            errc::scram_nonce_mismatch);
    }
    SUBCASE("server-first nonce is a prefix of the client nonce") {
        scram_client client = client_at_first();
        CHECK_ERRC(client.handle_server_first("r=ab,s=" + base64_encode(test_salt) + ",i=16").error,
                   errc::scram_nonce_mismatch);
    }
    SUBCASE("client-final nonce altered") {
        server_at_final s = make_server_at_final();
        const std::string without_proof = "c=biws,r=abcXYz";
        const std::string auth = "n=,r=abc," + s.server_first + "," + without_proof;
        const std::string message =
            without_proof +
            ",p=" + openssl_proof("correct horse", test_salt, fast_iterations, auth);
        CHECK_ERRC(s.server.handle_client_final(message).error, errc::scram_nonce_mismatch);
    }
    SUBCASE("client-final nonce is only the client part") {
        server_at_final s = make_server_at_final();
        CHECK_ERRC(s.server
                       .handle_client_final("c=biws,r=abc,p=" +
                                            base64_encode(std::vector<std::uint8_t>(32)))
                       .error,
                   errc::scram_nonce_mismatch);
    }
    SUBCASE("in-process: client-final nonce rewritten on the way") {
        scram_client client = make_client("correct horse");
        scram_server server = make_server(test_verifier());
        const scram_result first = server.handle_client_first(client.client_first_message());
        REQUIRE(first.ok());
        scram_result final_message = client.handle_server_first(first.message);
        REQUIRE(final_message.ok());
        const std::size_t r = final_message.message.find(",r=");
        REQUIRE(r != std::string::npos);
        final_message.message[r + 5] = final_message.message[r + 5] == 'Q' ? 'R' : 'Q';
        CHECK_ERRC(server.handle_client_final(final_message.message).error,
                   errc::scram_nonce_mismatch);
    }
}

// --- client: malformed server-first-message ----------------------------------------------

TEST_CASE("scram: client rejects malformed server-first-messages with specific codes") {
    const std::string salt = base64_encode(test_salt);
    struct case_t {
        std::string message;
        errc expected;
    };
    const case_t cases[] = {
        {"", errc::scram_malformed_message},
        {",", errc::scram_malformed_message},
        {"r", errc::scram_malformed_message},
        {"r=", errc::scram_nonce_mismatch},
        {"s=" + salt + ",i=16", errc::scram_malformed_message},
        {"m=ext,r=abcXYZ,s=" + salt + ",i=16", errc::scram_malformed_message},
        {"R=abcXYZ,s=" + salt + ",i=16", errc::scram_malformed_message},
        {"r=abcXYZ", errc::scram_invalid_salt},
        {"r=abcXYZ,", errc::scram_invalid_salt},
        {"r=abcXYZ,i=16", errc::scram_invalid_salt},
        {"r=abcXYZ,i=16,s=" + salt, errc::scram_invalid_salt},
        {"r=abcXYZ,s=,i=16", errc::scram_invalid_salt},
        {"r=abcXYZ,s=!!!!,i=16", errc::scram_invalid_salt},
        {"r=abcXYZ,s=Zg=,i=16", errc::scram_invalid_salt},
        {"r=abcXYZ,s=Zh==,i=16", errc::scram_invalid_salt},
        {"r=abcXYZ,s=" + salt, errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",x=16", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=0", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=016", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=-1", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=+16", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=16x", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i= 16", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=abc", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=4294967296", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=99999999999999999999", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=10000001", errc::scram_invalid_iterations},
        {"r=abcXYZ,s=" + salt + ",i=16,", errc::scram_malformed_message},
        {"r=abcXYZ,s=" + salt + ",i=16,x=ext", errc::scram_malformed_message},
        {"r=abcXYZ,s=" + salt + ",i=16\0"s, errc::scram_malformed_message},
        {"r=abc\x01XYZ,s=" + salt + ",i=16", errc::scram_nonce_mismatch},
        {"r=abc XYZ,s=" + salt + ",i=16", errc::scram_nonce_mismatch},
        {"r=abc\x7fXYZ,s=" + salt + ",i=16", errc::scram_nonce_mismatch},
        {"r=abc\xc3\xa9,s=" + salt + ",i=16", errc::scram_nonce_mismatch},
        {"r=abcXYZ,s=" + salt + ",i=16" + std::string(scram_max_message_size, 'x'),
         errc::message_too_large},
    };
    for (const case_t& c : cases) {
        CAPTURE(c.message);
        scram_client client = client_at_first();
        const scram_result result = client.handle_server_first(c.message);
        CHECK_ERRC(result.error, c.expected);
        CHECK(result.message.empty());
        // A failed step ends the exchange.
        CHECK_ERRC(client.handle_server_first(valid_server_first()).error,
                   errc::scram_out_of_order);
    }
}

TEST_CASE("scram: client iteration limit is configurable") {
    const std::string salt = base64_encode(test_salt);
    scram_client limited = client_at_first(10);
    CHECK_ERRC(limited.handle_server_first("r=abcXYZ,s=" + salt + ",i=16").error,
               errc::scram_invalid_iterations);
    scram_client at_limit = client_at_first(16);
    CHECK(at_limit.handle_server_first("r=abcXYZ,s=" + salt + ",i=16").ok());
    CHECK(scram_client_options{}.max_iterations == 10'000'000);
}

// --- client: server-final-message ---------------------------------------------------------

TEST_CASE("scram: client checks the server-final-message") {
    const std::string good = valid_server_final();
    {
        scram_client client = client_at_final();
        CHECK_ERRC(client.verify_server_final(good), errc::ok);
        CHECK(client.complete());
        CHECK(client.server_error().empty());
        CHECK_ERRC(client.verify_server_final(good), errc::scram_out_of_order);
    }
    {
        scram_client client = client_at_final();
        CHECK_ERRC(client.verify_server_final("e=invalid-proof"), errc::scram_server_error);
        CHECK(client.server_error() == "invalid-proof");
        CHECK_FALSE(client.complete());
    }
    std::string flipped = good;
    flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
    struct case_t {
        std::string message;
        errc expected;
    };
    const case_t cases[] = {
        {"", errc::scram_malformed_message},
        {"v", errc::scram_malformed_message},
        {"v=", errc::scram_server_signature_mismatch},
        {"v=!!!!", errc::scram_malformed_message},
        {"v=Zg=", errc::scram_malformed_message},
        {flipped, errc::scram_server_signature_mismatch},
        {"v=" + base64_encode(std::vector<std::uint8_t>(31, 1)),
         errc::scram_server_signature_mismatch},
        {good + ",x=ext", errc::scram_malformed_message},
        {good + ",", errc::scram_malformed_message},
        {"x=" + good.substr(2), errc::scram_malformed_message},
        {good + '\0', errc::scram_malformed_message},
        {good + std::string(scram_max_message_size, 'A'), errc::message_too_large},
        {"e=other-error,x=1", errc::scram_server_error},
    };
    for (const case_t& c : cases) {
        CAPTURE(c.message);
        scram_client client = client_at_final();
        CHECK_ERRC(client.verify_server_final(c.message), c.expected);
        CHECK_FALSE(client.complete());
        CHECK_ERRC(client.verify_server_final(good), errc::scram_out_of_order);
    }
}

TEST_CASE("scram: client steps out of order") {
    {
        auto client = scram_client::with_nonce("pw", "abc").value();
        // handle_server_first before client_first_message.
        CHECK_ERRC(client.handle_server_first(valid_server_first()).error,
                   errc::scram_out_of_order);
    }
    {
        scram_client client = client_at_first();
        CHECK_ERRC(client.verify_server_final(valid_server_final()), errc::scram_out_of_order);
        CHECK_ERRC(client.handle_server_first(valid_server_first()).error,
                   errc::scram_out_of_order);
    }
    {
        scram_client client = client_at_final();
        CHECK_ERRC(client.handle_server_first(valid_server_first()).error,
                   errc::scram_out_of_order);
    }
}

TEST_CASE("scram: client-first-message shapes") {
    scram_client plain = make_client("pw");
    CHECK(plain.client_first_message() == "n,,n=,r=" + base64_encode(nonce_bytes(1)));
    CHECK(plain.client_first_message() == plain.client_first_message());
    CHECK(base64_encode(nonce_bytes(1)).size() == 24);

    scram_client_options options;
    options.user = "we,ird=name";
    auto named = scram_client::with_nonce("pw", "abc", options).value();
    CHECK(named.client_first_message() == "n,,n=we=2Cird=3Dname,r=abc");

    CHECK_FALSE(scram_client::with_nonce("pw", "").has_value());
    CHECK_FALSE(scram_client::with_nonce("pw", "a,b").has_value());
    CHECK_FALSE(scram_client::with_nonce("pw", "a b").has_value());
    CHECK_FALSE(scram_client::with_nonce("pw", "ab\x7f").has_value());
    CHECK_FALSE(scram_client::with_nonce("pw", "\xc3\xa9").has_value());
    CHECK(scram_client::with_nonce("pw", "!~").has_value());
    CHECK_FALSE(scram_server::with_nonce(test_verifier(), "").has_value());
    CHECK_FALSE(scram_server::with_nonce(test_verifier(), "x,y").has_value());
}

// --- server: malformed client messages ----------------------------------------------------

TEST_CASE("scram: server rejects malformed client-first-messages with specific codes") {
    struct case_t {
        std::string message;
        errc expected;
    };
    const case_t cases[] = {
        {"", errc::scram_malformed_message},
        {"n", errc::scram_malformed_message},
        {"n,", errc::scram_malformed_message},
        {"n,,", errc::scram_malformed_message},
        {",,n=,r=abc", errc::scram_malformed_message},
        {"x,,n=,r=abc", errc::scram_malformed_message},
        {"nn,,n=,r=abc", errc::scram_malformed_message},
        {"p,,n=,r=abc", errc::scram_malformed_message},
        {"p=,,n=,r=abc", errc::scram_malformed_message},
        {"q=tls-server-end-point,,n=,r=abc", errc::scram_malformed_message},
        {"n,a=admin,n=,r=abc", errc::scram_malformed_message},
        {"n,junk,n=,r=abc", errc::scram_malformed_message},
        {"n,,m=ext,n=,r=abc", errc::scram_malformed_message},
        {"n,,r=abc", errc::scram_malformed_message},
        {"n,,n=", errc::scram_malformed_message},
        {"n,,n=,", errc::scram_malformed_message},
        {"n,,n=,x=abc", errc::scram_malformed_message},
        {"n,,n=,r=abc,", errc::scram_malformed_message},
        {"n,,n=,r=abc,x=ext", errc::scram_malformed_message},
        {"n,,n=we,ird,r=abc", errc::scram_malformed_message},
        {"n,,n=,r=abc\0"s, errc::scram_malformed_message},
        {"n,,n=,r=", errc::scram_nonce_mismatch},
        {"n,,n=,r=a c", errc::scram_nonce_mismatch},
        {"n,,n=,r=a\x7f", errc::scram_nonce_mismatch},
        {"n,,n=,r=\xc3\xa9", errc::scram_nonce_mismatch},
        {"p=tls-server-end-point,,n=,r=abc", errc::scram_channel_binding_mismatch},
        {"p=tls-unique,,n=,r=abc", errc::scram_channel_binding_mismatch},
        {"n,,n=,r=" + std::string(scram_max_message_size, 'a'), errc::message_too_large},
        // Accepted: any user name, since PostgreSQL ignores it.
        {"n,,n=user,r=abc", errc::ok},
        {"n,,n==2C=3D\xc3\xa9,r=abc", errc::ok},
        {"y,,n=,r=abc", errc::ok},
    };
    for (const case_t& c : cases) {
        CAPTURE(c.message);
        scram_server server = make_server(test_verifier());
        const scram_result result = server.handle_client_first(c.message);
        CHECK_ERRC(result.error, c.expected);
        if (c.expected != errc::ok) {
            CHECK(result.message.empty());
            CHECK_ERRC(server.handle_client_first("n,,n=,r=abc").error, errc::scram_out_of_order);
        }
    }
}

TEST_CASE("scram: server accepts a client-first-message of exactly the size limit") {
    const std::string prefix = "n,,n=,r=";
    const std::string at_limit = prefix + std::string(scram_max_message_size - prefix.size(), 'a');
    scram_server server = make_server(test_verifier());
    CHECK(server.handle_client_first(at_limit).ok());
    scram_server over = make_server(test_verifier());
    CHECK_ERRC(over.handle_client_first(at_limit + "a").error, errc::message_too_large);
}

TEST_CASE("scram: server refuses to run with a broken verifier") {
    scram_verifier no_salt = test_verifier();
    no_salt.salt.clear();
    scram_server a = make_server(no_salt);
    CHECK_ERRC(a.handle_client_first("n,,n=,r=abc").error, errc::scram_invalid_verifier);
    scram_verifier no_iterations = test_verifier();
    no_iterations.iterations = 0;
    scram_server b = make_server(no_iterations);
    CHECK_ERRC(b.handle_client_first("n,,n=,r=abc").error, errc::scram_invalid_verifier);
}

TEST_CASE("scram: server rejects malformed client-final-messages with specific codes") {
    const std::string zero_proof = base64_encode(std::vector<std::uint8_t>(32));
    struct case_t {
        std::string message;
        errc expected;
    };
    const case_t cases[] = {
        {"", errc::scram_malformed_message},
        {",", errc::scram_malformed_message},
        {"p=" + zero_proof, errc::scram_malformed_message},
        {"c=biws,r=abcXYZ", errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,", errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,p=", errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,p=!!!!", errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,p=" + base64_encode(std::vector<std::uint8_t>(31)),
         errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,p=" + base64_encode(std::vector<std::uint8_t>(33)),
         errc::scram_malformed_message},
        {"r=abcXYZ,c=biws,p=" + zero_proof, errc::scram_malformed_message},
        {"c=biws,p=" + zero_proof, errc::scram_malformed_message},
        {"r=abcXYZ,p=" + zero_proof, errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,p=" + zero_proof + ",x=1", errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,p=" + zero_proof + ",p=" + zero_proof, errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,x,p=" + zero_proof, errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,x=,p=" + zero_proof, errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,,p=" + zero_proof, errc::scram_malformed_message},
        {"c=bi!s,r=abcXYZ,p=" + zero_proof, errc::scram_malformed_message},
        {"c=biw,r=abcXYZ,p=" + zero_proof, errc::scram_malformed_message},
        {"c=biws,r=abcXYZ,p=" + zero_proof + '\0', errc::scram_malformed_message},
        {"c=,r=abcXYZ,p=" + zero_proof, errc::scram_channel_binding_mismatch},
        {"c=eSws,r=abcXYZ,p=" + zero_proof, errc::scram_channel_binding_mismatch},
        {"c=" + base64_encode("n,,x") + ",r=abcXYZ,p=" + zero_proof,
         errc::scram_channel_binding_mismatch},
        {"c=biws,r=abcXYZW,p=" + zero_proof, errc::scram_nonce_mismatch},
        {"c=biws,r=,p=" + zero_proof, errc::scram_nonce_mismatch},
        {"c=biws,r=abcXYZ,p=" + zero_proof, errc::scram_invalid_proof},
        {"c=biws,r=abcXYZ,p=" + zero_proof + std::string(scram_max_message_size, 'A'),
         errc::message_too_large},
    };
    for (const case_t& c : cases) {
        CAPTURE(c.message);
        server_at_final s = make_server_at_final();
        const scram_result result = s.server.handle_client_final(c.message);
        CHECK_ERRC(result.error, c.expected);
        CHECK(result.message.empty());
        CHECK_FALSE(s.server.authenticated());
        CHECK_ERRC(s.server.handle_client_final(c.message).error, errc::scram_out_of_order);
    }
}

TEST_CASE("scram: server skips well-formed extensions in client-final (hand-built client)") {
    server_at_final s = make_server_at_final();
    const std::string without_proof = "c=biws,r=" + s.nonce + ",x=extension,y=more";
    const std::string auth = "n=,r=abc," + s.server_first + "," + without_proof;
    const std::string message =
        without_proof + ",p=" + openssl_proof("correct horse", test_salt, fast_iterations, auth);
    const scram_result result = s.server.handle_client_final(message);
    CHECK_ERRC(result.error, errc::ok);
    CHECK(result.message.starts_with("v="));
    CHECK(s.server.authenticated());
}

TEST_CASE("scram: server steps out of order") {
    scram_server server = make_server(test_verifier());
    CHECK_ERRC(
        server.handle_client_final("c=biws,r=abc,p=" + base64_encode(std::vector<std::uint8_t>(32)))
            .error,
        errc::scram_out_of_order);
    scram_server twice = make_server(test_verifier());
    REQUIRE(twice.handle_client_first("n,,n=,r=abc").ok());
    CHECK_ERRC(twice.handle_client_first("n,,n=,r=abc").error, errc::scram_out_of_order);
    CHECK_ERRC(twice.handle_client_first("SCRAM-SHA-256", "n,,n=,r=abc").error,
               errc::scram_out_of_order);

    scram_client client = make_client("correct horse");
    scram_server done = make_server(test_verifier());
    REQUIRE(run_exchange(client, done).server_authenticated);
    CHECK_ERRC(done.handle_client_final("c=biws").error, errc::scram_out_of_order);
    CHECK_FALSE(done.authenticated()); // a misuse after success fails closed
}

// --- verifiers ----------------------------------------------------------------------------

TEST_CASE("scram: verifier text round trip") {
    const scram_verifier verifier = rfc_verifier();
    const std::string text = format_scram_verifier(verifier);
    CHECK(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
    CHECK(looks_like_scram_verifier(text));
    const auto parsed = parse_scram_verifier(text);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == verifier);
    CHECK(format_scram_verifier(*parsed) == text);

    const scram_verifier fresh = make_scram_verifier("secret", test_salt, 1);
    CHECK(fresh.iterations == 1);
    CHECK(parse_scram_verifier(format_scram_verifier(fresh)).value() == fresh);
    CHECK(make_scram_verifier("secret", test_salt, 0).iterations == 1);
}

TEST_CASE("scram: a parsed verifier authenticates the RFC client") {
    auto server =
        scram_server::with_nonce(
            parse_scram_verifier(format_scram_verifier(rfc_verifier())).value(), rfc_server_nonce)
            .value();
    REQUIRE(server.handle_client_first(rfc_client_first).ok());
    const scram_result final_message = server.handle_client_final(rfc_client_final);
    REQUIRE(final_message.ok());
    CHECK(final_message.message == rfc_server_final);
}

TEST_CASE("scram: malformed verifiers are rejected") {
    const std::string key = base64_encode(std::vector<std::uint8_t>(32, 7));
    const std::string salt = base64_encode(test_salt);
    const std::string good = "SCRAM-SHA-256$4096:" + salt + "$" + key + ":" + key;
    REQUIRE(parse_scram_verifier(good).has_value());
    const std::string rejected[] = {
        "",
        "SCRAM-SHA-256$",
        "SCRAM-SHA-256",
        "scram-sha-256$4096:" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-1$4096:" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-256$0:" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-256$04096:" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-256$-1:" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-256$2147483648:" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-256$99999999999999999999:" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-256$abc:" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-256$:" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-256$4096" + salt + "$" + key + ":" + key,
        "SCRAM-SHA-256$4096:$" + key + ":" + key,
        "SCRAM-SHA-256$4096:!!!!$" + key + ":" + key,
        "SCRAM-SHA-256$4096:" + salt + key + ":" + key,
        "SCRAM-SHA-256$4096:" + salt + "$" + key + key,
        "SCRAM-SHA-256$4096:" + salt + "$" + key + ":",
        "SCRAM-SHA-256$4096:" + salt + "$:" + key,
        "SCRAM-SHA-256$4096:" + salt + "$" + base64_encode(std::vector<std::uint8_t>(31)) + ":" +
            key,
        "SCRAM-SHA-256$4096:" + salt + "$" + key + ":" +
            base64_encode(std::vector<std::uint8_t>(33)),
        good + "$",
        good + ":",
        good + " ",
        good + "\n",
        " " + good,
        "SCRAM-SHA-256$4096:" + salt + "$" + key + ":" + key + "$" + key,
        "SCRAM-SHA-256$4096:1:" + salt + "$" + key + ":" + key,
        "md553f48b7c4b76a86ce72276c5755f217d",
    };
    for (const std::string& text : rejected) {
        CAPTURE(text);
        CHECK_FALSE(parse_scram_verifier(text).has_value());
    }
    CHECK(parse_scram_verifier("SCRAM-SHA-256$2147483647:" + salt + "$" + key + ":" + key)
              .has_value());
    CHECK_FALSE(looks_like_scram_verifier("md553f48b7c4b76a86ce72276c5755f217d"));
    CHECK_FALSE(looks_like_scram_verifier("plaintext"));
}

// --- SASLprep -----------------------------------------------------------------------------

TEST_CASE("scram: SASLprep as PostgreSQL applies it") {
    // Pure ASCII passes through untouched, control characters included.
    CHECK(saslprep("") == "");
    CHECK(saslprep("pencil") == "pencil");
    CHECK(saslprep("a\tb\x01") == "a\tb\x01");
    // Not UTF-8: raw bytes.
    CHECK(saslprep("\xff\xfe") == "\xff\xfe");
    CHECK(saslprep("ab\xc3") == "ab\xc3");
    CHECK(saslprep("\xc0\xaf") == "\xc0\xaf");                 // overlong '/'
    CHECK(saslprep("\xed\xa0\x80") == "\xed\xa0\x80");         // surrogate U+D800
    CHECK(saslprep("\xf4\x90\x80\x80") == "\xf4\x90\x80\x80"); // above U+10FFFF
    // RFC 4013 section 3 examples that need no NFKC: soft hyphen mapped to nothing.
    CHECK(saslprep("I\xc2\xadX") == "IX");
    // Non-ASCII spaces become U+0020.
    CHECK(saslprep("a\xc2\xa0"
                   "b") == "a b");
    CHECK(saslprep("a\xe3\x80\x80"
                   "b") == "a b");
    CHECK(saslprep("a\xe2\x80\x80"
                   "b") == "a b");
    // Other "mapped to nothing" characters: ZWJ, variation selector, BOM.
    CHECK(saslprep("a\xe2\x80\x8d"
                   "b\xef\xb8\x8f"
                   "c\xef\xbb\xbf") == "abc");
    // Valid UTF-8 without mapped characters is unchanged.
    CHECK(saslprep("p\xc3\xa4ssw\xc3\xb6rd") == "p\xc3\xa4ssw\xc3\xb6rd");
    CHECK(saslprep("\xf0\x9f\x94\x91") == "\xf0\x9f\x94\x91");
    // Prohibited output (RFC 4013 example: U+0007) means the raw input is used.
    CHECK(saslprep("\xc2\xad\x07") == "\xc2\xad\x07");
    CHECK(saslprep("a\xc2\xad\xee\x80\x80") == "a\xc2\xad\xee\x80\x80");         // private use
    CHECK(saslprep("a\xc2\xad\xe2\x80\x8e") == "a\xc2\xad\xe2\x80\x8e");         // LRM (C.8)
    CHECK(saslprep("a\xc2\xad\xc2\x85") == "a\xc2\xad\xc2\x85");                 // NEL (C.2.2)
    CHECK(saslprep("a\xc2\xad\xef\xbf\xbe") == "a\xc2\xad\xef\xbf\xbe");         // U+FFFE (C.4)
    CHECK(saslprep("a\xc2\xad\xf3\xa0\x80\x81") == "a\xc2\xad\xf3\xa0\x80\x81"); // tag (C.9)
    // Documented limitation: no NFKC, so U+00AA stays itself (RFC 4013 maps it to "a").
    CHECK(saslprep("\xc2\xaa") == "\xc2\xaa");
}

TEST_CASE("scram: SASLprep is applied on both sides of an exchange") {
    // The client types a soft hyphen that the verifier's password did not have.
    scram_client client = make_client("correct\xc2\xad horse");
    scram_server server = make_server(test_verifier("correct horse"));
    const exchange_outcome out = run_exchange(client, server);
    CHECK_ERRC(out.verify, errc::ok);
    CHECK(out.server_authenticated);
    CHECK(verify_scram_password(test_verifier("correct horse"), "correct\xc2\xa0horse"));
}

// --- truncation and garbage ---------------------------------------------------------------

TEST_CASE("scram: every truncation of a valid final message is refused") {
    server_at_final reference = make_server_at_final();
    scram_client client = client_at_first();
    const scram_result client_final = client.handle_server_first(reference.server_first);
    REQUIRE(client_final.ok());
    for (std::size_t n = 0; n < client_final.message.size(); ++n) {
        server_at_final s = make_server_at_final();
        const exact_text text(std::string_view(client_final.message).substr(0, n));
        CAPTURE(n);
        CHECK_FALSE(s.server.handle_client_final(text.view()).ok());
    }
    const std::string server_final = valid_server_final();
    for (std::size_t n = 0; n < server_final.size(); ++n) {
        scram_client waiting = client_at_final();
        const exact_text text(std::string_view(server_final).substr(0, n));
        CAPTURE(n);
        CHECK(waiting.verify_server_final(text.view()));
        CHECK_FALSE(waiting.complete());
    }
}

TEST_CASE("scram: every truncation of the first messages parses without crashing") {
    const std::string client_first = "p=tls-server-end-point,,n=user,r=abcdef";
    for (std::size_t n = 0; n <= client_first.size(); ++n) {
        scram_server server = make_server(test_verifier(), true, cert_hash);
        const exact_text text(std::string_view(client_first).substr(0, n));
        const scram_result result = server.handle_client_first(text.view());
        // Only prefixes that still end inside the nonce can be valid.
        CHECK(result.ok() == (n > client_first.size() - 6));
    }
    const std::string server_first = valid_server_first();
    for (std::size_t n = 0; n <= server_first.size(); ++n) {
        scram_client client = client_at_first();
        const exact_text text(std::string_view(server_first).substr(0, n));
        (void)client.handle_server_first(text.view());
    }
}

std::string random_text(std::mt19937& rng, std::size_t max_length) {
    // Biased towards SCRAM's own characters so that many inputs get past the first checks.
    static constexpr std::string_view pool =
        "rscipvenamyx=,,,,ABCabcXYZ0123456789+/=$:SCRAM-SHA-256\x00\x7f\x80\xff";
    std::uniform_int_distribution<std::size_t> length(0, max_length);
    std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string out(length(rng), '\0');
    for (char& c : out) {
        c = (rng() % 4 == 0) ? static_cast<char>(byte(rng)) : pool[pick(rng)];
    }
    return out;
}

std::string mutate(std::mt19937& rng, std::string text) {
    std::uniform_int_distribution<int> byte(0, 255);
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
        const std::size_t at = text.empty() ? 0 : rng() % (text.size() + 1);
        switch (rng() % 5) {
        case 0: // replace
            if (at < text.size()) {
                text[at] = static_cast<char>(byte(rng));
            }
            break;
        case 1: // delete
            if (at < text.size()) {
                text.erase(at, 1);
            }
            break;
        case 2: // insert a separator
            text.insert(at, 1, (rng() % 2 == 0) ? ',' : '=');
            break;
        case 3: // truncate
            text.resize(at);
            break;
        default: // duplicate a slice
            text.insert(at, text.substr(at / 2, 5));
            break;
        }
    }
    return text;
}

TEST_CASE("scram: garbage and mutated messages never crash any parse entry point") {
    std::mt19937 rng(8675309);
    const std::string salt = base64_encode(test_salt);
    const std::string valid_verifier = format_scram_verifier(test_verifier());
    const std::string valid_client_first = "p=tls-server-end-point,,n=user,r=abc";
    const std::string first_for_final = valid_server_first();
    const std::string server_final = valid_server_final();
    server_at_final final_template = make_server_at_final(true);
    scram_client client_final_template = client_at_final();
    scram_client client_first_template = client_at_first(64);
    scram_server first_template = make_server(test_verifier(), true, cert_hash);
    // A real client-final for the final_template server, as mutation seed.
    std::string valid_client_final;
    {
        scram_client c = client_at_first();
        valid_client_final = c.handle_server_first(final_template.server_first).message;
    }
    const std::string seeds[] = {valid_verifier, valid_client_first, first_for_final, server_final,
                                 valid_client_final};

    std::size_t accepted = 0;
    for (int round = 0; round < 4000; ++round) {
        std::string input =
            (round % 2 == 0) ? random_text(rng, 300) : mutate(rng, seeds[rng() % std::size(seeds)]);
        const exact_text text(input);
        (void)base64_decode(text.view());
        (void)parse_scram_mechanism(text.view());
        (void)looks_like_scram_verifier(text.view());
        (void)saslprep(text.view());
        if (parse_scram_verifier(text.view())) {
            ++accepted;
        }

        scram_client fresh_client = client_first_template;
        if (fresh_client.handle_server_first(text.view()).ok()) {
            ++accepted;
        }
        scram_client waiting_client = client_final_template;
        const std::error_code verified = waiting_client.verify_server_final(text.view());
        CHECK((verified || text.view() == server_final));

        scram_server fresh_server = first_template;
        if (fresh_server.handle_client_first(text.view()).ok()) {
            ++accepted;
        }
        scram_server fresh_server_2 = first_template;
        (void)fresh_server_2.handle_client_first("SCRAM-SHA-256-PLUS", text.view());
        scram_server waiting_server = final_template.server;
        const scram_result r = waiting_server.handle_client_final(text.view());
        CHECK((!r.ok() || text.view() == valid_client_final));
    }
    // The mutations keep some inputs valid, so deep paths were reached too.
    CHECK(accepted > 0);
}

} // namespace
} // namespace qail::protocol
