// What a client's SQL does to the session settings a transaction pooler must carry from
// one server connection to the next: SET, RESET, RESET ALL and their special forms
// (TIME ZONE, SCHEMA, NAMES, ROLE, SESSION AUTHORIZATION, XML OPTION). Pure functions
// of the SQL text; the session applies them when the server confirms them (the command
// tag) and the transaction they ran in commits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qail::proxy {

/// One statement the server answers with command tag SET or RESET.
struct setting_change {
    enum class kind : std::uint8_t {
        none,      ///< SET LOCAL / TRANSACTION / CONSTRAINTS: nothing outlives the transaction
        set,       ///< `name` takes `value`, exactly as set_config(name, value, false) takes it
        reset,     ///< `name` goes back to its session default
        reset_all, ///< RESET ALL
        untracked, ///< changes session state the pooler cannot carry; `value` says why
    };
    kind what = kind::none;
    std::string name; ///< lower case (GUC names are case-insensitive)
    std::string value;

    friend bool operator==(const setting_change&, const setting_change&) = default;
};

/// The setting changes of `sql` (a simple-Query text, possibly several statements, or
/// the text of one Parse), one per statement that begins with SET or RESET, in order.
/// Other statements are skipped without being parsed beyond their first word. Quoting
/// follows PostgreSQL's scanner (standard_conforming_strings on): '...' with '', E'...',
/// "...", $tag$...$tag$, -- and nested /* */ comments.
[[nodiscard]] std::vector<setting_change> setting_changes(std::string_view sql);

/// A cheap pre-check for the hot path: false when `sql` certainly holds no SET or RESET
/// statement (no "set" in it, in any case), so setting_changes() need not run.
[[nodiscard]] bool may_change_settings(std::string_view sql) noexcept;
/// may_change_settings() one byte at a time: the reference the vectorised one is tested
/// against.
[[nodiscard]] bool may_change_settings_bytewise(std::string_view sql) noexcept;

} // namespace qail::proxy
