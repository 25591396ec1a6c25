// TLS helpers against certificates made in-process: context file errors, channel binding
// digests per signature algorithm, and real handshakes over an in-memory BIO pair.
#include "test_support.hpp"

#include <qail/client/error.hpp>
#include <qail/client/tls.hpp>

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/system/system_error.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace qail::client {
namespace {

namespace fs = std::filesystem;

template <auto Free>
struct openssl_deleter {
    template <class T>
    void operator()(T* p) const noexcept {
        Free(p);
    }
};
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using ssl_ptr = std::unique_ptr<SSL, openssl_deleter<SSL_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;

// --- certificate factory ---------------------------------------------------------------

pkey_ptr rsa_key() {
    pkey_ptr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
    REQUIRE(k);
    return k;
}

pkey_ptr ec_key(const char* curve) {
    pkey_ptr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
    REQUIRE(k);
    return k;
}

pkey_ptr ed25519_key() {
    pkey_ptr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    REQUIRE(k);
    return k;
}

enum class signature { plain, rsa_pss };

struct cert_request {
    std::string common_name{};
    /// OpenSSL config syntax: "DNS:localhost,IP:127.0.0.1"; empty = no SAN.
    std::string subject_alt_name{};
    bool ca = false;
    /// nullptr for Ed25519, which signs without a separate digest.
    const EVP_MD* digest = EVP_sha256();
    signature scheme = signature::plain;
};

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
    REQUIRE(ext != nullptr);
    REQUIRE(X509_add_ext(cert, ext, -1) == 1);
    X509_EXTENSION_free(ext);
}

// The certificate as a peer would see it: re-parsed from its DER bytes.
x509_ptr reparse(X509* cert) {
    unsigned char* der = nullptr;
    const int length = i2d_X509(cert, &der);
    REQUIRE(length > 0);
    const unsigned char* p = der;
    x509_ptr out(d2i_X509(nullptr, &p, length));
    OPENSSL_free(der);
    REQUIRE(out);
    return out;
}

// Issues a certificate for subject_key, signed by issuer (self-signed when null).
x509_ptr issue(const cert_request& req, EVP_PKEY* subject_key, X509* issuer_cert,
               EVP_PKEY* issuer_key) {
    static std::atomic<long> serial{1};
    x509_ptr cert(X509_new());
    REQUIRE(cert);
    X509* x = cert.get();
    REQUIRE(X509_set_version(x, X509_VERSION_3) == 1);
    REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) == 1);
    REQUIRE(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nullptr);
    REQUIRE(X509_gmtime_adj(X509_getm_notAfter(x), 86400) != nullptr);
    REQUIRE(X509_set_pubkey(x, subject_key) == 1);
    X509_NAME* name = X509_get_subject_name(x);
    REQUIRE(X509_NAME_add_entry_by_txt(
                name, "CN", MBSTRING_UTF8,
                reinterpret_cast<const unsigned char*>(req.common_name.c_str()), -1, -1, 0) == 1);
    REQUIRE(X509_set_issuer_name(x, issuer_cert ? X509_get_subject_name(issuer_cert) : name) == 1);

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert : x, x, nullptr, nullptr, 0);
    add_extension(x, &ctx, NID_basic_constraints, req.ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (req.ca)
        add_extension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(x, &ctx, NID_subject_key_identifier, "hash");
    if (!req.subject_alt_name.empty())
        add_extension(x, &ctx, NID_subject_alt_name, req.subject_alt_name);

    EVP_PKEY* signer = issuer_key ? issuer_key : subject_key;
    if (req.scheme == signature::rsa_pss) {
        std::unique_ptr<EVP_MD_CTX, openssl_deleter<EVP_MD_CTX_free>> md(EVP_MD_CTX_new());
        EVP_PKEY_CTX* pctx = nullptr;
        REQUIRE(EVP_DigestSignInit(md.get(), &pctx, req.digest, nullptr, signer) == 1);
        REQUIRE(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
        REQUIRE(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1);
        REQUIRE(X509_sign_ctx(x, md.get()) > 0);
    } else {
        REQUIRE(X509_sign(x, signer, req.digest) > 0);
    }
    return reparse(x);
}

std::vector<std::uint8_t> digest_of_der(X509* cert, const EVP_MD* md) {
    unsigned char* der = nullptr;
    const int length = i2d_X509(cert, &der);
    REQUIRE(length > 0);
    std::vector<std::uint8_t> out(static_cast<std::size_t>(EVP_MD_get_size(md)));
    unsigned int out_length = 0;
    REQUIRE(EVP_Digest(der, static_cast<std::size_t>(length), out.data(), &out_length, md,
                       nullptr) == 1);
    OPENSSL_free(der);
    REQUIRE(out_length == out.size());
    return out;
}

// --- files -----------------------------------------------------------------------------

struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("qail-tls-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string write_cert(const temp_dir& dir, const std::string& name,
                       std::initializer_list<X509*> certs) {
    const std::string path = dir.file(name);
    bio_ptr out(BIO_new_file(path.c_str(), "w"));
    REQUIRE(out);
    for (X509* c : certs)
        REQUIRE(PEM_write_bio_X509(out.get(), c) == 1);
    return path;
}

std::string write_key(const temp_dir& dir, const std::string& name, EVP_PKEY* key,
                      const std::string& password = {}) {
    const std::string path = dir.file(name);
    bio_ptr out(BIO_new_file(path.c_str(), "w"));
    REQUIRE(out);
    const EVP_CIPHER* cipher = password.empty() ? nullptr : EVP_aes_256_cbc();
    const auto* pass =
        password.empty() ? nullptr : reinterpret_cast<const unsigned char*>(password.data());
    REQUIRE(PEM_write_bio_PrivateKey(out.get(), key, cipher, pass,
                                     static_cast<int>(password.size()), nullptr, nullptr) == 1);
    return path;
}

// A small PKI shared by the tests: a trusted CA, an unrelated CA, a server certificate for
// localhost/127.0.0.1/::1, a wildcard server certificate, and a client certificate "alice".
struct test_pki {
    temp_dir dir;
    pkey_ptr ca_key = ec_key("P-256");
    x509_ptr ca =
        issue({.common_name = "qail test CA", .ca = true}, ca_key.get(), nullptr, nullptr);
    pkey_ptr other_ca_key = ec_key("P-256");
    x509_ptr other_ca = issue({.common_name = "someone else's CA", .ca = true}, other_ca_key.get(),
                              nullptr, nullptr);
    pkey_ptr server_key = ec_key("P-256");
    x509_ptr server =
        issue({.common_name = "localhost", .subject_alt_name = "DNS:localhost,IP:127.0.0.1,IP:::1"},
              server_key.get(), ca.get(), ca_key.get());
    x509_ptr wildcard = issue({.common_name = "wildcard", .subject_alt_name = "DNS:*.example.com"},
                              server_key.get(), ca.get(), ca_key.get());
    pkey_ptr client_key = ec_key("P-256");
    x509_ptr client = issue({.common_name = "alice"}, client_key.get(), ca.get(), ca_key.get());

    std::string ca_file = write_cert(dir, "ca.pem", {ca.get()});
    std::string other_ca_file = write_cert(dir, "other_ca.pem", {other_ca.get()});
    std::string server_file = write_cert(dir, "server.pem", {server.get()});
    std::string wildcard_file = write_cert(dir, "wildcard.pem", {wildcard.get()});
    std::string server_key_file = write_key(dir, "server.key", server_key.get());
    std::string client_file = write_cert(dir, "client.pem", {client.get()});
    std::string client_key_file = write_key(dir, "client.key", client_key.get());
    std::string client_key_encrypted_file =
        write_key(dir, "client_encrypted.key", client_key.get(), "s3cret");
    std::string garbage_file = [this] {
        const std::string path = dir.file("garbage.pem");
        bio_ptr out(BIO_new_file(path.c_str(), "w"));
        BIO_puts(out.get(), "this is not PEM\n");
        return path;
    }();
};

const test_pki& pki() {
    static const test_pki instance;
    return instance;
}

// --- in-memory handshake ---------------------------------------------------------------

struct side {
    bool done = false;
    bool failed = false;
    unsigned long openssl_error = 0;

    /// The error as Asio's ssl stream would report it.
    boost::system::error_code error() const {
        return {static_cast<int>(openssl_error), boost::asio::error::get_ssl_category()};
    }
};

// A client SSL and a server SSL joined by a BIO pair; run() steps both handshakes in
// turn until both finish or one fails.
struct tls_pair {
    ssl_ptr client;
    ssl_ptr server;
    side c;
    side s;

    tls_pair(boost::asio::ssl::context& client_ctx, boost::asio::ssl::context& server_ctx)
        : client(SSL_new(client_ctx.native_handle())), server(SSL_new(server_ctx.native_handle())) {
        REQUIRE(client);
        REQUIRE(server);
        BIO* client_end = nullptr;
        BIO* server_end = nullptr;
        REQUIRE(BIO_new_bio_pair(&client_end, 0, &server_end, 0) == 1);
        SSL_set_bio(client.get(), client_end, client_end);
        SSL_set_bio(server.get(), server_end, server_end);
        SSL_set_connect_state(client.get());
        SSL_set_accept_state(server.get());
    }

    static void step(SSL* ssl, side& state) {
        if (state.done || state.failed)
            return;
        ERR_clear_error();
        const int rc = SSL_do_handshake(ssl);
        if (rc == 1) {
            state.done = true;
            return;
        }
        const int e = SSL_get_error(ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return;
        state.failed = true;
        state.openssl_error = ERR_get_error();
        ERR_clear_error();
    }

    void run() {
        for (int round = 0; round < 32; ++round) {
            step(client.get(), c);
            step(server.get(), s);
            if ((c.done && s.done) || c.failed || s.failed)
                return;
        }
        FAIL("handshake did not finish");
    }

    bool ok() const { return c.done && s.done; }

    std::optional<std::string> server_sni() const {
        const char* name = SSL_get_servername(server.get(), TLSEXT_NAMETYPE_host_name);
        if (name == nullptr)
            return std::nullopt;
        return std::string(name);
    }
};

std::shared_ptr<boost::asio::ssl::context> server_context(const tls_server_config& config) {
    auto r = make_server_context(config);
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().message));
    return *r;
}

