// scram_key_memo: PBKDF2 once per (password, salt, iterations), bounded, thread-safe.
#include "test_support.hpp"

#include <qail/client/scram_memo.hpp>
#include <qail/protocol/scram.hpp>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace qail::client {
namespace {

namespace proto = qail::protocol;

constexpr std::uint32_t iterations = 32; // few: fast under sanitizers
const std::vector<std::uint8_t> salt_a = {1, 2, 3, 4, 5, 6, 7, 8};
const std::vector<std::uint8_t> salt_b = {8, 7, 6, 5, 4, 3, 2, 1};

} // namespace

TEST_CASE("scram memo: derives once per password, salt and iteration count") {
    scram_key_memo memo;
    const auto first = memo.keys("pw", salt_a, iterations);
    CHECK(first == proto::derive_scram_keys("pw", salt_a, iterations));
    CHECK(memo.derivations() == 1);
    CHECK(memo.keys("pw", salt_a, iterations) == first);
    CHECK(memo.derivations() == 1);
    // Any of the three differing is another derivation, with other keys.
    CHECK(memo.keys("pw", salt_b, iterations) != first);
    CHECK(memo.keys("pw", salt_a, iterations + 1) != first);
    CHECK(memo.keys("pW", salt_a, iterations) != first);
    CHECK(memo.derivations() == 4);
    CHECK(memo.keys("pw", salt_a, iterations) == first);
    CHECK(memo.derivations() == 4);
}

TEST_CASE("scram memo: keeps at most its capacity, forgetting the oldest") {
    scram_key_memo memo(3);
    for (const char* pw : {"a", "b", "c"})
        (void)memo.keys(pw, salt_a, iterations);
    CHECK(memo.derivations() == 3);
    (void)memo.keys("d", salt_a, iterations); // "a" goes
    CHECK(memo.derivations() == 4);
    for (const char* pw : {"b", "c", "d"})
        (void)memo.keys(pw, salt_a, iterations);
    CHECK(memo.derivations() == 4);
    CHECK(memo.keys("a", salt_a, iterations) == proto::derive_scram_keys("a", salt_a, iterations));
    CHECK(memo.derivations() == 5);
}

TEST_CASE("scram memo: threads asking at once all get the right keys") {
    scram_key_memo memo;
    const auto want = proto::derive_scram_keys("shared", salt_b, iterations);
    std::vector<std::thread> threads;
    std::vector<int> right(8, 0);
    for (std::size_t t = 0; t < right.size(); ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i)
                right[t] += memo.keys("shared", salt_b, iterations) == want ? 1 : 0;
        });
    for (auto& t : threads)
        t.join();
    for (const int r : right)
        CHECK(r == 50);
    // Threads that missed at once each derived; later asks did not.
    CHECK(memo.derivations() >= 1);
    CHECK(memo.derivations() <= right.size());
}

} // namespace qail::client
