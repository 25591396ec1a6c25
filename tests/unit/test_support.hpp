// Common include for unit tests: doctest plus printers for the codec's value types.
#pragma once

#include <doctest/doctest.h>

#include <ostream> // doctest forward-declares ostream; printers below need the real one
#include <string>
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
