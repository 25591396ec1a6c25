// Named prepared statements in transaction pooling (see prepared.hpp).
#include <qail/proxy/prepared.hpp>

#include <cctype>

namespace qail::proxy {

std::shared_ptr<statement_def> statement_registry::get(std::string_view query,
                                                       std::string_view param_types) {
    std::string key;
    key.reserve(query.size() + 1 + param_types.size());
    key.append(query);
    key.push_back('\0');
    key.append(param_types);
    std::lock_guard lock(mutex_);
    auto& slot = by_key_[key];
    if (!slot) {
        slot = std::make_shared<statement_def>();
        slot->server_name = "qail_" + std::to_string(++next_);
        slot->query = std::string(query);
        slot->param_types = std::string(param_types);
        const sql_glance g = glance_at(query);
        slot->touches_settings = g.may_set;
        slot->touches_statements = g.names_statements;
        slot->changes = setting_changes(query, true); // nothing unless either pre-check says so
    }
    return slot;
}

void statement_registry::retire(const std::shared_ptr<statement_def>& def) {
    def->stale = true;
    std::string key = def->query;
    key.push_back('\0');
    key.append(def->param_types);
    std::lock_guard lock(mutex_);
    if (auto it = by_key_.find(key); it != by_key_.end() && it->second == def)
        by_key_.erase(it);
}

std::size_t statement_registry::size() const {
    std::lock_guard lock(mutex_);
    return by_key_.size();
}

bool backend_statements::touch(const std::string& name) {
    const auto it = index_.find(name);
    if (it == index_.end())
        return false;
    lru_.splice(lru_.begin(), lru_, it->second);
    return true;
}

std::optional<std::string> backend_statements::add(const std::string& name) {
    if (touch(name))
        return std::nullopt;
    lru_.push_front(name);
    index_.emplace(name, lru_.begin());
    if (capacity_ > 0 && index_.size() > capacity_) {
        std::string victim = std::move(lru_.back());
        lru_.pop_back();
        index_.erase(victim);
        return victim;
    }
    return std::nullopt;
}

void backend_statements::erase(const std::string& name) {
    const auto it = index_.find(name);
    if (it == index_.end())
        return;
    lru_.erase(it->second);
    index_.erase(it);
}

void backend_statements::clear() {
    lru_.clear();
    index_.clear();
}

namespace {

// Reads a NUL-terminated string at `pos`, advancing it.
std::optional<std::string_view> cstr(std::string_view body, std::size_t& pos) noexcept {
    const std::size_t end = body.find('\0', pos);
    if (end == std::string_view::npos)
        return std::nullopt;
    const auto s = body.substr(pos, end - pos);
    pos = end + 1;
    return s;
}

void put_header(std::string& out, char type, std::size_t body_size) {
    out.push_back(type);
    const auto len = static_cast<std::uint32_t>(body_size + 4);
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((len >> shift) & 0xFFU));
}

} // namespace

std::optional<parse_fields> read_parse(std::string_view body) noexcept {
    std::size_t pos = 0;
    const auto name = cstr(body, pos);
    if (!name)
        return std::nullopt;
    const auto query = cstr(body, pos);
    if (!query)
        return std::nullopt;
    const auto types = body.substr(pos);
    if (types.size() < 2)
        return std::nullopt;
    const auto n = (static_cast<std::size_t>(static_cast<unsigned char>(types[0])) << 8) |
                   static_cast<unsigned char>(types[1]);
    if (types.size() != 2 + 4 * n)
        return std::nullopt;
    return parse_fields{*name, *query, types};
}

std::optional<bind_fields> read_bind(std::string_view body) noexcept {
    std::size_t pos = 0;
    const auto portal = cstr(body, pos);
    if (!portal)
        return std::nullopt;
    const auto stmt = cstr(body, pos);
    if (!stmt)
        return std::nullopt;
    return bind_fields{*portal, *stmt, body.substr(pos)};
}

std::optional<target_fields> read_target(std::string_view body) noexcept {
    if (body.size() < 2 || (body[0] != 'S' && body[0] != 'P') || body.back() != '\0')
        return std::nullopt;
    const auto name = body.substr(1, body.size() - 2);
    if (name.find('\0') != std::string_view::npos)
        return std::nullopt;
    return target_fields{body[0], name};
}

