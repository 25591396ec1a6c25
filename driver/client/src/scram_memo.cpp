// remembered_scram_keys(): a small process-wide memo in front of PBKDF2.
#include <qail/client/scram_memo.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace qail::client {

namespace {

struct memo {
    struct entry {
        std::string password;
        std::vector<std::uint8_t> salt;
        std::uint32_t iterations = 0;
        protocol::scram_keys keys;

        [[nodiscard]] bool is(std::string_view p, std::span<const std::uint8_t> s,
                              std::uint32_t i) const noexcept {
            return iterations == i && std::ranges::equal(salt, s) && password == p;
        }
    };

    std::mutex mutex;
    std::deque<entry> entries; // oldest first
    std::atomic<std::uint64_t> derivations{0};

    [[nodiscard]] const protocol::scram_keys*
    find(std::string_view p, std::span<const std::uint8_t> s, std::uint32_t i) const noexcept {
        for (const auto& e : entries)
            if (e.is(p, s, i))
                return &e.keys;
        return nullptr;
    }
};

// Never destroyed: a connection may still log in while the process exits.
memo& the_memo() {
    static memo* const m = new memo;
    return *m;
}

} // namespace

protocol::scram_keys remembered_scram_keys(std::string_view password,
                                           std::span<const std::uint8_t> salt,
                                           std::uint32_t iterations) {
    memo& m = the_memo();
    {
        std::lock_guard lock(m.mutex);
        if (const auto* keys = m.find(password, salt, iterations))
            return *keys;
    }
    // Outside the lock: logins with other passwords need not wait for this one. Two
    // threads may derive the same keys at once; the memo keeps one.
    const protocol::scram_keys keys = protocol::derive_scram_keys(password, salt, iterations);
    m.derivations.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(m.mutex);
    if (m.find(password, salt, iterations) == nullptr) {
        if (m.entries.size() >= scram_memo_capacity)
            m.entries.pop_front();
        m.entries.push_back({std::string(password),
                             std::vector<std::uint8_t>(salt.begin(), salt.end()), iterations,
                             keys});
    }
    return keys;
}

std::uint64_t scram_key_derivations() noexcept {
    return the_memo().derivations.load(std::memory_order_relaxed);
}

} // namespace qail::client