std::shared_ptr<boost::asio::ssl::context> default_server_context() {
    return server_context({.cert_file = pki().server_file, .key_file = pki().server_key_file});
}

std::shared_ptr<boost::asio::ssl::context> client_context(const tls_client_config& config) {
    auto r = make_client_context(config);
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().message));
    return *r;
}

tls_client_config verify_full(std::string host) {
    return {.verify_chain = true,
            .verify_host = true,
            .root_cert_file = pki().ca_file,
            .server_name = std::move(host)};
}

// Runs a handshake with the client configured by config (prepare_client_stream included).
std::unique_ptr<tls_pair> handshake(const tls_client_config& config,
                                    boost::asio::ssl::context& server_ctx) {
    const auto client_ctx = client_context(config);
    auto pair = std::make_unique<tls_pair>(*client_ctx, server_ctx);
    REQUIRE(prepare_client_stream(pair->client.get(), config) == boost::system::error_code{});
    pair->run();
    return pair;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// --- contexts --------------------------------------------------------------------------

TEST_CASE("tls: verification without a root certificate file is a file error") {
    const auto r = make_client_context({.verify_chain = true});
    REQUIRE(r.has_error());
    CHECK(r.error().code == errc::tls_file_error);
    CHECK(contains(r.error().message, "sslrootcert"));
}

TEST_CASE("tls: client context errors name the file that failed") {
    const std::string missing = pki().dir.file("does-not-exist.pem");
    SUBCASE("missing root certificate file") {
        const auto r = make_client_context({.verify_chain = true, .root_cert_file = missing});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
        CHECK(contains(r.error().message, "root certificate file \"" + missing + "\""));
        CHECK(contains(r.error().message, "No such file"));
    }
    SUBCASE("root certificate file without certificates") {
        const auto r =
            make_client_context({.verify_chain = true, .root_cert_file = pki().garbage_file});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
        CHECK(contains(r.error().message, pki().garbage_file));
    }
    SUBCASE("missing client certificate file") {
        const auto r =
            make_client_context({.cert_file = missing, .key_file = pki().client_key_file});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
        CHECK(contains(r.error().message, "client certificate file \"" + missing + "\""));
    }
    SUBCASE("missing client key file") {
        const auto r = make_client_context({.cert_file = pki().client_file, .key_file = missing});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
        CHECK(contains(r.error().message, "client private key file \"" + missing + "\""));
    }
    SUBCASE("key of another certificate") {
        const auto r = make_client_context(
            {.cert_file = pki().client_file, .key_file = pki().server_key_file});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
        CHECK(contains(r.error().message, pki().server_key_file));
    }
    SUBCASE("encrypted key without its password fails instead of prompting") {
        const auto r = make_client_context(
            {.cert_file = pki().client_file, .key_file = pki().client_key_encrypted_file});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
        CHECK(contains(r.error().message, pki().client_key_encrypted_file));
    }
    SUBCASE("encrypted key with the wrong password") {
        const auto r = make_client_context({.cert_file = pki().client_file,
                                            .key_file = pki().client_key_encrypted_file,
                                            .key_password = "wrong"});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
    }
}

TEST_CASE("tls: client context settings that contradict each other are rejected") {
    SUBCASE("verify_host without verify_chain") {
        const auto r = make_client_context({.verify_host = true, .server_name = "localhost"});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::invalid_option_value);
    }
    SUBCASE("key without certificate") {
        const auto r = make_client_context({.key_file = pki().client_key_file});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::invalid_option_value);
    }
}

