// Clients' settings lists held once per distinct content (settings_registry.hpp).
#include <qail/proxy/settings_registry.hpp>

#include <algorithm>

namespace qail::proxy {

std::shared_ptr<const pool::settings_list> settings_registry::share(pool::settings_list wanted) {
    std::lock_guard lock(mutex_);
    std::erase_if(lists_, [](const auto& w) { return w.expired(); });
    for (const auto& w : lists_) {
        if (auto list = w.lock(); list && *list == wanted)
            return list;
    }
    auto made = std::make_shared<const pool::settings_list>(std::move(wanted));
    if (lists_.size() < max_lists)
        lists_.push_back(made);
    return made;
}

std::size_t settings_registry::size() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(lists_.begin(), lists_.end(), [](const auto& w) { return !w.expired(); }));
}

} // namespace qail::proxy
