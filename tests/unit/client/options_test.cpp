// Connection options: libpq's documented URIs and key=value strings, every error, printing.
#include "test_support.hpp"

#include <qail/client/options.hpp>

#include <boost/system/system_error.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace qail::client {
namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;

connect_options parsed(std::string_view s) {
    INFO("input: ", std::string{s});
    const auto r = parse_connection_string(s);
    INFO("error: ", r.has_error() ? r.error().message : std::string{});
    REQUIRE(r.has_value());
    return *r;
}

parse_error rejected(std::string_view s) {
    INFO("input: ", std::string{s});
    const auto r = parse_connection_string(s);
    REQUIRE(r.has_error());
    return r.error();
}

host_spec tcp(std::string host, std::uint16_t port = 5432) {
    return {std::move(host), port, {}};
}

std::vector<host_spec> hosts(std::initializer_list<host_spec> l) {
    return l;
}

/// parse(to_conninfo(o)) == o.
void check_round_trip(const connect_options& o) {
    const std::string text = to_conninfo(o);
    INFO("conninfo: ", text);
    const auto back = parse_conninfo(text);
    INFO("error: ", back.has_error() ? back.error().message : std::string{});
    REQUIRE(back.has_value());
    CHECK(*back == o);
}

// ---------------------------------------------------------------------------------------
// libpq documentation examples

TEST_CASE("options: URI examples from the libpq documentation") {
    SUBCASE("postgresql:// alone is all defaults") {
        CHECK(parsed("postgresql://") == connect_options{});
        CHECK(parsed("postgres://") == connect_options{});
    }
    SUBCASE("host, port, dbname, user, password") {
        CHECK(parsed("postgresql://localhost").hosts == hosts({tcp("localhost")}));
        CHECK(parsed("postgresql://localhost:5433").hosts == hosts({tcp("localhost", 5433)}));
        CHECK(parsed("postgresql://localhost/mydb").dbname == "mydb");
        const auto u = parsed("postgresql://user@localhost");
        CHECK(u.user == "user");
        CHECK(u.password.empty());
        const auto up = parsed("postgresql://user:secret@localhost");
        CHECK(up.user == "user");
        CHECK(up.password == "secret");
    }
    SUBCASE("query parameters") {
        const auto o = parsed(
            "postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp");
        CHECK(o.user == "other");
        CHECK(o.dbname == "otherdb");
        CHECK(o.connect_timeout == 10s);
        CHECK(o.application_name == "myapp");
    }
    SUBCASE("multiple hosts with ports") {
        const auto o = parsed("postgresql://host1:123,host2:456/somedb?target_session_attrs=any&"
                              "application_name=myapp");
        CHECK(o.hosts == hosts({tcp("host1", 123), tcp("host2", 456)}));
        CHECK(o.dbname == "somedb");
        CHECK(o.application_name == "myapp");
    }
    SUBCASE("hierarchical parts given as parameters") {
        const auto o = parsed("postgresql:///mydb?host=localhost&port=5433");
        CHECK(o.hosts == hosts({tcp("localhost", 5433)}));
        CHECK(o.dbname == "mydb");
    }
    SUBCASE("percent-encoded options") {
        const auto o =
            parsed("postgresql://user@localhost:5433/mydb?options=-c%20synchronous_commit%3Doff");
        CHECK(o.user == "user");
        CHECK(o.hosts == hosts({tcp("localhost", 5433)}));
        CHECK(o.startup_parameters == std::vector<std::pair<std::string, std::string>>{
                                          {"options", "-c synchronous_commit=off"}});
    }
    SUBCASE("IPv6 literal") {
        const auto o = parsed("postgresql://[2001:db8::1234]/database");
        CHECK(o.hosts == hosts({tcp("2001:db8::1234")}));
        CHECK(o.dbname == "database");
    }
    SUBCASE("Unix socket directory as parameter or percent-encoded host") {
        const auto a = parsed("postgresql:///dbname?host=/var/lib/postgresql");
        const auto b = parsed("postgresql://%2Fvar%2Flib%2Fpostgresql/dbname");
        CHECK(a == b);
        CHECK(a.hosts == hosts({tcp("/var/lib/postgresql")}));
        CHECK(a.hosts.front().is_unix_socket());
        CHECK(unix_socket_path(a.hosts.front()) == "/var/lib/postgresql/.s.PGSQL.5432");
        CHECK(a.dbname == "dbname");
    }
}

TEST_CASE("options: key=value examples from the libpq documentation") {
    const auto o = parsed("host=localhost port=5432 dbname=mydb connect_timeout=10");
    CHECK(o.hosts == hosts({tcp("localhost")}));
    CHECK(o.dbname == "mydb");
    CHECK(o.connect_timeout == 10s);

    // "keyword = 'a value'": spaces around '=' and a quoted value.
    CHECK(parsed("application_name = 'a value'").application_name == "a value");
    // options=-csearch_path= : '=' inside an unquoted value is data.
    CHECK(parsed("options=-csearch_path=").startup_parameters ==
          std::vector<std::pair<std::string, std::string>>{{"options", "-csearch_path="}});
    CHECK(parsed("options='-c geqo=off'").startup_parameters ==
          std::vector<std::pair<std::string, std::string>>{{"options", "-c geqo=off"}});
    // Multiple hosts: one port per host, or one port for all.
    CHECK(parsed("host=host1,host2,host3 port=5432,5433,5434").hosts ==
          hosts({tcp("host1", 5432), tcp("host2", 5433), tcp("host3", 5434)}));
    CHECK(parsed("host=host1,host2 port=6000").hosts ==
          hosts({tcp("host1", 6000), tcp("host2", 6000)}));
    // Empty list items are the defaults.
    CHECK(parsed("host=a,,c port=1,,3").hosts ==
          hosts({tcp("a", 1), tcp("localhost", 5432), tcp("c", 3)}));
    // A single string that is common in the wild.
    const auto w = parsed("hostaddr=127.0.0.1 port=5432 dbname=mailddb user=mailddbuser "
                          "password=Str0ngPaSSw0rd connect_timeout=5");
    CHECK(w.hosts == hosts({host_spec{"", 5432, "127.0.0.1"}}));
    CHECK(w.user == "mailddbuser");
    CHECK(w.password == "Str0ngPaSSw0rd");
    CHECK(w.connect_timeout == 5s);
}