TEST_CASE("tls: client contexts load valid files, value() throws with the message") {
    CHECK(make_client_context({}).has_value());
    CHECK(make_client_context({.verify_chain = true, .root_cert_file = pki().ca_file}).has_value());
    CHECK(make_client_context({.verify_chain = true, .root_cert_file = "system"}).has_value());
    CHECK(make_client_context({.cert_file = pki().client_file, .key_file = pki().client_key_file})
              .has_value());
    CHECK(make_client_context({.cert_file = pki().client_file,
                               .key_file = pki().client_key_encrypted_file,
                               .key_password = "s3cret"})
              .has_value());

    const auto bad = make_client_context({.verify_chain = true, .root_cert_file = "/nonexistent"});
    try {
        (void)bad.value();
        FAIL("value() did not throw");
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == errc::tls_file_error);
        CHECK(contains(e.what(), "/nonexistent"));
    }
}

TEST_CASE("tls: server context errors name the file that failed") {
    const std::string missing = pki().dir.file("nope.pem");
    SUBCASE("no certificate configured") {
        const auto r = make_server_context({});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::invalid_option_value);
    }
    SUBCASE("missing certificate file") {
        const auto r =
            make_server_context({.cert_file = missing, .key_file = pki().server_key_file});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
        CHECK(contains(r.error().message, "server certificate file \"" + missing + "\""));
    }
    SUBCASE("missing key file") {
        const auto r = make_server_context({.cert_file = pki().server_file, .key_file = missing});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
        CHECK(contains(r.error().message, "server private key file \"" + missing + "\""));
    }
    SUBCASE("missing client CA file") {
        const auto r = make_server_context({.cert_file = pki().server_file,
                                            .key_file = pki().server_key_file,
                                            .client_ca_file = missing});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::tls_file_error);
        CHECK(contains(r.error().message, "client CA file \"" + missing + "\""));
    }
    SUBCASE("client certificates required without a CA to check them") {
        const auto r = make_server_context({.cert_file = pki().server_file,
                                            .key_file = pki().server_key_file,
                                            .require_client_cert = true});
        REQUIRE(r.has_error());
        CHECK(r.error().code == errc::invalid_option_value);
    }
}

