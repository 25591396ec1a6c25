// Quoting identifiers and checking the names emitted without quotes.
#include "sql_text.hpp"

#include <qail/ast/detail/path.hpp>

#include <cstddef>

namespace qail::ast::detail {
namespace {

bool is_ident_start(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) noexcept {
    return is_ident_start(c) || (c >= '0' && c <= '9');
}
bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

} // namespace

/// ASCII case-insensitive equality (`lower` is lowercase).
bool equals_ignoring_case(std::string_view s, std::string_view lower) noexcept {
    if (s.size() != lower.size())
        return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        if (l != lower[i])
            return false;
    }
    return true;
}

/// [A-Za-z_][A-Za-z0-9_]* ('.' the same)*: a name we may emit without quotes.
bool is_plain_dotted_name(std::string_view s) noexcept {
    bool start = true;
    for (const char c : s) {
        if (start) {
            if (!is_ident_start(c))
                return false;
            start = false;
        } else if (c == '.') {
            start = true;
        } else if (!is_ident_char(c)) {
            return false;
        }
    }
    return !s.empty() && !start;
}

/// A SQL type name built only from plain words, single spaces, one "(n[,m])" modifier per
/// word and trailing "[]" pairs: "numeric(10,2)", "timestamp(3) with time zone", "int4[]".
/// Nothing in that grammar can end the cast or start another expression.
bool is_type_name(std::string_view s) noexcept {
    std::size_t i = 0;
    const auto n = s.size();
    bool any_word = false;
    while (i < n) {
        // one word, possibly dotted
        const std::size_t start = i;
        while (i < n && (is_ident_char(s[i]) || s[i] == '.'))
            ++i;
        if (i == start || !is_plain_dotted_name(s.substr(start, i - start)))
            return false;
        any_word = true;
        if (i < n && s[i] == '(') {
            ++i;
            for (int arg = 0; arg < 2; ++arg) {
                const std::size_t digits = i;
                while (i < n && is_digit(s[i]))
                    ++i;
                if (i == digits || i - digits > 9)
                    return false;
                if (arg == 0 && i < n && s[i] == ',') {
                    ++i;
                    continue;
                }
                break;
            }
            if (i >= n || s[i] != ')')
                return false;
            ++i;
        }
        if (i < n && s[i] == '[')
            break;
        if (i < n) {
            if (s[i] != ' ' || i + 1 >= n || s[i + 1] == ' ')
                return false;
            ++i;
        }
    }
    while (i < n) {
        if (i + 1 >= n || s[i] != '[' || s[i + 1] != ']')
            return false;
        i += 2;
    }
    return any_word;
}

/// Appends the quoted form of every dotted part; a last part "*" stays a star when
/// `allow_star`. Returns the reason on failure.
std::optional<std::string> append_identifier(std::string& out, std::string_view dotted,
                                             bool allow_star) {
    if (dotted.empty())
        return std::string("empty identifier");
    if (dotted.find('\0') != std::string_view::npos)
        return "identifier " + quoted_token(dotted) + " contains a NUL byte";
    std::size_t start = 0;
    bool first = true;
    while (true) {
        const std::size_t dot = dotted.find('.', start);
        const std::string_view part = dotted.substr(
            start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (part.empty())
            return "identifier " + quoted_token(dotted) + " has an empty part";
        if (!first)
            out += '.';
        first = false;
        if (part == "*" && dot == std::string_view::npos && allow_star) {
            out += '*';
        } else {
            out += '"';
            for (const char c : part) {
                if (c == '"')
                    out += '"';
                out += c;
            }
            out += '"';
        }
        if (dot == std::string_view::npos)
            return std::nullopt;
        start = dot + 1;
    }
}

void append_quoted_name(std::string& out, std::string_view name) {
    out += '"';
    for (const char c : name) {
        if (c == '"')
            out += '"';
        out += c;
    }
    out += '"';
}

} // namespace qail::ast::detail
