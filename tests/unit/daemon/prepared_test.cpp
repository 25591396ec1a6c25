// Named prepared statements in transaction pooling: registry, per-backend LRU, message
// rewriting and SQL-level DEALLOCATE recognition.
#include "test_support.hpp"

#include <qail/proxy/prepared.hpp>

#include <string>

namespace {

using namespace qail::proxy;

std::string types(std::initializer_list<std::uint32_t> oids) {
    std::string t;
    t.push_back(static_cast<char>((oids.size() >> 8) & 0xFF));
    t.push_back(static_cast<char>(oids.size() & 0xFF));
    for (const auto o : oids)
        for (int shift = 24; shift >= 0; shift -= 8)
            t.push_back(static_cast<char>((o >> shift) & 0xFFU));
    return t;
}

} // namespace

TEST_CASE("prepared: the registry keys statements by full text and parameter types") {
    statement_registry r;
    const auto a = r.get("SELECT $1", types({23}));
    CHECK(r.get("SELECT $1", types({23})) == a);
    const auto b = r.get("SELECT $1", types({25}));  // same text, other types
    const auto c = r.get("SELECT $1 ", types({23})); // other text
    CHECK(b != a);
    CHECK(c != a);
    CHECK(a->server_name != b->server_name);
    CHECK(r.size() == 3);
    r.retire(a);
    CHECK(a->stale);
    const auto a2 = r.get("SELECT $1", types({23}));
    CHECK(a2 != a);
    CHECK(a2->server_name != a->server_name);
}

TEST_CASE("prepared: a backend's statements are a bounded LRU") {
    backend_statements s(2);
    CHECK_FALSE(s.add("a"));
    CHECK_FALSE(s.add("b"));
    CHECK(s.touch("a")); // b is now least recently used
    const auto victim = s.add("c");
    REQUIRE(victim);
    CHECK(*victim == "b");
    CHECK(s.contains("a"));
    CHECK(s.contains("c"));
    CHECK_FALSE(s.contains("b"));
    s.erase("a");
    CHECK(s.size() == 1);
    s.clear();
    CHECK(s.size() == 0);
}

TEST_CASE("prepared: Parse, Bind, Describe and Close are read and rewritten exactly") {
    std::string parse;
    write_parse(parse, "s1", "SELECT $1::int", types({23}));
    const auto p = read_parse(std::string_view{parse}.substr(5));
    REQUIRE(p);
    CHECK(p->name == "s1");
    CHECK(p->query == "SELECT $1::int");
    CHECK(p->param_types == types({23}));
    // Lengths are back-patched: the header counts the body plus itself.
    CHECK(static_cast<unsigned char>(parse[4]) + 1U == parse.size());

    const std::string rest = std::string("\0\1\0\0\0\2", 6) + "42" + std::string("\0\0", 2);
    std::string bind;
    write_bind(bind, "", "s1", rest);
    const auto b = read_bind(std::string_view{bind}.substr(5));
    REQUIRE(b);
    CHECK(b->portal.empty());
    CHECK(b->statement == "s1");
    CHECK(b->rest == rest);

    std::string d;
    write_target(d, 'D', 'S', "qail_1");
    const auto t = read_target(std::string_view{d}.substr(5));
    REQUIRE(t);
    CHECK(t->kind == 'S');
    CHECK(t->name == "qail_1");

    CHECK_FALSE(read_parse(std::string("s1\0SELECT", 9)));           // no terminator
    CHECK_FALSE(read_parse(std::string("s1\0q\0\0\2\0\0\0\1", 11))); // 2 types, 1 given
    CHECK_FALSE(read_target(std::string("X\0", 2)));                 // bad kind
    CHECK_FALSE(read_bind(std::string("portal", 6)));
}

TEST_CASE("prepared: SQL-level DEALLOCATE and DISCARD ALL are recognised") {
    std::string name;
    CHECK(classify_deallocate("DEALLOCATE ALL", name) == sql_deallocate::all);
    CHECK(classify_deallocate("  discard all;", name) == sql_deallocate::all);
    CHECK(classify_deallocate("DEALLOCATE PREPARE all", name) == sql_deallocate::all);
    CHECK(classify_deallocate("deallocate pdo_stmt_00000001", name) == sql_deallocate::one);
    CHECK(name == "pdo_stmt_00000001");
    CHECK(classify_deallocate("DEALLOCATE PREPARE \"Mixed Case\"", name) == sql_deallocate::one);
    CHECK(name == "Mixed Case");
    CHECK(classify_deallocate("/* c */ DEALLOCATE s1 ;", name) == sql_deallocate::one);
    CHECK(classify_deallocate("DISCARD TEMP", name) == sql_deallocate::none);
    CHECK(classify_deallocate("-- note\n\t/* a */ deallocate all", name) == sql_deallocate::all);
    CHECK(classify_deallocate("DELETE FROM t", name) == sql_deallocate::none);
    CHECK(classify_deallocate("/* DEALLOCATE ALL */ SELECT 1", name) == sql_deallocate::none);
    CHECK(classify_deallocate("-- DEALLOCATE ALL", name) == sql_deallocate::none);
    CHECK(classify_deallocate("", name) == sql_deallocate::none);
    CHECK(classify_deallocate("SELECT 'DEALLOCATE ALL'", name) == sql_deallocate::none);
    CHECK(classify_deallocate("DEALLOCATE s1; DROP TABLE t", name) == sql_deallocate::none);
}
