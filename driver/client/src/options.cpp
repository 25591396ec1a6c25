// Connection options: tokenizers for URIs and key=value strings, one keyword table, printing.
#include <qail/client/options.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <charconv>
#include <cstddef>
#include <optional>

namespace qail::client {
namespace {

// ---------------------------------------------------------------------------------------
// Small helpers

/// libpq splits settings at isspace() in the C locale.
constexpr bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/// A value quoted for an error message: printable ASCII as is, other bytes as \xHH,
/// cut after 64 bytes so a megabyte of garbage does not become a megabyte of log.
std::string describe(std::string_view v) {
    constexpr std::size_t limit = 64;
    constexpr std::string_view hex = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < v.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(v[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += v[i];
        } else if (c >= 0x20 && c < 0x7f) {
            out += v[i];
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    if (v.size() > limit)
        out += "...";
    out += '"';
    return out;
}

std::string at_offset(std::size_t offset) {
    return " at offset " + std::to_string(offset);
}

parse_error fail(errc code, std::string message) {
    return parse_error{code, std::move(message)};
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = s.find(sep, start);
        if (end == std::string_view::npos) {
            parts.push_back(s.substr(start));
            return parts;
        }
        parts.push_back(s.substr(start, end - start));
        start = end + 1;
    }
}

std::optional<parse_error> check_no_nul(std::string_view s) {
    if (const auto nul = s.find('\0'); nul != std::string_view::npos)
        return fail(errc::invalid_connection_string,
                    "connection string contains a NUL byte" + at_offset(nul));
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Settings: what both syntaxes reduce to before the keyword table gives them meaning.

struct setting {
    std::string key;
    std::string value;
    std::size_t offset = 0;     // of the value in the input, for messages
    std::size_t key_offset = 0; // of the keyword
};
using settings = std::vector<setting>;
using settings_result = boost::system::result<settings, parse_error>;

// ---------------------------------------------------------------------------------------
// key=value syntax
// (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-KEYWORD-VALUE)

settings_result tokenize_conninfo(std::string_view s) {
    settings out;
    std::size_t pos = 0;
    const std::size_t n = s.size();
    const auto skip_spaces = [&] {
        while (pos < n && is_space(s[pos]))
            ++pos;
    };
    for (;;) {
        skip_spaces();
        if (pos >= n)
            return out;
        const std::size_t key_start = pos;
        while (pos < n && !is_space(s[pos]) && s[pos] != '=')
            ++pos;
        const std::string_view key = s.substr(key_start, pos - key_start);
        skip_spaces();
        if (pos >= n || s[pos] != '=')
            return fail(errc::invalid_connection_string,
                        "missing \"=\" after " + describe(key) + at_offset(key_start));
        if (key.empty())
            return fail(errc::invalid_connection_string,
                        "empty keyword before \"=\"" + at_offset(pos));
        ++pos;
        skip_spaces();
        setting st{std::string{key}, {}, pos, key_start};
        if (pos < n && s[pos] == '\'') {
            const std::size_t quote = pos++;
            for (;;) {
                if (pos >= n)
                    return fail(errc::invalid_connection_string, "unterminated quoted value for " +
                                                                     describe(key) + " starting" +
                                                                     at_offset(quote));
                const char c = s[pos];
                if (c == '\'') {
                    ++pos;
                    break;
                }
                if (c == '\\') {
                    if (pos + 1 >= n)
                        return fail(errc::invalid_connection_string,
                                    "unterminated quoted value for " + describe(key) + " starting" +
                                        at_offset(quote));
                    st.value += s[pos + 1];
                    pos += 2;
                } else {
                    st.value += c;
                    ++pos;
                }
            }
        } else {
            while (pos < n && !is_space(s[pos])) {
                if (s[pos] == '\\') {
                    if (pos + 1 >= n)
                        return fail(errc::invalid_connection_string,
                                    "backslash at the end of the value for " + describe(key) +
                                        at_offset(pos));
                    st.value += s[pos + 1];
                    pos += 2;
                } else {
                    st.value += s[pos++];
                }
            }
        }
        out.push_back(std::move(st));
    }
}

// ---------------------------------------------------------------------------------------
// URI syntax (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS)

constexpr std::string_view uri_prefixes[] = {"postgresql://", "postgres://"};

std::size_t uri_prefix_length(std::string_view s) noexcept {
    for (const std::string_view p : uri_prefixes)
        if (s.starts_with(p))
            return p.size();
    return 0;
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// Percent-decodes `in`, found at `base` in the URI. Errors name the part (`what`) and the
/// offset, never the bytes: the part may be a password.
boost::system::result<std::string, parse_error>
percent_decode(std::string_view in, std::size_t base, std::string_view what) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        const int hi = i + 1 < in.size() ? hex_value(in[i + 1]) : -1;
        const int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return fail(errc::invalid_connection_string, "invalid percent-encoding in the " +
                                                             std::string{what} + " of the URI" +
                                                             at_offset(base + i));
        const int byte = hi * 16 + lo;
        if (byte == 0)
            return fail(errc::invalid_connection_string, "percent-encoded NUL (%00) in the " +
                                                             std::string{what} + " of the URI" +
                                                             at_offset(base + i));
        out += static_cast<char>(static_cast<unsigned char>(byte));
        i += 2;
    }
    return out;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i != 0)
            out += ',';
        out += items[i];
    }
    return out;
}

/// The host list of the URI, [pos, end): host[:port] items separated by commas, IPv6
/// literals in brackets. Appends one "host" and one "port" setting, both comma lists.
std::optional<parse_error> parse_uri_hosts(std::string_view s, std::size_t pos, std::size_t end,
                                           settings& out) {
    const std::size_t start = pos;
    std::vector<std::string> hosts;
    std::vector<std::string> ports;
    for (;;) {
        std::string_view host_raw;
        std::size_t host_offset = pos;
        if (pos < end && s[pos] == '[') {
            const std::size_t close = s.find(']', pos + 1);
            if (close == std::string_view::npos || close >= end)
                return fail(errc::invalid_connection_string,
                            "missing \"]\" after the IPv6 address starting" + at_offset(pos));
            if (close == pos + 1)
                return fail(errc::invalid_connection_string,
                            "empty IPv6 address in URI" + at_offset(pos));
            host_offset = pos + 1;
            host_raw = s.substr(pos + 1, close - pos - 1);
            pos = close + 1;
            if (pos < end && s[pos] != ':' && s[pos] != ',')
                return fail(errc::invalid_connection_string,
                            "unexpected character " + describe(s.substr(pos, 1)) +
                                " after an IPv6 address" + at_offset(pos) +
                                " (expected \":\", \",\", \"/\" or \"?\")");
        } else {
            const std::size_t stop = std::min(s.find_first_of(":,", pos), end);
            host_raw = s.substr(pos, stop - pos);
            pos = stop;
        }
        auto host = percent_decode(host_raw, host_offset, "host");
        if (!host)
            return host.error();
        hosts.push_back(std::move(*host));

        std::string port;
        if (pos < end && s[pos] == ':') {
            ++pos;
            const std::size_t stop = std::min(s.find(',', pos), end);
            auto decoded = percent_decode(s.substr(pos, stop - pos), pos, "port");
            if (!decoded)
                return decoded.error();
            port = std::move(*decoded);
            pos = stop;
        }
        ports.push_back(std::move(port));

        if (pos < end && s[pos] == ',') {
            ++pos;
            continue;
        }
        break;
    }
    out.push_back({"host", join(hosts), start, start});
    out.push_back({"port", join(ports), start, start});
    return std::nullopt;
}

settings_result tokenize_url(std::string_view s) {
    const std::size_t prefix = uri_prefix_length(s);
    if (prefix == 0)
        return fail(errc::invalid_connection_string,
                    "URI does not start with \"postgresql://\" or \"postgres://\"");
    settings out;
    std::size_t pos = prefix;
    const std::size_t authority_end = std::min(s.find_first_of("/?", pos), s.size());

    // user[:password]@ -- the last '@' of the authority, so an unencoded '@' in a password
    // still splits where the user meant it to.
    const std::string_view authority = s.substr(pos, authority_end - pos);
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        const std::string_view userinfo = authority.substr(0, at);
        const std::size_t colon = userinfo.find(':');
        auto user = percent_decode(userinfo.substr(0, colon), pos, "user name");
        if (!user)
            return user.error();
        if (!user->empty())
            out.push_back({"user", std::move(*user), pos, pos});
        if (colon != std::string_view::npos) {
            auto password = percent_decode(userinfo.substr(colon + 1), pos + colon + 1, "password");
            if (!password)
                return password.error();
            out.push_back({"password", std::move(*password), pos + colon + 1, pos});
        }
        pos += at + 1;
    }