void write_parse(std::string& out, std::string_view name, std::string_view query,
                 std::string_view param_types) {
    put_header(out, 'P', name.size() + 1 + query.size() + 1 + param_types.size());
    out.append(name);
    out.push_back('\0');
    out.append(query);
    out.push_back('\0');
    out.append(param_types);
}

void write_bind(std::string& out, std::string_view portal, std::string_view statement,
                std::string_view rest) {
    put_header(out, 'B', portal.size() + 1 + statement.size() + 1 + rest.size());
    out.append(portal);
    out.push_back('\0');
    out.append(statement);
    out.push_back('\0');
    out.append(rest);
}

void write_target(std::string& out, char type, char kind, std::string_view name) {
    put_header(out, type, 1 + name.size() + 1);
    out.push_back(kind);
    out.append(name);
    out.push_back('\0');
}

namespace {

// The offset of the first character at or after `i` that is neither whitespace nor part
// of a comment.
std::size_t skip_blanks(std::string_view sql, std::size_t i) {
    while (i < sql.size()) {
        if (std::isspace(static_cast<unsigned char>(sql[i])) != 0) {
            ++i;
        } else if (sql.substr(i, 2) == "--") {
            const auto nl = sql.find('\n', i);
            i = nl == std::string_view::npos ? sql.size() : nl + 1;
        } else if (sql.substr(i, 2) == "/*") {
            const auto end = sql.find("*/", i + 2);
            i = end == std::string_view::npos ? sql.size() : end + 2;
        } else {
            break;
        }
    }
    return i;
}

// Splits SQL into its first words (lowercased identifiers; quoted identifiers kept
// as written), skipping whitespace and comments.
std::vector<std::string> leading_words(std::string_view sql, std::size_t max_words) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (words.size() < max_words) {
        i = skip_blanks(sql, i);
        if (i >= sql.size())
            break;
        const char c = sql[i];
        if (c == '"') {
            std::string w;
            ++i;
            while (i < sql.size()) {
                if (sql[i] == '"') {
                    if (i + 1 < sql.size() && sql[i + 1] == '"') {
                        w.push_back('"');
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                w.push_back(sql[i++]);
            }
            words.push_back("\"" + w); // marks a quoted identifier
        } else if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_') {
            std::string w;
            while (i < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[i])) != 0 ||
                                      sql[i] == '_' || sql[i] == '$'))
                w.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(sql[i++]))));
            words.push_back(std::move(w));
        } else if (c == ';') {
            ++i;
            words.emplace_back(";");
        } else {
            words.emplace_back(1, c);
            ++i;
        }
    }
    return words;
}

// True when the first word (after whitespace and comments) cannot be DEALLOCATE or
// DISCARD: the common case, decided without splitting words.
bool surely_not_deallocate(std::string_view sql) {
    const std::size_t i = skip_blanks(sql, 0);
    return i == sql.size() || (sql[i] != 'd' && sql[i] != 'D');
}

} // namespace

sql_deallocate classify_deallocate(std::string_view sql, std::string& name) {
    if (surely_not_deallocate(sql))
        return sql_deallocate::none;
    const auto w = leading_words(sql, 5);
    auto only_rest = [&](std::size_t from) {
        return w.size() == from || (w.size() == from + 1 && w[from] == ";");
    };
    if (w.size() >= 2 && w[0] == "discard" && w[1] == "all" && only_rest(2))
        return sql_deallocate::all;
    if (w.empty() || w[0] != "deallocate")
        return sql_deallocate::none;
    std::size_t i = 1;
    if (w.size() > i && w[i] == "prepare")
        ++i;
    if (w.size() <= i)
        return sql_deallocate::none;
    if (w[i] == "all" && only_rest(i + 1))
        return sql_deallocate::all;
    if (!only_rest(i + 1))
        return sql_deallocate::none;
    name = w[i][0] == '"' ? w[i].substr(1) : w[i];
    return sql_deallocate::one;
}

} // namespace qail::proxy
