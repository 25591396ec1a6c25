// Session read buffers: growth keeps what was read; first-size blocks are reused by the
// thread that freed them, a bounded number of them.
#include "test_support.hpp"

#include <qail/proxy/read_buffer.hpp>

#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

namespace {

using qail::proxy::first_chunk;
using qail::proxy::read_buffer;

} // namespace

TEST_CASE("read_buffer: growing keeps the bytes read so far") {
    read_buffer b;
    CHECK(b.empty());
    b.resize(first_chunk);
    REQUIRE(b.size() == first_chunk);
    std::memcpy(b.data(), "hello", 5);
    b.resize(4 * first_chunk);
    REQUIRE(b.size() == 4 * first_chunk);
    CHECK(std::memcmp(b.data(), "hello", 5) == 0);
    b.resize(first_chunk);
    CHECK(std::memcmp(b.data(), "hello", 5) == 0);
}

TEST_CASE("read_buffer: a freed first-size block serves the next buffer of this thread") {
    read_buffer::drop_spares();
    const char* first = nullptr;
    {
        read_buffer a;
        a.resize(first_chunk);
        first = a.data();
        CHECK(read_buffer::spare_count() == 0);
    }
    CHECK(read_buffer::spare_count() == 1);
    read_buffer b;
    b.resize(first_chunk);
    CHECK(b.data() == first);
    CHECK(read_buffer::spare_count() == 0);
    // Grown, the first block is kept for the next one.
    b.resize(2 * first_chunk);
    CHECK(read_buffer::spare_count() == 1);
    read_buffer c;
    c.resize(first_chunk);
    CHECK(c.data() == first);
}

TEST_CASE("read_buffer: release() gives the block up and the next resize takes it back") {
    read_buffer::drop_spares();
    read_buffer b;
    b.resize(first_chunk);
    const char* block = b.data();
    b.release();
    CHECK(b.empty());
    CHECK(b.data() == nullptr);
    CHECK(read_buffer::spare_count() == 1);
    b.resize(first_chunk);
    CHECK(b.data() == block);
    CHECK(read_buffer::spare_count() == 0);
    // A grown buffer's storage is freed, not kept; releasing twice is harmless.
    b.resize(2 * first_chunk);
    b.release();
    b.release();
    CHECK(b.empty());
    CHECK(read_buffer::spare_count() == 1); // the first block, kept when b grew
    read_buffer::drop_spares();
}

TEST_CASE("read_buffer: other sizes are not kept, and the first size only up to the bound") {
    read_buffer::drop_spares();
    {
        read_buffer big;
        big.resize(3 * first_chunk);
    }
    CHECK(read_buffer::spare_count() == 0);
    {
        std::vector<std::unique_ptr<read_buffer>> many;
        for (std::size_t i = 0; i < read_buffer::max_spares + 10; ++i) {
            many.push_back(std::make_unique<read_buffer>());
            many.back()->resize(first_chunk);
        }
    }
    CHECK(read_buffer::spare_count() == read_buffer::max_spares);
    // Another thread has its own (none yet).
    std::size_t there = 99;
    std::thread([&] { there = read_buffer::spare_count(); }).join();
    CHECK(there == 0);
    read_buffer::drop_spares();
}
