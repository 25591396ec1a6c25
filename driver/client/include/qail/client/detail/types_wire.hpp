// Byte and character helpers shared by the value conversions: big-endian integers,
// PostgreSQL's whitespace, ASCII case folding (private to types*.cpp and the array traits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace qail::client::detail::wire {

template <class U>
void put_be(std::string& out, U v) {
    static_assert(std::is_unsigned_v<U>);
    for (std::size_t i = sizeof(U); i-- > 0;)
        out.push_back(static_cast<char>(static_cast<unsigned char>(v >> (8U * i))));
}

inline void put_i16(std::string& out, std::int16_t v) {
    put_be(out, static_cast<std::uint16_t>(v));
}
inline void put_i32(std::string& out, std::int32_t v) {
    put_be(out, static_cast<std::uint32_t>(v));
}
inline void put_i64(std::string& out, std::int64_t v) {
    put_be(out, static_cast<std::uint64_t>(v));
}

/// Reads a big-endian U from sizeof(U) bytes the caller has checked exist.
template <class U>
[[nodiscard]] U load_be(const char* p) noexcept {
    static_assert(std::is_unsigned_v<U>);
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i)
        v = static_cast<U>((v << 8U) | static_cast<unsigned char>(p[i]));
    return v;
}

[[nodiscard]] inline std::int16_t load_i16(const char* p) noexcept {
    return static_cast<std::int16_t>(load_be<std::uint16_t>(p));
}
[[nodiscard]] inline std::int32_t load_i32(const char* p) noexcept {
    return static_cast<std::int32_t>(load_be<std::uint32_t>(p));
}
[[nodiscard]] inline std::int64_t load_i64(const char* p) noexcept {
    return static_cast<std::int64_t>(load_be<std::uint64_t>(p));
}

/// Overwrites the four bytes at `at` (a placeholder written earlier) with `v`.
inline void patch_i32(std::string& out, std::size_t at, std::int32_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    for (std::size_t i = 0; i < 4; ++i)
        out[at + i] = static_cast<char>(static_cast<unsigned char>(u >> (8U * (3 - i))));
}

/// The characters scanner_isspace/array_isspace treat as whitespace.
[[nodiscard]] constexpr bool is_pg_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

[[nodiscard]] constexpr std::string_view trim_space(std::string_view s) noexcept {
    while (!s.empty() && is_pg_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_pg_space(s.back()))
        s.remove_suffix(1);
    return s;
}

[[nodiscard]] constexpr char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// ASCII case-insensitive equality (pg_strcasecmp); `lower` must be lowercase.
[[nodiscard]] constexpr bool iequals(std::string_view s, std::string_view lower) noexcept {
    if (s.size() != lower.size())
        return false;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (ascii_lower(s[i]) != lower[i])
            return false;
    return true;
}

} // namespace qail::client::detail::wire