// libpq's URI regression corpus (src/interfaces/libpq/t/001_uri.pl): every accepted URI
// must mean what libpq's printed key=value result means.
TEST_CASE("options: libpq URI regression corpus, accepted URIs") {
    struct row {
        std::string_view uri;
        std::string_view conninfo; // libpq's printed result; "(local)" rows print no host
    };
    const row rows[] = {
        {"postgresql://uri-user:secret@host:12345/db",
         "user='uri-user' password='secret' dbname='db' host='host' port='12345'"},
        {"postgresql://uri-user@host:12345/db",
         "user='uri-user' dbname='db' host='host' port='12345'"},
        {"postgresql://uri-user@host/db", "user='uri-user' dbname='db' host='host'"},
        {"postgresql://host:12345/db", "dbname='db' host='host' port='12345'"},
        {"postgresql://host/db", "dbname='db' host='host'"},
        {"postgresql://uri-user@host:12345/", "user='uri-user' host='host' port='12345'"},
        {"postgresql://uri-user@host/", "user='uri-user' host='host'"},
        {"postgresql://uri-user@", "user='uri-user'"},
        {"postgresql://host:12345/", "host='host' port='12345'"},
        {"postgresql://host:12345", "host='host' port='12345'"},
        {"postgresql://host/", "host='host'"},
        {"postgresql://host", "host='host'"},
        {"postgresql://", ""},
        {"postgresql://?hostaddr=127.0.0.1", "hostaddr='127.0.0.1'"},
        {"postgresql://example.com?hostaddr=63.1.2.4", "host='example.com' hostaddr='63.1.2.4'"},
        {"postgresql://%68ost/", "host='host'"},
        {"postgresql://host/db?user=uri-user", "user='uri-user' dbname='db' host='host'"},
        {"postgresql://host/db?user=uri-user&port=12345",
         "user='uri-user' dbname='db' host='host' port='12345'"},
        {"postgresql://host/db?u%73er=someotheruser&port=12345",
         "user='someotheruser' dbname='db' host='host' port='12345'"},
        {"postgresql://host:12345?user=uri-user", "user='uri-user' host='host' port='12345'"},
        {"postgresql://host?user=uri-user", "user='uri-user' host='host'"},
        {"postgresql://host?", "host='host'"},
        {"postgresql://[::1]:12345/db", "dbname='db' host='::1' port='12345'"},
        {"postgresql://[::1]/db", "dbname='db' host='::1'"},
        {"postgresql://[2001:db8::1234]/", "host='2001:db8::1234'"},
        {"postgresql://[200z:db8::1234]/", "host='200z:db8::1234'"}, // not validated, as libpq
        {"postgresql://[::1]", "host='::1'"},
        {"postgres://", ""},
        {"postgres:///", ""},
        {"postgres:///db", "dbname='db'"},
        {"postgres://uri-user@/db", "user='uri-user' dbname='db'"},
        {"postgres://?host=/path/to/socket/dir", "host='/path/to/socket/dir'"},
        {"postgres://@host", "host='host'"},
        {"postgres://host:/", "host='host'"},
        {"postgres://:12345/", "port='12345'"},
        {"postgres://otheruser@?host=/no/such/directory",
         "user='otheruser' host='/no/such/directory'"},
        {"postgres://otheruser@/?host=/no/such/directory",
         "user='otheruser' host='/no/such/directory'"},
        {"postgres://otheruser@:12345?host=/no/such/socket/path",
         "user='otheruser' host='/no/such/socket/path' port='12345'"},
        {"postgres://otheruser@:12345/db?host=/path/to/socket",
         "user='otheruser' dbname='db' host='/path/to/socket' port='12345'"},
        {"postgres://:12345/db?host=/path/to/socket",
         "dbname='db' host='/path/to/socket' port='12345'"},
        {"postgres://:12345?host=/path/to/socket", "host='/path/to/socket' port='12345'"},
        {"postgres://%2Fvar%2Flib%2Fpostgresql/dbname",
         "dbname='dbname' host='/var/lib/postgresql'"},
        {"postgresql://host?sslmode=disable", "host='host' sslmode='disable'"},
        {"postgresql://host?sslmode=prefer", "host='host' sslmode='prefer'"},
        {"postgresql://host?sslmode=verify-full", "host='host' sslmode='verify-full'"},
    };
    for (const row& r : rows) {
        CAPTURE(r.uri);
        const auto from_uri = parse_url(r.uri);
        const auto from_conninfo = parse_conninfo(r.conninfo);
        REQUIRE(from_uri.has_value());
        REQUIRE(from_conninfo.has_value());
        CHECK(*from_uri == *from_conninfo);
        check_round_trip(*from_uri);
    }
}

