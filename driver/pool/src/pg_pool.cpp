// PgPool core: acquire (idle LIFO, connect, FIFO wait with a timeout), and the one place
// that decides what happens to a connection coming back (shelve, clean, or retire).
#include "detail/pool_internal.hpp"

#include <qail/client/scram_memo.hpp>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <iostream>
#include <string>
#include <utility>

namespace qail::pool {

namespace asio = boost::asio;
using detail::clock;
using detail::pool_entry;
using detail::pool_waiter;

namespace detail {

namespace {

// A waiter held by a handler given to Asio (the resume_op, the deadline_handler). Asio
// destroys a handler without running it only when the handler's io_context shuts down;
// the parked coroutine, if any, is destroyed then too, as one suspended in an Asio
// operation of that context is, instead of outliving it.
class waiter_ref {
public:
    explicit waiter_ref(std::shared_ptr<pool_waiter> w) noexcept : w_(std::move(w)) {}
    waiter_ref(waiter_ref&&) noexcept = default; // leaves the source empty
    waiter_ref(const waiter_ref&) = delete;
    waiter_ref& operator=(const waiter_ref&) = delete;
    waiter_ref& operator=(waiter_ref&&) = delete;
    ~waiter_ref() {
        if (w_)
            w_->resume.reset();
    }
    /// For the handler being run.
    [[nodiscard]] std::shared_ptr<pool_waiter> take() noexcept { return std::move(w_); }

private:
    std::shared_ptr<pool_waiter> w_;
};

// What goes on with a parked coroutine: run on its own executor, by post_resume().
struct resume_op {
    waiter_ref ref;

    void operator()() {
        const auto w = ref.take();
        // Runs the coroutine until it suspends again, maybe parking anew in `resume`
        // (emplace replaces the handler this call has emptied).
        auto& handler = *w->resume;
        std::move(handler)();
    }
};

// Resumes a parked coroutine from its executor's queue. w->executor is the coroutine's
// own (this_coro::executor when it began to wait); posted through the io_context's
// executor itself when it is one (through the type-erased one, a post costs twice as much).
// parked() finding its waiter woken already uses this: the coroutine is still in its own
// park(), so it must not be resumed inside.
void post_resume_later(const std::shared_ptr<pool_waiter>& w) {
    if (const auto* io = w->executor.target<asio::io_context::executor_type>())
        asio::post(*io, resume_op{waiter_ref(w)});
    else
        asio::post(w->executor, resume_op{waiter_ref(w)});
}

// Whether a waker on this thread is resuming a coroutine inline now (see post_resume).
thread_local bool resuming_inline = false;

// Resumes a parked coroutine woken by wake(). On its own io_context's thread, inside the
// waker's call (a release hands its connection to the next borrower, who sends its
// query at once; a post would be a trip through the scheduler's queue): the waker holds
// no pool lock there and goes on when the coroutine suspends again. One level only: a
// coroutine resumed inline that wakes another posts it (no recursion through a queue).
// Otherwise, and from another thread, posted.
void post_resume(const std::shared_ptr<pool_waiter>& w) {
    const auto* io = w->executor.target<asio::io_context::executor_type>();
    if (io && !resuming_inline && io->running_in_this_thread()) {
        resuming_inline = true;
        struct reset_flag {
            ~reset_flag() { resuming_inline = false; }
        } reset;
        resume_op{waiter_ref(w)}();
        return;
    }
    post_resume_later(w);
}

void arm(const std::shared_ptr<pool_waiter>& w);

// The timer's completion handler: the deadline of the wait in progress passed (wake
// it), or a later wait is in progress (arm again for it), or none is (stop).
struct deadline_handler {
    waiter_ref ref;

