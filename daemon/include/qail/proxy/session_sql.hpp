// What a client's SQL does to the session settings a transaction pooler must carry from
// one server connection to the next: SET, RESET, RESET ALL and their special forms
// (TIME ZONE, SCHEMA, NAMES, ROLE, SESSION AUTHORIZATION, XML OPTION), and the
// savepoints and rollbacks that decide which of them last. Pure functions of the SQL
// text; the session applies them when the server confirms them (the command tag) and the
// transaction they ran in commits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qail::proxy {

/// One statement that changes the session settings a pooler carries (command tag SET or
/// RESET), or the scope of such changes inside a transaction (SAVEPOINT, RELEASE,
/// ROLLBACK).
struct setting_change {
    enum class kind : std::uint8_t {
        none,        ///< SET LOCAL / TRANSACTION / CONSTRAINTS: nothing outlives the transaction
        set,         ///< `name` takes `value`, exactly as set_config(name, value, false) takes it
        reset,       ///< `name` goes back to its session default
        reset_all,   ///< RESET ALL
        untracked,   ///< changes session state the pooler cannot carry; `value` says why
        savepoint,   ///< SAVEPOINT `name` (tag SAVEPOINT)
        release,     ///< RELEASE [SAVEPOINT] `name`: `name` and later savepoints end, their
                     ///< changes stay (tag RELEASE)
        rollback_to, ///< ROLLBACK TO [SAVEPOINT] `name`: changes since it are undone (tag
                     ///< ROLLBACK)
        rollback,    ///< ROLLBACK / ABORT of the whole transaction (tag ROLLBACK)
    };
    kind what = kind::none;
    /// The setting, lower case (GUC names are case-insensitive); for the savepoint kinds
    /// the savepoint, as the server folds it (lower case unless it was double-quoted).
    std::string name;
    std::string value;

    /// Whether the server answers this statement with command tag `tag`.
    [[nodiscard]] bool answered_by(std::string_view tag) const noexcept;

    friend bool operator==(const setting_change&, const setting_change&) = default;
};

/// The setting changes of `sql` (a simple-Query text, possibly several statements, or
/// the text of one Parse), one per statement that begins with SET or RESET, in order;
/// with `savepoints`, also one per SAVEPOINT, RELEASE, ROLLBACK and ABORT (COMMIT and
/// ROLLBACK PREPARED are not listed). Other statements are skipped without being parsed
/// beyond their first word. Quoting follows PostgreSQL's scanner
/// (standard_conforming_strings on): '...' with '', E'...', "...", $tag$...$tag$, -- and
/// nested /* */ comments.
[[nodiscard]] std::vector<setting_change> setting_changes(std::string_view sql,
                                                          bool savepoints = false);

/// A cheap pre-check for the hot path: false when `sql` certainly holds no SET or RESET
/// statement (no "set" in it, in any case), so setting_changes() need not run.
[[nodiscard]] bool may_change_settings(std::string_view sql) noexcept;
/// may_change_settings() one byte at a time: the reference the vectorised one is tested
/// against.
[[nodiscard]] bool may_change_settings_bytewise(std::string_view sql) noexcept;

/// What the pre-checks every forwarded Query and Parse gets say of its SQL, found in one
/// pass over it: client::touches_prepared_statements() and may_change_settings().
struct sql_glance {
    bool names_statements = false;
    bool may_set = false;

    friend bool operator==(const sql_glance&, const sql_glance&) = default;
};
[[nodiscard]] sql_glance glance_at(std::string_view sql) noexcept;

/// The pre-check for the savepoint forms: false when `sql` certainly holds no SAVEPOINT,
/// RELEASE, ROLLBACK or ABORT (none of those words in it, in any case).
[[nodiscard]] bool may_touch_savepoints(std::string_view sql) noexcept;

} // namespace qail::proxy
