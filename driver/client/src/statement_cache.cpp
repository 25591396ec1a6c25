// Statement cache: LRU list plus a map keyed by views of the list's own keys.
#include <qail/client/statement_cache.hpp>

namespace qail::client {

std::string statement_cache::make_key(std::string_view sql, std::span<const std::int32_t> oids) {
    std::string key;
    key.reserve(sql.size() + 1 + oids.size() * 4);
    key.append(sql);
    key.push_back('\0'); // SQL cannot contain NUL, so the split is unambiguous
    for (const std::int32_t oid : oids) {
        const auto u = static_cast<std::uint32_t>(oid);
        for (int shift = 24; shift >= 0; shift -= 8)
            key.push_back(static_cast<char>((u >> static_cast<unsigned>(shift)) & 0xFFU));
    }
    return key;
}

std::optional<std::string_view> statement_cache::find(const std::string& key) {
    const auto it = map_.find(key);
    if (it == map_.end())
        return std::nullopt;
    lru_.splice(lru_.begin(), lru_, it->second);
    return std::string_view{it->second->name};
}

std::optional<std::string> statement_cache::insert(const std::string& key, std::string name) {
    if (capacity_ == 0)
        return name; // caching disabled: the caller closes it again
    erase(key);
    lru_.push_front(entry{key, std::move(name)});
    map_.emplace(std::string_view{lru_.front().key}, lru_.begin());
    if (map_.size() <= capacity_)
        return std::nullopt;
    // Unmap before moving: the map's key is a view of the entry's own key.
    map_.erase(std::string_view{lru_.back().key});
    std::string victim = std::move(lru_.back().name);
    lru_.pop_back();
    return victim;
}

void statement_cache::erase(const std::string& key) {
    const auto it = map_.find(key);
    if (it == map_.end())
        return;
    const auto node = it->second;
    map_.erase(it);
    lru_.erase(node);
}

void statement_cache::clear() noexcept {
    map_.clear();
    lru_.clear();
}

std::string statement_cache::next_name() {
    return "qail_s" + std::to_string(++counter_);
}

} // namespace qail::client