    if (pos < authority_end) {
        if (auto e = parse_uri_hosts(s, pos, authority_end, out))
            return *e;
    }
    pos = authority_end;

    if (pos < s.size() && s[pos] == '/') {
        ++pos;
        const std::size_t stop = std::min(s.find('?', pos), s.size());
        auto dbname = percent_decode(s.substr(pos, stop - pos), pos, "database name");
        if (!dbname)
            return dbname.error();
        if (!dbname->empty())
            out.push_back({"dbname", std::move(*dbname), pos, pos});
        pos = stop;
    }

    if (pos < s.size() && s[pos] == '?') {
        ++pos;
        while (pos <= s.size()) {
            const std::size_t stop = std::min(s.find('&', pos), s.size());
            const std::string_view param = s.substr(pos, stop - pos);
            if (!param.empty()) {
                const std::size_t eq = param.find('=');
                if (eq == std::string_view::npos)
                    return fail(errc::invalid_connection_string,
                                "missing \"=\" in URI query parameter " + describe(param) +
                                    at_offset(pos));
                if (param.find('=', eq + 1) != std::string_view::npos)
                    return fail(errc::invalid_connection_string,
                                "extra \"=\" in URI query parameter " +
                                    describe(param.substr(0, eq)) + at_offset(pos) +
                                    " (percent-encode it as %3D)");
                auto key = percent_decode(param.substr(0, eq), pos, "query parameter name");
                if (!key)
                    return key.error();
                const std::size_t value_offset = pos + eq + 1;
                auto value = percent_decode(param.substr(eq + 1), value_offset,
                                            "value of query parameter " + describe(*key));
                if (!value)
                    return value.error();
                // JDBC compatibility, as in libpq: ssl=true means sslmode=require.
                if (*key == "ssl") {
                    if (*value != "true")
                        return fail(errc::invalid_option_value,
                                    "URI parameter ssl accepts only \"true\" (JDBC "
                                    "compatibility), got " +
                                        describe(*value) + at_offset(value_offset));
                    out.push_back({"sslmode", "require", value_offset, pos});
                } else {
                    out.push_back({std::move(*key), std::move(*value), value_offset, pos});
                }
            }
            pos = stop + 1;
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------
// The keyword table: what each setting means, shared by both syntaxes.

/// The options under construction, plus the settings that only make sense together
/// (host, hostaddr and port lists; application_name and its fallback).
struct builder {
    connect_options opts;
    std::optional<setting> host;
    std::optional<setting> hostaddr;
    std::optional<setting> port;
    std::string fallback_application_name;
};

using apply_fn = std::optional<parse_error> (*)(builder&, const setting&);

struct keyword {
    std::string_view name;
    apply_fn apply;
};

parse_error bad_value(const setting& st, std::string_view expected) {
    return fail(errc::invalid_option_value, "invalid value " + describe(st.value) + " for " +
                                                st.key + at_offset(st.offset) + " (expected " +
                                                std::string{expected} + ")");
}

template <typename Value, std::size_t N>
std::optional<Value> lookup(const std::array<std::pair<std::string_view, Value>, N>& names,
                            std::string_view v) {
    for (const auto& [name, value] : names)
        if (name == v)
            return value;
    return std::nullopt;
}

constexpr std::array<std::pair<std::string_view, ssl_mode>, 6> ssl_mode_names{{
    {"disable", ssl_mode::disable},
    {"allow", ssl_mode::allow},
    {"prefer", ssl_mode::prefer},
    {"require", ssl_mode::require},
    {"verify-ca", ssl_mode::verify_ca},
    {"verify-full", ssl_mode::verify_full},
}};

constexpr std::array<std::pair<std::string_view, channel_binding_mode>, 3> channel_binding_names{{
    {"disable", channel_binding_mode::disable},
    {"prefer", channel_binding_mode::prefer},
    {"require", channel_binding_mode::require},
}};

constexpr std::array<std::pair<std::string_view, int>, 3> protocol_version_names{{
    {"3.0", 0},
    {"3.2", 2},
    {"latest", 2},
}};

/// A TCP port or socket-file suffix: decimal digits only, 1..65535.
std::optional<std::uint16_t> parse_port(std::string_view v) noexcept {
    if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    unsigned long n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > 65535)
        return std::nullopt;
    return static_cast<std::uint16_t>(n);
}

/// hostaddr must be numeric, as libpq requires; an IPv6 address may carry a zone ("%eth0").
bool is_numeric_address(std::string_view v) {
    const std::size_t percent = v.find('%');
    const std::string addr{v.substr(0, percent)};
    std::array<unsigned char, 16> buf{};
    if (percent == std::string_view::npos && inet_pton(AF_INET, addr.c_str(), buf.data()) == 1)
        return true;
    const bool zone_ok = percent == std::string_view::npos || percent + 1 < v.size();
    return zone_ok && inet_pton(AF_INET6, addr.c_str(), buf.data()) == 1;
}

void set_startup_parameter(connect_options& o, std::string_view name, const std::string& value) {
    auto& params = o.startup_parameters;
    const auto it =
        std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
    if (value.empty()) {
        // An empty value means "not set", as it does in libpq.
        if (it != params.end())
            params.erase(it);
    } else if (it != params.end()) {
        it->second = value;
    } else {
        params.emplace_back(std::string{name}, value);
    }
}

/// libpq's require_auth: a comma list of methods, all plain or all negated with '!'
/// (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-REQUIRE-AUTH).
/// gss, sspi and oauth are libpq methods this driver cannot perform: requiring them is
/// invalid_option_value, excluding them ("!gss") is accepted and changes nothing.
std::optional<parse_error> apply_require_auth(builder& b, const setting& st) {
    auth_policy policy;
    if (st.value.empty()) {
        b.opts.auth = policy;
        return std::nullopt;
    }
    const auto items = split(st.value, ',');
    const bool negated = items.front().starts_with('!');
    // A negated list starts from "everything" and removes; a plain one allows only itself.
    if (!negated)
        policy = auth_policy{false, false, false, false};
    std::vector<std::string_view> seen;
    for (const std::string_view item : items) {
        if (item.starts_with('!') != negated)
            return fail(errc::invalid_option_value,
                        "require_auth cannot mix negated (\"!method\") and plain methods, got " +
                            describe(st.value) + at_offset(st.offset));
        const std::string_view method = negated ? item.substr(1) : item;
        if (std::find(seen.begin(), seen.end(), method) != seen.end())
            return fail(errc::invalid_option_value, "require_auth method " + describe(method) +
                                                        " is listed more than once" +
                                                        at_offset(st.offset));
        seen.push_back(method);
        bool* flag = nullptr;
        if (method == "password")
            flag = &policy.allow_cleartext;
        else if (method == "md5")
            flag = &policy.allow_md5;
        else if (method == "scram-sha-256")
            flag = &policy.allow_scram;
        else if (method == "none")
            flag = &policy.allow_none;
        if (flag != nullptr) {
            *flag = !negated;
            continue;
        }
        if (method == "gss" || method == "sspi" || method == "oauth") {
            if (negated)
                continue;
            return fail(errc::invalid_option_value,
                        "require_auth method " + describe(method) +
                            " is not supported by this driver" + at_offset(st.offset) +
                            " (supported: password, md5, scram-sha-256, none)");
        }
        return fail(errc::invalid_option_value,
                    "invalid require_auth method " + describe(method) + at_offset(st.offset) +
                        " (expected password, md5, scram-sha-256 or none, optionally "
                        "negated with \"!\")");
    }
    b.opts.auth = policy;
    return std::nullopt;
}

std::optional<parse_error> apply_connect_timeout(builder& b, const setting& st) {
    constexpr long long max_seconds = 2147483647; // libpq's int
    const std::string_view v = st.value;
    long long seconds = 0;
    const bool digits =
        !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (!digits || ec != std::errc{} || end != v.data() + v.size() || seconds > max_seconds)
        return bad_value(st, "a whole number of seconds, 0 for no timeout");
    b.opts.connect_timeout = std::chrono::seconds{seconds};
    return std::nullopt;
}

std::optional<parse_error> apply_protocol_version(int& field, const setting& st) {
    const auto v = lookup(protocol_version_names, st.value);
    if (!v)
        return bad_value(st, "3.0, 3.2 or latest");
    field = *v;
    return std::nullopt;
}

constexpr keyword keywords[] = {
    {"host",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.host = st;
         return std::nullopt;
     }},
    {"hostaddr",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.hostaddr = st;
         return std::nullopt;
     }},
    {"port",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.port = st;
         return std::nullopt;
     }},
    {"dbname",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.opts.dbname = st.value;
         return std::nullopt;
     }},
    {"user",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.opts.user = st.value;
         return std::nullopt;
     }},
    {"password",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.opts.password = st.value;
         return std::nullopt;
     }},
    {"connect_timeout", &apply_connect_timeout},
    {"application_name",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.opts.application_name = st.value;
         return std::nullopt;
     }},
    {"fallback_application_name",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.fallback_application_name = st.value;
         return std::nullopt;
     }},
    {"options",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         set_startup_parameter(b.opts, "options", st.value);
         return std::nullopt;
     }},
    {"client_encoding",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         // libpq's "auto" reads the locale; a pooler's driver should not depend on it.
         if (st.value == "auto")
             return bad_value(st, "an encoding name; \"auto\" is not supported");
         set_startup_parameter(b.opts, "client_encoding", st.value);
         return std::nullopt;
     }},
    {"sslmode",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         const auto m = lookup(ssl_mode_names, st.value);
         if (!m)
             return bad_value(st, "disable, allow, prefer, require, verify-ca or verify-full");
         b.opts.sslmode = *m;
         return std::nullopt;
     }},
    {"sslrootcert",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.opts.sslrootcert = st.value;
         return std::nullopt;
     }},
    {"sslcert",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.opts.sslcert = st.value;
         return std::nullopt;
     }},
    {"sslkey",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         b.opts.sslkey = st.value;
         return std::nullopt;
     }},
    {"sslsni",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         if (st.value != "0" && st.value != "1")
             return bad_value(st, "0 or 1");
         b.opts.sslsni = st.value == "1";
         return std::nullopt;
     }},
    {"channel_binding",
     [](builder& b, const setting& st) -> std::optional<parse_error> {
         const auto m = lookup(channel_binding_names, st.value);
         if (!m)
             return bad_value(st, "disable, prefer or require");
         b.opts.channel_binding = *m;
         return std::nullopt;
     }},
    {"require_auth", &apply_require_auth},
    {"min_protocol_version",
     [](builder& b, const setting& st) {
         return apply_protocol_version(b.opts.min_protocol_minor, st);
     }},
    {"max_protocol_version",
     [](builder& b, const setting& st) {
         return apply_protocol_version(b.opts.protocol_minor, st);
     }},
    {"target_session_attrs",
     [](builder&, const setting& st) -> std::optional<parse_error> {
         // Only libpq's default, which checks nothing, is implemented.
         if (st.value != "any")
             return bad_value(st, "any; other target_session_attrs are not supported");
         return std::nullopt;
     }},
};

