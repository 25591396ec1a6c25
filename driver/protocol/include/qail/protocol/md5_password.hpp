// PostgreSQL md5 password authentication: stored hashes, salted responses, safe comparison.
// https://www.postgresql.org/docs/current/auth-password.html
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qail::protocol {

/// The 4 random bytes of AuthenticationMD5Password.
using md5_salt = std::array<std::uint8_t, 4>;

/// "md5" + 32 lowercase hex digits: the length of every md5 hash and md5 response.
inline constexpr std::size_t md5_password_text_size = 35;

/// The hash pg_authid stores for an md5 password: "md5" + hex(md5(password + user)).
[[nodiscard]] std::string md5_password_hash(std::string_view user, std::string_view password);

/// True if `text` has the shape of a stored md5 hash: "md5" followed by exactly 32
/// lowercase hex digits (PostgreSQL only ever stores lowercase).
[[nodiscard]] bool is_md5_password_hash(std::string_view text) noexcept;

/// The text a client sends in PasswordMessage for AuthenticationMD5Password:
/// "md5" + hex(md5(hex(md5(password + user)) + salt)).
[[nodiscard]] std::string md5_salted_response(std::string_view user, std::string_view password,
                                              const md5_salt& salt);

/// Server side: the response a client must send, computed from a stored hash
/// (md5_password_hash's output) and the salt this server sent. Returns nullopt if
/// `stored_hash` is not an md5 hash (see is_md5_password_hash).
[[nodiscard]] std::optional<std::string> md5_expected_response(std::string_view stored_hash,
                                                               const md5_salt& salt);

/// Server side: whether `response` (the PasswordMessage text, without its NUL) proves
/// knowledge of `stored_hash` for `salt`. False for a malformed stored hash. The
/// comparison is constant-time.
[[nodiscard]] bool verify_md5_response(std::string_view stored_hash, const md5_salt& salt,
                                       std::string_view response);

/// Compares without an early exit, so the time taken does not reveal how many leading
/// bytes match. Unequal lengths return false at once: lengths are not secret here
/// (every md5 response, SCRAM proof and key has a fixed, public size).
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b) noexcept;
[[nodiscard]] bool constant_time_equal(std::span<const std::uint8_t> a,
                                       std::span<const std::uint8_t> b) noexcept;

} // namespace qail::protocol
