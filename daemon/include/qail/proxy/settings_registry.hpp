// Equal settings lists of different clients held as one object: most clients of an
// application connect with the same startup parameters, and a backend whose last
// borrower's list is the very object the next borrower brings is matched by pointer
// when lent (pool::binding::settings), not compared entry by entry on every transaction.
#pragma once

#include <qail/pool/config.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace qail::proxy {

class settings_registry {
public:
    /// Lists kept for sharing at most; beyond them a list is still returned, unshared.
    static constexpr std::size_t max_lists = 256;

    /// The shared list equal to `wanted`, made when none is in use. Thread-safe; called
    /// when a client's settings change (at its first transaction, after a SET), not per
    /// transaction.
    [[nodiscard]] std::shared_ptr<const pool::settings_list> share(pool::settings_list wanted);

    /// The lists in use now (some client holds them).
    [[nodiscard]] std::size_t size() const;

private:
    mutable std::mutex mutex_;
    // Weak: a list lives as long as the clients that use it.
    std::vector<std::weak_ptr<const pool::settings_list>> lists_;
};

} // namespace qail::proxy
