// PostgreSQL md5 password hashing and constant-time comparison.
#include <qail/protocol/md5.hpp>
#include <qail/protocol/md5_password.hpp>

#include <algorithm>
#include <array>

namespace qail::protocol {
namespace {

constexpr std::string_view md5_prefix = "md5";

using md5_text = std::array<char, md5_password_text_size>;

// "md5" + hex(md5(inner_hex + salt)), in place: it runs once per md5 login, where the
// string-building version's four allocations were most of its cost.
[[nodiscard]] md5_text salted(std::string_view inner_hex, const md5_salt& salt) noexcept {
    md5 h;
    h.update(inner_hex);
    h.update(std::span<const std::uint8_t>(salt));
    const md5_hash digest = h.finish();
    constexpr std::string_view digits = "0123456789abcdef";
    md5_text out{};
    std::copy(md5_prefix.begin(), md5_prefix.end(), out.begin());
    std::size_t at = md5_prefix.size();
    for (const std::uint8_t byte : digest) {
        out[at++] = digits[byte >> 4];
        out[at++] = digits[byte & 0x0fU];
    }
    return out;
}

[[nodiscard]] std::string_view text_of(const md5_text& t) noexcept {
    return {t.data(), t.size()};
}

} // namespace

std::string md5_password_hash(std::string_view user, std::string_view password) {
    std::string input;
    input.reserve(password.size() + user.size());
    input.append(password);
    input.append(user);
    std::string out(md5_prefix);
    out += md5_hex(input);
    return out;
}

bool is_md5_password_hash(std::string_view text) noexcept {
    if (text.size() != md5_password_text_size || !text.starts_with(md5_prefix)) {
        return false;
    }
    for (const char c : text.substr(md5_prefix.size())) {
        const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        if (!hex) {
            return false;
        }
    }
    return true;
}

std::string md5_salted_response(std::string_view user, std::string_view password,
                                const md5_salt& salt) {
    const std::string stored = md5_password_hash(user, password);
    return std::string(text_of(salted(std::string_view(stored).substr(md5_prefix.size()), salt)));
}

std::optional<std::string> md5_expected_response(std::string_view stored_hash,
                                                 const md5_salt& salt) {
    if (!is_md5_password_hash(stored_hash)) {
        return std::nullopt;
    }
    return std::string(text_of(salted(stored_hash.substr(md5_prefix.size()), salt)));
}

bool verify_md5_response(std::string_view stored_hash, const md5_salt& salt,
                         std::string_view response) {
    if (!is_md5_password_hash(stored_hash)) {
        return false;
    }
    const md5_text expected = salted(stored_hash.substr(md5_prefix.size()), salt);
    return constant_time_equal(text_of(expected), response);
}

bool constant_time_equal(std::span<const std::uint8_t> a,
                         std::span<const std::uint8_t> b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    // volatile keeps the compiler from turning the loop into an early-exit memcmp.
    volatile std::uint8_t difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        difference = static_cast<std::uint8_t>(difference | (a[i] ^ b[i]));
    }
    return difference == 0;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    return constant_time_equal(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(a.data()), a.size()),
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
}

} // namespace qail::protocol
