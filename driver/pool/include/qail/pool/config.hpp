// Pool settings, the tenant/user binding of one borrow, and the statistics the pool reports.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qail::pool {

/// What a released connection goes through before its next borrower (see
/// "Deterministic reset" in DESIGN.md).
enum class reset_policy {
    /// DISCARD ALL minus protocol-level prepared statements (the driver's, a proxy's):
    /// cursors, session authorization and role, every SET, LISTEN, advisory locks, temp
    /// tables and sequences state are cleared by statements kept prepared on the
    /// connection. When SQL-level PREPAREd statements may exist (leftover::
    /// statements_unknown) it is DISCARD ALL.
    smart,
    /// DISCARD ALL: also drops the driver's statement cache on the server; the driver
    /// re-prepares once on "prepared statement does not exist" (26000), so it heals.
    discard_all,
    /// Nothing. UNSAFE: a borrower sees whatever the previous one left, including its
    /// tenant binding. Only an open transaction is still rolled back.
    none,
};

/// "smart", "discard_all", "none".
[[nodiscard]] std::string_view to_string(reset_policy p) noexcept;
/// Parses the spelling to_string() returns ("discard-all" is accepted too).
[[nodiscard]] std::optional<reset_policy> parse_reset_policy(std::string_view s) noexcept;

struct pool_config {
    std::size_t max_size = 10;
    std::size_t min_size = 1;
    /// How long acquire() waits for a connection before pool_errc::acquire_timeout.
    std::chrono::milliseconds acquire_timeout{30000};
    /// Limit for opening one connection (applied on top of the connect options' own).
    std::chrono::milliseconds connect_timeout{10000};
    /// An idle connection unused this long is closed (down to min_size). 0 = never.
    std::chrono::milliseconds idle_timeout{600000};
    /// A connection older than this is closed when next idle. 0 = never.
    std::chrono::milliseconds max_lifetime{3600000};
    /// Idle connections are pinged this often in the background. 0 = off.
    std::chrono::milliseconds health_check_interval{30000};
    /// Ping (with the pending reset and binding) before handing a connection out,
    /// replacing it if that fails. Costs one round trip per acquire.
    bool test_on_acquire = false;
    reset_policy reset = reset_policy::smart;
    /// The run-time settings binding::tenant and binding::user are written to.
    std::string tenant_setting = "app.current_tenant_id";
    std::string user_setting = "app.current_user_id";
};

/// Run-time settings as (name, value), in the order they are set.
using settings_list = std::vector<std::pair<std::string, std::string>>;

/// Tenant/user bound to the connection for one borrow.
namespace detail {
struct preamble_cache;
} // namespace detail

struct binding {
    // Constructors on purpose (not an aggregate): GCC 12 destroys a braced aggregate
    // temporary twice when it is built inside a co_await expression, as in
    // `co_await pool->acquire(binding{...})` (a double free).
    binding() = default;
    binding(std::optional<std::string> t, std::optional<std::string> u = std::nullopt,
            bool local = false)
        : tenant(std::move(t)), user(std::move(u)), transaction_local(local) {}

    std::optional<std::string> tenant;
    std::optional<std::string> user;
    /// Run-time settings (name, value) the borrower wants in place, such as a proxied
    /// client's own: set in the same statement as tenant and user, before them (so a
    /// setting named like the tenant setting never overrides the binding). Not sent
    /// again when the connection has had no reset since a borrow with an equal list and
    /// the borrower did not call pooled_connection::settings_changed().
    std::shared_ptr<const settings_list> settings;
    /// false: session form set_config(name,$1,false), cleared by the reset at release.
    /// true: transaction form: BEGIN + set_config(name,$1,true); the borrower's work runs
    /// in that transaction, COMMITted at release (ROLLBACK if it is failed).
    bool transaction_local = false;
    /// The pool's preamble steps for this binding, built on the first borrow and reused
    /// by later ones while tenant, user, settings and transaction_local stay the same
    /// (rebuilt when one changes). A binding object kept across borrows, like a proxied
    /// client's, saves rebuilding them; copies share them. Not thread-safe, like the
    /// binding.
    mutable std::shared_ptr<detail::preamble_cache> preambles;
};

/// A snapshot of the pool for metrics. Gauges first, then counters since creation.
struct pool_stats {
    /// Borrowed, plus those being cleaned or health-checked in the background.
    std::size_t in_use = 0;
    std::size_t idle = 0;
    /// acquire() calls queued for a connection.
    std::size_t waiting = 0;
    /// Connections being opened.
    std::size_t connecting = 0;

    std::uint64_t created = 0;
    /// Returned broken (I/O or protocol error, failed preamble) or discard()ed.
    std::uint64_t destroyed_broken = 0;
    /// Past max_lifetime.
    std::uint64_t destroyed_expired = 0;
    /// Past idle_timeout, or beyond max_size after a resize().
    std::uint64_t destroyed_idle = 0;
    /// The eager reset (COMMIT/ROLLBACK + reset at release, or of a dirty idle one) failed.
    std::uint64_t destroyed_reset_failed = 0;
    /// A background or test_on_acquire ping failed.
    std::uint64_t destroyed_health = 0;
    std::uint64_t acquire_timeouts = 0;
    /// Successful acquire() calls.
    std::uint64_t acquires = 0;
    /// Resets sent (pipelined ahead of a borrower's first command, or run eagerly).
    std::uint64_t resets = 0;
    /// Time acquire() calls spent until they returned (connects included).
    double wait_seconds_total = 0;
    double wait_seconds_max = 0;
};

} // namespace qail::pool