    void operator()(const boost::system::error_code& ec) {
        const auto w = ref.take();
        if (ec == asio::error::operation_aborted)
            return; // end_wait() cancelled it
        w->timer_armed = false;
        if (!w->waiting)
            return;
        if (clock::now() >= w->deadline)
            wake(w);
        else
            arm(w);
    }
};

void arm(const std::shared_ptr<pool_waiter>& w) {
    w->timer.expires_at(w->deadline);
    w->timer.async_wait(deadline_handler{waiter_ref(w)});
    w->timer_armed = true;
}

} // namespace

void begin_wait(const std::shared_ptr<pool_waiter>& w, clock::time_point deadline) {
    // A kept timer armed by an earlier wait fires no later than this deadline (every
    // wait of a pool has the same timeout), and arms again for it then.
    w->deadline = deadline;
    w->waiting = true;
    if (!w->timer_armed)
        arm(w);
}

void end_wait(pool_waiter& w, bool keep_timer) {
    w.waiting = false;
    if (!keep_timer && w.timer_armed) {
        w.timer.cancel();
        w.timer_armed = false;
    }
}

void wake(const std::shared_ptr<pool_waiter>& w) {
    if (w->phase.exchange(pool_waiter::woken) == pool_waiter::parked)
        post_resume(w);
}

void parked(const std::shared_ptr<pool_waiter>& w) {
    if (w->phase.exchange(pool_waiter::parked) == pool_waiter::woken)
        post_resume_later(w);
}

std::optional<asio::any_completion_handler<void()>>& resume_slot(pool_waiter& w) noexcept {
    return w.resume;
}

} // namespace detail

wait_slot::~wait_slot() {
    if (waiter_)
        detail::end_wait(*waiter_, false);
}

namespace {

bool past_lifetime(const pool_entry& e, const pool_config& c, clock::time_point now) {
    return c.max_lifetime.count() > 0 && now - e.created >= c.max_lifetime;
}

asio::awaitable<void> close_connection(std::unique_ptr<pool_entry> e) {
    if (e && e->conn)
        co_await e->conn->close();
}

} // namespace

// --- creation ---------------------------------------------------------------------------

pg_pool::pg_pool(private_tag, asio::any_io_executor maintenance, client::connect_options options,
                 pool_config config, std::string name)
    : maintenance_(std::move(maintenance)), options_(std::move(options)), name_(std::move(name)),
      config_(std::move(config)) {
    if (name_.empty())
        name_ = options_.effective_dbname();
    // Its connections log in with one password: SCRAM's keys are derived once.
    if (!options_.scram_memo)
        options_.scram_memo = std::make_shared<client::scram_key_memo>();
    config_.max_size = std::max<std::size_t>(config_.max_size, 1);
    config_.min_size = std::min(config_.min_size, config_.max_size);
}

pg_pool::~pg_pool() = default;

std::shared_ptr<pg_pool> pg_pool::create(asio::any_io_executor maintenance,
                                         client::connect_options options, pool_config config,
                                         std::string name) {
    auto pool = std::make_shared<pg_pool>(private_tag{}, std::move(maintenance), std::move(options),
                                          std::move(config), std::move(name));
    auto loop = std::make_shared<detail::maintenance_loop>(pool->maintenance_);
    pool->maintenance_loop_ = loop;
    const std::weak_ptr<pg_pool> weak = pool;
    asio::co_spawn(
        pool->maintenance_,
        detail::maintenance_loop::run(weak, loop, detail::maintenance_tick(pool->config_)),
        [weak](std::exception_ptr e) {
            if (!e)
                return;
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                what = ex.what();
            } catch (...) {
            }
            if (auto p = weak.lock())
                p->log("maintenance stopped: " + what);
            else
                std::cerr << "qail_pool: maintenance stopped: " << what << '\n';
        });
    return pool;
}

// --- acquire ----------------------------------------------------------------------------

namespace {

// Undoes a queued acquire() whose coroutine is destroyed while waiting.
struct waiter_guard {
    using undo_fn = void (pg_pool::*)(const std::shared_ptr<pool_waiter>&) noexcept;
    waiter_guard(pg_pool* p, std::shared_ptr<pool_waiter> w, undo_fn u) noexcept
        : pool(p), waiter(std::move(w)), undo(u) {}
    waiter_guard(const waiter_guard&) = delete;
    waiter_guard& operator=(const waiter_guard&) = delete;
    ~waiter_guard() {
        if (armed)
            (pool->*undo)(waiter);
    }

    pg_pool* pool;
    std::shared_ptr<pool_waiter> waiter;
    undo_fn undo;
    bool armed = true;
};

} // namespace

std::unique_ptr<pool_entry> pg_pool::pick_idle_locked(const asio::any_io_executor& ex,
                                                      std::vector<entry_ptr>& drop) {
    if (idle_.empty())
        return {};
    const auto now = clock::now();
    if (config_.max_lifetime.count() > 0) {
        for (auto it = idle_.begin(); it != idle_.end();) {
            if (past_lifetime(**it, config_, now)) {
                drop.push_back(std::move(*it));
                it = idle_.erase(it);
                ++counters_.destroyed_expired;
            } else {
                ++it;
            }
        }
    }
    while (!idle_.empty()) {
        // LIFO, preferring a connection whose socket lives on the caller's executor.
        auto pick = std::prev(idle_.end());
        for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
            if ((*it)->executor == ex) {
                pick = std::prev(it.base());
                break;
            }
        }
        entry_ptr e = std::move(*pick);
        idle_.erase(pick);
        // A server that restarted or terminated the backend has said so on the socket
        // (FATAL, then EOF): skip it rather than hand the borrower a dead connection.
        // Asked only of a connection idle for a while (the question is a poll() system
        // call; under load a connection is idle for well under a millisecond).
        if (now - e->returned >= detail::hangup_check_idle && e->conn->server_hung_up()) {
            drop.push_back(std::move(e));
            ++counters_.destroyed_broken;
            continue;
        }
        ++in_use_;
        return e;
    }
    return {};
}