TEST_CASE("options: libpq URI regression corpus, rejected URIs") {
    struct row {
        std::string_view uri;
        errc code;
        std::string_view message_part;
    };
    const row rows[] = {
        {"postgresql://host/db?u%7aer=someotheruser&port=12345", errc::unknown_option,
         "unknown connection option \"uzer\""},
        {"postgresql://host?uzer=", errc::unknown_option, "\"uzer\""},
        {"postgre://", errc::invalid_connection_string, "missing \"=\" after \"postgre://\""},
        {"postgres://[::1", errc::invalid_connection_string, "missing \"]\""},
        {"postgres://[]", errc::invalid_connection_string, "empty IPv6 address"},
        {"postgres://[::1]z", errc::invalid_connection_string,
         "unexpected character \"z\" after an IPv6 address at offset 16"},
        {"postgresql://host?zzz", errc::invalid_connection_string,
         "missing \"=\" in URI query parameter \"zzz\""},
        {"postgresql://host?value1&value2", errc::invalid_connection_string,
         "missing \"=\" in URI query parameter \"value1\""},
        {"postgresql://host?key=key=value", errc::invalid_connection_string,
         "extra \"=\" in URI query parameter \"key\""},
        {"postgres://host?dbname=%XXfoo", errc::invalid_connection_string,
         "invalid percent-encoding"},
        {"postgresql://a%00b", errc::invalid_connection_string, "percent-encoded NUL"},
        {"postgresql://%zz", errc::invalid_connection_string, "invalid percent-encoding"},
        {"postgresql://%1", errc::invalid_connection_string, "invalid percent-encoding"},
        {"postgresql://%", errc::invalid_connection_string, "invalid percent-encoding"},
    };
    for (const row& r : rows) {
        CAPTURE(r.uri);
        const auto e = rejected(r.uri);
        CHECK(e.code == r.code);
        CHECK_MESSAGE(e.message.find(r.message_part) != std::string::npos, e.message);
    }
}

// ---------------------------------------------------------------------------------------
// URI details

TEST_CASE("options: URI percent-decoding in every part") {
    const auto o = parsed("postgresql://us%40er:p%3Ass%2Fw%25rd%20x@h%6Fst:54%33%32/d%62%2Fname?"
                          "application_name=a%26b%3Dc&%73slmode=require");
    CHECK(o.user == "us@er");
    CHECK(o.password == "p:ss/w%rd x");
    CHECK(o.hosts == hosts({tcp("host", 5432)}));
    CHECK(o.dbname == "db/name");
    CHECK(o.application_name == "a&b=c");
    CHECK(o.sslmode == ssl_mode::require);
    // Upper- and lower-case hex digits; '+' is not a space (libpq does not decode it).
    CHECK(parsed("postgresql:///%4a%4A+x").dbname == "JJ+x");
    // Multi-byte UTF-8.
    CHECK(parsed("postgresql://u%C3%A9@/").user == "u\xC3\xA9");
}

TEST_CASE("options: URI user info") {
    // Only the first ':' splits user from password.
    const auto a = parsed("postgresql://alice:pa:ss@db");
    CHECK(a.user == "alice");
    CHECK(a.password == "pa:ss");
    // An unencoded '@' in the password: the last '@' of the authority ends the user info.
    const auto b = parsed("postgresql://alice:p@ss@db/x");
    CHECK(b.password == "p@ss");
    CHECK(b.hosts == hosts({tcp("db")}));
    // Empty password, empty user.
    CHECK(parsed("postgresql://alice:@db").password.empty());
    const auto c = parsed("postgresql://:secret@db");
    CHECK(c.user.empty());
    CHECK(c.password == "secret");
    // '@' in the query does not start user info.
    const auto d = parsed("postgresql://db?user=a@b");
    CHECK(d.user == "a@b");
    CHECK(d.hosts == hosts({tcp("db")}));
    // Query parameters win over the user info (later settings win).
    CHECK(parsed("postgresql://alice@db?user=bob").user == "bob");
}

TEST_CASE("options: URI host lists, IPv6 and sockets") {
    CHECK(parsed("postgresql://a:1,b:2,c:3").hosts ==
          hosts({tcp("a", 1), tcp("b", 2), tcp("c", 3)}));
    // A missing port is the default; a port on one host does not spread to others.
    CHECK(parsed("postgresql://a,b:5433").hosts == hosts({tcp("a", 5432), tcp("b", 5433)}));
    CHECK(parsed("postgresql://a:5433,b").hosts == hosts({tcp("a", 5433), tcp("b", 5432)}));
    // Empty hosts are the default host.
    CHECK(parsed("postgresql://,b").hosts == hosts({tcp("localhost"), tcp("b")}));
    CHECK(parsed("postgresql://a,").hosts == hosts({tcp("a"), tcp("localhost")}));
    // IPv6 with and without ports, mixed with names, and with a zone (%25 is '%').
    CHECK(parsed("postgresql://[::1]:1,[fe80::1%25eth0],host:3/db").hosts ==
          hosts({tcp("::1", 1), tcp("fe80::1%eth0", 5432), tcp("host", 3)}));
    CHECK(parsed("postgresql://[::ffff:192.0.2.1]:6432").hosts ==
          hosts({tcp("::ffff:192.0.2.1", 6432)}));
    // Percent-encoded socket directories in a list, with ports as socket suffixes.
    const auto s = parsed("postgresql://%2Ftmp:5433,%2Fvar%2Frun%2Fpostgresql/db");
    CHECK(s.hosts == hosts({tcp("/tmp", 5433), tcp("/var/run/postgresql")}));
    CHECK(unix_socket_path(s.hosts[0]) == "/tmp/.s.PGSQL.5433");
    CHECK(unix_socket_path(s.hosts[1]) == "/var/run/postgresql/.s.PGSQL.5432");
    // host= in the query replaces the whole host list; port= the whole port list.
    CHECK(parsed("postgresql://a:1,b:2?host=x,y").hosts == hosts({tcp("x", 1), tcp("y", 2)}));
    CHECK(parsed("postgresql://a,b?port=7").hosts == hosts({tcp("a", 7), tcp("b", 7)}));
    // JDBC compatibility.
    CHECK(parsed("postgresql://db?ssl=true").sslmode == ssl_mode::require);
    // Empty query parameters are skipped.
    CHECK(parsed("postgresql://db?&application_name=x&&").application_name == "x");
}

