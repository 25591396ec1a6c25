// PgPool: pooled qail_driver connections shared by coroutines on any executor, with
// deterministic release (reset + tenant binding pipelined ahead of the next borrower's
// first command), background refill, expiry and health checks.
#pragma once

#include <qail/client/connection.hpp>
#include <qail/pool/config.hpp>
#include <qail/pool/error.hpp>

#include <algorithm>
#include <atomic>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qail::pool {

class pg_pool;

namespace detail {
struct pool_entry;  // one pooled connection and its bookkeeping
struct pool_waiter; // one acquire() queued for a connection
struct maintenance_loop;
/// Where a parked coroutine's handler waits for wake() (pending_wait::park()).
[[nodiscard]] std::optional<boost::asio::any_completion_handler<void()>>&
resume_slot(pool_waiter& w) noexcept;
/// `w` has parked its coroutine: resumes it at once if wake() came first.
void parked(const std::shared_ptr<pool_waiter>& w);
} // namespace detail

/// A waiter kept by one caller of pg_pool::acquire_into() or start_wait() between its
/// waits (see there). Keep it on the caller's side, used and destroyed on one executor.
class wait_slot {
public:
    wait_slot() = default;
    wait_slot(const wait_slot&) = delete;
    wait_slot& operator=(const wait_slot&) = delete;
    /// Stops the kept waiter's timer, which would otherwise hold it (and keep its
    /// io_context busy) until acquire_timeout after its last wait.
    ~wait_slot();

private:
    friend class pg_pool;
    std::shared_ptr<detail::pool_waiter> waiter_;
};

/// A borrowed connection. Move-only; the destructor returns it (release()).
/// Use it from one coroutine at a time. Do not close() it: discard() instead.
class pooled_connection {
public:
    pooled_connection() noexcept;
    pooled_connection(pooled_connection&& other) noexcept;
    pooled_connection& operator=(pooled_connection&& other) noexcept;
    pooled_connection(const pooled_connection&) = delete;
    pooled_connection& operator=(const pooled_connection&) = delete;
    ~pooled_connection();

    [[nodiscard]] client::connection& operator*() const noexcept { return get(); }
    [[nodiscard]] client::connection* operator->() const noexcept { return &get(); }
    /// The connection; only while *this holds one.
    [[nodiscard]] client::connection& get() const noexcept;
    explicit operator bool() const noexcept;

    /// Returns the connection now (also done by the destructor). A broken connection is
    /// destroyed and replaced; one left inside a transaction is committed (binding with
    /// transaction_local) or rolled back, and reset, in the background before reuse; any
    /// other is reset ahead of its next borrower's first command.
    void release() noexcept;
    /// Destroys the connection instead of returning it.
    void discard() noexcept;
    /// The borrower may have changed run-time settings: the next borrow sends its
    /// binding::settings even when they equal this borrow's.
    void settings_changed() noexcept;

private:
    friend class pg_pool;
    pooled_connection(std::shared_ptr<pg_pool> pool,
                      std::unique_ptr<detail::pool_entry> entry) noexcept;
    void give_back(bool destroy) noexcept;

    std::shared_ptr<pg_pool> pool_;
    std::unique_ptr<detail::pool_entry> entry_;
};

/// One wait for a connection, queued by pg_pool::start_wait() and run by the waiting
/// coroutine itself: acquire_into() is a coroutine frame of its own per wait, and in a
/// busy transaction-mode pool nearly every link waits. Use it as
///
///     if (auto w = pool->start_wait(ex, slot)) {
///         auto got = pending_wait::outcome::again;
///         while (got == pending_wait::outcome::again) {
///             co_await w->park(asio::deferred);
///             got = w->finish(b, out, failure);
///         }
///         // outcome::connect: co_await pool->acquire_into(b, out, failure, &slot)
///     }
///
/// on the executor given to start_wait(). Destroyed unfinished (its coroutine destroyed
/// while parked), it leaves the queue, or gives back what it was handed.
class pending_wait {
public:
    enum class outcome : std::uint8_t {
        again,   ///< woken before its turn or its deadline: park() again
        done,    ///< `out` holds the connection, or `failure` says why not
        connect, ///< the pool has room for a new connection: acquire_into() opens one
    };