/// libpq keywords this driver knowingly does not implement: same errc as a typo, a
/// clearer message.
constexpr std::string_view unsupported_libpq_keywords[] = {
    "service",
    "passfile",
    "requiressl",
    "tty",
    "replication",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "gssencmode",
    "gsslib",
    "gssdelegation",
    "krbsrvname",
    "requirepeer",
    "sslnegotiation",
    "sslcompression",
    "sslpassword",
    "sslcertmode",
    "sslcrl",
    "sslcrldir",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "load_balance_hosts",
    "scram_client_key",
    "scram_server_key",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
};

/// Pairs the host, hostaddr and port lists into host_specs, as libpq does: host and
/// hostaddr lists must have the same length; port has one item for all or one per host;
/// empty items mean the default.
std::optional<parse_error> resolve_hosts(builder& b) {
    const auto list = [](const std::optional<setting>& st) {
        return st && !st->value.empty() ? split(st->value, ',') : std::vector<std::string_view>{};
    };
    const auto hosts = list(b.host);
    const auto addrs = list(b.hostaddr);
    const auto ports = list(b.port);
    if (!hosts.empty() && !addrs.empty() && hosts.size() != addrs.size())
        return fail(errc::invalid_option_value,
                    "could not match " + std::to_string(hosts.size()) + " host names to " +
                        std::to_string(addrs.size()) + " hostaddr values");
    const std::size_t count = std::max<std::size_t>({hosts.size(), addrs.size(), 1});
    if (ports.size() > 1 && ports.size() != count)
        return fail(errc::invalid_option_value, "could not match " + std::to_string(ports.size()) +
                                                    " port numbers to " + std::to_string(count) +
                                                    " hosts");
    std::vector<host_spec> specs(count);
    for (std::size_t i = 0; i < count; ++i) {
        host_spec& h = specs[i];
        if (!hosts.empty())
            h.host = hosts[i];
        if (!addrs.empty())
            h.hostaddr = addrs[i];
        if (!h.hostaddr.empty() && !is_numeric_address(h.hostaddr))
            return fail(errc::invalid_option_value,
                        "invalid value " + describe(h.hostaddr) + " in hostaddr" +
                            at_offset(b.hostaddr->offset) + " (expected a numeric IP address)");
        if (h.host.empty() && h.hostaddr.empty())
            h.host = "localhost";
        if (h.host.starts_with('@'))
            return fail(errc::invalid_option_value,
                        "abstract Unix sockets (host starting with \"@\") are not supported" +
                            at_offset(b.host->offset));
        const std::string_view port = ports.empty()       ? std::string_view{}
                                      : ports.size() == 1 ? ports.front()
                                                          : ports[i];
        if (!port.empty()) {
            const auto n = parse_port(port);
            // The value is not quoted: in a malformed URI it may be a piece of a password.
            if (!n)
                return fail(errc::invalid_option_value,
                            "invalid port number in item " +
                                std::to_string((ports.size() == 1 ? 0 : i) + 1) +
                                " of the port list" + at_offset(b.port->offset) +
                                " (expected 1..65535)");
            h.port = *n;
        }
    }
    b.opts.hosts = std::move(specs);
    return std::nullopt;
}

