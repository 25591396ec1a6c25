// ${VAR} expansion of config text, line by line so YAML positions still match the file.
#include "config/config_detail.hpp"

#include <cstdio>
#include <cstdlib>
#include <optional>

namespace qail::proxy::detail {
namespace {

enum class quoting { plain, single_quoted, double_quoted };

bool is_name_start(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}
bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

// A quote opens a quoted scalar only where a scalar may start: at the start of the line
// or after an indicator (": ", "- ", flow punctuation). An apostrophe inside a plain
// scalar (O'Brien) is just a character.
bool scalar_may_start_at(std::string_view line, std::size_t i) {
    std::size_t j = i;
    while (j > 0 && is_blank(line[j - 1]))
        --j;
    if (j == 0)
        return true;
    const char prev = line[j - 1];
    if (prev == '[' || prev == '{' || prev == ',')
        return true;
    return (prev == ':' || prev == '-' || prev == '?') && j < i; // indicator + blank
}

// Whether only blanks or a comment follow position `i`.
bool only_trailer_from(std::string_view line, std::size_t i) {
    while (i < line.size() && is_blank(line[i]))
        ++i;
    return i == line.size() || line[i] == '#' || line[i] == '\r';
}

void append_escaped(std::string& out, std::string_view value, quoting q) {
    for (const char c : value) {
        if (q == quoting::single_quoted) {
            if (c == '\'')
                out += '\'';
            out += c;
            continue;
        }
        if (q == quoting::double_quoted) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
                continue;
            }
            const auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(u));
                out += buf;
                continue;
            }
        }
        out += c;
    }
}

struct reference {
    std::string name;
    std::optional<std::string> fallback; // after ":-"
    std::size_t end = 0;                 // index just past '}'
};

// Parses "${NAME}" or "${NAME:-default}" starting at line[i] == '$'.
std::optional<reference> parse_reference(std::string_view line, std::size_t i) {
    std::size_t j = i + 2;
    if (j >= line.size() || !is_name_start(line[j]))
        return std::nullopt;
    const std::size_t name_start = j;
    while (j < line.size() && is_name_char(line[j]))
        ++j;
    reference ref;
    ref.name = std::string(line.substr(name_start, j - name_start));
    if (j < line.size() && line[j] == '}') {
        ref.end = j + 1;
        return ref;
    }
    if (line.substr(j, 2) != ":-")
        return std::nullopt;
    const std::size_t close = line.find('}', j + 2);
    if (close == std::string_view::npos)
        return std::nullopt;
    ref.fallback = std::string(line.substr(j + 2, close - j - 2));
    ref.end = close + 1;
    return ref;
}

// Expands one line (without its '\n') into `out`; returns whether anything was substituted.
bool expand_line(std::string_view line, int line_no, std::string& out, error_sink& errors) {
    quoting q = quoting::plain;
    bool substituted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (q == quoting::plain) {
            if (c == '#' && (i == 0 || is_blank(line[i - 1]))) {
                out.append(line.substr(i)); // comments are copied untouched
                return substituted;
            }
            if ((c == '"' || c == '\'') && scalar_may_start_at(line, i))
                q = c == '"' ? quoting::double_quoted : quoting::single_quoted;
        } else if (q == quoting::double_quoted) {
            if (c == '\\' && i + 1 < line.size()) {
                out += c;
                out += line[++i];
                continue;
            }
            if (c == '"')
                q = quoting::plain;
        } else if (c == '\'') {
            if (i + 1 < line.size() && line[i + 1] == '\'') {
                out += "''";
                ++i;
                continue;
            }
            q = quoting::plain;
        }
        if (c != '$') {
            out += c;
            continue;
        }
        if (line.substr(i, 3) == "$${") { // escape: a literal "${"
            out += "${";
            i += 2;
            continue;
        }
        if (line.substr(i, 2) != "${") {
            out += c;
            continue;
        }
        const position at{line_no, static_cast<int>(i) + 1};
        const auto ref = parse_reference(line, i);
        if (!ref) {
            errors.add(at, "malformed environment reference: expected ${NAME} or "
                           "${NAME:-default} (write $${ for a literal \"${\")");
            out += c;
            continue;
        }
        std::string value;
        const char* env = std::getenv(ref->name.c_str());
        if (env != nullptr && *env != '\0') {
            value = env;
        } else if (ref->fallback) {
            value = *ref->fallback;
        } else if (env == nullptr) {
            errors.add(at, "environment variable '" + ref->name +
                               "' is not set (give a default with ${" + ref->name + ":-default})");
        }
        if (value.find_first_of("\r\n") != std::string::npos) {
            errors.add(at, "environment variable '" + ref->name +
                               "' contains a line break, which a config value cannot hold");
            value.clear();
        }
        if (q == quoting::plain && scalar_may_start_at(line, i) &&
            only_trailer_from(line, ref->end)) {
            // The whole value: quote it so its characters cannot change the structure.
            out += '"';
            append_escaped(out, value, quoting::double_quoted);
            out += '"';
        } else {
            append_escaped(out, value, q);
        }
        substituted = true;
        i = ref->end - 1;
    }
    return substituted;
}

} // namespace

expanded_text expand_env(std::string_view text, error_sink& errors) {
    expanded_text result;
    result.text.reserve(text.size());
    int line_no = 1;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t nl = text.find('\n', start);
        const std::size_t end = nl == std::string_view::npos ? text.size() : nl;
        const std::size_t errors_before = errors.count();
        if (expand_line(text.substr(start, end - start), line_no, result.text, errors))
            result.substituted_lines.insert(line_no);
        if (errors.count() != errors_before)
            result.failed_lines.insert(line_no);
        if (nl == std::string_view::npos)
            break;
        result.text += '\n';
        start = nl + 1;
        ++line_no;
    }
    return result;
}

} // namespace qail::proxy::detail