    pending_wait(pending_wait&& other) noexcept;
    pending_wait(const pending_wait&) = delete;
    pending_wait& operator=(const pending_wait&) = delete;
    pending_wait& operator=(pending_wait&&) = delete;
    ~pending_wait();

    /// Suspends until the pool hands this wait something or its deadline passes (or
    /// earlier: finish() says). co_await it at once: `co_await w->park(asio::deferred)`.
    template <typename Token>
    auto park(Token&& token) {
        return boost::asio::async_initiate<Token, void()>(
            [this](auto handler) {
                // Emplaced from the concrete handler: the slot's handler is never moved.
                detail::resume_slot(*waiter_).emplace(std::move(handler));
                detail::parked(waiter_);
            },
            token);
    }

    /// After park(): what the wait came to. `b` as acquire_into()'s; `out` and `failure`
    /// are set only with outcome::done.
    [[nodiscard]] outcome finish(const binding& b, std::optional<pooled_connection>& out,
                                 client::error& failure);

private:
    friend class pg_pool;
    pending_wait(std::shared_ptr<pg_pool> pool, std::shared_ptr<detail::pool_waiter> waiter,
                 std::chrono::steady_clock::time_point start,
                 std::chrono::steady_clock::time_point deadline) noexcept;

    std::shared_ptr<pg_pool> pool_; // null once finished
    std::shared_ptr<detail::pool_waiter> waiter_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point deadline_;
};

/// A pool of connections to one database. Thread-safe: acquire() may be awaited from
/// coroutines on any executor and thread at once. A connection is created on the
/// executor of the acquire() that needed it (refills: on the maintenance executor) and
/// its I/O object stays bound to that executor's execution context, which must keep
/// running for as long as the pool lives; close() the pool before stopping them.
class pg_pool : public std::enable_shared_from_this<pg_pool> {
    struct private_tag {};

public:
    /// `maintenance` runs background refill/expiry/health checks.
    [[nodiscard]] static std::shared_ptr<pg_pool> create(boost::asio::any_io_executor maintenance,
                                                         client::connect_options options,
                                                         pool_config config, std::string name = {});

    pg_pool(private_tag, boost::asio::any_io_executor maintenance, client::connect_options options,
            pool_config config, std::string name);
    ~pg_pool();
    pg_pool(const pg_pool&) = delete;
    pg_pool& operator=(const pg_pool&) = delete;

    /// A connection with `b` bound, reset if an earlier borrower used it: idle ones LIFO
    /// (preferring one created on the caller's executor), else a new one if below
    /// max_size, else waits (FIFO) up to acquire_timeout. Errors carry a pool_errc code
    /// and a pg_error with a message naming the pool.
    ///
    /// `b` is taken by reference and copied when the operation starts, so await it in the
    /// same expression (`co_await pool->acquire({tenant})`) or keep `b` alive until it
    /// is awaited. (By value, GCC 12 miscompiled the parameter copy in some callers.)
    [[nodiscard]] boost::asio::awaitable<client::result<pooled_connection>>
    acquire(const binding& b = {});

    /// acquire() for a caller that links a connection per transaction (a proxy
    /// session): the connection goes to `out`, or the error to `failure`. Its coroutine
    /// frame is small enough for Asio's per-thread cache, where acquire()'s, holding a
    /// result<>, is a malloc and a free on every wait. `b`, `out` and `failure` must
    /// stay valid until it completes.
    /// `slot`, when given, keeps the waiter (and its timer) between calls on one
    /// executor, so that a wait does not construct them each time.
    [[nodiscard]] boost::asio::awaitable<void> acquire_into(const binding& b,
                                                            std::optional<pooled_connection>& out,
                                                            client::error& failure,
                                                            wait_slot* slot = nullptr);

