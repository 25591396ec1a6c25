// The statements of deterministic release: ending a left-open transaction, the reset of
// each policy, and the tenant/user binding, as connection preamble steps.
#pragma once

#include <qail/client/connection.hpp>
#include <qail/pool/config.hpp>

#include <string_view>
#include <vector>

namespace qail::pool {

/// The reset of `policy` as one simple-Query text ("" for none). Every statement of the
/// smart reset may run inside the implicit transaction of a multi-statement Query.
[[nodiscard]] std::string_view reset_sql(reset_policy policy) noexcept;

/// What a borrower left behind, as recorded when the connection came back.
struct leftover {
    /// The transaction state the connection was returned in.
    client::transaction_state transaction = client::transaction_state::idle;
    /// The borrow had a transaction_local binding: an open transaction is COMMITted
    /// rather than rolled back.
    bool commit_open_transaction = false;
    /// Something may have changed session state since the last reset.
    bool dirty = false;
    /// The driver's statement cache holds statements. Without any, the smart reset is
    /// exactly DISCARD ALL, which the server runs as one statement instead of eight; a
    /// raw user's (a proxy's) statements go too, and it re-prepares them on demand.
    bool keeps_statements = true;
};

/// The steps that end a left-open transaction: none when idle; COMMIT when it is open
/// and `leftover::commit_open_transaction`; ROLLBACK otherwise (also for a failed one).
[[nodiscard]] std::vector<client::preamble_step> end_transaction_steps(const leftover& left);

/// The reset steps of `policy` (none for reset_policy::none).
[[nodiscard]] std::vector<client::preamble_step> reset_steps(reset_policy policy);

/// The binding as steps: session form `SELECT set_config($1, $2, false), ...`, or for a
/// transaction_local binding `BEGIN` then `SELECT set_config($1, $2, true), ...`: first
/// binding::settings (unless `settings_in_place`; those named like the tenant or user
/// setting are left out when that is bound), then tenant and user. Setting names and
/// values are always bound parameters (text), never part of the SQL text.
[[nodiscard]] std::vector<client::preamble_step>
binding_steps(const binding& b, const pool_config& config, bool settings_in_place = false);

/// The whole preamble for the next borrower: end_transaction_steps, the reset when the
/// connection is dirty (or a transaction had to be ended), then the binding. A DISCARD
/// ALL reset shares one Sync with the binding that follows it (one ReadyForQuery).
[[nodiscard]] std::vector<client::preamble_step> preamble_for(const leftover& left,
                                                              const binding& b,
                                                              const pool_config& config,
                                                              bool settings_in_place = false);

/// Whether preamble_for(left, ...) resets the connection.
[[nodiscard]] bool resets(const leftover& left, const pool_config& config) noexcept;

} // namespace qail::pool