TEST_CASE("options: unix_socket_path and is_unix_socket") {
    CHECK(unix_socket_path(tcp("/tmp")) == "/tmp/.s.PGSQL.5432");
    CHECK(unix_socket_path(tcp("/tmp/", 6543)) == "/tmp/.s.PGSQL.6543");
    CHECK(unix_socket_path(tcp("/")) == "/.s.PGSQL.5432");
    CHECK(tcp("/tmp").is_unix_socket());
    CHECK_FALSE(tcp("localhost").is_unix_socket());
    CHECK_FALSE(tcp("::1").is_unix_socket());
    // hostaddr forces TCP, as in libpq.
    CHECK_FALSE((host_spec{"/tmp", 5432, "127.0.0.1"}.is_unix_socket()));
}

// ---------------------------------------------------------------------------------------
// key=value details

TEST_CASE("options: key=value quoting, escaping and whitespace") {
    CHECK(parsed("password='it\\'s a \\\\ test'").password == "it's a \\ test");
    CHECK(parsed("password=it\\'s\\ a\\\\b").password == "it's a\\b"); // escapes unquoted too
    CHECK(parsed("password=''").password.empty());
    CHECK(parsed("password='' user=u").user == "u");
    CHECK(parsed("  \t\n user  =\r\n bob \f\v ").user == "bob");
    CHECK(parsed("user='x'dbname=y").dbname == "y"); // no space needed after a quote
    CHECK(parsed("user=a'b").user == "a'b");         // a quote inside an unquoted value
    CHECK(parsed("dbname='a=b c'").dbname == "a=b c");
    CHECK(parsed("dbname='\\x'").dbname == "x"); // a backslash escapes any character
    // Whitespace after '=' is skipped, so an "empty" unquoted value takes the next word:
    // libpq does the same; quote empty values.
    CHECK(parsed("host= port=5").hosts == hosts({tcp("port=5")}));
    CHECK(parsed("user=").user.empty());
    CHECK(parsed("") == connect_options{});
    CHECK(parsed("   ") == connect_options{});
    // Later settings win.
    CHECK(parsed("user=a user=b").user == "b");
    CHECK(parsed("sslmode=disable sslmode=verify-full").sslmode == ssl_mode::verify_full);
    // Keywords are case-sensitive, as in libpq.
    CHECK(rejected("USER=x").code == errc::unknown_option);
}

TEST_CASE("options: every supported keyword") {
    const auto o =
        parsed("host=db1,db2 hostaddr=10.0.0.1,::1 port=6432 dbname=app user=svc password=pw "
               "connect_timeout=3 application_name=web fallback_application_name=ignored "
               "options='-c statement_timeout=5s' client_encoding=UTF8 sslmode=verify-full "
               "sslrootcert=/etc/ca.pem sslcert=/etc/c.pem sslkey=/etc/k.pem sslsni=0 "
               "channel_binding=require require_auth=scram-sha-256 min_protocol_version=3.2 "
               "max_protocol_version=latest target_session_attrs=any");
    CHECK(o.hosts == hosts({host_spec{"db1", 6432, "10.0.0.1"}, host_spec{"db2", 6432, "::1"}}));
    CHECK(o.dbname == "app");
    CHECK(o.user == "svc");
    CHECK(o.password == "pw");
    CHECK(o.connect_timeout == 3s);
    CHECK(o.application_name == "web");
    CHECK(o.startup_parameters ==
          std::vector<std::pair<std::string, std::string>>{{"options", "-c statement_timeout=5s"},
                                                           {"client_encoding", "UTF8"}});
    CHECK(o.sslmode == ssl_mode::verify_full);
    CHECK(o.sslrootcert == "/etc/ca.pem");
    CHECK(o.sslcert == "/etc/c.pem");
    CHECK(o.sslkey == "/etc/k.pem");
    CHECK_FALSE(o.sslsni);
    CHECK(o.channel_binding == channel_binding_mode::require);
    CHECK(o.auth == auth_policy{false, false, true, false});
    CHECK(o.min_protocol_minor == 2);
    CHECK(o.protocol_minor == 2);
    check_round_trip(o);
}

TEST_CASE("options: defaults and derived values") {
    const connect_options d;
    CHECK(d.hosts == hosts({tcp("localhost")}));
    CHECK(d.connect_timeout == 10s);
    CHECK(d.sslmode == ssl_mode::prefer);
    CHECK(d.channel_binding == channel_binding_mode::prefer);
    CHECK(d.protocol_minor == 2);
    CHECK(d.min_protocol_minor == 0);
    CHECK(d.auth == auth_policy{});
    CHECK(to_conninfo(d).empty());

    CHECK(parsed("user=bob").effective_dbname() == "bob");
    CHECK(parsed("user=bob dbname=app").effective_dbname() == "app");
    // fallback_application_name applies only when application_name is unset or empty.
    CHECK(parsed("fallback_application_name=fb").application_name == "fb");
    CHECK(parsed("fallback_application_name=fb application_name=app").application_name == "app");
    CHECK(parsed("application_name='' fallback_application_name=fb").application_name == "fb");
    // Empty options/client_encoding remove the startup parameter.
    CHECK(parsed("options=-cx=1 options=''").startup_parameters.empty());
    CHECK(parsed("client_encoding=LATIN1 client_encoding=UTF8").startup_parameters ==
          std::vector<std::pair<std::string, std::string>>{{"client_encoding", "UTF8"}});
    // connect_timeout: 0 is no timeout; 1 stays 1 s (libpq would use 2 s).
    CHECK(parsed("connect_timeout=0").connect_timeout == 0ms);
    CHECK(parsed("connect_timeout=1").connect_timeout == 1s);
    CHECK(parsed("connect_timeout=007").connect_timeout == 7s);
    CHECK(parsed("connect_timeout=2147483647").connect_timeout == 2147483647s);
    CHECK(parsed("port=00080").hosts == hosts({tcp("localhost", 80)}));
    CHECK(parsed("port=65535").hosts == hosts({tcp("localhost", 65535)}));
    CHECK(parsed("port=1").hosts == hosts({tcp("localhost", 1)}));
    CHECK(parsed("port=''").hosts == hosts({tcp("localhost", 5432)}));
    CHECK(parsed("max_protocol_version=3.0").protocol_minor == 0);
    CHECK(parsed("sslsni=1").sslsni);
    CHECK(to_string(ssl_mode::verify_ca) == "verify-ca");
    CHECK(to_string(channel_binding_mode::require) == "require");
}