TEST_CASE("tls: is_ip_literal follows libpq's rule") {
    CHECK(is_ip_literal("127.0.0.1"));
    CHECK(is_ip_literal("::1"));
    CHECK(is_ip_literal("fe80::1%eth0"));
    CHECK(is_ip_literal("2001:db8::5"));
    CHECK_FALSE(is_ip_literal(""));
    CHECK_FALSE(is_ip_literal("localhost"));
    CHECK_FALSE(is_ip_literal("db1.example.com"));
    CHECK_FALSE(is_ip_literal("1.2.3.example"));
}

TEST_CASE("tls: prepare_client_stream refuses verify_host without a name") {
    const auto ctx = client_context({.verify_chain = true, .root_cert_file = pki().ca_file});
    ssl_ptr ssl(SSL_new(ctx->native_handle()));
    CHECK(prepare_client_stream(ssl.get(), {.verify_chain = true, .verify_host = true}) ==
          errc::invalid_option_value);
    CHECK(prepare_client_stream(
              ssl.get(),
              {.verify_chain = true, .verify_host = true, .server_name = std::string("a\0b", 3)}) ==
          errc::invalid_option_value);
    CHECK(prepare_client_stream(nullptr, {}) != boost::system::error_code{});
}

// --- tls-server-end-point --------------------------------------------------------------