/// Checks that need every setting: contradictions libpq would also refuse.
std::optional<parse_error> check_consistency(const connect_options& o) {
    if (o.channel_binding == channel_binding_mode::require && o.sslmode == ssl_mode::disable)
        return fail(errc::invalid_option_value,
                    "channel_binding=require needs TLS, but sslmode=disable");
    if (o.channel_binding == channel_binding_mode::require && !o.auth.allow_scram)
        return fail(errc::invalid_option_value,
                    "channel_binding=require needs SCRAM, which require_auth excludes");
    if (o.min_protocol_minor > o.protocol_minor)
        return fail(errc::invalid_option_value,
                    "min_protocol_version 3." + std::to_string(o.min_protocol_minor) +
                        " is above max_protocol_version 3." + std::to_string(o.protocol_minor));
    return std::nullopt;
}

options_result build(const settings& all) {
    builder b;
    for (const setting& st : all) {
        const auto kw = std::find_if(std::begin(keywords), std::end(keywords),
                                     [&](const keyword& k) { return k.name == st.key; });
        if (kw == std::end(keywords)) {
            const bool libpq_only = std::find(std::begin(unsupported_libpq_keywords),
                                              std::end(unsupported_libpq_keywords),
                                              st.key) != std::end(unsupported_libpq_keywords);
            return fail(errc::unknown_option,
                        (libpq_only ? "libpq connection option " + describe(st.key) +
                                          " is not supported by this driver"
                                    : "unknown connection option " + describe(st.key)) +
                            at_offset(st.key_offset));
        }
        if (auto e = kw->apply(b, st))
            return *e;
    }
    if (auto e = resolve_hosts(b))
        return *e;
    if (b.opts.application_name.empty())
        b.opts.application_name = b.fallback_application_name;
    if (auto e = check_consistency(b.opts))
        return *e;
    return std::move(b.opts);
}