asio::awaitable<client::result<pooled_connection>> pg_pool::acquire(const binding& b_ref) {
    if (!b_ref.preambles) // shared with the copy, so that the caller's object keeps it
        b_ref.preambles = std::make_shared<detail::preamble_cache>();
    const binding b = b_ref; // before the first suspension: the caller's object may go
    std::optional<pooled_connection> out;
    client::error failure;
    co_await acquire_into(b, out, failure);
    if (out)
        co_return std::move(*out);
    co_return failure;
}

// Keep this coroutine's frame under 1 KiB (Asio recycles only frames that small; a
// bigger one is a malloc and a free per wait): no result<> or client::error in it, the
// connect and test_on_acquire paths in coroutines of their own.
asio::awaitable<void> pg_pool::acquire_into(const binding& b, std::optional<pooled_connection>& out,
                                            client::error& failure, wait_slot* slot) {
    if (!b.preambles) // shared with copies of `b`, so that the caller's object keeps it
        b.preambles = std::make_shared<detail::preamble_cache>();
    auto self = shared_from_this();
    const auto ex = co_await asio::this_coro::executor;
    const auto start = clock::now();
    // Only max_size and min_size change after construction (resize(), under the mutex),
    // and acquire reads those under the lock; the rest is read here without copying.
    const pool_config& cfg = config_;
    const auto deadline = start + cfg.acquire_timeout;

    const auto record_wait = [this, start](bool success, bool reset = false) {
        count_wait(success, reset, clock::now() - start);
    };

    for (;;) {
        entry_ptr e;
        bool connect = false;
        bool closed = false;
        waiter_ptr w;
        std::vector<entry_ptr> drop;
        std::vector<waiter_ptr> wake_list;
        {
            std::lock_guard lock(mutex_);
            if (closed_) {
                closed = true;
            } else if ((e = pick_idle_locked(ex, drop))) {
            } else if (total_locked() < config_.max_size) {
                ++connecting_;
                connect = true;
            } else {
                w = queue_waiter_locked(ex, slot);
            }
            if (!drop.empty())
                hand_capacity_locked(wake_list);
        }
        dispose(drop, wake_list);
        if (closed) {
            fail(failure, pool_errc::pool_closed, "57P01", "pool " + name_ + " is closed");
            co_return;
        }

        if (w) {
            waiter_guard guard{this, w, &pg_pool::abandon};
            detail::begin_wait(w, deadline);
            pool_waiter::outcome got = pool_waiter::outcome::pending;
            std::size_t in_use = 0;
            std::size_t connecting = 0;
            std::size_t max_size = 0;
            for (;;) {
                co_await detail::park(w);
                std::lock_guard lock(mutex_);
                // Under the mutex: a wake after this check finds the waiter running and
                // makes the next park() return at once.
                w->phase = pool_waiter::running;
                got = w->got;
                if (got == pool_waiter::outcome::entry)
                    e = std::move(w->entry);
                if (got != pool_waiter::outcome::pending || clock::now() >= deadline) {
                    if (got == pool_waiter::outcome::pending)
                        waiters_.erase(w);
                    in_use = in_use_;
                    connecting = connecting_;
                    max_size = config_.max_size;
                    break;
                }
            }
            detail::end_wait(*w, slot != nullptr);
            guard.armed = false;
            switch (got) {
            case pool_waiter::outcome::pending:
                record_wait(false);
                fail(failure, pool_errc::acquire_timeout, "53300",
                     timeout_message("a connection", in_use, connecting, max_size));
                co_return;
            case pool_waiter::outcome::closed:
                fail(failure, pool_errc::pool_closed, "57P01",
                     "pool " + name_ + " was closed while waiting");
                co_return;
            case pool_waiter::outcome::permit:
                connect = true;
                break;
            case pool_waiter::outcome::entry:
                break;
            }
        }

        if (connect) {
            e = co_await connect_into(ex, failure);
            if (!e)
                co_return;
        }

        const bool reset = prepare_borrow(*e, b);
        if (cfg.test_on_acquire) {
            if (reset)
                borrows_.resets.fetch_add(1, std::memory_order_relaxed);
            const bool healthy = co_await test_borrow(*e, b);
            if (!healthy) {
                retire(std::move(e), &pool_stats::destroyed_health);
                if (clock::now() >= deadline) {
                    record_wait(false);
                    fail(failure, pool_errc::acquire_timeout, "53300",
                         timeout_message("a healthy connection"));
                    co_return;
                }
                continue;
            }
        }
        e->writes_at_acquire = e->conn->writes();
        record_wait(true, reset && !cfg.test_on_acquire);
        out = pooled_connection(std::move(self), std::move(e));
        co_return;
    }
}

