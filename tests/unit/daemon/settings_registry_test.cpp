// Clients' settings lists: equal ones shared, so that lending a backend to the next client
// matches its settings by pointer.
#include "test_support.hpp"

#include <qail/proxy/settings_registry.hpp>

#include <thread>
#include <vector>

namespace {

using qail::pool::settings_list;
using qail::proxy::settings_registry;

settings_list app(const char* name) {
    return {{"application_name", name}, {"client_encoding", "UTF8"}};
}

} // namespace

TEST_CASE("settings registry: equal lists are one object, different ones are not") {
    settings_registry r;
    const auto a = r.share(app("pgbench"));
    const auto b = r.share(app("pgbench"));
    const auto c = r.share(app("psql"));
    CHECK(a == b);
    CHECK(a != c);
    CHECK(*c == app("psql"));
    // Order matters as it does to the pool's comparison (the lists are sorted maps' copies).
    const auto reversed = r.share({{"client_encoding", "UTF8"}, {"application_name", "pgbench"}});
    CHECK(reversed != a);
    CHECK(r.size() == 3);
}

TEST_CASE("settings registry: a list lives only as long as the clients using it") {
    settings_registry r;
    auto a = r.share(app("one"));
    CHECK(r.size() == 1);
    a.reset();
    CHECK(r.size() == 0);
    const auto again = r.share(app("one")); // made anew (the old one is gone)
    CHECK(*again == app("one"));
    CHECK(r.size() == 1);
}

TEST_CASE("settings registry: past max_lists, lists are still given, unshared") {
    settings_registry r;
    std::vector<std::shared_ptr<const settings_list>> held;
    for (std::size_t i = 0; i < settings_registry::max_lists; ++i)
        held.push_back(r.share(app(std::to_string(i).c_str())));
    CHECK(r.size() == settings_registry::max_lists);
    const auto x = r.share(app("beyond"));
    const auto y = r.share(app("beyond"));
    CHECK(*x == app("beyond"));
    CHECK(x != y); // not kept for sharing
    CHECK(r.size() == settings_registry::max_lists);
    CHECK(r.share(app("7")) == held[7]); // the kept ones still are
}

TEST_CASE("settings registry: clients on several threads share one list") {
    settings_registry r;
    std::vector<std::shared_ptr<const settings_list>> got(8);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < got.size(); ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 1000; ++i)
                got[t] = r.share(app("shared"));
        });
    for (auto& t : threads)
        t.join();
    for (const auto& g : got)
        CHECK(g == got[0]);
    CHECK(r.size() == 1);
}
