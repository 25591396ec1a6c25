// scram_key_memo: a small memo in front of PBKDF2.
#include <qail/client/scram_memo.hpp>

#include <algorithm>

namespace qail::client {

const protocol::scram_keys* scram_key_memo::find(std::string_view password,
                                                 std::span<const std::uint8_t> salt,
                                                 std::uint32_t iterations) const noexcept {
    for (const auto& e : entries_)
        if (e.iterations == iterations && std::ranges::equal(e.salt, salt) &&
            e.password == password)
            return &e.keys;
    return nullptr;
}

protocol::scram_keys scram_key_memo::keys(std::string_view password,
                                          std::span<const std::uint8_t> salt,
                                          std::uint32_t iterations) {
    {
        std::lock_guard lock(mutex_);
        if (const auto* known = find(password, salt, iterations))
            return *known;
    }
    // Outside the lock: logins with other passwords need not wait for this one. Two
    // threads may derive the same keys at once; the memo keeps one.
    const protocol::scram_keys derived = protocol::derive_scram_keys(password, salt, iterations);
    derivations_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    if (find(password, salt, iterations) == nullptr) {
        if (entries_.size() >= capacity_)
            entries_.pop_front();
        entries_.push_back({std::string(password),
                            std::vector<std::uint8_t>(salt.begin(), salt.end()), iterations,
                            derived});
    }
    return derived;
}

} // namespace qail::client