asio::awaitable<pg_pool::entry_ptr> pg_pool::connect_into(asio::any_io_executor ex,
                                                          client::error& failure) {
    auto r = co_await open_connection(std::move(ex));
    if (!r) {
        failure = std::move(r.error());
        co_return nullptr;
    }
    co_return std::move(*r);
}

void pg_pool::fail(client::error& out, pool_errc code, std::string_view sqlstate,
                   std::string message) const {
    out = make_pool_error(code, sqlstate, std::move(message));
}

// Out of acquire(): its locals would be in every acquire()'s coroutine frame, and that
// frame is allocated on every wait for a connection.
asio::awaitable<bool> pg_pool::test_borrow(pool_entry& e, const binding& b) {
    const pool_config& cfg = config_; // see acquire()
    if (cfg.connect_timeout.count() > 0)
        e.conn->set_operation_timeout(cfg.connect_timeout);
    auto r = co_await e.conn->simple_query("");
    e.conn->set_operation_timeout(std::chrono::milliseconds{0});
    if (!r || e.conn->broken()) {
        log("test_on_acquire: connection (pid " + std::to_string(e.conn->backend_pid()) +
            ") failed, replacing it: " + (r ? std::string("broken") : r.error().message()));
        co_return false;
    }
    e.checked = clock::now();
    // The binding is in place now (the reset, if any, is done).
    e.left = leftover{e.conn->transaction(), b.transaction_local, !binding_steps(b, cfg).empty()};
    co_return true;
}

std::string pg_pool::timeout_message(std::string_view what, std::size_t in_use,
                                     std::size_t connecting, std::size_t max_size) const {
    std::string why = "timed out after " + std::to_string(config_.acquire_timeout.count()) +
                      " ms waiting for " + std::string(what) + " from pool " + name_;
    if (max_size == 0)
        return why;
    why += " (max_size " + std::to_string(max_size);
    if (in_use >= max_size)
        why += ", all in use)";
    else
        why += ", " + std::to_string(in_use) + " in use, " + std::to_string(connecting) +
               " connecting)";
    return why;
}

pg_pool::waiter_ptr pg_pool::queue_waiter_locked(const asio::any_io_executor& ex, wait_slot* slot) {
    waiter_ptr w;
    // The caller's kept waiter (its last wait is over: whoever woke it is done with it),
    // else one from Asio's per-thread cache.
    if (slot && slot->waiter_ && slot->waiter_->executor == ex) {
        w = slot->waiter_;
        w->got = pool_waiter::outcome::pending;
        w->entry.reset();
        w->phase = pool_waiter::running; // before a waker can see it
    } else {
        w = std::allocate_shared<pool_waiter>(asio::recycling_allocator<pool_waiter>(), ex);
        if (slot)
            slot->waiter_ = w;
    }
    waiters_.push_back(w);
    return w;
}

std::optional<pending_wait> pg_pool::start_wait(const asio::any_io_executor& ex, wait_slot& slot) {
    if (config_.test_on_acquire)
        return std::nullopt; // needs a round trip: acquire_into()
    const auto start = clock::now();
    waiter_ptr w;
    {
        std::lock_guard lock(mutex_);
        // Where acquire_into() would not wait: it picks the idle connection (or drops
        // expired ones), connects, or reports the pool closed.
        if (closed_ || !idle_.empty() || total_locked() < config_.max_size)
            return std::nullopt;
        w = queue_waiter_locked(ex, &slot);
    }
    const auto deadline = start + config_.acquire_timeout; // see acquire_into()
    detail::begin_wait(w, deadline);
    return pending_wait(shared_from_this(), std::move(w), start, deadline);
}

pooled_connection pg_pool::lend_waited(std::shared_ptr<pg_pool> self, entry_ptr e, const binding& b,
                                       clock::time_point start) {
    const bool reset = prepare_borrow(*e, b);
    e->writes_at_acquire = e->conn->writes();
    count_wait(true, reset, clock::now() - start);
    return pooled_connection(std::move(self), std::move(e));
}

pending_wait::pending_wait(std::shared_ptr<pg_pool> pool, std::shared_ptr<pool_waiter> waiter,
                           clock::time_point start, clock::time_point deadline) noexcept
    : pool_(std::move(pool)), waiter_(std::move(waiter)), start_(start), deadline_(deadline) {}

pending_wait::pending_wait(pending_wait&& other) noexcept
    : pool_(std::move(other.pool_)), waiter_(std::move(other.waiter_)), start_(other.start_),
      deadline_(other.deadline_) {}