TEST_CASE("tls: tls-server-end-point hashes with the signature digest, SHA-1 and MD5 as "
          "SHA-256") {
    static const pkey_ptr rsa = rsa_key();
    const pkey_ptr ec384 = ec_key("P-384");

    SUBCASE("sha256WithRSAEncryption -> SHA-256") {
        const auto cert = issue({.common_name = "rsa"}, rsa.get(), nullptr, nullptr);
        CHECK(X509_get_signature_nid(cert.get()) == NID_sha256WithRSAEncryption);
        CHECK(tls_server_end_point(cert.get()) == digest_of_der(cert.get(), EVP_sha256()));
    }
    SUBCASE("ecdsa-with-SHA384 -> SHA-384") {
        const auto cert =
            issue({.common_name = "ec", .digest = EVP_sha384()}, ec384.get(), nullptr, nullptr);
        CHECK(X509_get_signature_nid(cert.get()) == NID_ecdsa_with_SHA384);
        const auto data = tls_server_end_point(cert.get());
        REQUIRE(data.has_value());
        CHECK(data->size() == 48);
        CHECK(*data == digest_of_der(cert.get(), EVP_sha384()));
    }
    SUBCASE("sha1WithRSAEncryption -> SHA-256") {
        const auto cert =
            issue({.common_name = "old", .digest = EVP_sha1()}, rsa.get(), nullptr, nullptr);
        CHECK(X509_get_signature_nid(cert.get()) == NID_sha1WithRSAEncryption);
        CHECK(tls_server_end_point(cert.get()) == digest_of_der(cert.get(), EVP_sha256()));
    }
    SUBCASE("ecdsa-with-SHA512 -> SHA-512") {
        const auto cert =
            issue({.common_name = "ec512", .digest = EVP_sha512()}, ec384.get(), nullptr, nullptr);
        CHECK(tls_server_end_point(cert.get()) == digest_of_der(cert.get(), EVP_sha512()));
    }
    SUBCASE("RSASSA-PSS with SHA-384 -> SHA-384 (digest from the PSS parameters)") {
        const auto cert =
            issue({.common_name = "pss", .digest = EVP_sha384(), .scheme = signature::rsa_pss},
                  rsa.get(), nullptr, nullptr);
        CHECK(X509_get_signature_nid(cert.get()) == NID_rsassaPss);
        CHECK(tls_server_end_point(cert.get()) == digest_of_der(cert.get(), EVP_sha384()));
    }
    SUBCASE("Ed25519 has no digest -> nullopt") {
        const pkey_ptr ed = ed25519_key();
        const auto cert =
            issue({.common_name = "ed", .digest = nullptr}, ed.get(), nullptr, nullptr);
        CHECK_FALSE(tls_server_end_point(cert.get()).has_value());
    }
    SUBCASE("no certificate") {
        CHECK_FALSE(tls_server_end_point(nullptr).has_value());
        CHECK_FALSE(peer_tls_server_end_point(nullptr).has_value());
        CHECK_FALSE(local_tls_server_end_point(nullptr).has_value());
    }
}

// --- handshakes ------------------------------------------------------------------------