// ---------------------------------------------------------------------------------------
// Printing

void append_value(std::string& out, std::string_view v) {
    const bool plain = !v.empty() && std::none_of(v.begin(), v.end(), [](char c) {
        return is_space(c) || c == '\'' || c == '\\';
    });
    if (plain) {
        out += v;
        return;
    }
    out += '\'';
    for (const char c : v) {
        if (c == '\'' || c == '\\')
            out += '\\';
        out += c;
    }
    out += '\'';
}

std::string require_auth_string(const auth_policy& p) {
    const std::array<std::pair<std::string_view, bool>, 4> methods{{
        {"password", p.allow_cleartext},
        {"md5", p.allow_md5},
        {"scram-sha-256", p.allow_scram},
        {"none", p.allow_none},
    }};
    const bool any_allowed =
        std::any_of(methods.begin(), methods.end(), [](const auto& m) { return m.second; });
    // Name what is allowed; if nothing is, negate everything (no other form says that).
    std::string out;
    for (const auto& [name, allowed] : methods) {
        if (allowed != any_allowed)
            continue;
        if (!out.empty())
            out += ',';
        if (!any_allowed)
            out += '!';
        out += name;
    }
    return out;
}

std::string protocol_version_string(int minor) {
    return "3." + std::to_string(minor);
}

} // namespace

