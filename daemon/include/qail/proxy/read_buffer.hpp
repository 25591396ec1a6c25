// A session's read buffer (client or backend side): starts small and grows when a read
// fills it. Blocks of the first size are kept for reuse by the thread that frees them (up
// to max_spares), so clients that come and go (one connection per transaction) do not
// each allocate and free two of them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

namespace qail::proxy {

// Read buffers start small (an idle client costs little memory: 2 KiB rather than 8 took
// an idle client's RSS from about 11 to 9 KiB) and double, up to read_chunk, whenever a
// read fills them (COPY, large results: 64 KiB after five such reads).
inline constexpr std::size_t first_chunk = 2 * 1024;
inline constexpr std::size_t read_chunk = 64 * 1024;

/// What it adds when it grows is not zeroed (reads fill it), so the pages of a new
/// client's buffers are not touched until data comes (unless the block is a reused one).
class read_buffer {
public:
    /// first_chunk blocks a thread keeps for reuse, at most.
    static constexpr std::size_t max_spares = 64;

    read_buffer() = default;
    read_buffer(const read_buffer&) = delete;
    read_buffer& operator=(const read_buffer&) = delete;
    ~read_buffer() { recycle(std::move(bytes_), size_); }

    [[nodiscard]] char* data() noexcept { return bytes_.get(); }
    [[nodiscard]] const char* data() const noexcept { return bytes_.get(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

    /// Grows (or shrinks) to `n` bytes, keeping the first min(n, size()).
    void resize(std::size_t n) {
        std::unique_ptr<char[]> bigger = n == first_chunk ? reuse() : nullptr;
        if (!bigger)
            bigger = std::make_unique_for_overwrite<char[]>(n);
        if (size_ > 0)
            std::memcpy(bigger.get(), bytes_.get(), std::min(n, size_));
        recycle(std::move(bytes_), size_);
        bytes_ = std::move(bigger);
        size_ = n;
    }

    /// Gives the storage up (a first_chunk block to this thread's spares, which the next
    /// resize(first_chunk) takes): size() is 0 after it.
    void release() noexcept {
        recycle(std::move(bytes_), size_);
        bytes_.reset();
        size_ = 0;
    }

    /// The blocks this thread keeps now, and frees them (for tests).
    [[nodiscard]] static std::size_t spare_count() noexcept { return spares().size(); }
    static void drop_spares() noexcept { spares().clear(); }

private:
    static std::vector<std::unique_ptr<char[]>>& spares() noexcept {
        thread_local std::vector<std::unique_ptr<char[]>> kept = [] {
            std::vector<std::unique_ptr<char[]>> v;
            v.reserve(max_spares); // recycle() never allocates
            return v;
        }();
        return kept;
    }
    static std::unique_ptr<char[]> reuse() noexcept {
        auto& kept = spares();
        if (kept.empty())
            return nullptr;
        auto block = std::move(kept.back());
        kept.pop_back();
        return block;
    }
    static void recycle(std::unique_ptr<char[]> block, std::size_t size) noexcept {
        auto& kept = spares();
        if (block && size == first_chunk && kept.size() < max_spares)
            kept.push_back(std::move(block));
    }

    std::unique_ptr<char[]> bytes_;
    std::size_t size_ = 0;
};

} // namespace qail::proxy
