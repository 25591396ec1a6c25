// A bounded LRU of server-side prepared statements, keyed by the full query text
// plus parameter type OIDs (never by a hash alone, so two queries can't collide).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace qail::client {

class statement_cache {
public:
    explicit statement_cache(std::size_t capacity = 100) : capacity_(capacity) {}

    /// The key of a statement: the SQL and its parameter type OIDs.
    [[nodiscard]] static std::string make_key(std::string_view sql,
                                              std::span<const std::int32_t> oids);

    /// The server-side name of a cached statement; refreshes its recency.
    [[nodiscard]] std::optional<std::string_view> find(const std::string& key);
    /// Records a statement the server has prepared. Returns the name of the
    /// least recently used statement it evicted, which the caller must Close.
    std::optional<std::string> insert(const std::string& key, std::string name);
    /// Forgets a statement (the server lost it or its plan became invalid).
    void erase(const std::string& key);
    /// Forgets everything (after DISCARD ALL / a reset on the server).
    void clear() noexcept;
    /// A fresh server-side name ("qail_s1", "qail_s2", ...).
    [[nodiscard]] std::string next_name();

    [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

private:
    struct entry {
        std::string key;
        std::string name;
    };
    std::size_t capacity_;
    std::list<entry> lru_; // front = most recent
    std::unordered_map<std::string_view, std::list<entry>::iterator> map_;
    std::uint64_t counter_ = 0;
};

} // namespace qail::client
