// Connection options: libpq-compatible postgres:// URIs and key=value strings, parsed and printed.
#pragma once

#include <qail/client/error.hpp>

#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qail::client {

class scram_key_memo;

/// libpq's sslmode (https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION).
enum class ssl_mode {
    /// Never TLS.
    disable,
    /// Plain first; TLS only if the server refuses the plain connection. Kept because libpq
    /// accepts it; it protects nothing against an active attacker.
    allow,
    /// TLS if the server offers it, plain otherwise (the default, as in libpq).
    prefer,
    /// TLS or fail; the certificate is verified only if sslrootcert is set.
    require,
    /// TLS, and the certificate chain must verify against sslrootcert.
    verify_ca,
    /// verify_ca, and the host name (or IP) must match the certificate.
    verify_full,
};

/// libpq's channel_binding: whether SCRAM must bind to the TLS channel (SCRAM-SHA-256-PLUS).
enum class channel_binding_mode { disable, prefer, require };

/// The libpq spelling ("verify-full", "require", ...).
[[nodiscard]] std::string_view to_string(ssl_mode m) noexcept;
[[nodiscard]] std::string_view to_string(channel_binding_mode m) noexcept;

/// Which authentication requests the driver answers; libpq's require_auth maps onto it.
/// A request for a method that is not allowed fails with errc::auth_method_not_allowed.
struct auth_policy {
    /// AuthenticationCleartextPassword (require_auth "password").
    bool allow_cleartext = true;
    /// AuthenticationMD5Password (require_auth "md5").
    bool allow_md5 = true;
    /// AuthenticationSASL with SCRAM-SHA-256[-PLUS] (require_auth "scram-sha-256").
    bool allow_scram = true;
    /// AuthenticationOk without any challenge, i.e. trust (require_auth "none"); false also
    /// makes an incomplete SCRAM exchange an error.
    bool allow_none = true;

    bool operator==(const auth_policy&) const = default;
};

/// One server to try. The list of them is tried in order, as libpq does.
struct host_spec {
    /// Host name, IP address, or (when it starts with '/') the directory holding the Unix
    /// socket. Empty only when hostaddr is set (libpq's hostaddr-without-host).
    std::string host;
    /// TCP port, or the suffix of the Unix socket file name.
    std::uint16_t port = 5432;
    /// Numeric IP address to connect to instead of resolving host; host is then used only
    /// for TLS SNI and verify-full. Empty: resolve host.
    std::string hostaddr;

    /// A Unix-domain socket: host is an absolute path and no hostaddr overrides it.
    [[nodiscard]] bool is_unix_socket() const noexcept {
        return hostaddr.empty() && !host.empty() && host.front() == '/';
    }
    bool operator==(const host_spec&) const = default;
};

/// "<dir>/.s.PGSQL.<port>", the socket file of a Unix-socket host_spec.
[[nodiscard]] std::string unix_socket_path(const host_spec& h);

/// Everything needed to open one connection. Defaults differ from libpq in two places:
/// connect_timeout is 10 s (libpq: none), and protocol 3.2 is requested (libpq: 3.0).
struct connect_options {
    std::vector<host_spec> hosts{host_spec{"localhost", 5432, {}}};
    std::string dbname;
    std::string user;
    std::string password;
    std::string application_name;
    /// Time allowed to connect, TLS and authentication included. Zero: no timeout. Parsed
    /// from whole seconds; unlike libpq, 1 s is not raised to 2 s (our timer is not
    /// second-grained).
    std::chrono::milliseconds connect_timeout{10000};
    ssl_mode sslmode = ssl_mode::prefer;
    /// File names (PEM); empty means unset. "system" in sslrootcert is passed through
    /// for the TLS layer to interpret as libpq does.
    std::string sslrootcert;
    std::string sslcert;
    std::string sslkey;
    /// Send the host name as TLS SNI (libpq sslsni=1).
    bool sslsni = true;
    channel_binding_mode channel_binding = channel_binding_mode::prefer;
    auth_policy auth;
    /// Protocol 3.x minor version to request (max_protocol_version): 2 or 0.
    int protocol_minor = 2;
    /// Lowest minor version accepted after NegotiateProtocolVersion (min_protocol_version).
    int min_protocol_minor = 0;
    /// Extra StartupMessage parameters, in order: "options" and "client_encoding" from a
    /// connection string, or anything (DateStyle, search_path, ...) set in code. Only
    /// "options" and "client_encoding" survive to_conninfo.
    std::vector<std::pair<std::string, std::string>> startup_parameters;
    /// Server-side prepared statements the connection keeps (LRU); 0 disables caching.
    /// Set in code only; not a libpq keyword.
    std::size_t statement_cache_capacity = 100;
    /// Where SCRAM's keys are remembered between logins (see scram_key_memo; a pg_pool
    /// gives its connections one). Null: derived at every login, as libpq does. Set in
    /// code only.
    std::shared_ptr<scram_key_memo> scram_memo;

    /// dbname, or the user name when dbname is empty (libpq's default).
    [[nodiscard]] const std::string& effective_dbname() const noexcept {
        return dbname.empty() ? user : dbname;
    }
    /// to_conninfo() with the password replaced by "********", for logs.
    [[nodiscard]] std::string redacted() const;

    bool operator==(const connect_options&) const = default;
};

/// Why a connection string was rejected: the code, and a message that names the option
/// and byte offset. Messages never quote a password nor any part of a URI's user info.
struct parse_error {
    /// invalid_connection_string (syntax, NUL bytes), unknown_option or invalid_option_value.
    errc code = errc::invalid_connection_string;
    std::string message;

    [[nodiscard]] boost::system::error_code to_error_code() const noexcept {
        return make_error_code(code);
    }
    bool operator==(const parse_error&) const = default;
};

/// Called by result::value() on an error: throws boost::system::system_error.
[[noreturn]] void throw_exception_from_error(const parse_error& e,
                                             const boost::source_location& loc);

using options_result = boost::system::result<connect_options, parse_error>;

/// A postgresql:// or postgres:// URI, as libpq documents it
/// (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS):
/// user:password@ info, host[:port] lists with [IPv6] literals, /dbname, ?key=value
/// parameters (the keywords of parse_conninfo, plus JDBC's ssl=true), percent-decoding.
/// An empty host means localhost (libpq would use its default Unix socket).
[[nodiscard]] options_result parse_url(std::string_view url);

/// A libpq keyword/value string: `host=a,b port=5432 password='it\'s'`-style settings
/// separated by whitespace; values single-quoted with \' and \\ escapes. Later settings
/// win. Keywords: host, hostaddr, port, dbname, user, password, connect_timeout,
/// application_name, fallback_application_name, options, client_encoding, sslmode,
/// sslrootcert, sslcert, sslkey, sslsni, channel_binding, require_auth,
/// min_protocol_version, max_protocol_version, and target_session_attrs=any (a no-op).
/// Other keywords, including libpq's own that this driver does not implement, are
/// errc::unknown_option.
[[nodiscard]] options_result parse_conninfo(std::string_view conninfo);

/// parse_url for strings starting with "postgresql://" or "postgres://", else
/// parse_conninfo (the same test libpq makes).
[[nodiscard]] options_result parse_connection_string(std::string_view s);

/// A key=value string that parse_conninfo turns back into the same options (for every
/// value it can express: host names without commas, ports, whole-second timeouts,
/// startup parameters "options" and "client_encoding"). Default values are left out.
/// Contains the password: use connect_options::redacted() for logs.
[[nodiscard]] std::string to_conninfo(const connect_options& o);

} // namespace qail::client
