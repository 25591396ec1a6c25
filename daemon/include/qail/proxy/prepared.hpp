// Named prepared statements in transaction pooling: the proxy owns the server-side
// statements (keyed by the full query text plus parameter type OIDs), maps each client's
// names onto them, and tracks which backend has which (bounded LRU). Sans-IO helpers.
#pragma once

#include <qail/proxy/session_sql.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qail::proxy {

/// One server-side statement the proxy prepares on demand.
struct statement_def {
    std::string server_name;
    std::string query;
    /// The Parse message's parameter type part as sent (Int16 count + Int32 OIDs).
    std::string param_types;
    /// Set when a backend reported that the plan's result type changed: the next use
    /// re-prepares under a new name.
    std::atomic<bool> stale{false};
    /// Set once a backend accepted its Parse: a client's later Parse of the same text can
    /// be answered without a backend (pgbench prepares synchronously, and would
    /// otherwise wait for a backend its own other clients hold).
    std::atomic<bool> validated{false};
    /// What executing it does to the session's settings (a prepared SET or RESET), or to
    /// the scope of earlier changes (a prepared SAVEPOINT, RELEASE or ROLLBACK).
    std::vector<setting_change> changes;
    /// Its text could change settings in ways not tracked (set_config, a SET inside a
    /// DO block...): may_change_settings() of the query.
    bool touches_settings = false;
    /// Executing it may create or drop prepared statements by name (its text mentions
    /// PREPARE or DEALLOCATE): the pool's next reset must be DISCARD ALL.
    bool touches_statements = false;
};

/// Every statement of one database, shared by all its clients. Thread-safe.
class statement_registry {
public:
    /// The statement for this exact query and parameter types (created on first use).
    std::shared_ptr<statement_def> get(std::string_view query, std::string_view param_types);
    /// Forgets `def` so the next get() of its text makes a new one.
    void retire(const std::shared_ptr<statement_def>& def);
    [[nodiscard]] std::size_t size() const;

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<statement_def>> by_key_;
    std::uint64_t next_ = 0;
};

/// Which proxy statements one backend has, least recently used first.
class backend_statements {
public:
    explicit backend_statements(std::size_t capacity) : capacity_(capacity) {}
    [[nodiscard]] bool contains(const std::string& name) const { return index_.contains(name); }
    /// Marks `name` as used; returns false if the backend does not have it.
    bool touch(const std::string& name);
    /// Records `name` as prepared; returns the statement to Close to stay within
    /// capacity, if any.
    std::optional<std::string> add(const std::string& name);
    void erase(const std::string& name);
    void clear();
    [[nodiscard]] std::size_t size() const noexcept { return index_.size(); }
    /// connection::statements_forgotten() when these were last known to be there.
    std::uint64_t forgotten = 0;

private:
    std::size_t capacity_;
    std::list<std::string> lru_; // front = most recent
    std::unordered_map<std::string, std::list<std::string>::iterator> index_;
};

/// Fields of the extended-protocol messages the mapper rewrites (views into the body).
struct parse_fields {
    std::string_view name, query, param_types;
};
struct bind_fields {
    std::string_view portal, statement, rest; // rest: everything after the statement name
};
struct target_fields {
    char kind = 0; // 'S' statement or 'P' portal
    std::string_view name;
};
[[nodiscard]] std::optional<parse_fields> read_parse(std::string_view body) noexcept;
[[nodiscard]] std::optional<bind_fields> read_bind(std::string_view body) noexcept;
/// Describe or Close.
[[nodiscard]] std::optional<target_fields> read_target(std::string_view body) noexcept;

void write_parse(std::string& out, std::string_view name, std::string_view query,
                 std::string_view param_types);
void write_bind(std::string& out, std::string_view portal, std::string_view statement,
                std::string_view rest);
/// Describe ('D') or Close ('C') of a statement or portal.
void write_target(std::string& out, char type, char kind, std::string_view name);

/// What a SQL-level statement does to the client's named statements.
enum class sql_deallocate : std::uint8_t { none, one, all };
/// Recognises DEALLOCATE [PREPARE] name | ALL and DISCARD ALL; `name` gets the name.
[[nodiscard]] sql_deallocate classify_deallocate(std::string_view sql, std::string& name);

} // namespace qail::proxy
