// Cheap, conservative looks at SQL text that decide what a reset must cover.
#pragma once

#include <string_view>

namespace qail::client {

namespace detail {
[[nodiscard]] constexpr bool ascii_word_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Whether `word` (lower case) occurs in `sql` in any letter case as a word: delimited by
// anything but an ASCII letter, digit or underscore. `c | 0x20` folds exactly the
// upper-case letters onto the lower-case ones compared to.
[[nodiscard]] constexpr bool contains_word(std::string_view sql, std::string_view word) noexcept {
    for (std::size_t i = 0; i + word.size() <= sql.size(); ++i) {
        if ((sql[i] | 0x20) != word[0] || (sql[i + 1] | 0x20) != word[1])
            continue;
        std::size_t k = 2;
        while (k < word.size() && (sql[i + k] | 0x20) == word[k])
            ++k;
        if (k == word.size() && (i == 0 || !ascii_word_char(sql[i - 1])) &&
            (i + k == sql.size() || !ascii_word_char(sql[i + k])))
            return true;
    }
    return false;
}
} // namespace detail

/// Whether `sql` may create or drop prepared statements by name: it contains the word
/// PREPARE or DEALLOCATE in any letter case, anywhere (also inside literals, dollar
/// quotes, comments and quoted identifiers, so dynamic SQL a DO block carries counts
/// too). "prepared_at" is not the word; `$q$PREPARE` is. SQL without either word cannot
/// do it by itself (DISCARD ALL, which can, is seen by its command tag). Branch-light:
/// a proxy runs it on every statement it forwards.
[[nodiscard]] constexpr bool touches_prepared_statements(std::string_view sql) noexcept {
    return detail::contains_word(sql, "prepare") || detail::contains_word(sql, "deallocate");
}

} // namespace qail::client