TEST_CASE("options: every sslmode and channel_binding value") {
    const std::pair<std::string_view, ssl_mode> modes[] = {
        {"disable", ssl_mode::disable},     {"allow", ssl_mode::allow},
        {"prefer", ssl_mode::prefer},       {"require", ssl_mode::require},
        {"verify-ca", ssl_mode::verify_ca}, {"verify-full", ssl_mode::verify_full},
    };
    for (const auto& [name, mode] : modes) {
        CAPTURE(name);
        CHECK(parsed("sslmode=" + std::string{name}).sslmode == mode);
        CHECK(to_string(mode) == name);
    }
    const std::pair<std::string_view, channel_binding_mode> bindings[] = {
        {"disable", channel_binding_mode::disable},
        {"prefer", channel_binding_mode::prefer},
        {"require", channel_binding_mode::require},
    };
    for (const auto& [name, mode] : bindings) {
        CAPTURE(name);
        CHECK(parsed("channel_binding=" + std::string{name}).channel_binding == mode);
    }
}

TEST_CASE("options: require_auth maps onto auth_policy") {
    const auto policy = [](std::string_view v) {
        return parsed("require_auth='" + std::string{v} + "'").auth;
    };
    CHECK(policy("") == auth_policy{});
    CHECK(policy("password") == auth_policy{true, false, false, false});
    CHECK(policy("md5") == auth_policy{false, true, false, false});
    CHECK(policy("scram-sha-256") == auth_policy{false, false, true, false});
    CHECK(policy("none") == auth_policy{false, false, false, true});
    CHECK(policy("md5,scram-sha-256") == auth_policy{false, true, true, false});
    CHECK(policy("scram-sha-256,none") == auth_policy{false, false, true, true});
    CHECK(policy("!password") == auth_policy{false, true, true, true});
    CHECK(policy("!password,!md5") == auth_policy{false, false, true, true});
    CHECK(policy("!none") == auth_policy{true, true, true, false});
    CHECK(policy("!password,!md5,!scram-sha-256,!none") == auth_policy{false, false, false, false});
    // Excluding a method this driver never performs is accepted and changes nothing.
    CHECK(policy("!gss") == auth_policy{});
    CHECK(policy("!gss,!sspi,!oauth,!md5") == auth_policy{true, false, true, true});
    // Every policy prints to a require_auth that parses back to it.
    for (unsigned bits = 0; bits < 16; ++bits) {
        connect_options o;
        o.auth =
            auth_policy{(bits & 1U) != 0, (bits & 2U) != 0, (bits & 4U) != 0, (bits & 8U) != 0};
        CAPTURE(bits);
        check_round_trip(o);
    }
}

// ---------------------------------------------------------------------------------------
// Errors