    /// acquire() without waiting: an idle connection with `b` queued as it would be, or
    /// nothing when acquire() would have to connect, wait, or test the connection first
    /// (or others are already waiting: they go first). For a caller on a hot path that
    /// avoids a coroutine when a connection is at hand; `ex` as acquire()'s executor.
    [[nodiscard]] std::optional<pooled_connection>
    try_acquire(const boost::asio::any_io_executor& ex, const binding& b = {});

    /// acquire_into()'s wait without its coroutine (see pending_wait): `slot`'s waiter
    /// queued when the pool is open and full, to be run on `ex`. Nothing when
    /// acquire_into() would not wait (an idle connection, room to connect, a closed
    /// pool) or tests connections first (test_on_acquire): call that instead.
    [[nodiscard]] std::optional<pending_wait> start_wait(const boost::asio::any_io_executor& ex,
                                                         wait_slot& slot);

    [[nodiscard]] pool_stats stats() const;
    /// The configuration; max_size/min_size change under resize().
    [[nodiscard]] const pool_config& config() const noexcept { return config_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    /// New limits (config reload). Waiters are served at once if max_size grew; surplus
    /// connections are closed as they become idle.
    void resize(std::size_t max_size, std::size_t min_size);
    /// Stops handing out (waiters get pool_closed), closes idle connections, and waits up
    /// to `timeout` for borrowed ones to come back (they are closed as they do).
    boost::asio::awaitable<void>
    close(std::chrono::milliseconds timeout = std::chrono::seconds(30));

    /// Where background failures are reported (default: a line on stderr).
    void set_logger(std::function<void(std::string_view)> log);

private:
    friend class pooled_connection;
    friend class pending_wait;
    friend struct detail::maintenance_loop;
    using entry_ptr = std::unique_ptr<detail::pool_entry>;
    using waiter_ptr = std::shared_ptr<detail::pool_waiter>;

    // --- state changes (each takes the mutex itself) ---
    void give_back(entry_ptr e, bool destroy) noexcept;
    /// A borrowed entry that is usable and clean of transactions goes to a waiter or idle.
    void shelve(entry_ptr e);
    /// A borrowed entry leaves the pool: counts it, frees its slot, closes it.
    void retire(entry_ptr e, std::uint64_t pool_stats::*counter);
    /// An idle entry for a caller on `ex` (mutex held); expired ones go to `drop`.
    [[nodiscard]] entry_ptr pick_idle_locked(const boost::asio::any_io_executor& ex,
                                             std::vector<entry_ptr>& drop);
    /// Destroys `drop` and wakes `wake_list` (collected under the mutex).
    void dispose(std::vector<entry_ptr>& drop, std::vector<waiter_ptr>& wake_list);
    /// Queues the reset and the binding of `b` on a connection being handed out.
    bool prepare_borrow(detail::pool_entry& e, const binding& b);
    /// A queued acquire() went away before finishing: undo what it was given.
    void abandon(const waiter_ptr& w) noexcept;
    /// `slot`'s kept waiter for a wait on `ex` (else a new one, kept in `slot` if
    /// given), queued (mutex held).
    waiter_ptr queue_waiter_locked(const boost::asio::any_io_executor& ex, wait_slot* slot);
    /// A handed entry's last steps before it is lent: its preamble queued, the counts.
    [[nodiscard]] pooled_connection lend_waited(std::shared_ptr<pg_pool> self, entry_ptr e,
                                                const binding& b,
                                                std::chrono::steady_clock::time_point start);
    /// Gives free slots to waiters as permits to connect (mutex held).
    void hand_capacity_locked(std::vector<waiter_ptr>& wake);
    void notify_close_locked(std::vector<waiter_ptr>& wake);
    [[nodiscard]] std::size_t total_locked() const noexcept;

    [[nodiscard]] boost::asio::awaitable<client::result<entry_ptr>>
    open_connection(boost::asio::any_io_executor ex);
    /// Runs on the entry's executor: ends a left-open transaction and resets, in one
    /// round trip; then shelves or retires it.
    boost::asio::awaitable<void> clean(entry_ptr e);
    /// Runs on the entry's executor: ends a left-open transaction, resets a dirty
    /// session and pings, in one round trip. Afterwards the entry is clean.
    [[nodiscard]] boost::asio::awaitable<client::result<void>> refresh(detail::pool_entry& e);
    boost::asio::awaitable<void> maintain();
    void destroy(entry_ptr e) noexcept;
    /// open_connection() for acquire_into(): null and `failure` set when it failed.
    [[nodiscard]] boost::asio::awaitable<entry_ptr> connect_into(boost::asio::any_io_executor ex,
                                                                 client::error& failure);
    /// `out` = make_pool_error(...), outside a coroutine frame.
    void fail(client::error& out, pool_errc code, std::string_view sqlstate,
              std::string message) const;
    /// test_on_acquire: pings `e` (running its preamble); false when it failed (logged).
    [[nodiscard]] boost::asio::awaitable<bool> test_borrow(detail::pool_entry& e, const binding& b);
    /// "timed out after N ms waiting for <what> from pool P", with the pool's counts when
    /// `max_size` is given.
    [[nodiscard]] std::string timeout_message(std::string_view what, std::size_t in_use = 0,
                                              std::size_t connecting = 0,
                                              std::size_t max_size = 0) const;
    void log(std::string_view message) const noexcept;
    [[nodiscard]] client::error make_pool_error(pool_errc code, std::string_view sqlstate,
                                                std::string message) const;

    boost::asio::any_io_executor maintenance_;
    client::connect_options options_;
    std::string name_;

    mutable std::mutex mutex_;
    pool_config config_;
    bool closed_ = false;
    std::vector<entry_ptr> idle_; // LIFO: back is the most recently returned
    // The borrowers waiting, first come first served (under mutex_). Its length is also
    // readable without the mutex (size_hint()): try_acquire() does not lock while a queue
    // means it would find nothing (a stale value only sends it the slow way).
    class waiter_queue {
    public:
        [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
        [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
        [[nodiscard]] std::size_t size_hint() const noexcept {
            return size_.load(std::memory_order_relaxed);
        }
        [[nodiscard]] auto begin() const noexcept { return items_.begin(); }
        [[nodiscard]] auto end() const noexcept { return items_.end(); }
        void push_back(waiter_ptr w) {
            items_.push_back(std::move(w));
            mirror();
        }
        [[nodiscard]] waiter_ptr pop_front() {
            waiter_ptr w = std::move(items_.front());
            items_.pop_front();
            mirror();
            return w;
        }
        void erase(const waiter_ptr& w) {
            if (const auto it = std::find(items_.begin(), items_.end(), w); it != items_.end())
                items_.erase(it);
            mirror();
        }
        void clear() noexcept {
            items_.clear();
            mirror();
        }

    private:
        void mirror() noexcept { size_.store(items_.size(), std::memory_order_relaxed); }
        std::deque<waiter_ptr> items_;
        std::atomic<std::size_t> size_{0};
    };
    waiter_queue waiters_;
    std::size_t in_use_ = 0;
    std::size_t connecting_ = 0;
    pool_stats counters_; // under mutex_, but for the borrow counters below
    // Counted on every borrow without the mutex (read by stats()).
    struct borrow_counters {
        std::atomic<std::uint64_t> acquires{0};
        std::atomic<std::uint64_t> acquire_timeouts{0};
        std::atomic<std::uint64_t> resets{0};
        std::atomic<std::uint64_t> wait_ns_total{0};
        std::atomic<std::uint64_t> wait_ns_max{0};
    };
    borrow_counters borrows_;
    void count_wait(bool success, bool reset, std::chrono::steady_clock::duration waited) noexcept;
    waiter_ptr close_waiter_;
    std::shared_ptr<detail::maintenance_loop> maintenance_loop_;
    std::function<void(std::string_view)> logger_;
};

} // namespace qail::pool
