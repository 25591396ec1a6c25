// TLS helpers for PostgreSQL connections: contexts for the driver's client side and the
// proxy's accepting side, per-connection SNI and host checks, handshake error
// classification, and tls-server-end-point channel binding data (RFC 5929).
//
// The functions act on OpenSSL handles (SSL*, X509*) so this header stays free of
// <boost/asio/ssl.hpp>; with an asio::ssl::stream pass stream.native_handle().
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <cstdint>
#include <memory>
#include <openssl/types.h> // forward declarations of SSL, X509, ... only
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace qail::client {

/// What the client side of a connection checks and presents. The caller maps libpq's
/// sslmode onto it:
///
///   sslmode       verify_chain  verify_host
///   require       false         false
///   verify-ca     true          false
///   verify-full   true          true
///
/// libpq's legacy rule: sslmode=require *with* an sslrootcert file present behaves like
/// verify-ca. Applying that rule (setting verify_chain) is the caller's job; this layer
/// only does what the flags say.
struct tls_client_config {
    /// Verify the server certificate chain against root_cert_file (verify-ca).
    bool verify_chain = false;
    /// Also check server_name against the certificate's SAN / CN (verify-full).
    /// Requires verify_chain.
    bool verify_host = false;
    /// sslrootcert: PEM file of trusted CAs. Required when verify_chain is set: unlike
    /// libpq there is no ~/.postgresql/root.crt default. The value "system" uses
    /// OpenSSL's default trust store (libpq 16 forces verify-full with it; the caller
    /// should too).
    std::string root_cert_file{};
    /// sslcert: PEM client certificate (chain) for mTLS; empty = no client certificate.
    std::string cert_file{};
    /// sslkey: PEM private key of cert_file; empty = read the key from cert_file.
    std::string key_file{};
    /// sslpassword: passphrase of an encrypted key_file. Never prompts on a terminal.
    std::string key_password{};
    /// The host name (or IP literal) used for SNI and verify_host.
    std::string server_name{};
    /// sslsni: send server_name as SNI (only ever for DNS names, RFC 6066 section 3).
    bool send_sni = true;
};

/// What the proxy presents to the clients that connect to it.
struct tls_server_config {
    /// PEM certificate chain (leaf first).
    std::string cert_file{};
    /// PEM private key of cert_file; empty = read the key from cert_file.
    std::string key_file{};
    /// Passphrase of an encrypted key_file.
    std::string key_password{};
    /// PEM CAs for client certificates. Non-empty = client certificates are requested
    /// and, when sent, verified against these CAs.
    std::string client_ca_file{};
    /// Fail the handshake when the client sends no certificate (needs client_ca_file).
    bool require_client_cert = false;
};

/// Why a context could not be built: the code (errc::tls_file_error for unreadable or
/// mismatching files, errc::invalid_option_value for contradictory settings) and a
/// message that names the file and carries OpenSSL's reason.
struct tls_context_error {
    boost::system::error_code code{};
    std::string message{};
};

/// Lets result<T, tls_context_error>::value() throw a boost::system::system_error.
[[noreturn]] void throw_exception_from_error(const tls_context_error& e,
                                             const boost::source_location& loc);

template <class T>
using tls_result = boost::system::result<T, tls_context_error>;

/// A client context: TLS 1.2 minimum, no compression, no renegotiation; verify_peer
/// with root_cert_file loaded when verify_chain, verify_none otherwise; the client
/// certificate and key when cert_file is set. One context serves many connections
/// with the same settings; per-connection settings go through prepare_client_stream().
[[nodiscard]] tls_result<std::shared_ptr<boost::asio::ssl::context>>
make_client_context(const tls_client_config& config);

/// Per-connection client settings, to call before the handshake: SNI when send_sni and
/// server_name is a DNS name (never for IP literals), and with verify_host the host or
/// IP check installed into the SSL's verify parameters, so a mismatch fails the
/// handshake as a verification error (see classify_handshake_error). Wildcards match
/// one whole leftmost label only. Fails with errc::invalid_option_value when verify_host
/// has no server_name, or with the OpenSSL error when the name is not usable.
[[nodiscard]] boost::system::error_code prepare_client_stream(SSL* ssl,
                                                              const tls_client_config& config);

/// True when name is an IPv4 or IPv6 literal (libpq's rule: only digits and dots, or
/// any ':'), which gets no SNI and is matched against IP SANs.
[[nodiscard]] bool is_ip_literal(std::string_view name) noexcept;

/// Maps a failed client handshake to errc::tls_host_name_mismatch (host or IP not in
/// the certificate) or errc::tls_certificate_untrusted (any other verify failure: unknown
/// CA, expired, ...) when the SSL verified the peer and the verification failed;
/// returns raw otherwise (transport errors, protocol alerts, success).
[[nodiscard]] boost::system::error_code classify_handshake_error(const SSL* ssl,
                                                                 boost::system::error_code raw);

/// OpenSSL's text for the SSL's verify result ("certificate has expired", ...), for logs
/// beside the classified error; "ok" when the verification passed.
[[nodiscard]] std::string_view verify_result_message(const SSL* ssl);

/// tls-server-end-point channel binding data (RFC 5929 section 4.1) of a certificate: the
/// hash of its DER encoding with the digest of its signature algorithm, MD5 and SHA-1
/// replaced by SHA-256. nullopt when the signature algorithm has no single digest
/// (Ed25519, Ed448) or is unknown: then SCRAM-SHA-256-PLUS is impossible, and PostgreSQL
/// does not offer it for such a certificate either.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> tls_server_end_point(X509* cert);

/// Client side: tls_server_end_point() of the server's certificate; nullopt before the
/// handshake or without a peer certificate.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> peer_tls_server_end_point(const SSL* ssl);

/// Server side: tls_server_end_point() of our own certificate.
[[nodiscard]] std::optional<std::vector<std::uint8_t>> local_tls_server_end_point(const SSL* ssl);

/// A server context for the proxy's listener: TLS 1.2 minimum, no compression, no
/// renegotiation, no session resumption (like PostgreSQL), the certificate chain and
/// key, and client certificate requests when client_ca_file is set.
[[nodiscard]] tls_result<std::shared_ptr<boost::asio::ssl::context>>
make_server_context(const tls_server_config& config);

/// The subject CN of the peer certificate, as UTF-8; nullopt when there is no peer
/// certificate, it failed verification, it has no CN, or the CN holds a NUL byte
/// (which would let "admin\0.evil" pose as "admin").
[[nodiscard]] std::optional<std::string> peer_certificate_common_name(const SSL* ssl);

/// The negotiated protocol version ("TLSv1.3", "TLSv1.2"); empty for a null SSL.
[[nodiscard]] std::string_view tls_version_name(const SSL* ssl) noexcept;

} // namespace qail::client