TEST_CASE("options: every error has its code and a message naming the option") {
    struct row {
        std::string_view input;
        errc code;
        std::string_view message;
    };
    const row rows[] = {
        // Syntax.
        {"host", errc::invalid_connection_string, "missing \"=\" after \"host\" at offset 0"},
        {"user=a dbname", errc::invalid_connection_string,
         "missing \"=\" after \"dbname\" at offset 7"},
        {"=x", errc::invalid_connection_string, "empty keyword before \"=\" at offset 0"},
        {"user='abc", errc::invalid_connection_string,
         "unterminated quoted value for \"user\" starting at offset 5"},
        {"user='abc\\", errc::invalid_connection_string, "unterminated quoted value for \"user\""},
        {"dbname=abc\\", errc::invalid_connection_string,
         "backslash at the end of the value for \"dbname\" at offset 10"},
        {std::string_view{"host=a\0b", 8}, errc::invalid_connection_string,
         "contains a NUL byte at offset 6"},
        {std::string_view{"postgresql://h\0", 15}, errc::invalid_connection_string,
         "NUL byte at offset 14"},
        // Keywords.
        {"hots=x", errc::unknown_option, "unknown connection option \"hots\" at offset 0"},
        {"keepalives=1", errc::unknown_option,
         "libpq connection option \"keepalives\" is not supported by this driver"},
        {"service=x", errc::unknown_option, "\"service\" is not supported"},
        {"postgresql://h?sslpassword=x", errc::unknown_option, "\"sslpassword\" is not supported"},
        // Values.
        {"sslmode=Require", errc::invalid_option_value,
         "invalid value \"Require\" for sslmode at offset 8 (expected disable, allow, prefer, "
         "require, verify-ca or verify-full)"},
        {"sslmode=''", errc::invalid_option_value, "invalid value \"\" for sslmode"},
        {"channel_binding=yes", errc::invalid_option_value,
         "invalid value \"yes\" for channel_binding at offset 16 (expected disable, prefer or "
         "require)"},
        {"sslsni=true", errc::invalid_option_value, "invalid value \"true\" for sslsni"},
        {"connect_timeout=-1", errc::invalid_option_value,
         "invalid value \"-1\" for connect_timeout at offset 16 (expected a whole number of "
         "seconds"},
        {"connect_timeout=1.5", errc::invalid_option_value, "for connect_timeout"},
        {"connect_timeout=10s", errc::invalid_option_value, "for connect_timeout"},
        {"connect_timeout=''", errc::invalid_option_value, "for connect_timeout"},
        {"connect_timeout=2147483648", errc::invalid_option_value, "for connect_timeout"},
        {"connect_timeout=99999999999999999999999", errc::invalid_option_value,
         "for connect_timeout"},
        {"port=0", errc::invalid_option_value,
         "invalid port number in item 1 of the port list at offset 5 (expected 1..65535)"},
        {"port=65536", errc::invalid_option_value, "invalid port number in item 1"},
        {"port=-1", errc::invalid_option_value, "invalid port number"},
        {"port=+5432", errc::invalid_option_value, "invalid port number"},
        {"port='5432 '", errc::invalid_option_value, "invalid port number"},
        {"port=0x10", errc::invalid_option_value, "invalid port number"},
        {"host=a,b port=1,x", errc::invalid_option_value, "invalid port number in item 2"},
        {"host=a,b,c port=1,2", errc::invalid_option_value,
         "could not match 2 port numbers to 3 hosts"},
        {"port=1,2", errc::invalid_option_value, "could not match 2 port numbers to 1 hosts"},
        {"host=a,b hostaddr=1.2.3.4", errc::invalid_option_value,
         "could not match 2 host names to 1 hostaddr values"},
        {"hostaddr=localhost", errc::invalid_option_value,
         "invalid value \"localhost\" in hostaddr at offset 9 (expected a numeric IP address)"},
        {"hostaddr=1.2.3", errc::invalid_option_value, "in hostaddr"},
        {"hostaddr=::1%", errc::invalid_option_value, "in hostaddr"},
        {"hostaddr=1.2.3.4%eth0", errc::invalid_option_value, "in hostaddr"},
        {"host=@abstract", errc::invalid_option_value, "abstract Unix sockets"},
        {"client_encoding=auto", errc::invalid_option_value, "\"auto\" is not supported"},
        {"target_session_attrs=read-write", errc::invalid_option_value,
         "invalid value \"read-write\" for target_session_attrs"},
        {"max_protocol_version=3.1", errc::invalid_option_value,
         "invalid value \"3.1\" for max_protocol_version at offset 21 (expected 3.0, 3.2 or "
         "latest)"},
        {"min_protocol_version=3", errc::invalid_option_value, "for min_protocol_version"},
        {"require_auth=md5,!password", errc::invalid_option_value,
         "require_auth cannot mix negated (\"!method\") and plain methods"},
        {"require_auth=!md5,password", errc::invalid_option_value, "cannot mix"},
        {"require_auth=md5,md5", errc::invalid_option_value,
         "require_auth method \"md5\" is listed more than once"},
        {"require_auth=!none,!none", errc::invalid_option_value, "listed more than once"},
        {"require_auth=gss", errc::invalid_option_value,
         "require_auth method \"gss\" is not supported by this driver"},
        {"require_auth=scram-sha-256,sspi", errc::invalid_option_value,
         "\"sspi\" is not supported"},
        {"require_auth=oauth", errc::invalid_option_value, "\"oauth\" is not supported"},
        {"require_auth=cert", errc::invalid_option_value, "invalid require_auth method \"cert\""},
        {"require_auth=md5,", errc::invalid_option_value, "invalid require_auth method \"\""},
        {"require_auth=MD5", errc::invalid_option_value, "invalid require_auth method \"MD5\""},
        // Contradictions.
        {"sslmode=disable channel_binding=require", errc::invalid_option_value,
         "channel_binding=require needs TLS, but sslmode=disable"},
        {"channel_binding=require require_auth=md5", errc::invalid_option_value,
         "channel_binding=require needs SCRAM, which require_auth excludes"},
        {"min_protocol_version=latest max_protocol_version=3.0", errc::invalid_option_value,
         "min_protocol_version 3.2 is above max_protocol_version 3.0"},
        // URIs.
        {"postgresql://h?ssl=false", errc::invalid_option_value,
         "URI parameter ssl accepts only \"true\""},
        {"postgresql://h:99999/", errc::invalid_option_value, "invalid port number"},
        {"postgresql://h?port=1,2", errc::invalid_option_value,
         "could not match 2 port numbers to 1 hosts"},
        {"postgresql://h?sslmode=bogus", errc::invalid_option_value,
         "invalid value \"bogus\" for sslmode at offset 23"},
        {"postgresql://[::1]x/", errc::invalid_connection_string,
         "unexpected character \"x\" after an IPv6 address at offset 18"},
        {"postgresql://[::1/db]", errc::invalid_connection_string,
         "missing \"]\" after the IPv6 address starting at offset 13"},
        {"postgresql://h/db%", errc::invalid_connection_string,
         "invalid percent-encoding in the database name of the URI at offset 17"},
        {"postgresql://h?%zz=1", errc::invalid_connection_string,
         "invalid percent-encoding in the query parameter name"},
        {"postgresql://h?user=%g0", errc::invalid_connection_string,
         "invalid percent-encoding in the value of query parameter \"user\""},
        {"postgresql://u%00@h", errc::invalid_connection_string,
         "percent-encoded NUL (%00) in the user name of the URI at offset 14"},
        {"postgresql://h?%00=1", errc::invalid_connection_string, "percent-encoded NUL"},
        {"postgresql://h?x=%00", errc::invalid_connection_string, "percent-encoded NUL"},
        {"postgresql://h?=1", errc::unknown_option, "unknown connection option \"\""},
    };
    for (const row& r : rows) {
        CAPTURE(r.input);
        const auto e = rejected(r.input);
        CHECK(e.code == r.code);
        CHECK_MESSAGE(e.message.find(r.message) != std::string::npos, e.message);
        CHECK(e.to_error_code() == make_error_code(r.code));
    }
}

