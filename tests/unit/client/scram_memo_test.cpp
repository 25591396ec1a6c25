// remembered_scram_keys(): PBKDF2 once per (password, salt, iterations), bounded.
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

// Few iterations: fast under sanitizers. Each test uses passwords of its own, since the
// memo is the process's.
constexpr std::uint32_t iterations = 32;
const std::vector<std::uint8_t> salt_a = {1, 2, 3, 4, 5, 6, 7, 8};
const std::vector<std::uint8_t> salt_b = {8, 7, 6, 5, 4, 3, 2, 1};

} // namespace

TEST_CASE("scram memo: derives once per password, salt and iteration count") {
    const auto before = scram_key_derivations();
    const auto first = remembered_scram_keys("memo-one", salt_a, iterations);
    CHECK(first == proto::derive_scram_keys("memo-one", salt_a, iterations));
    CHECK(scram_key_derivations() == before + 1);
    CHECK(remembered_scram_keys("memo-one", salt_a, iterations) == first);
    CHECK(scram_key_derivations() == before + 1);
    // Any of the three differing is another derivation, with other keys.
    CHECK(remembered_scram_keys("memo-one", salt_b, iterations) != first);
    CHECK(remembered_scram_keys("memo-one", salt_a, iterations + 1) != first);
    CHECK(remembered_scram_keys("memo-One", salt_a, iterations) != first);
    CHECK(scram_key_derivations() == before + 4);
}

TEST_CASE("scram memo: keeps at most its capacity, forgetting the oldest") {
    const auto before = scram_key_derivations();
    (void)remembered_scram_keys("memo-oldest", salt_a, iterations);
    for (std::size_t i = 0; i < scram_memo_capacity; ++i)
        (void)remembered_scram_keys("memo-fill-" + std::to_string(i), salt_a, iterations);
    const auto filled = scram_key_derivations();
    CHECK(filled == before + 1 + scram_memo_capacity);
    // The newest are still there; the oldest was dropped and is derived again.
    (void)remembered_scram_keys("memo-fill-" + std::to_string(scram_memo_capacity - 1), salt_a,
                                iterations);
    CHECK(scram_key_derivations() == filled);
    CHECK(remembered_scram_keys("memo-oldest", salt_a, iterations) ==
          proto::derive_scram_keys("memo-oldest", salt_a, iterations));
    CHECK(scram_key_derivations() == filled + 1);
}

TEST_CASE("scram memo: threads asking at once all get the right keys") {
    const auto want = proto::derive_scram_keys("memo-threads", salt_b, iterations);
    std::vector<std::thread> threads;
    std::vector<int> right(8, 0);
    for (std::size_t t = 0; t < right.size(); ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i)
                right[t] += remembered_scram_keys("memo-threads", salt_b, iterations) == want;
        });
    for (auto& t : threads)
        t.join();
    for (const int r : right)
        CHECK(r == 50);
}

} // namespace qail::client
