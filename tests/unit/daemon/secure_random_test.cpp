// The buffered secure random source: every byte value comes, no draw repeats, sizes
// around the buffer's all work.
#include <qail/proxy/secure_random.hpp>

#include <doctest/doctest.h>

#include <array>
#include <set>
#include <thread>
#include <vector>

using qail::proxy::secure_random;

TEST_CASE("secure_random: small draws cover every byte value and never repeat") {
    std::array<int, 256> seen{};
    std::set<std::array<std::uint8_t, 16>> draws;
    for (int i = 0; i < 1024; ++i) { // 16 KiB through the buffer, refilled many times
        std::array<std::uint8_t, 16> d{};
        secure_random(d);
        for (const auto b : d)
            ++seen[b];
        draws.insert(d);
    }
    CHECK(draws.size() == 1024);
    for (int v = 0; v < 256; ++v)
        CHECK_MESSAGE(seen[static_cast<std::size_t>(v)] > 0, "byte value ", v, " never drawn");
}

TEST_CASE("secure_random: any size, including none and more than the buffer holds") {
    for (const std::size_t n : {0U, 1U, 4U, 31U, 127U, 128U, 129U, 512U, 513U, 4096U}) {
        std::vector<std::uint8_t> a(n), b(n);
        secure_random(a);
        secure_random(b);
        if (n >= 4)
            CHECK(a != b);
    }
}

TEST_CASE("secure_random: threads draw independently") {
    std::array<std::array<std::uint8_t, 32>, 4> got{};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < got.size(); ++t)
        threads.emplace_back([&got, t] { secure_random(got[t]); });
    for (auto& th : threads)
        th.join();
    for (std::size_t i = 0; i < got.size(); ++i)
        for (std::size_t j = i + 1; j < got.size(); ++j)
            CHECK(got[i] != got[j]);
}