pending_wait::~pending_wait() {
    if (pool_)
        pool_->abandon(waiter_);
}

pending_wait::outcome pending_wait::finish(const binding& b, std::optional<pooled_connection>& out,
                                           client::error& failure) {
    pg_pool& p = *pool_;
    pool_waiter& w = *waiter_;
    pool_waiter::outcome got = pool_waiter::outcome::pending;
    std::unique_ptr<pool_entry> e;
    std::size_t in_use = 0;
    std::size_t connecting = 0;
    std::size_t max_size = 0;
    {
        std::lock_guard lock(p.mutex_);
        // As in acquire_into(): a wake after this finds the waiter running and makes the
        // next park() return at once.
        w.phase = pool_waiter::running;
        got = w.got;
        if (got == pool_waiter::outcome::entry)
            e = std::move(w.entry);
        if (got == pool_waiter::outcome::pending) {
            if (clock::now() < deadline_)
                return outcome::again;
            p.waiters_.erase(waiter_);
            in_use = p.in_use_;
            connecting = p.connecting_;
            max_size = p.config_.max_size;
        }
    }
    detail::end_wait(w, true); // the waiter stays in the caller's wait_slot
    if (got == pool_waiter::outcome::permit) {
        // The slot a permit stands for goes back (to the next waiter, if any); the
        // caller's acquire_into() connects if there is still room.
        auto pool = std::move(pool_);
        pool->abandon(waiter_);
        return outcome::connect;
    }
    auto pool = std::move(pool_); // finished: nothing for the destructor to undo
    switch (got) {
    case pool_waiter::outcome::pending:
        pool->count_wait(false, false, clock::now() - start_);
        pool->fail(failure, pool_errc::acquire_timeout, "53300",
                   pool->timeout_message("a connection", in_use, connecting, max_size));
        break;
    case pool_waiter::outcome::closed:
        pool->fail(failure, pool_errc::pool_closed, "57P01",
                   "pool " + pool->name_ + " was closed while waiting");
        break;
    case pool_waiter::outcome::entry: {
        pg_pool& lender = *pool;
        out = lender.lend_waited(std::move(pool), std::move(e), b, start_);
        break;
    }
    case pool_waiter::outcome::permit:
        break; // above
    }
    return outcome::done;
}

std::optional<pooled_connection> pg_pool::try_acquire(const asio::any_io_executor& ex,
                                                      const binding& b) {
    if (config_.test_on_acquire)
        return std::nullopt; // needs a round trip
    if (waiters_.size_hint() > 0)
        return std::nullopt; // borrowers wait: first come, first served
    entry_ptr e;
    std::vector<entry_ptr> drop;
    std::vector<waiter_ptr> wake_list;
    {
        std::lock_guard lock(mutex_);
        if (!closed_ && waiters_.empty())
            e = pick_idle_locked(ex, drop);
        if (!drop.empty())
            hand_capacity_locked(wake_list);
    }
    dispose(drop, wake_list);
    if (!e)
        return std::nullopt;
    const bool resetting = prepare_borrow(*e, b);
    e->writes_at_acquire = e->conn->writes();
    borrows_.acquires.fetch_add(1, std::memory_order_relaxed);
    if (resetting)
        borrows_.resets.fetch_add(1, std::memory_order_relaxed);
    return pooled_connection(shared_from_this(), std::move(e));
}

// What picking an idle connection left to do outside the mutex.
void pg_pool::dispose(std::vector<entry_ptr>& drop, std::vector<waiter_ptr>& wake_list) {
    for (auto& d : drop)
        destroy(std::move(d));
    for (auto& x : wake_list)
        detail::wake(x);
}

// The reset (if an earlier borrower used it) and this borrow's binding, queued to ride in
// the same write as the borrower's first command. Returns whether it resets.
bool pg_pool::prepare_borrow(pool_entry& e, const binding& b) {
    const pool_config& cfg = config_; // see acquire()
    // OR: a borrower that sent nothing left an earlier DISCARD ALL unsent.
    e.left.statements_unknown = e.left.statements_unknown || e.conn->statements_unknown();
    const bool resetting = resets(e.left, cfg);
    if (resetting)
        e.applied_settings.reset();
    const bool settings_in_place =
        b.settings && e.applied_settings &&
        (e.applied_settings == b.settings || *e.applied_settings == *b.settings);
    const reset_policy reset = resetting ? effective_reset(e.left, cfg) : reset_policy::none;
    auto steps = e.left.transaction == client::transaction_state::idle
                     ? detail::cached_preamble(
                           b, this, reset, settings_in_place,
                           [&] { return preamble_for(e.left, b, cfg, settings_in_place); })
                     : std::make_shared<const std::vector<client::preamble_step>>(
                           preamble_for(e.left, b, cfg, settings_in_place));
    if (b.settings)
        e.applied_settings = b.settings;
    e.conn->set_operation_timeout(std::chrono::milliseconds{0});
    if (reset == reset_policy::discard_all)
        e.conn->forget_prepared_statements(); // DISCARD ALL drops them on the server
    e.conn->set_preamble(std::move(steps));
    e.borrowed_transaction_local = b.transaction_local;
    return resetting;
}

