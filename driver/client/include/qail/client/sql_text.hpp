// Cheap, conservative looks at SQL text that decide what a reset must cover.
#pragma once

#include <cstddef>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace qail::client {

namespace detail {
[[nodiscard]] constexpr bool ascii_word_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Whether `word` (lower case) starts at `i` of `sql`, in any letter case, as a word:
// delimited by anything but an ASCII letter, digit or underscore. `c | 0x20` folds
// exactly the upper-case letters onto the lower-case ones compared to.
[[nodiscard]] constexpr bool word_at(std::string_view sql, std::size_t i,
                                     std::string_view word) noexcept {
    if (sql.size() - i < word.size())
        return false;
    for (std::size_t k = 0; k < word.size(); ++k)
        if ((sql[i + k] | 0x20) != word[k])
            return false;
    return (i == 0 || !ascii_word_char(sql[i - 1])) &&
           (i + word.size() == sql.size() || !ascii_word_char(sql[i + word.size()]));
}

// Whether the word PREPARE or DEALLOCATE starts at `i` (see word_at).
[[nodiscard]] constexpr bool statement_word_at(std::string_view sql, std::size_t i) noexcept {
    const char c = static_cast<char>(sql[i] | 0x20);
    return (c == 'p' && word_at(sql, i, "prepare")) || (c == 'd' && word_at(sql, i, "deallocate"));
}
} // namespace detail

/// Whether `sql` may create or drop prepared statements by name: it contains the word
/// PREPARE or DEALLOCATE in any letter case, anywhere (also inside literals, dollar
/// quotes, comments and quoted identifiers, so dynamic SQL a DO block carries counts
/// too). "prepared_at" is not the word; `$q$PREPARE` is. SQL without either word cannot
/// do it by itself (DISCARD ALL, which can, is seen by its command tag).
///
/// The reference implementation, one byte at a time; touches_prepared_statements() is
/// the same answer, 16 bytes at a time where SSE2 is there (a proxy runs it on every
/// statement it forwards).
[[nodiscard]] constexpr bool touches_prepared_statements_bytewise(std::string_view sql) noexcept {
    // One pass for both words: most bytes are neither 'p' nor 'd' in any case.
    for (std::size_t i = 0; i < sql.size(); ++i)
        if (detail::statement_word_at(sql, i))
            return true;
    return false;
}

[[nodiscard]] inline bool touches_prepared_statements(std::string_view sql) noexcept {
#if defined(__SSE2__)
    // The candidates (a byte that is 'p' or 'd' once bit 5 is set) of 16 bytes at once,
    // then the word check at each: a statement rarely has many.
    const char* p = sql.data();
    const __m128i fold = _mm_set1_epi8(0x20);
    const __m128i lower_p = _mm_set1_epi8('p');
    const __m128i lower_d = _mm_set1_epi8('d');
    std::size_t i = 0;
    for (; i + 16 <= sql.size(); i += 16) {
        const __m128i v =
            _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), fold);
        auto m = static_cast<unsigned>(_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, lower_p), _mm_cmpeq_epi8(v, lower_d))));
        while (m != 0) {
            const std::size_t at = i + static_cast<std::size_t>(__builtin_ctz(m));
            m &= m - 1;
            if (detail::statement_word_at(sql, at))
                return true;
        }
    }
    for (; i < sql.size(); ++i)
        if (detail::statement_word_at(sql, i))
            return true;
    return false;
#else
    return touches_prepared_statements_bytewise(sql);
#endif
}

} // namespace qail::client