std::string_view to_string(ssl_mode m) noexcept {
    for (const auto& [name, value] : ssl_mode_names)
        if (value == m)
            return name;
    return "invalid";
}

std::string_view to_string(channel_binding_mode m) noexcept {
    for (const auto& [name, value] : channel_binding_names)
        if (value == m)
            return name;
    return "invalid";
}

std::string unix_socket_path(const host_spec& h) {
    std::string_view dir = h.host;
    if (dir.size() > 1 && dir.back() == '/')
        dir.remove_suffix(1);
    std::string path{dir};
    if (path.empty() || path.back() != '/')
        path += '/';
    path += ".s.PGSQL.";
    path += std::to_string(h.port);
    return path;
}

void throw_exception_from_error(const parse_error& e, const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(e.to_error_code(), e.message), loc);
}

options_result parse_url(std::string_view url) {
    if (auto e = check_no_nul(url))
        return *e;
    auto tokens = tokenize_url(url);
    if (!tokens)
        return tokens.error();
    return build(*tokens);
}

options_result parse_conninfo(std::string_view conninfo) {
    if (auto e = check_no_nul(conninfo))
        return *e;
    auto tokens = tokenize_conninfo(conninfo);
    if (!tokens)
        return tokens.error();
    return build(*tokens);
}

