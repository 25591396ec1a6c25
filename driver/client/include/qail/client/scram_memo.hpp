// SCRAM keys remembered between logins with the same password (scram_key_memo).
#pragma once

#include <qail/protocol/scram.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qail::client {

/// protocol::derive_scram_keys(), remembered per (password, salt, iterations). A server
/// keeps a role's salt and iteration count until its password changes, so connections
/// sharing a memo (connect_options::scram_memo: a pool's do) derive the keys (PBKDF2:
/// 4,096 HMACs by default, milliseconds of CPU) only at the first login; a pool opening
/// connections, as it grows or after a server restart, does not stall its thread that
/// long for each. The keys let their holder log in as the role, as the password kept
/// beside them in the options does. Bounded (the oldest entry goes first); thread-safe.
class scram_key_memo {
public:
    explicit scram_key_memo(std::size_t capacity = 64) : capacity_(capacity < 1 ? 1 : capacity) {}
    scram_key_memo(const scram_key_memo&) = delete;
    scram_key_memo& operator=(const scram_key_memo&) = delete;

    /// The keys, derived now unless remembered.
    [[nodiscard]] protocol::scram_keys
    keys(std::string_view password, std::span<const std::uint8_t> salt, std::uint32_t iterations);
    /// How many derivations keys() has run.
    [[nodiscard]] std::uint64_t derivations() const noexcept {
        return derivations_.load(std::memory_order_relaxed);
    }

private:
    struct entry {
        std::string password;
        std::vector<std::uint8_t> salt;
        std::uint32_t iterations = 0;
        protocol::scram_keys keys;
    };
    [[nodiscard]] const protocol::scram_keys* find(std::string_view password,
                                                   std::span<const std::uint8_t> salt,
                                                   std::uint32_t iterations) const noexcept;

    std::size_t capacity_;
    std::mutex mutex_;
    std::deque<entry> entries_; // oldest first
    std::atomic<std::uint64_t> derivations_{0};
};

} // namespace qail::client