TEST_CASE("options: parse_url insists on the scheme, parse_connection_string dispatches") {
    const auto e = parse_url("host=x");
    REQUIRE(e.has_error());
    CHECK(e.error().code == errc::invalid_connection_string);
    CHECK(e.error().message.find("postgresql://") != std::string::npos);
    // The scheme is case-sensitive and must start the string, as in libpq.
    CHECK(rejected("POSTGRESQL://h").code == errc::invalid_connection_string);
    CHECK(rejected(" postgresql://h").code == errc::invalid_connection_string);
    CHECK(rejected("postgresql:/h").code == errc::invalid_connection_string);
    // The same options from both syntaxes.
    CHECK(parsed("postgres://u:p@h:1/d?sslmode=require") ==
          parsed("user=u password=p host=h port=1 dbname=d sslmode=require"));
    // parse_conninfo does not take URIs.
    CHECK(parse_conninfo("postgresql://h").has_error());
}

TEST_CASE("options: errors never quote the password or URI user info") {
    const std::string_view inputs[] = {
        "password='s3cr3tpw",             // unterminated
        "password=s3cr3tpw\\",            // dangling backslash
        "postgresql://bob:s3cr3tpw%zz@h", // bad escape in the password
        "postgresql://bob:s3cr3tpw%00@h", // NUL in the password
        "postgresql://bob%zzs3cr3tpw@h",  // bad escape in the user name
        "postgresql://bob:s3cr3t/pw@h",   // unencoded '/' makes "s3cr3t" a port
        "password=s3cr3tpw hots=x",       // an unrelated error after the password
        "password=s3cr3tpw sslmode=x",
    };
    for (const std::string_view in : inputs) {
        CAPTURE(in);
        const auto e = rejected(in);
        CHECK(e.message.find("s3cr3t") == std::string::npos);
    }
}

TEST_CASE("options: result::value() on an error throws system_error with the code") {
    const auto r = parse_conninfo("sslmode=bogus");
    REQUIRE(r.has_error());
    try {
        (void)r.value();
        FAIL("value() did not throw");
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == make_error_code(errc::invalid_option_value));
        CHECK(std::string{e.what()}.find("sslmode") != std::string::npos);
    }
}

