// Private pool types: one pooled connection's bookkeeping, a queued acquire(), and the
// maintenance loop's handle.
#pragma once

#include <qail/client/connection.hpp>
#include <qail/client/statement_cache.hpp>
#include <qail/pool/pg_pool.hpp>
#include <qail/pool/reset.hpp>

#include <array>
#include <atomic>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qail::pool::detail {

using clock = std::chrono::steady_clock;

/// An idle connection is checked for a server that hung up (a poll() of its socket)
/// before it is lent only when it has been idle at least this long. A backend killed in
/// the last few milliseconds surfaces as an error of the borrower's statement instead,
/// as with pgbouncer's server_check_delay (30 s there).
inline constexpr std::chrono::milliseconds hangup_check_idle{10};

/// One pooled connection. Owned by exactly one of: the idle list, a waiter it was
/// handed to, a pooled_connection, or a background clean/ping.
struct pool_entry {
    std::unique_ptr<client::connection> conn;
    /// Where the connection was created: its socket's execution context.
    boost::asio::any_io_executor executor;
    clock::time_point created;
    clock::time_point returned; // last time it became idle
    clock::time_point checked;  // last time it was known alive
    /// What the previous borrower left (dirty: needs a reset before reuse).
    leftover left;
    /// The current borrow's binding is transaction-local.
    bool borrowed_transaction_local = false;
    /// connection::writes() when handed out: unchanged at release means the borrower
    /// sent nothing, so the session is exactly as `left` describes it.
    std::uint64_t writes_at_acquire = 0;
    /// binding::settings as last set on the connection, null when unknown (a reset ran
    /// since, or the borrower changed settings itself).
    std::shared_ptr<const settings_list> applied_settings;
};

/// binding::preambles: the steps of preamble_for() for one binding, per reset it comes
/// after (smart, discard_all, none) and whether the settings are in place, for
/// connections returned outside a transaction (the only ones whose preamble depends on
/// nothing else). Kept steps carry their statement-cache keys.
struct preamble_cache {
    using steps_ptr = std::shared_ptr<const std::vector<client::preamble_step>>;
    const pg_pool* pool = nullptr;
    std::optional<std::string> tenant;
    std::optional<std::string> user;
    std::shared_ptr<const settings_list> settings;
    bool transaction_local = false;
    /// Indexed by slot(): 3 resets x settings in place or not.
    std::array<steps_ptr, 6> steps;
    static_assert(static_cast<int>(reset_policy::smart) == 0 &&
                      static_cast<int>(reset_policy::discard_all) == 1 &&
                      static_cast<int>(reset_policy::none) == 2,
                  "slot() relies on these values");
    [[nodiscard]] static std::size_t slot(reset_policy reset, bool settings_in_place) noexcept {
        return static_cast<std::size_t>(reset) * 2 + (settings_in_place ? 1 : 0);
    }

    [[nodiscard]] bool matches(const binding& b, const pg_pool* owner) const noexcept {
        return pool == owner && transaction_local == b.transaction_local &&
               settings == b.settings && tenant == b.tenant && user == b.user;
    }
};

/// The cached steps of `b` for (reset, settings_in_place), built with `build` when missing.
template <class Build>
preamble_cache::steps_ptr cached_preamble(const binding& b, const pg_pool* owner,
                                          reset_policy reset, bool settings_in_place,
                                          Build&& build) {
    if (!b.preambles)
        b.preambles = std::make_shared<preamble_cache>();
    // Refilled in place, not replaced: copies of the binding share this object.
    auto& cache = *b.preambles;
    if (!cache.matches(b, owner)) {
        cache.pool = owner;
        cache.tenant = b.tenant;
        cache.user = b.user;
        cache.settings = b.settings;
        cache.transaction_local = b.transaction_local;
        cache.steps = {};
    }
    auto& slot = cache.steps[preamble_cache::slot(reset, settings_in_place)];
    if (!slot) {
        auto steps = build();
        for (auto& s : steps) {
            if (!s.keep || !s.key.empty())
                continue;
            std::vector<std::int32_t> oids;
            for (const auto& p : s.params)
                oids.push_back(p.type_oid);
            s.key = client::statement_cache::make_key(s.sql, oids);
        }
        slot = std::make_shared<const std::vector<client::preamble_step>>(std::move(steps));
    }
    return slot;
}

