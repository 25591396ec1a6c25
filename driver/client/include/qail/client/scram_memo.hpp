// SCRAM keys remembered between logins with the same password (remembered_scram_keys()).
#pragma once

#include <qail/protocol/scram.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace qail::client {

/// How many (password, salt, iterations) remembered_scram_keys() keeps.
inline constexpr std::size_t scram_memo_capacity = 64;

/// protocol::derive_scram_keys(), remembered for the whole process per (password, salt,
/// iterations). A server keeps a role's salt and iteration count until its password
/// changes, so only the first login with a password derives the keys (PBKDF2: 4,096
/// HMACs by default, milliseconds of CPU); a pool opening connections, as it grows or
/// after a server restart, does not stall its thread that long for each one. The keys
/// let their holder log in as the role, as the password held beside them does. At most
/// scram_memo_capacity entries (the oldest goes first). Thread-safe.
[[nodiscard]] protocol::scram_keys remembered_scram_keys(std::string_view password,
                                                         std::span<const std::uint8_t> salt,
                                                         std::uint32_t iterations);

/// How many derivations remembered_scram_keys() has run in this process.
[[nodiscard]] std::uint64_t scram_key_derivations() noexcept;

} // namespace qail::client
