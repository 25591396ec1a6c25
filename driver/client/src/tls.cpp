// TLS contexts, per-connection checks, handshake error classification and
// tls-server-end-point channel binding data.
#include <qail/client/error.hpp>
#include <qail/client/tls.hpp>

#include <array>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <cstring>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <system_error>
#include <utility>

namespace qail::client {
namespace {

namespace ssl = boost::asio::ssl;
using context_ptr = std::shared_ptr<ssl::context>;

// The reason of one queued OpenSSL error; system errors (fopen) as strerror text.
std::string openssl_reason(unsigned long e) {
    if (ERR_SYSTEM_ERROR(e))
        return std::generic_category().message(ERR_GET_REASON(e));
    if (const char* r = ERR_reason_error_string(e))
        return r;
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    return buf.data();
}

// The reason of the oldest queued OpenSSL error, the root cause ("No such file or
// directory", "no start line"); the later entries only say which layer passed it up.
// Clears the queue.
std::string drain_openssl_errors() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    return e == 0 ? std::string() : openssl_reason(e);
}

// The oldest queued OpenSSL error as an Asio ssl-category code (what Asio itself reports),
// or fallback when the queue is empty. Clears the queue.
boost::system::error_code take_openssl_error(errc fallback) {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return make_error_code(fallback);
    return {static_cast<int>(e), boost::asio::error::get_ssl_category()};
}

tls_context_error file_error(std::string_view what, const std::string& path) {
    std::string message = "could not load ";
    message += what;
    message += " \"";
    message += path;
    message += '"';
    if (const std::string reason = drain_openssl_errors(); !reason.empty()) {
        message += ": ";
        message += reason;
    }
    return {make_error_code(errc::tls_file_error), std::move(message)};
}

tls_context_error option_error(std::string message) {
    return {make_error_code(errc::invalid_option_value), std::move(message)};
}

// Hands the key passphrase to OpenSSL. Stays installed with null user data afterwards,
// so an encrypted key can never make OpenSSL prompt on the terminal.
int key_password_callback(char* buf, int size, int /*rwflag*/, void* userdata) {
    if (userdata == nullptr || size <= 0)
        return 0;
    const auto* password = static_cast<const std::string*>(userdata);
    if (password->size() >= static_cast<std::size_t>(size))
        return -1;
    std::memcpy(buf, password->data(), password->size());
    return static_cast<int>(password->size());
}

// A fresh context owning a new SSL_CTX with the settings both sides share: TLS 1.2 or
// newer, no compression (CRIME), no renegotiation (PostgreSQL refuses it since 9.5).
tls_result<context_ptr> new_context(const SSL_METHOD* method) {
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> handle(SSL_CTX_new(method), &SSL_CTX_free);
    if (!handle) {
        const auto code = take_openssl_error(errc::tls_file_error);
        return tls_context_error{code, "could not create a TLS context: " + code.message()};
    }
    auto ctx = std::make_shared<ssl::context>(handle.get());
    SSL_CTX* h = handle.release();
    if (SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION) != 1)
        return tls_context_error{take_openssl_error(errc::invalid_option_value),
                                 "could not set the minimum TLS version"};
    SSL_CTX_set_options(h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_default_passwd_cb(h, &key_password_callback);
    SSL_CTX_set_default_passwd_cb_userdata(h, nullptr);
    return ctx;
}

// Loads a certificate chain and its key; role is "client" or "server" for the messages.
std::optional<tls_context_error> load_identity(SSL_CTX* h, std::string_view role,
                                               const std::string& cert_file,
                                               const std::string& key_file, std::string password) {
    const std::string cert_what = std::string(role) + " certificate file";
    const std::string key_what = std::string(role) + " private key file";
    if (SSL_CTX_use_certificate_chain_file(h, cert_file.c_str()) != 1)
        return file_error(cert_what, cert_file);
    const std::string& key_path = key_file.empty() ? cert_file : key_file;
    SSL_CTX_set_default_passwd_cb_userdata(h, &password);
    const int key_loaded = SSL_CTX_use_PrivateKey_file(h, key_path.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb_userdata(h, nullptr);
    if (key_loaded != 1)
        return file_error(key_what, key_path);
    if (SSL_CTX_check_private_key(h) != 1) {
        auto e = file_error(key_what, key_path);
        e.message += " (the key does not match \"" + cert_file + "\")";
        return e;
    }
    return std::nullopt;
}

// One trailing dot names the same host ("db.example.com."); RFC 6066 wants it dropped
// from SNI, and certificates never carry it.
std::string_view without_trailing_dot(std::string_view name) {
    if (name.size() > 1 && name.back() == '.')
        name.remove_suffix(1);
    return name;
}

} // namespace

void throw_exception_from_error(const tls_context_error& e, const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(e.code, e.message), loc);
}

