// SET / RESET statements as the transaction pooler sees them: a small scanner that finds
// statement boundaries the way PostgreSQL's does, and a parser for the statements that
// start with SET or RESET (and SAVEPOINT, RELEASE, ROLLBACK, ABORT, which scope them).
// Values are flattened the way the server flattens SET's arguments (GUC_LIST_QUOTE
// settings get quoted identifiers), so that set_config(name, value, false) on another
// connection gives the same setting.
#include <qail/client/sql_text.hpp>
#include <qail/proxy/session_sql.hpp>

#include <array>
#include <cstddef>
#include <optional>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace qail::proxy {
namespace {

struct token {
    enum class kind : std::uint8_t {
        word,    ///< identifier or keyword, ASCII lower-cased
        quoted,  ///< "quoted identifier", unescaped
        string,  ///< '...' or $tag$...$tag$, unescaped
        escaped, ///< E'...', U&'...', B'...', X'...': not carried (never needed in practice)
        number,
        symbol, ///< any other single character except ';'
        semicolon,
        end,
    };
    kind k = kind::end;
    std::string text;
};

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_ident_start(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
}
bool is_ident_char(char c) noexcept {
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}
bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

class scanner {
public:
    explicit scanner(std::string_view s) noexcept : s_(s) {}

    token next() {
        skip_space_and_comments();
        token t;
        if (i_ >= s_.size())
            return t;
        const char c = s_[i_];
        if (c == ';') {
            ++i_;
            t.k = token::kind::semicolon;
        } else if (c == '\'') {
            t.k = token::kind::string;
            t.text = quoted_body('\'', false);
        } else if (c == '"') {
            t.k = token::kind::quoted;
            t.text = quoted_body('"', false);
        } else if ((c == 'e' || c == 'E') && peek(1) == '\'') {
            ++i_;
            t.k = token::kind::escaped;
            t.text = quoted_body('\'', true);
        } else if ((c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') &&
                   peek(1) == '\'') {
            ++i_;
            t.k = (c == 'n' || c == 'N') ? token::kind::string : token::kind::escaped;
            t.text = quoted_body('\'', false);
        } else if ((c == 'u' || c == 'U') && peek(1) == '&' &&
                   (peek(2) == '\'' || peek(2) == '"')) {
            i_ += 2;
            t.k = token::kind::escaped;
            t.text = quoted_body(s_[i_], false);
        } else if (c == '$' && dollar_tag()) {
            t.k = token::kind::string;
            t.text = dollar_body();
        } else if (is_ident_start(c)) {
            t.k = token::kind::word;
            while (i_ < s_.size() && is_ident_char(s_[i_]))
                t.text.push_back(lower(s_[i_++]));
        } else if (is_digit(c) || (c == '.' && is_digit(peek(1)))) {
            t.k = token::kind::number;
            number(t.text);
        } else {
            ++i_;
            t.k = token::kind::symbol;
            t.text.assign(1, c);
        }
        return t;
    }

private:
    char peek(std::size_t ahead) const noexcept {
        return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0';
    }

    void skip_space_and_comments() noexcept {
        while (i_ < s_.size()) {
            if (is_space(s_[i_])) {
                ++i_;
            } else if (s_[i_] == '-' && peek(1) == '-') {
                const auto nl = s_.find('\n', i_);
                i_ = nl == std::string_view::npos ? s_.size() : nl + 1;
            } else if (s_[i_] == '/' && peek(1) == '*') {
                // Block comments nest in PostgreSQL.
                std::size_t depth = 1;
                i_ += 2;
                while (i_ < s_.size() && depth > 0) {
                    if (s_[i_] == '/' && peek(1) == '*') {
                        ++depth;
                        i_ += 2;
                    } else if (s_[i_] == '*' && peek(1) == '/') {
                        --depth;
                        i_ += 2;
                    } else {
                        ++i_;
                    }
                }
            } else {
                return;
            }
        }
    }

    // At the opening quote: the body up to the closing one (doubled quotes are one);
    // with `backslash`, a backslash escapes the next character (E'' strings).
    std::string quoted_body(char quote, bool backslash) {
        std::string out;
        ++i_;
        while (i_ < s_.size()) {
            const char c = s_[i_];
            if (backslash && c == '\\' && i_ + 1 < s_.size()) {
                out.push_back(s_[i_ + 1]);
                i_ += 2;
            } else if (c == quote) {
                if (peek(1) == quote) {
                    out.push_back(quote);
                    i_ += 2;
                } else {
                    ++i_;
                    break;
                }
            } else {
                out.push_back(c);
                ++i_;
            }
        }
        return out;
    }

    // At '$': is this the start of a dollar quote ($$ or $tag$)? Sets tag_ if so.
    bool dollar_tag() {
        std::size_t j = i_ + 1;
        if (j < s_.size() && !is_ident_start(s_[j]) && s_[j] != '$')
            return false; // $1 and friends
        while (j < s_.size() && s_[j] != '$') {
            if (!is_ident_char(s_[j]) || s_[j] == '$')
                return false;
            ++j;
        }
        if (j >= s_.size())
            return false;
        tag_ = s_.substr(i_, j - i_ + 1);
        return true;
    }

    std::string dollar_body() {
        const std::size_t start = i_ + tag_.size();
        const auto close = s_.find(tag_, start);
        if (close == std::string_view::npos) {
            i_ = s_.size();
            return std::string(s_.substr(start));
        }
        i_ = close + tag_.size();
        return std::string(s_.substr(start, close - start));
    }

    void number(std::string& out) {
        while (i_ < s_.size() && (is_digit(s_[i_]) || s_[i_] == '.' || s_[i_] == '_'))
            out.push_back(s_[i_++]);
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E') &&
            (is_digit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && is_digit(peek(2))))) {
            out.push_back(s_[i_++]);
            out.push_back(s_[i_++]);
            while (i_ < s_.size() && is_digit(s_[i_]))
                out.push_back(s_[i_++]);
        }
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::string_view tag_;
};

using tokens = std::vector<token>;

// Settings whose list elements the server quotes as identifiers (GUC_LIST_QUOTE).
bool list_quoted(std::string_view name) noexcept {
    static constexpr std::array<std::string_view, 5> names{
        "search_path", "temp_tablespaces", "session_preload_libraries", "shared_preload_libraries",
        "local_preload_libraries"};
    for (const auto n : names)
        if (n == name)
            return true;
    return false;
}

// As the server's quote_identifier(), except that keywords are not quoted: the setting
// parses both spellings to the same identifier.
std::string quote_identifier(std::string_view s) {
    bool plain = !s.empty() && ((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_');
    for (const char c : s)
        plain = plain && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    if (plain)
        return std::string(s);
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"')
            out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

setting_change untracked(std::string why) {
    setting_change c;
    c.what = setting_change::kind::untracked;
    c.value = std::move(why);
    return c;
}

setting_change make(setting_change::kind what, std::string name, std::string value = {}) {
    setting_change c;
    c.what = what;
    c.name = std::move(name);
    c.value = std::move(value);
    return c;
}

bool is_word(const tokens& t, std::size_t i, std::string_view w) noexcept {
    return i < t.size() && t[i].k == token::kind::word && t[i].text == w;
}

// A setting name from `i`: name ( . name )*, lower-cased; `i` moves past it.
std::optional<std::string> dotted_name(const tokens& t, std::size_t& i) {
    std::string name;
    for (;;) {
        if (i >= t.size() || (t[i].k != token::kind::word && t[i].k != token::kind::quoted))
            return std::nullopt;
        for (const char c : t[i].text)
            name.push_back(lower(c));
        ++i;
        if (i < t.size() && t[i].k == token::kind::symbol && t[i].text == ".") {
            name.push_back('.');
            ++i;
            continue;
        }
        return name;
    }
}

// The value list of SET name TO <values>, flattened as the server does; nullopt when
// some value is of a form this does not carry.
std::optional<std::string> flatten(const tokens& t, std::size_t i, std::string_view name) {
    if (i >= t.size())
        return std::nullopt;
    const bool quote = list_quoted(name);
    std::string out;
    for (;;) {
        if (i >= t.size())
            return std::nullopt;
        std::string item;
        const token& v = t[i];
        if (v.k == token::kind::symbol && (v.text == "-" || v.text == "+") && i + 1 < t.size() &&
            t[i + 1].k == token::kind::number) {
            item = (v.text == "-" ? "-" : "") + t[i + 1].text;
            i += 2;
        } else if (v.k == token::kind::number) {
            item = v.text;
            ++i;
        } else if (v.k == token::kind::word || v.k == token::kind::quoted ||
                   v.k == token::kind::string) {
            item = quote ? quote_identifier(v.text) : v.text;
            ++i;
        } else {
            return std::nullopt;
        }
        if (!out.empty())
            out += ", ";
        out += item;
        if (i == t.size())
            return out;
        if (t[i].k != token::kind::symbol || t[i].text != ",")
            return std::nullopt;
        ++i;
    }
}

// One value (a word, quoted identifier, string or number) as the whole rest.
std::optional<std::string> single(const tokens& t, std::size_t i) {
    if (i + 1 != t.size())
        return std::nullopt;
    const auto k = t[i].k;
    if (k == token::kind::word || k == token::kind::quoted || k == token::kind::string ||
        k == token::kind::number)
        return t[i].text;
    return std::nullopt;
}

// SET name TO value / SET name TO DEFAULT, from `i` (at "TO" or "=").
setting_change assign(const tokens& t, std::size_t i, std::string name) {
    if (!(is_word(t, i, "to") ||
          (i < t.size() && t[i].k == token::kind::symbol && t[i].text == "=")))
        return untracked("unrecognised SET syntax");
    ++i;
    if (is_word(t, i, "default") && i + 1 == t.size())
        return make(setting_change::kind::reset, std::move(name));
    if (is_word(t, i, "from") && is_word(t, i + 1, "current"))
        return untracked("SET ... FROM CURRENT");
    auto value = flatten(t, i, name);
    if (!value)
        return untracked("a SET value of a form the pooler does not carry (e.g. an E'' string)");
    return make(setting_change::kind::set, std::move(name), std::move(*value));
}

std::optional<setting_change> parse_set(const tokens& t) {
    std::size_t i = 1;
    if (is_word(t, i, "local"))
        return make(setting_change::kind::none, {});
    if (is_word(t, i, "constraints"))
        return std::nullopt; // its tag is SET CONSTRAINTS, and it lasts one transaction
    if (is_word(t, i, "session") && is_word(t, i + 1, "characteristics"))
        return untracked("SET SESSION CHARACTERISTICS");
    if (is_word(t, i, "session") && !is_word(t, i + 1, "authorization"))
        ++i; // SET SESSION name ... is SET name ...
    if (is_word(t, i, "transaction"))
        return make(setting_change::kind::none, {});
    if (is_word(t, i, "time") && is_word(t, i + 1, "zone")) {
        if ((is_word(t, i + 2, "local") || is_word(t, i + 2, "default")) && i + 3 == t.size())
            return make(setting_change::kind::reset, "timezone");
        auto v = flatten(t, i + 2, "timezone");
        if (!v || is_word(t, i + 2, "interval"))
            return untracked("SET TIME ZONE with an interval");
        return make(setting_change::kind::set, "timezone", std::move(*v));
    }
    if (is_word(t, i, "schema")) {
        auto v = single(t, i + 1);
        if (!v)
            return untracked("unrecognised SET SCHEMA syntax");
        return make(setting_change::kind::set, "search_path", quote_identifier(*v));
    }
    if (is_word(t, i, "names")) {
        if (i + 1 == t.size() || (is_word(t, i + 1, "default") && i + 2 == t.size()))
            return make(setting_change::kind::reset, "client_encoding");
        auto v = single(t, i + 1);
        if (!v)
            return untracked("unrecognised SET NAMES syntax");
        return make(setting_change::kind::set, "client_encoding", std::move(*v));
    }
    if (is_word(t, i, "role")) {
        auto v = single(t, i + 1);
        if (!v)
            return untracked("unrecognised SET ROLE syntax");
        return make(setting_change::kind::set, "role", std::move(*v));
    }
    if (is_word(t, i, "session") && is_word(t, i + 1, "authorization")) {
        if (is_word(t, i + 2, "default") && i + 3 == t.size())
            return make(setting_change::kind::reset, "session_authorization");
        auto v = single(t, i + 2);
        if (!v)
            return untracked("unrecognised SET SESSION AUTHORIZATION syntax");
        return make(setting_change::kind::set, "session_authorization", std::move(*v));
    }
    if (is_word(t, i, "xml") && is_word(t, i + 1, "option")) {
        auto v = single(t, i + 2);
        if (!v)
            return untracked("unrecognised SET XML OPTION syntax");
        return make(setting_change::kind::set, "xmloption", std::move(*v));
    }
    auto name = dotted_name(t, i);
    if (!name)
        return untracked("unrecognised SET syntax");
    return assign(t, i, std::move(*name));
}

setting_change parse_reset(const tokens& t) {
    const std::size_t n = t.size();
    if (is_word(t, 1, "all") && n == 2)
        return make(setting_change::kind::reset_all, {});
    if (is_word(t, 1, "time") && is_word(t, 2, "zone") && n == 3)
        return make(setting_change::kind::reset, "timezone");
    if (is_word(t, 1, "session") && is_word(t, 2, "authorization") && n == 3)
        return make(setting_change::kind::reset, "session_authorization");
    if (is_word(t, 1, "transaction"))
        return make(setting_change::kind::none, {});
    std::size_t i = 1;
    auto name = dotted_name(t, i);
    if (!name || i != n)
        return untracked("unrecognised RESET syntax");
    return make(setting_change::kind::reset, std::move(*name));
}

// A savepoint name as the server folds it: a word is lower-cased (the scanner did that),
// a quoted identifier is kept as written.
std::optional<std::string> savepoint_name(const tokens& t, std::size_t i) {
    if (i + 1 != t.size() || (t[i].k != token::kind::word && t[i].k != token::kind::quoted))
        return std::nullopt;
    return t[i].text;
}

// SAVEPOINT name; RELEASE [SAVEPOINT] name; ROLLBACK|ABORT [WORK|TRANSACTION]
// [TO [SAVEPOINT] name | AND [NO] CHAIN]. Nothing for forms with other tags (ROLLBACK
// PREPARED) or that the server rejects.
std::optional<setting_change> parse_scope(const tokens& t) {
    using k = setting_change::kind;
    if (is_word(t, 0, "savepoint")) {
        if (auto name = savepoint_name(t, 1))
            return make(k::savepoint, std::move(*name));
        return std::nullopt;
    }
    if (is_word(t, 0, "release")) {
        std::size_t i = 1;
        if (is_word(t, i, "savepoint") && i + 2 == t.size())
            ++i;
        if (auto name = savepoint_name(t, i))
            return make(k::release, std::move(*name));
        return std::nullopt;
    }
    // ROLLBACK or ABORT.
    std::size_t i = 1;
    if (is_word(t, i, "work") || is_word(t, i, "transaction"))
        ++i;
    if (is_word(t, 0, "rollback") && is_word(t, i, "to")) {
        ++i;
        if (is_word(t, i, "savepoint") && i + 2 == t.size())
            ++i;
        if (auto name = savepoint_name(t, i))
            return make(k::rollback_to, std::move(*name));
        return std::nullopt;
    }
    if (is_word(t, i, "prepared"))
        return std::nullopt;
    return make(k::rollback, {});
}

bool is_scope_word(const token& first) noexcept {
    return first.k == token::kind::word && (first.text == "savepoint" || first.text == "release" ||
                                            first.text == "rollback" || first.text == "abort");
}

} // namespace

bool setting_change::answered_by(std::string_view tag) const noexcept {
    switch (what) {
    case kind::none:
    case kind::set:
    case kind::reset:
    case kind::reset_all:
    case kind::untracked:
        return tag == "SET" || tag == "RESET";
    case kind::savepoint:
        return tag == "SAVEPOINT";
    case kind::release:
        return tag == "RELEASE";
    case kind::rollback_to:
    case kind::rollback:
        return tag == "ROLLBACK";
    }
    return false;
}

bool may_change_settings_bytewise(std::string_view sql) noexcept {
    // `c | 0x20` folds exactly 'S', 'E', 'T' onto 's', 'e', 't' and maps no other byte
    // there.
    const char* p = sql.data();
    for (std::size_t i = 0; i + 3 <= sql.size(); ++i)
        if ((p[i + 1] | 0x20) == 'e' && (p[i] | 0x20) == 's' && (p[i + 2] | 0x20) == 't')
            return true;
    return false;
}

bool may_change_settings(std::string_view sql) noexcept {
#if defined(__SSE2__)
    // On every Query and Parse: "set" at any of 16 positions at once (three loads, one
    // byte apart), the rest byte by byte.
    const char* p = sql.data();
    const __m128i fold = _mm_set1_epi8(0x20);
    const auto at = [&](std::size_t i, char c) {
        const __m128i v =
            _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), fold);
        return _mm_cmpeq_epi8(v, _mm_set1_epi8(c));
    };
    std::size_t i = 0;
    for (; i + 18 <= sql.size(); i += 16)
        if (_mm_movemask_epi8(
                _mm_and_si128(_mm_and_si128(at(i, 's'), at(i + 1, 'e')), at(i + 2, 't'))) != 0)
            return true;
    return may_change_settings_bytewise(sql.substr(i));
#else
    return may_change_settings_bytewise(sql);
#endif
}

sql_glance glance_at(std::string_view sql) noexcept {
#if defined(__SSE2__)
    // 16 positions at once, as the two pre-checks do apart: "set" from three loads one
    // byte apart, and the candidates for PREPARE and DEALLOCATE ("pr" or "de" once bit 5
    // is set: an identifier's 'p' or 'd' rarely is) from the first two, each checked as a
    // word. The last block overlaps the one before so that it ends with the text: no
    // byte-wise tail (a word is not found twice in a way that matters, both answers are
    // yes/no). Its first load stops two bytes short of the end, where neither word can
    // start.
    if (sql.size() >= 18) {
        const char* p = sql.data();
        const __m128i fold = _mm_set1_epi8(0x20);
        const auto load = [&](std::size_t i) {
            return _mm_or_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), fold);
        };
        const auto is = [](__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); };
        sql_glance g;
        const std::size_t last = sql.size() - 18;
        for (std::size_t i = 0;; i = std::min(i + 16, last)) {
            const __m128i v = load(i);
            const __m128i next = load(i + 1);
            if (!g.may_set &&
                _mm_movemask_epi8(_mm_and_si128(_mm_and_si128(is(v, 's'), is(next, 'e')),
                                                is(load(i + 2), 't'))) != 0)
                g.may_set = true;
            auto m = g.names_statements ? 0U
                                        : static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(
                                              _mm_and_si128(is(v, 'p'), is(next, 'r')),
                                              _mm_and_si128(is(v, 'd'), is(next, 'e')))));
            while (m != 0) {
                const std::size_t at = i + static_cast<std::size_t>(__builtin_ctz(m));
                m &= m - 1;
                if (client::detail::statement_word_at(sql, at)) {
                    g.names_statements = true;
                    break;
                }
            }
            if (i == last || (g.may_set && g.names_statements))
                return g;
        }
    }
