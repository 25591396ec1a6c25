// The statement cache: full-text keys, LRU order, eviction reporting.
#include "test_support.hpp"

#include <qail/client/statement_cache.hpp>

#include <array>
#include <string>

namespace qail::client {

TEST_CASE("statement cache: keys are the full text plus parameter OIDs") {
    const std::array<std::int32_t, 1> int4{23};
    const std::array<std::int32_t, 1> text{25};
    CHECK(statement_cache::make_key("SELECT $1", int4) !=
          statement_cache::make_key("SELECT $1", text));
    CHECK(statement_cache::make_key("SELECT $1", int4) ==
          statement_cache::make_key("SELECT $1", int4));
    // No concatenation ambiguity between the SQL and the OIDs.
    CHECK(statement_cache::make_key("SELECT 1", {}) != statement_cache::make_key("SELECT ", int4));
}

TEST_CASE("statement cache: least recently used entry is evicted and reported") {
    statement_cache cache(2);
    const auto a = statement_cache::make_key("a", {});
    const auto b = statement_cache::make_key("b", {});
    const auto c = statement_cache::make_key("c", {});
    CHECK_FALSE(cache.insert(a, "s1").has_value());
    CHECK_FALSE(cache.insert(b, "s2").has_value());
    CHECK(cache.find(a) == std::optional<std::string_view>{"s1"}); // a is now most recent
    const auto evicted = cache.insert(c, "s3");
    REQUIRE(evicted.has_value());
    CHECK(*evicted == "s2");
    CHECK_FALSE(cache.find(b).has_value());
    CHECK(cache.size() == 2);
    cache.erase(a);
    CHECK_FALSE(cache.find(a).has_value());
    CHECK(cache.size() == 1);
    cache.clear();
    CHECK(cache.size() == 0);
    CHECK(cache.next_name() != cache.next_name());
}

TEST_CASE("statement cache: capacity 0 disables caching") {
    statement_cache cache(0);
    const auto evicted = cache.insert(statement_cache::make_key("x", {}), "s1");
    REQUIRE(evicted.has_value());
    CHECK(*evicted == "s1");
    CHECK(cache.size() == 0);
}

} // namespace qail::client