void pg_pool::abandon(const waiter_ptr& w) noexcept {
    entry_ptr e;
    std::vector<waiter_ptr> wake_list;
    {
        std::lock_guard lock(mutex_);
        switch (w->got) {
        case pool_waiter::outcome::pending:
            waiters_.erase(w);
            break;
        case pool_waiter::outcome::entry:
            e = std::move(w->entry);
            break;
        case pool_waiter::outcome::permit:
            --connecting_;
            hand_capacity_locked(wake_list);
            notify_close_locked(wake_list);
            break;
        case pool_waiter::outcome::closed:
            break;
        }
    }
    for (auto& x : wake_list)
        detail::wake(x);
    if (e) {
        try {
            shelve(std::move(e));
        } catch (...) {
        }
    }
}

asio::awaitable<client::result<std::unique_ptr<pool_entry>>>
pg_pool::open_connection(asio::any_io_executor ex) {
    client::connect_options opts = options_;
    std::chrono::milliseconds limit;
    {
        std::lock_guard lock(mutex_);
        limit = config_.connect_timeout;
    }
    if (limit.count() > 0 && (opts.connect_timeout.count() == 0 || opts.connect_timeout > limit))
        opts.connect_timeout = limit;
    auto r = co_await client::connection::connect(ex, std::move(opts));

    std::vector<waiter_ptr> wake_list;
    entry_ptr e;
    bool closed = false;
    if (r) {
        e = std::make_unique<pool_entry>();
        e->conn = std::move(*r);
        e->executor = ex;
        e->created = e->returned = e->checked = clock::now();
    }
    {
        std::lock_guard lock(mutex_);
        --connecting_;
        if (e)
            ++counters_.created;
        if (!e || closed_) {
            closed = closed_;
            hand_capacity_locked(wake_list);
            notify_close_locked(wake_list);
        } else {
            ++in_use_;
        }
    }
    for (auto& x : wake_list)
        detail::wake(x);
    if (!r) {
        // Copied: result::error() returns the error by value, so a view into it dangles
        // once the statement ends (ASan: stack-use-after-scope).
        std::string state(r.error().sqlstate());
        if (state.empty())
            state = "08006";
        std::string message = "pool " + name_ + " could not connect (" + options_.redacted() +
                              "): " + r.error().message();
        co_return make_pool_error(pool_errc::connect_failed, state, std::move(message));
    }
    if (closed) {
        destroy(std::move(e));
        co_return make_pool_error(pool_errc::pool_closed, "57P01",
                                  "pool " + name_ + " was closed while connecting");
    }
    co_return e;
}

// --- return -----------------------------------------------------------------------------

void pg_pool::give_back(entry_ptr e, bool destroy_it) noexcept {
    try {
        client::connection& c = *e->conn;
        if (destroy_it || c.broken()) {
            // State unknown (I/O or protocol error, failed preamble, raw caller gave up).
            retire(std::move(e), &pool_stats::destroyed_broken);
            return;
        }
        if (c.writes() == e->writes_at_acquire) {
            // Nothing was sent: the session is as `left` says (an unsent preamble dies).
            c.set_preamble(std::vector<client::preamble_step>{});
        } else {
            e->left = leftover{c.transaction(), e->borrowed_transaction_local, true};
        }
        e->returned = e->checked = clock::now();
        if (e->left.transaction != client::transaction_state::idle) {
            // An open transaction holds locks and its snapshot: end it now, not when the
            // next borrower comes, in the background on the connection's own executor.
            auto ex = e->executor;
            // The handler keeps the pool alive until the clean has finished.
            asio::co_spawn(ex, clean(std::move(e)),
                           [self = shared_from_this()](std::exception_ptr ep) {
                               if (ep)
                                   self->log("background clean failed with an exception");
                           });
            return;
        }
        shelve(std::move(e));
    } catch (const std::exception& ex) {
        log(std::string("release failed: ") + ex.what());
    } catch (...) {
        log("release failed");
    }
}

asio::awaitable<void> pg_pool::clean(entry_ptr e) {
    auto r = co_await refresh(*e);
    if (!r) {
        log("ending the transaction and resetting connection (pid " +
            std::to_string(e->conn->backend_pid()) + ") failed: " + r.error().message());
        retire(std::move(e), &pool_stats::destroyed_reset_failed);
        co_return;
    }
    shelve(std::move(e));
}

