// The completion handler of the daemon's spawned coroutines: an exception one ends with
// is logged, naming the component and the task, never lost.
#pragma once

#include <exception>
#include <spdlog/spdlog.h>
#include <string_view>

namespace qail::proxy {

/// For co_spawn(): logs "<component>: <task> failed: <what>" when the coroutine ended with
/// an exception. Both names must outlive the coroutine (string literals).
[[nodiscard]] inline auto log_failure(std::string_view component, std::string_view task) {
    return [component, task](std::exception_ptr e) {
        if (!e)
            return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            spdlog::error("{}: {} failed: {}", component, task, ex.what());
        } catch (...) {
            spdlog::error("{}: {} failed with a non-standard exception", component, task);
        }
    };
}

} // namespace qail::proxy
