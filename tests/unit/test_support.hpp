// Common include for unit tests: doctest plus printers for the codec's value types.
#pragma once

#include <doctest/doctest.h>

#include <ostream> // doctest forward-declares ostream; printers below need the real one
#include <random>
#include <string>
#include <string_view>
#include <system_error>

namespace doctest {
template <>
struct StringMaker<std::error_code> {
    static String convert(const std::error_code& ec) {
        const std::string s = std::string(ec.category().name()) + ":" + ec.message();
        return String(s.c_str());
    }
};
} // namespace doctest

namespace qail::test {
/// Up to `max_size` bytes drawn from `alphabet`: inputs for checking a fast scan
/// against its reference.
inline std::string random_text(std::mt19937& rng, std::string_view alphabet, std::size_t max_size) {
    std::string t(rng() % (max_size + 1), ' ');
    for (auto& c : t)
        c = alphabet[rng() % alphabet.size()];
    return t;
}
} // namespace qail::test
