// The location of a node while reading or compiling an AST, rendered as a JSON-style
// path (`cages[0].conditions[1].op`) only when an error needs it.
#pragma once

#include <qail/ast/error.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qail::ast::detail {

class path {
public:
    /// One step down; pops itself when it goes out of scope.
    class step {
    public:
        step(path& p, std::string_view key) : p_(p) { p_.segments_.push_back({key, npos}); }
        step(path& p, std::size_t index) : p_(p) { p_.segments_.push_back({{}, index}); }
        step(const step&) = delete;
        step& operator=(const step&) = delete;
        ~step() { p_.segments_.pop_back(); }

    private:
        path& p_;
    };

    [[nodiscard]] std::string to_string() const {
        std::string out;
        for (const auto& s : segments_) {
            if (s.index != npos) {
                out += '[';
                out += std::to_string(s.index);
                out += ']';
            } else {
                if (!out.empty())
                    out += '.';
                out += s.key;
            }
        }
        return out;
    }

    /// An error at the current location.
    [[nodiscard]] error fail(errc code, std::string detail) const {
        return error{code, to_string(), std::move(detail)};
    }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    struct segment {
        std::string_view key; // views a string literal or a key of the input document
        std::size_t index = npos;
    };
    std::vector<segment> segments_;
};

/// `"text"` with JSON-like escaping of quotes, backslashes and control bytes, cut to
/// `max` bytes: how error messages show a token.
[[nodiscard]] std::string quoted_token(std::string_view text, std::size_t max = 64);

} // namespace qail::ast::detail