options_result parse_connection_string(std::string_view s) {
    return uri_prefix_length(s) != 0 ? parse_url(s) : parse_conninfo(s);
}

std::string to_conninfo(const connect_options& o) {
    std::string out;
    const auto add = [&out](std::string_view key, std::string_view value) {
        if (!out.empty())
            out += ' ';
        out += key;
        out += '=';
        append_value(out, value);
    };
    const connect_options defaults;

    if (o.hosts != defaults.hosts && !o.hosts.empty()) {
        const auto any = [&](auto&& pred) {
            return std::any_of(o.hosts.begin(), o.hosts.end(), pred);
        };
        const auto list = [&](auto&& field) {
            std::string s;
            for (std::size_t i = 0; i < o.hosts.size(); ++i) {
                if (i != 0)
                    s += ',';
                s += field(o.hosts[i]);
            }
            return s;
        };
        if (any([](const host_spec& h) { return !h.host.empty(); }))
            add("host", list([](const host_spec& h) { return h.host; }));
        if (any([](const host_spec& h) { return !h.hostaddr.empty(); }))
            add("hostaddr", list([](const host_spec& h) { return h.hostaddr; }));
        const std::uint16_t first_port = o.hosts.front().port;
        if (!any([&](const host_spec& h) { return h.port != first_port; })) {
            if (first_port != 5432)
                add("port", std::to_string(first_port));
        } else {
            add("port", list([](const host_spec& h) { return std::to_string(h.port); }));
        }
    }
    if (!o.dbname.empty())
        add("dbname", o.dbname);
    if (!o.user.empty())
        add("user", o.user);
    if (!o.password.empty())
        add("password", o.password);
    if (o.connect_timeout != defaults.connect_timeout) {
        // Whole seconds only; a fraction rounds up so the budget never shrinks.
        const auto ms = std::max<std::chrono::milliseconds::rep>(o.connect_timeout.count(), 0);
        add("connect_timeout", std::to_string((ms + 999) / 1000));
    }
    if (!o.application_name.empty())
        add("application_name", o.application_name);
    if (o.sslmode != defaults.sslmode)
        add("sslmode", to_string(o.sslmode));
    if (!o.sslrootcert.empty())
        add("sslrootcert", o.sslrootcert);
    if (!o.sslcert.empty())
        add("sslcert", o.sslcert);
    if (!o.sslkey.empty())
        add("sslkey", o.sslkey);
    if (o.sslsni != defaults.sslsni)
        add("sslsni", o.sslsni ? "1" : "0");
    if (o.channel_binding != defaults.channel_binding)
        add("channel_binding", to_string(o.channel_binding));
    if (o.auth != defaults.auth)
        add("require_auth", require_auth_string(o.auth));
    if (o.min_protocol_minor != defaults.min_protocol_minor)
        add("min_protocol_version", protocol_version_string(o.min_protocol_minor));
    if (o.protocol_minor != defaults.protocol_minor)
        add("max_protocol_version", protocol_version_string(o.protocol_minor));
    for (const auto& [name, value] : o.startup_parameters)
        if (name == "options" || name == "client_encoding")
            add(name, value);
    return out;
}

std::string connect_options::redacted() const {
    if (password.empty())
        return to_conninfo(*this);
    connect_options copy = *this;
    copy.password = "********";
    return to_conninfo(copy);
}

} // namespace qail::client
