// The statements of deterministic release: ending a left-open transaction, the reset of
// each policy, and the tenant/user binding, as connection preamble steps.
#pragma once

#include <qail/client/connection.hpp>
#include <qail/pool/config.hpp>

#include <string_view>
#include <vector>

namespace qail::pool {

/// What a borrower left behind, as recorded when the connection came back.
struct leftover {
    /// The transaction state the connection was returned in.
    client::transaction_state transaction = client::transaction_state::idle;
    /// The borrow had a transaction_local binding: an open transaction is COMMITted
    /// rather than rolled back.
    bool commit_open_transaction = false;
    /// Something may have changed session state since the last reset.
    bool dirty = false;
    /// The server's prepared statements may differ from the driver's cache
    /// (client::connection::statements_unknown()): SQL-level ones (PREPARE) may exist,
    /// which only DEALLOCATE ALL removes without knowing their names, or a DEALLOCATE
    /// may have dropped some the reset keeps. The smart reset is then DISCARD ALL.
    bool statements_unknown = false;
};

/// The reset a dirty connection gets: `config.reset`, except that smart becomes
/// discard_all when `left.statements_unknown`.
[[nodiscard]] reset_policy effective_reset(const leftover& left,
                                           const pool_config& config) noexcept;

/// The steps that end a left-open transaction: none when idle; COMMIT when it is open
/// and `leftover::commit_open_transaction`; ROLLBACK otherwise (also for a failed one).
[[nodiscard]] std::vector<client::preamble_step> end_transaction_steps(const leftover& left);

/// The reset steps of `policy` (none for reset_policy::none). smart: CLOSE ALL, SET
/// SESSION AUTHORIZATION DEFAULT, RESET ALL, UNLISTEN *, DISCARD TEMP, DISCARD SEQUENCES
/// and SELECT pg_advisory_unlock_all(): DISCARD ALL minus DEALLOCATE ALL and DISCARD
/// PLANS, one statement per step, each kept prepared on the connection
/// (preamble_step::keep) and sharing one Sync (preamble_step::pipelined), so that the
/// server neither parses nor plans them again. discard_all: DISCARD ALL.
[[nodiscard]] std::vector<client::preamble_step> reset_steps(reset_policy policy);

/// The binding as steps: session form `SELECT set_config($1, $2, false), ...`, or for a
/// transaction_local binding `BEGIN` then `SELECT set_config($1, $2, true), ...`: first
/// binding::settings (unless `settings_in_place`; those named like the tenant or user
/// setting are left out when that is bound), then tenant and user. Setting names and
/// values are always bound parameters (text), never part of the SQL text. The
/// statement is kept prepared (preamble_step::keep). A non-empty `lead` is selected
/// ahead of the set_config calls (the smart reset's advisory unlock rides there).
[[nodiscard]] std::vector<client::preamble_step> binding_steps(const binding& b,
                                                               const pool_config& config,
                                                               bool settings_in_place = false,
                                                               std::string_view lead = {});

/// The whole preamble for the next borrower: end_transaction_steps, the reset when the
/// connection is dirty (or a transaction had to be ended), then the binding. The reset
/// shares one Sync with a session binding that follows it (one ReadyForQuery); the
/// smart reset's SELECT pg_advisory_unlock_all() is then folded into the binding's
/// SELECT. A transaction-local binding's BEGIN follows a Sync of its own.
[[nodiscard]] std::vector<client::preamble_step> preamble_for(const leftover& left,
                                                              const binding& b,
                                                              const pool_config& config,
                                                              bool settings_in_place = false);

/// Whether preamble_for(left, ...) resets the connection.
[[nodiscard]] bool resets(const leftover& left, const pool_config& config) noexcept;

} // namespace qail::pool
