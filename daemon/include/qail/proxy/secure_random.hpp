// Random bytes for secrets (salts, nonces, cancel keys) from OpenSSL's generator.
#pragma once

#include <cstdint>
#include <span>

namespace qail::proxy {

/// Fills `out` from OpenSSL's cryptographically secure generator, through a small
/// per-thread buffer: RAND_bytes costs thousands of instructions a call whatever the
/// size, and every login wants a few bytes twice (a salt or nonce, a cancel key). Each
/// byte is handed out once and wiped from the buffer. Throws std::runtime_error when
/// the generator fails.
void secure_random(std::span<std::uint8_t> out);

} // namespace qail::proxy