asio::awaitable<client::result<void>> pg_pool::refresh(pool_entry& e) {
    const pool_config& cfg = config_; // see acquire()
    const bool resetting = resets(e.left, cfg);
    if (resetting)
        e.applied_settings.reset();
    e.conn->set_operation_timeout(cfg.connect_timeout.count() > 0 ? cfg.connect_timeout
                                                                  : std::chrono::seconds(10));
    // OR: a borrower that sent nothing left an earlier DISCARD ALL unsent.
    e.left.statements_unknown = e.left.statements_unknown || e.conn->statements_unknown();
    auto steps = preamble_for(e.left, {}, cfg);
    if (resetting && effective_reset(e.left, cfg) == reset_policy::discard_all)
        e.conn->forget_prepared_statements(); // DISCARD ALL drops them on the server
    e.conn->set_preamble(std::move(steps));
    if (resetting)
        borrows_.resets.fetch_add(1, std::memory_order_relaxed);
    auto r = co_await e.conn->simple_query("");
    e.conn->set_operation_timeout(std::chrono::milliseconds{0});
    if (!r)
        co_return r.error();
    if (e.conn->broken())
        co_return client::error{client::make_error_code(client::errc::connection_broken), {}};
    e.left = leftover{};
    e.checked = clock::now();
    co_return client::result<void>{};
}

void pg_pool::shelve(entry_ptr e) {
    std::vector<waiter_ptr> wake_list;
    waiter_ptr handed; // the common case under load, without a vector (no allocation)
    entry_ptr drop;
    {
        std::lock_guard lock(mutex_);
        --in_use_;
        if (closed_) {
            drop = std::move(e);
            notify_close_locked(wake_list);
        } else if (config_.max_lifetime.count() > 0 && past_lifetime(*e, config_, clock::now())) {
            drop = std::move(e);
            ++counters_.destroyed_expired;
            hand_capacity_locked(wake_list);
        } else if (total_locked() >= config_.max_size) {
            drop = std::move(e); // resize() shrank the pool
            ++counters_.destroyed_idle;
        } else if (!waiters_.empty()) {
            waiter_ptr w = waiters_.pop_front();
            w->got = pool_waiter::outcome::entry;
            w->entry = std::move(e);
            ++in_use_;
            handed = std::move(w);
        } else {
            idle_.push_back(std::move(e));
        }
    }
    if (handed)
        detail::wake(handed);
    for (auto& x : wake_list)
        detail::wake(x);
    if (drop)
        destroy(std::move(drop));
}

void pg_pool::retire(entry_ptr e, std::uint64_t pool_stats::*counter) {
    std::vector<waiter_ptr> wake_list;
    {
        std::lock_guard lock(mutex_);
        --in_use_;
        if (counter)
            ++(counters_.*counter);
        hand_capacity_locked(wake_list);
        notify_close_locked(wake_list);
    }
    for (auto& x : wake_list)
        detail::wake(x);
    destroy(std::move(e));
}

void pg_pool::hand_capacity_locked(std::vector<waiter_ptr>& wake_list) {
    if (closed_)
        return;
    while (!waiters_.empty() && total_locked() < config_.max_size) {
        waiter_ptr w = waiters_.pop_front();
        w->got = pool_waiter::outcome::permit;
        ++connecting_;
        wake_list.push_back(std::move(w));
    }
}

void pg_pool::notify_close_locked(std::vector<waiter_ptr>& wake_list) {
    if (closed_ && close_waiter_ && in_use_ == 0 && connecting_ == 0) {
        close_waiter_->got = pool_waiter::outcome::closed;
        wake_list.push_back(std::move(close_waiter_));
        close_waiter_.reset();
    }
}

std::size_t pg_pool::total_locked() const noexcept {
    return idle_.size() + in_use_ + connecting_;
}

void pg_pool::destroy(entry_ptr e) noexcept {
    if (!e)
        return;
    try {
        auto ex = e->executor;
        std::weak_ptr<pg_pool> weak = weak_from_this();
        asio::co_spawn(ex, close_connection(std::move(e)), [weak](std::exception_ptr ep) {
            if (!ep)
                return;
            if (auto p = weak.lock())
                p->log("closing a connection failed with an exception");
        });
    } catch (...) {
        // Could not schedule the close: the entry's destructor closes the socket.
    }
}

// --- observation and control -------------------------------------------------------------