TEST_CASE("options: error messages escape control bytes and cut long values") {
    const auto e = rejected("sslmode='\x01\x7f\xff\"\\\\'");
    CHECK(e.message.find(R"("\x01\x7f\xff\"\\")") != std::string::npos);
    const auto l = rejected("sslmode=" + std::string(1000, 'x'));
    CHECK(l.message.find(std::string(64, 'x') + "...\"") != std::string::npos);
    CHECK(l.message.size() < 300);
}

// ---------------------------------------------------------------------------------------
// Printing

TEST_CASE("options: to_conninfo quotes and round-trips hand-picked values") {
    connect_options o;
    o.hosts = {tcp("/var/run/postgresql", 5433), host_spec{"", 6000, "192.0.2.1"},
               host_spec{"db.example", 7000, "2001:db8::1"}, tcp("::1", 5432)};
    o.dbname = "my db";
    o.user = "o'brien";
    o.password = "back\\slash 'quote' \t tab";
    o.application_name = "=";
    o.connect_timeout = 0ms;
    o.sslmode = ssl_mode::allow;
    o.sslrootcert = "system";
    o.sslsni = false;
    o.channel_binding = channel_binding_mode::disable;
    o.auth = auth_policy{false, false, false, false};
    o.protocol_minor = 0;
    o.startup_parameters = {{"client_encoding", "LATIN1"}, {"options", "-c a='b c'"}};
    check_round_trip(o);
    CHECK(to_conninfo(o).find("user='o\\'brien'") != std::string::npos);
    CHECK(to_conninfo(o).find("password='back\\\\slash \\'quote\\' \t tab'") != std::string::npos);
    CHECK(to_conninfo(o).find("require_auth=!password,!md5,!scram-sha-256,!none") !=
          std::string::npos);

    // One port shared by every host prints once.
    connect_options same;
    same.hosts = {tcp("a", 6432), tcp("b", 6432)};
    CHECK(to_conninfo(same) == "host=a,b port=6432");
    check_round_trip(same);

    // Not expressible, so not printed: other startup parameters; fractions of seconds
    // round up.
    connect_options partial;
    partial.startup_parameters = {{"DateStyle", "ISO"}};
    partial.connect_timeout = 1500ms;
    CHECK(to_conninfo(partial) == "connect_timeout=2");
}

TEST_CASE("options: redacted() hides the password and nothing else") {
    const auto o = parsed("postgresql://alice:Sup3rS3cretPw@db:5433/app?sslmode=require");
    const std::string r = o.redacted();
    CHECK(r.find("Sup3rS3cretPw") == std::string::npos);
    CHECK(r == "host=db port=5433 dbname=app user=alice password=******** sslmode=require");
    CHECK(parsed("user=a").redacted() == "user=a");
    // Passwords that need quoting are hidden too.
    CHECK(parsed("password='a \\'b'").redacted() == "password=********");
}

/// Random options over the values to_conninfo can express.
connect_options random_options(std::mt19937& rng) {
    const auto pick = [&](std::size_t n) {
        return std::uniform_int_distribution<std::size_t>{0, n - 1}(rng);
    };
    const auto chance = [&](unsigned percent) { return pick(100) < percent; };
    constexpr std::string_view alphabet = "abcXYZ019 _-./:=@'\\\"\t\n%&?,;\x01\x7f\xc3\xa9";
    const auto text = [&](std::size_t max_len, bool allow_comma) {
        std::string s;
        const std::size_t len = pick(max_len + 1);
        while (s.size() < len) {
            const char c = alphabet[pick(alphabet.size())];
            if (c != ',' || allow_comma)
                s += c;
        }
        return s;
    };
    constexpr std::string_view addrs[] = {"127.0.0.1", "10.1.2.3", "::1", "2001:db8::7",
                                          "fe80::1%eth0"};

    connect_options o;
    if (chance(70)) {
        o.hosts.clear();
        const std::size_t n = 1 + pick(3);
        for (std::size_t i = 0; i < n; ++i) {
            host_spec h;
            h.hostaddr = chance(30) ? std::string{addrs[pick(std::size(addrs))]} : "";
            h.host = chance(30) ? "/tmp/s" + std::to_string(i) : text(12, false);
            if (h.host.starts_with('@'))
                h.host.insert(0, "x");
            if (h.host.empty() && h.hostaddr.empty())
                h.host = "h";
            h.port = static_cast<std::uint16_t>(1 + pick(65535));
            o.hosts.push_back(std::move(h));
        }
        if (chance(50))
            for (auto& h : o.hosts)
                h.port = o.hosts.front().port;
    }
    o.dbname = text(10, true);
    o.user = text(10, true);
    o.password = text(16, true);
    o.application_name = text(10, true);
    o.connect_timeout =
        std::chrono::seconds{static_cast<std::int64_t>(pick(4) == 0 ? 0 : pick(100000))};
    o.sslmode = static_cast<ssl_mode>(pick(6));
    o.sslrootcert = chance(50) ? text(10, true) : "";
    o.sslcert = chance(50) ? text(10, true) : "";
    o.sslkey = chance(50) ? text(10, true) : "";
    o.sslsni = chance(50);
    o.channel_binding = static_cast<channel_binding_mode>(pick(3));
    o.auth = auth_policy{chance(50), chance(50), chance(50), chance(50)};
    if (o.channel_binding == channel_binding_mode::require &&
        (o.sslmode == ssl_mode::disable || !o.auth.allow_scram))
        o.channel_binding = channel_binding_mode::prefer;
    o.protocol_minor = chance(50) ? 2 : 0;
    o.min_protocol_minor = o.protocol_minor == 2 && chance(50) ? 2 : 0;
    std::string options = text(12, true);
    std::string encoding = text(6, true);
    if (encoding == "auto")
        encoding.clear();
    if (chance(50))
        std::swap(options, encoding); // order varies; names stay
    if (!options.empty())
        o.startup_parameters.emplace_back("options", options);
    if (!encoding.empty())
        o.startup_parameters.emplace_back("client_encoding", encoding);
    return o;
}

TEST_CASE("options: to_conninfo round-trips random options, redacted() never shows them") {
    std::mt19937 rng{20240611};
    for (int i = 0; i < 3000; ++i) {
        CAPTURE(i);
        connect_options o = random_options(rng);
        check_round_trip(o);
        // A password that cannot occur by chance elsewhere.
        o.password = "Pw" + std::to_string(rng()) + "x" + std::to_string(rng());
        const std::string r = o.redacted();
        CHECK(r.find(o.password) == std::string::npos);
        CHECK(r.find("password=********") != std::string::npos);
    }
}

// ---------------------------------------------------------------------------------------
// Garbage

/// Whatever the input, parsing returns; and what parses prints back to itself.
void check_any_input(std::string_view in) {
    const auto r = parse_connection_string(in);
    if (r.has_value()) {
        const auto back = parse_conninfo(to_conninfo(*r));
        CHECK(back.has_value());
        if (back.has_value())
            CHECK(*back == *r);
    } else {
        CHECK(!r.error().message.empty());
        CHECK(r.error().code != errc::ok);
    }
}

TEST_CASE("options: every prefix and every single-byte change of valid strings") {
    const std::string_view corpus[] = {
        "postgresql://us%40er:p%3Ass@[::1]:5433,%2Ftmp,h:7/d%62?sslmode=verify-full&"
        "application_name=a%20b&options=-c%20x%3D1&require_auth=!md5",
        "host=a,b,'c d' port=1,2,3 user='o\\'b' password=p\\ w sslmode=require "
        "channel_binding=require require_auth=scram-sha-256 connect_timeout=5 "
        "max_protocol_version=3.0 client_encoding=UTF8",
        "postgres://u@/db?host=/var/run&port=6432&ssl=true&hostaddr=127.0.0.1",
    };
    constexpr std::string_view interesting = "\0 '\\=,:@/?&%[]!0a"sv;
    for (const std::string_view valid : corpus) {
        CAPTURE(valid);
        for (std::size_t i = 0; i <= valid.size(); ++i)
            check_any_input(valid.substr(0, i));
        for (std::size_t i = 0; i < valid.size(); ++i) {
            std::string deleted{valid};
            deleted.erase(i, 1);
            check_any_input(deleted);
            for (const char c : interesting) {
                std::string changed{valid};
                changed[i] = c;
                check_any_input(changed);
                std::string inserted{valid};
                inserted.insert(i, 1, c);
                check_any_input(inserted);
            }
        }
    }
}

TEST_CASE("options: random bytes and random syntax never crash") {
    std::mt19937 rng{7};
    const auto pick = [&](std::size_t n) {
        return std::uniform_int_distribution<std::size_t>{0, n - 1}(rng);
    };
    constexpr std::string_view syntax = "postgresql://=,:@/?&%[]!'\\ \t0123456789abcdefhx";
    constexpr std::string_view words[] = {
        "postgresql://",
        "postgres://",
        "host=",
        "port=",
        "user=",
        "password=",
        "sslmode=",
        "require_auth=",
        "hostaddr=",
        "::1",
        "%2F",
        "%00",
        "%",
        "'",
        "\\",
        "[",
        "]",
        "5432",
        ",",
        "@",
        "?",
        "&",
        "=",
        " ",
    };
    for (int i = 0; i < 20000; ++i) {
        std::string s;
        const std::size_t len = pick(80);
        switch (i % 3) {
        case 0:
            for (std::size_t k = 0; k < len; ++k)
                s += static_cast<char>(static_cast<unsigned char>(pick(256)));
            break;
        case 1:
            if (pick(2) == 0)
                s = "postgresql://";
            for (std::size_t k = 0; k < len; ++k)
                s += syntax[pick(syntax.size())];
            break;
        default:
            for (std::size_t k = 0; k < len / 4; ++k)
                s += words[pick(std::size(words))];
            break;
        }
        CAPTURE(s);
        check_any_input(s);
    }
}

} // namespace
} // namespace qail::client
