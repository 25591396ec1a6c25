// pooled_connection: the RAII handle of one borrowed connection.
#include "detail/pool_internal.hpp"

#include <utility>

namespace qail::pool {

pooled_connection::pooled_connection() noexcept = default;

pooled_connection::pooled_connection(std::shared_ptr<pg_pool> pool,
                                     std::unique_ptr<detail::pool_entry> entry) noexcept
    : pool_(std::move(pool)), entry_(std::move(entry)) {}

pooled_connection::pooled_connection(pooled_connection&& other) noexcept
    : pool_(std::move(other.pool_)), entry_(std::move(other.entry_)) {}

pooled_connection& pooled_connection::operator=(pooled_connection&& other) noexcept {
    if (this != &other) {
        release();
        pool_ = std::move(other.pool_);
        entry_ = std::move(other.entry_);
    }
    return *this;
}

pooled_connection::~pooled_connection() {
    release();
}

client::connection& pooled_connection::get() const noexcept {
    return *entry_->conn;
}

pooled_connection::operator bool() const noexcept {
    return entry_ != nullptr;
}

void pooled_connection::settings_changed() noexcept {
    if (entry_)
        entry_->applied_settings.reset();
}

void pooled_connection::release() noexcept {
    give_back(false);
}

void pooled_connection::discard() noexcept {
    give_back(true);
}

void pooled_connection::give_back(bool destroy) noexcept {
    if (!entry_)
        return;
    auto pool = std::move(pool_);
    pool->give_back(std::move(entry_), destroy);
}

} // namespace qail::pool