/// One acquire() (or close()) waiting: its coroutine is parked (park()) until wake(),
/// called by whoever decided `got` under the pool's mutex, from any thread, or by its
/// timer at `deadline`. Waking is an atomic hand-over of the parked completion handler
/// and a post of it to its executor: no timer is scheduled or cancelled per wait. The
/// timer only bounds the wait; a waiter kept in a wait_slot keeps it armed from one wait
/// to the next (it fires at most once per acquire_timeout and then re-arms for the wait
/// in progress, if any). The timer, `deadline` and `waiting` are used on `executor`
/// only, which must not run handlers concurrently (one thread, or a strand).
struct pool_waiter {
    enum class outcome { pending, entry, permit, closed };

    explicit pool_waiter(const boost::asio::any_io_executor& ex) : executor(ex), timer(ex) {}

    boost::asio::any_io_executor executor;
    boost::asio::steady_timer timer;
    clock::time_point deadline; // of the wait in progress
    bool waiting = false;       // a wait is in progress (between begin_wait and end_wait)
    bool timer_armed = false;
    outcome got = outcome::pending;    // under the pool's mutex
    std::unique_ptr<pool_entry> entry; // when got == entry

    /// The parked coroutine, and whether it is parked: `phase` hands it over exactly
    /// once between park() and wake() on different threads. (Emplaced, never moved:
    /// Boost 1.81's any_completion_handler recurses endlessly when moved or copied.)
    enum phase_t : int { running, parked, woken };
    std::optional<boost::asio::any_completion_handler<void()>> resume;
    std::atomic<int> phase{running};
};

/// Starts a wait of `w` (on its executor) until `deadline`, arming the timer unless it
/// already is (at an earlier time). `phase` must be `running` already: it is set so
/// under the mutex before the waiter is queued, where a waker could see it.
void begin_wait(const std::shared_ptr<pool_waiter>& w, clock::time_point deadline);
/// Ends it; the timer is cancelled unless `keep_timer` (a kept waiter's next wait).
void end_wait(pool_waiter& w, bool keep_timer);
/// Resumes `w`'s parked coroutine, or makes its next park() return at once.
void wake(const std::shared_ptr<pool_waiter>& w);
/// `w` has parked its coroutine in `resume`: resumes it at once if wake() came first.
void parked(const std::shared_ptr<pool_waiter>& w);
/// Parks the awaiting coroutine (with asio::deferred) until wake(). The caller re-checks
/// `got` under the mutex and the deadline after every park: a wake may be early. `w` is
/// taken by reference: co_await the result at once (`co_await park(w)`).
inline auto park(const std::shared_ptr<pool_waiter>& w) {
    return boost::asio::async_initiate<const boost::asio::deferred_t&, void()>(
        [&w](auto handler) {
            w->resume.emplace(std::move(handler));
            parked(w);
        },
        boost::asio::deferred);
}

/// The maintenance coroutine's timer, cancelled by close() (on the maintenance executor).
struct maintenance_loop {
    explicit maintenance_loop(const boost::asio::any_io_executor& ex) : timer(ex) {}
    boost::asio::steady_timer timer;

    /// The loop: holds only a weak reference, so an unused pool can be destroyed.
    static boost::asio::awaitable<void> run(std::weak_ptr<pg_pool> pool,
                                            std::shared_ptr<maintenance_loop> self,
                                            std::chrono::milliseconds tick);
};

/// How often maintenance wakes for `config`: half the shortest enabled interval,
/// within [50 ms, 1 s].
[[nodiscard]] std::chrono::milliseconds maintenance_tick(const pool_config& config) noexcept;

} // namespace qail::pool::detail