tls_result<context_ptr> make_client_context(const tls_client_config& config) {
    if (config.verify_host && !config.verify_chain)
        return option_error("host name verification (verify-full) requires chain verification");
    if (config.cert_file.empty() && !config.key_file.empty())
        return option_error("a client private key file is set without a client certificate file");

    auto made = new_context(TLS_client_method());
    if (!made)
        return made;
    context_ptr ctx = std::move(*made);
    SSL_CTX* h = ctx->native_handle();

    if (config.verify_chain) {
        if (config.root_cert_file.empty())
            return tls_context_error{
                make_error_code(errc::tls_file_error),
                "certificate verification (verify-ca, verify-full) needs a root certificate "
                "file (sslrootcert); there is no default location"};
        if (config.root_cert_file == "system") {
            if (SSL_CTX_set_default_verify_paths(h) != 1)
                return file_error("system root certificates", config.root_cert_file);
        } else if (SSL_CTX_load_verify_locations(h, config.root_cert_file.c_str(), nullptr) != 1) {
            return file_error("root certificate file", config.root_cert_file);
        }
        SSL_CTX_set_verify(h, SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_CTX_set_verify(h, SSL_VERIFY_NONE, nullptr);
    }

    if (!config.cert_file.empty()) {
        if (auto e =
                load_identity(h, "client", config.cert_file, config.key_file, config.key_password))
            return std::move(*e);
    }
    return ctx;
}

bool is_ip_literal(std::string_view name) noexcept {
    if (name.empty())
        return false;
    if (name.find(':') != std::string_view::npos)
        return true;
    return name.find_first_not_of("0123456789.") == std::string_view::npos;
}

boost::system::error_code prepare_client_stream(SSL* ssl, const tls_client_config& config) {
    if (ssl == nullptr)
        return make_error_code(boost::system::errc::invalid_argument);
    if (config.server_name.find('\0') != std::string::npos)
        return make_error_code(errc::invalid_option_value);
    const bool ip = is_ip_literal(config.server_name);
    std::string name{without_trailing_dot(config.server_name)}; // non-const: SSL_ctrl takes void*
    ERR_clear_error();

    if (config.send_sni && !name.empty() && !ip) {
        // SSL_set_tlsext_host_name() without its old-style cast to void*.
        if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, name.data()) !=
            1)
            return take_openssl_error(errc::invalid_option_value);
    }

    if (config.verify_host) {
        if (!config.verify_chain || name.empty())
            return make_error_code(errc::invalid_option_value);
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        if (ip) {
            // An IPv6 zone ("fe80::1%eth0") is local routing, not part of the identity.
            const std::string address = name.substr(0, name.find('%'));
            if (X509_VERIFY_PARAM_set1_ip_asc(param, address.c_str()) != 1)
                return take_openssl_error(errc::invalid_option_value);
        } else {
            // libpq's matching: a wildcard stands for one whole leftmost label.
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (X509_VERIFY_PARAM_set1_host(param, name.data(), name.size()) != 1)
                return take_openssl_error(errc::invalid_option_value);
        }
    }
    return {};
}

boost::system::error_code classify_handshake_error(const SSL* ssl, boost::system::error_code raw) {
    if (!raw || ssl == nullptr)
        return raw;
    // Without verify_peer a bad verify result does not stop the handshake, so it cannot
    // be what failed it.
    if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) == 0)
        return raw;
    switch (SSL_get_verify_result(ssl)) {
    case X509_V_OK:
        return raw;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return make_error_code(errc::tls_host_name_mismatch);
    default:
        return make_error_code(errc::tls_certificate_untrusted);
    }
}

