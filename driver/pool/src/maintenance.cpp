// Periodic maintenance: closes expired and long-idle connections, resets dirty idle ones
// and pings idle ones in the background, and refills the pool to min_size.
#include "detail/pool_internal.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <string>

namespace qail::pool {

namespace asio = boost::asio;
using detail::clock;
using detail::pool_entry;

namespace detail {
namespace {

// A dirty connection left idle this long is reset in the background, so the next
// borrower's preamble is only its binding.
constexpr std::chrono::milliseconds dirty_idle_grace{1000};

// Failures that mean the server or the link is gone, rather than the reset being refused.
bool is_dead_connection(const client::error& e) {
    if (e.code != client::make_error_code(client::errc::server_error))
        return true;
    const std::string_view cls = e.server ? e.server->sqlstate_class() : std::string_view{};
    return cls == "57" || cls == "08";
}

} // namespace

std::chrono::milliseconds maintenance_tick(const pool_config& config) noexcept {
    std::chrono::milliseconds shortest{2000};
    for (const auto d : {config.health_check_interval, config.idle_timeout, config.max_lifetime})
        if (d.count() > 0)
            shortest = std::min(shortest, d);
    return std::clamp(shortest / 2, std::chrono::milliseconds{50}, std::chrono::milliseconds{1000});
}

asio::awaitable<void> maintenance_loop::run(std::weak_ptr<pg_pool> weak,
                                            std::shared_ptr<maintenance_loop> self,
                                            std::chrono::milliseconds tick) {
    for (;;) {
        {
            auto pool = weak.lock();
            if (!pool)
                co_return;
            {
                std::lock_guard lock(pool->mutex_);
                if (pool->closed_)
                    co_return;
            }
            try {
                co_await pool->maintain();
            } catch (const std::exception& e) {
                pool->log(std::string("maintenance pass failed: ") + e.what());
            }
        }
        self->timer.expires_after(tick);
        (void)co_await self->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

} // namespace detail

asio::awaitable<void> pg_pool::maintain() {
    const auto now = clock::now();
    std::vector<entry_ptr> drop;
    std::vector<entry_ptr> check;
    std::vector<waiter_ptr> wake_list;
    {
        std::lock_guard lock(mutex_);
        if (closed_)
            co_return;
        const pool_config& c = config_;
        for (auto it = idle_.begin(); it != idle_.end();) { // oldest first
            pool_entry& e = **it;
            if (c.max_lifetime.count() > 0 && now - e.created >= c.max_lifetime) {
                ++counters_.destroyed_expired;
            } else if (c.idle_timeout.count() > 0 && now - e.returned >= c.idle_timeout &&
                       total_locked() > c.min_size) {
                ++counters_.destroyed_idle;
            } else if ((c.health_check_interval.count() > 0 &&
                        now - e.checked >= c.health_check_interval) ||
                       (e.left.dirty && c.reset != reset_policy::none &&
                        now - e.returned >= detail::dirty_idle_grace)) {
                check.push_back(std::move(*it));
                it = idle_.erase(it);
                ++in_use_;
                continue;
            } else {
                ++it;
                continue;
            }
            drop.push_back(std::move(*it));
            it = idle_.erase(it);
        }
        hand_capacity_locked(wake_list);
    }
    for (auto& x : wake_list)
        detail::wake(x);
    for (auto& d : drop)
        destroy(std::move(d));

    for (auto& e : check) {
        const bool was_dirty = e->left.dirty;
        client::result<void> r = client::error{client::make_error_code(client::errc::aborted), {}};
        try {
            // The connection's I/O runs on its own executor.
            r = co_await asio::co_spawn(e->executor, refresh(*e), asio::use_awaitable);
        } catch (const std::exception& ex) {
            log(std::string("health check threw: ") + ex.what());
        }
        if (r) {
            shelve(std::move(e));
            continue;
        }
        const bool dead = detail::is_dead_connection(r.error());
        log("health check of connection (pid " + std::to_string(e->conn->backend_pid()) +
            ") failed, replacing it: " + r.error().message());
        retire(std::move(e), dead || !was_dirty ? &pool_stats::destroyed_health
                                                : &pool_stats::destroyed_reset_failed);
    }

    // Refill to min_size, one connection at a time, on the maintenance executor.
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (closed_ || total_locked() >= config_.min_size)
                break;
            ++connecting_;
        }
        auto r = co_await open_connection(maintenance_);
        if (!r) {
            log("refill to min_size failed: " + r.error().message());
            break;
        }
        shelve(std::move(*r));
    }
}

} // namespace qail::pool