// An acquire's end: counted without the mutex (every borrow that waits comes here).
void pg_pool::count_wait(bool success, bool reset, clock::duration waited) noexcept {
    const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count()));
    if (reset)
        borrows_.resets.fetch_add(1, std::memory_order_relaxed);
    borrows_.wait_ns_total.fetch_add(ns, std::memory_order_relaxed);
    auto max = borrows_.wait_ns_max.load(std::memory_order_relaxed);
    while (ns > max &&
           !borrows_.wait_ns_max.compare_exchange_weak(max, ns, std::memory_order_relaxed)) {
    }
    (success ? borrows_.acquires : borrows_.acquire_timeouts)
        .fetch_add(1, std::memory_order_relaxed);
}

pool_stats pg_pool::stats() const {
    std::lock_guard lock(mutex_);
    pool_stats s = counters_;
    s.acquires = borrows_.acquires.load(std::memory_order_relaxed);
    s.acquire_timeouts = borrows_.acquire_timeouts.load(std::memory_order_relaxed);
    s.resets = borrows_.resets.load(std::memory_order_relaxed);
    s.wait_seconds_total =
        static_cast<double>(borrows_.wait_ns_total.load(std::memory_order_relaxed)) / 1e9;
    s.wait_seconds_max =
        static_cast<double>(borrows_.wait_ns_max.load(std::memory_order_relaxed)) / 1e9;
    s.in_use = in_use_;
    s.idle = idle_.size();
    s.waiting = waiters_.size();
    s.connecting = connecting_;
    return s;
}

void pg_pool::resize(std::size_t max_size, std::size_t min_size) {
    std::vector<entry_ptr> drop;
    std::vector<waiter_ptr> wake_list;
    {
        std::lock_guard lock(mutex_);
        config_.max_size = std::max<std::size_t>(max_size, 1);
        config_.min_size = std::min(min_size, config_.max_size);
        // Oldest idle first.
        while (total_locked() > config_.max_size && !idle_.empty()) {
            drop.push_back(std::move(idle_.front()));
            idle_.erase(idle_.begin());
            ++counters_.destroyed_idle;
        }
        hand_capacity_locked(wake_list);
    }
    for (auto& x : wake_list)
        detail::wake(x);
    for (auto& d : drop)
        destroy(std::move(d));
}

asio::awaitable<void> pg_pool::close(std::chrono::milliseconds timeout) {
    auto self = shared_from_this();
    const auto ex = co_await asio::this_coro::executor;
    std::vector<waiter_ptr> wake_list;
    std::vector<entry_ptr> idle;
    waiter_ptr closer;
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
        for (auto& w : waiters_) {
            w->got = pool_waiter::outcome::closed;
            wake_list.push_back(w);
        }
        waiters_.clear();
        idle.swap(idle_);
        if (in_use_ + connecting_ > 0) {
            closer = std::make_shared<pool_waiter>(ex);
            close_waiter_ = closer;
        }
    }
    for (auto& x : wake_list)
        detail::wake(x);
    if (auto loop = maintenance_loop_)
        asio::post(maintenance_, [loop] { loop->timer.cancel(); });
    for (auto& e : idle) {
        auto eex = e->executor;
        try {
            co_await asio::co_spawn(eex, close_connection(std::move(e)), asio::use_awaitable);
        } catch (...) {
        }
    }
    if (!closer)
        co_return;
    const auto deadline = clock::now() + timeout;
    detail::begin_wait(closer, deadline);
    bool all_back = false;
    for (;;) {
        co_await detail::park(closer);
        std::lock_guard lock(mutex_);
        closer->phase = pool_waiter::running; // see acquire_into()
        if (closer->got != pool_waiter::outcome::pending) {
            all_back = true;
            break;
        }
        if (clock::now() >= deadline) {
            if (close_waiter_ == closer)
                close_waiter_.reset();
            break;
        }
    }
    detail::end_wait(*closer, false);
    if (all_back)
        co_return;
    log("close: connections still borrowed after " + std::to_string(timeout.count()) +
        " ms; they are closed when returned");
}

void pg_pool::set_logger(std::function<void(std::string_view)> log) {
    std::lock_guard lock(mutex_);
    logger_ = std::move(log);
}

void pg_pool::log(std::string_view message) const noexcept {
    try {
        std::function<void(std::string_view)> fn;
        {
            std::lock_guard lock(mutex_);
            fn = logger_;
        }
        if (fn)
            fn(message);
        else
            std::cerr << "qail_pool[" << name_ << "]: " << message << '\n';
    } catch (...) {
    }
}

client::error pg_pool::make_pool_error(pool_errc code, std::string_view sqlstate,
                                       std::string message) const {
    // client::error has no free-text field: the details travel as a pg_error, so that
    // error::message() and a proxy relaying it as an ErrorResponse both show them.
    client::pg_error details;
    details.severity = "ERROR";
    details.sqlstate = std::string(sqlstate);
    details.message = std::move(message);
    return client::error{make_error_code(code), std::move(details)};
}

} // namespace qail::pool