std::string_view verify_result_message(const SSL* ssl) {
    if (ssl == nullptr)
        return {};
    return X509_verify_cert_error_string(SSL_get_verify_result(ssl));
}

std::optional<std::vector<std::uint8_t>> tls_server_end_point(X509* cert) {
    if (cert == nullptr)
        return std::nullopt;
    // X509_get_signature_info also knows the digest inside RSA-PSS parameters, which
    // OBJ_find_sigid_algs(X509_get_signature_nid()) does not.
    int md_nid = NID_undef;
    if (X509_get_signature_info(cert, &md_nid, nullptr, nullptr, nullptr) != 1 ||
        md_nid == NID_undef)
        return std::nullopt;
    // RFC 5929 section 4.1: MD5 and SHA-1 are replaced by SHA-256.
    if (md_nid == NID_md5 || md_nid == NID_sha1)
        md_nid = NID_sha256;
    const EVP_MD* md = EVP_get_digestbynid(md_nid);
    if (md == nullptr)
        return std::nullopt;
    std::array<unsigned char, EVP_MAX_MD_SIZE> hash{};
    unsigned int length = 0;
    if (X509_digest(cert, md, hash.data(), &length) != 1) {
        ERR_clear_error();
        return std::nullopt;
    }
    return std::vector<std::uint8_t>(hash.begin(), hash.begin() + length);
}

std::optional<std::vector<std::uint8_t>> peer_tls_server_end_point(const SSL* ssl) {
    if (ssl == nullptr)
        return std::nullopt;
    return tls_server_end_point(SSL_get0_peer_certificate(ssl));
}

std::optional<std::vector<std::uint8_t>> local_tls_server_end_point(const SSL* ssl) {
    if (ssl == nullptr)
        return std::nullopt;
    return tls_server_end_point(SSL_get_certificate(ssl));
}

tls_result<context_ptr> make_server_context(const tls_server_config& config) {
    if (config.cert_file.empty())
        return option_error("the server certificate file is not set");
    if (config.require_client_cert && config.client_ca_file.empty())
        return option_error("requiring client certificates needs a client CA file");

    auto made = new_context(TLS_server_method());
    if (!made)
        return made;
    context_ptr ctx = std::move(*made);
    SSL_CTX* h = ctx->native_handle();

    // Like PostgreSQL: our cipher order, DHE parameters sized to the key, and no session
    // resumption at all (no cache, no tickets; a pooler's clients reconnect rarely).
    SSL_CTX_set_options(h, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(h, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(h, 0);
    SSL_CTX_set_dh_auto(h, 1);

    if (auto e = load_identity(h, "server", config.cert_file, config.key_file, config.key_password))
        return std::move(*e);

    if (!config.client_ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(h, config.client_ca_file.c_str(), nullptr) != 1)
            return file_error("client CA file", config.client_ca_file);
        // The CA names sent in CertificateRequest, so clients pick a matching certificate.
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
        if (names == nullptr)
            return file_error("client CA file", config.client_ca_file);
        SSL_CTX_set_client_CA_list(h, names);
        int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
        if (config.require_client_cert)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(h, mode, nullptr);
    } else {
        SSL_CTX_set_verify(h, SSL_VERIFY_NONE, nullptr);
    }
    return ctx;
}

std::optional<std::string> peer_certificate_common_name(const SSL* ssl) {
    if (ssl == nullptr)
        return std::nullopt;
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK)
        return std::nullopt;
    const X509_NAME* subject = X509_get_subject_name(peer);
    const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index < 0)
        return std::nullopt;
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length < 0) {
        ERR_clear_error();
        return std::nullopt;
    }
    std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    if (cn.find('\0') != std::string::npos)
        return std::nullopt;
    return cn;
}

std::string_view tls_version_name(const SSL* ssl) noexcept {
    if (ssl == nullptr)
        return {};
    return SSL_get_version(ssl);
}

} // namespace qail::client