#endif
    return {client::touches_prepared_statements_bytewise(sql), may_change_settings_bytewise(sql)};
}

bool may_touch_savepoints(std::string_view sql) noexcept {
    // Run for a session's Query/Parse only once it has changed settings (and once per
    // new prepared statement), so byte by byte: one of the words, in any case, anywhere
    // (`c | 0x20` maps only the letter's two cases onto it).
    static constexpr std::array<std::string_view, 4> words{"savepoint", "release", "rollback",
                                                           "abort"};
    const auto at = [&](std::size_t i, std::string_view w) {
        if (sql.size() - i < w.size())
            return false;
        for (std::size_t j = 0; j < w.size(); ++j)
            if ((sql[i + j] | 0x20) != w[j])
                return false;
        return true;
    };
    for (std::size_t i = 0; i < sql.size(); ++i)
        for (const auto w : words)
            if ((sql[i] | 0x20) == w[0] && at(i, w))
                return true;
    return false;
}

std::vector<setting_change> setting_changes(std::string_view sql, bool savepoints) {
    std::vector<setting_change> out;
    savepoints = savepoints && may_touch_savepoints(sql);
    if (!savepoints && !may_change_settings(sql))
        return out;
    scanner sc(sql);
    tokens stmt;
    for (;;) {
        token first = sc.next();
        if (first.k == token::kind::end)
            break;
        if (first.k == token::kind::semicolon)
            continue;
        const bool is_set = first.k == token::kind::word && first.text == "set";
        const bool is_reset = first.k == token::kind::word && first.text == "reset";
        const bool is_scope = savepoints && is_scope_word(first);
        stmt.clear();
        stmt.push_back(std::move(first));
        bool last = false;
        for (;;) {
            token t = sc.next();
            if (t.k == token::kind::end) {
                last = true;
                break;
            }
            if (t.k == token::kind::semicolon)
                break;
            if (is_set || is_reset || is_scope)
                stmt.push_back(std::move(t));
        }
        if (is_set) {
            if (auto c = parse_set(stmt))
                out.push_back(std::move(*c));
        } else if (is_reset) {
            out.push_back(parse_reset(stmt));
        } else if (is_scope) {
            if (auto c = parse_scope(stmt))
                out.push_back(std::move(*c));
        }
        if (last)
            break;
    }
    return out;
}

} // namespace qail::proxy
