// Private pieces of the config loader shared by its parse, validate and env-expansion files.
#pragma once

#include <qail/proxy/config.hpp>

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace qail::proxy::detail {

/// A 1-based position in the config file; 0 when unknown.
struct position {
    int line = 0;
    int column = 0;
};

/// Collects errors for one file.
class error_sink {
public:
    error_sink(std::string file, std::vector<config_error>& errors)
        : file_(std::move(file)), errors_(&errors) {}

    void add(position at, std::string message) {
        errors_->push_back({file_, at.line, at.column, std::move(message)});
    }
    [[nodiscard]] bool empty() const { return errors_->empty(); }
    [[nodiscard]] std::size_t count() const { return errors_->size(); }

private:
    std::string file_;
    std::vector<config_error>* errors_;
};

/// Where each setting was written, by dotted path ("databases.appdb.pool_size",
/// "users[1].name"), so checks that span several settings can point at the right line.
class source_map {
public:
    void set(std::string path, position at) { at_.insert_or_assign(std::move(path), at); }
    /// Marks a setting whose value was rejected: later checks skip it rather than report
    /// a consequence of the same mistake (a "missing" value that was in fact mistyped).
    void reject(std::string path) { rejected_.insert(std::move(path)); }
    [[nodiscard]] bool rejected(std::string_view path) const {
        return rejected_.find(path) != rejected_.end();
    }
    /// Whether `path` was written in the file (even if its value was rejected).
    [[nodiscard]] bool has(std::string_view path) const { return at_.find(path) != at_.end(); }
    /// The position of `path`, else of its closest recorded parent, else line 1.
    [[nodiscard]] position of(std::string_view path) const;

private:
    std::map<std::string, position, std::less<>> at_;
    std::set<std::string, std::less<>> rejected_;
};

/// The text after ${VAR} expansion, with the same lines as the input.
struct expanded_text {
    std::string text;
    /// 1-based line numbers where something was substituted: values on them may hold
    /// secrets from the environment and are never echoed in messages.
    std::set<int> substituted_lines;
    /// Lines with a reference that could not be expanded (already reported): settings on
    /// them count as rejected, so no check reports them again as missing.
    std::set<int> failed_lines;
};

/// Expands ${VAR}, ${VAR:-default} and the escape $${ (a literal "${") outside comments.
/// A reference that is the whole value of a plain scalar is emitted double-quoted, and
/// one inside a quoted scalar is escaped for it, so a value's characters can never change
/// the YAML structure. An unset variable without default, a malformed reference and a
/// value holding a line break are errors naming the variable (never its value).
[[nodiscard]] expanded_text expand_env(std::string_view text, error_sink& errors);

/// Builds a config from YAML text (already expanded): syntax, unknown and duplicate keys,
/// types, ranges, enum values and endpoint syntax. Records every setting's position.
[[nodiscard]] config parse_config(const expanded_text& text, error_sink& errors, source_map& where);

/// Checks that involve several settings: references between sections, passwords against
/// auth methods, TLS and JWT completeness, duplicate users.
void validate_config(const config& cfg, const source_map& where, error_sink& errors);

/// Whether a value may be quoted in a message: 1..64 bytes, no whitespace or control
/// characters. Broken quoting or folding can glue several lines (secrets included) into
/// one scalar; such a scalar always holds whitespace, so it is described, never shown.
[[nodiscard]] inline bool safe_to_show(std::string_view s) {
    if (s.empty() || s.size() > 64)
        return false;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f)
            return false;
    }
    return true;
}

/// A database or user name the config accepts: 1..63 bytes (PostgreSQL's identifier
/// limit), no whitespace or control characters.
[[nodiscard]] inline bool valid_name(std::string_view s) {
    return s.size() <= 63 && safe_to_show(s);
}

/// Edit distance, for "did you mean" suggestions.
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);

} // namespace qail::proxy::detail