TEST_CASE("tls: verify-full handshake with SAN DNS:localhost") {
    const auto server_ctx = default_server_context();
    const auto pair = handshake(verify_full("localhost"), *server_ctx);
    REQUIRE(pair->ok());
    CHECK(SSL_get_verify_result(pair->client.get()) == X509_V_OK);
    CHECK(verify_result_message(pair->client.get()) == "ok");
    CHECK(tls_version_name(pair->client.get()) == "TLSv1.3");
    CHECK(tls_version_name(pair->server.get()) == "TLSv1.3");
    CHECK(tls_version_name(nullptr).empty());
    CHECK(pair->server_sni() == "localhost");
    CHECK(peer_certificate_common_name(pair->client.get()) == "localhost");
    // The server requested no client certificate.
    CHECK_FALSE(peer_certificate_common_name(pair->server.get()).has_value());

    SUBCASE("both sides compute the same tls-server-end-point data") {
        const auto client_side = peer_tls_server_end_point(pair->client.get());
        const auto server_side = local_tls_server_end_point(pair->server.get());
        REQUIRE(client_side.has_value());
        REQUIRE(server_side.has_value());
        CHECK(*client_side == *server_side);
        CHECK(*client_side == digest_of_der(pki().server.get(), EVP_sha256()));
    }
    SUBCASE("classify leaves a non-verification error alone") {
        const boost::system::error_code raw = boost::asio::ssl::error::stream_truncated;
        CHECK(classify_handshake_error(pair->client.get(), raw) == raw);
        CHECK(classify_handshake_error(pair->client.get(), {}) == boost::system::error_code{});
    }
}

TEST_CASE("tls: verify-full with a host name not in the certificate fails as a mismatch") {
    const auto server_ctx = default_server_context();
    const auto pair = handshake(verify_full("db.example.com"), *server_ctx);
    REQUIRE(pair->c.failed);
    CHECK(SSL_get_verify_result(pair->client.get()) == X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(classify_handshake_error(pair->client.get(), pair->c.error()) ==
          errc::tls_host_name_mismatch);
    CHECK(pair->server_sni() == "db.example.com");
}

TEST_CASE("tls: verify-full against IP SANs, without SNI for IP literals") {
    const auto server_ctx = default_server_context();
    SUBCASE("127.0.0.1 is in the certificate") {
        const auto pair = handshake(verify_full("127.0.0.1"), *server_ctx);
        CHECK(pair->ok());
        CHECK_FALSE(pair->server_sni().has_value());
    }
    SUBCASE("::1 is in the certificate") {
        const auto pair = handshake(verify_full("::1"), *server_ctx);
        CHECK(pair->ok());
        CHECK_FALSE(pair->server_sni().has_value());
    }
    SUBCASE("127.0.0.2 is not") {
        const auto pair = handshake(verify_full("127.0.0.2"), *server_ctx);
        REQUIRE(pair->c.failed);
        CHECK(SSL_get_verify_result(pair->client.get()) == X509_V_ERR_IP_ADDRESS_MISMATCH);
        CHECK(classify_handshake_error(pair->client.get(), pair->c.error()) ==
              errc::tls_host_name_mismatch);
    }
}

TEST_CASE("tls: SNI follows send_sni and drops a trailing dot") {
    const auto server_ctx = default_server_context();
    SUBCASE("send_sni = false") {
        auto config = verify_full("localhost");
        config.send_sni = false;
        const auto pair = handshake(config, *server_ctx);
        CHECK(pair->ok());
        CHECK_FALSE(pair->server_sni().has_value());
    }
    SUBCASE("fully qualified name") {
        const auto pair = handshake(verify_full("localhost."), *server_ctx);
        CHECK(pair->ok());
        CHECK(pair->server_sni() == "localhost");
    }
    SUBCASE("require mode sends SNI too") {
        const auto pair = handshake({.server_name = "localhost"}, *server_ctx);
        CHECK(pair->ok());
        CHECK(pair->server_sni() == "localhost");
    }
}

TEST_CASE("tls: a wildcard matches exactly one leftmost label") {
    const auto server_ctx =
        server_context({.cert_file = pki().wildcard_file, .key_file = pki().server_key_file});
    CHECK(handshake(verify_full("db.example.com"), *server_ctx)->ok());
    const auto deeper = handshake(verify_full("a.db.example.com"), *server_ctx);
    REQUIRE(deeper->c.failed);
    CHECK(classify_handshake_error(deeper->client.get(), deeper->c.error()) ==
          errc::tls_host_name_mismatch);
    CHECK_FALSE(handshake(verify_full("example.com"), *server_ctx)->ok());
}

TEST_CASE("tls: a server certificate from an untrusted CA") {
    const auto server_ctx = default_server_context();
    SUBCASE("verify-ca fails as untrusted") {
        const auto pair = handshake({.verify_chain = true,
                                     .root_cert_file = pki().other_ca_file,
                                     .server_name = "localhost"},
                                    *server_ctx);
        REQUIRE(pair->c.failed);
        CHECK(classify_handshake_error(pair->client.get(), pair->c.error()) ==
              errc::tls_certificate_untrusted);
        CHECK(verify_result_message(pair->client.get()) != "ok");
    }
    SUBCASE("verify-full fails as untrusted, not as a mismatch") {
        auto config = verify_full("localhost");
        config.root_cert_file = pki().other_ca_file;
        const auto pair = handshake(config, *server_ctx);
        REQUIRE(pair->c.failed);
        CHECK(classify_handshake_error(pair->client.get(), pair->c.error()) ==
              errc::tls_certificate_untrusted);
    }
    SUBCASE("require mode connects, but the unverified CN is not reported") {
        const auto pair = handshake({.server_name = "localhost"}, *server_ctx);
        REQUIRE(pair->ok());
        CHECK(SSL_get_verify_result(pair->client.get()) != X509_V_OK);
        CHECK_FALSE(peer_certificate_common_name(pair->client.get()).has_value());
        // Channel binding still works: it pins the certificate actually used.
        CHECK(peer_tls_server_end_point(pair->client.get()) ==
              local_tls_server_end_point(pair->server.get()));
        const boost::system::error_code raw = boost::asio::ssl::error::stream_truncated;
        CHECK(classify_handshake_error(pair->client.get(), raw) == raw);
    }
}

TEST_CASE("tls: verify-ca accepts a certificate for another host name") {
    const auto server_ctx = default_server_context();
    const auto pair = handshake(
        {.verify_chain = true, .root_cert_file = pki().ca_file, .server_name = "db.example.com"},
        *server_ctx);
    CHECK(pair->ok());
}

TEST_CASE("tls: mutual TLS, the server reads the client's CN") {
    const auto server_ctx = server_context({.cert_file = pki().server_file,
                                            .key_file = pki().server_key_file,
                                            .client_ca_file = pki().ca_file,
                                            .require_client_cert = true});
    SUBCASE("client with certificate") {
        auto config = verify_full("localhost");
        config.cert_file = pki().client_file;
        config.key_file = pki().client_key_file;
        const auto pair = handshake(config, *server_ctx);
        REQUIRE(pair->ok());
        CHECK(peer_certificate_common_name(pair->server.get()) == "alice");
    }
    SUBCASE("client with an encrypted key and its password") {
        auto config = verify_full("localhost");
        config.cert_file = pki().client_file;
        config.key_file = pki().client_key_encrypted_file;
        config.key_password = "s3cret";
        const auto pair = handshake(config, *server_ctx);
        REQUIRE(pair->ok());
        CHECK(peer_certificate_common_name(pair->server.get()) == "alice");
    }
    SUBCASE("client without certificate is refused") {
        const auto pair = handshake(verify_full("localhost"), *server_ctx);
        CHECK(pair->s.failed);
        CHECK_FALSE(peer_certificate_common_name(pair->server.get()).has_value());
    }
    SUBCASE("optional client certificates") {
        const auto optional_ctx = server_context({.cert_file = pki().server_file,
                                                  .key_file = pki().server_key_file,
                                                  .client_ca_file = pki().ca_file});
        const auto pair = handshake(verify_full("localhost"), *optional_ctx);
        REQUIRE(pair->ok());
        CHECK_FALSE(peer_certificate_common_name(pair->server.get()).has_value());
    }
}

} // namespace
} // namespace qail::client
