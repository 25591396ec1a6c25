// Error codes of the pool layer (registered as a boost::system error_category).
#pragma once

#include <boost/system/error_code.hpp>
#include <type_traits>

namespace qail::pool {

/// Why acquire() failed. The client::error carrying one of these also has a pg_error
/// (`server`) whose message gives the details: the pool's name, the timeout, the cause.
enum class pool_errc {
    /// No connection became free within acquire_timeout (SQLSTATE 53300 in the details).
    acquire_timeout = 1,
    /// The pool is closing or closed (57P01 in the details).
    pool_closed,
    /// A new connection could not be opened (the driver's SQLSTATE, or 08006, in the details).
    connect_failed,
};

[[nodiscard]] const boost::system::error_category& pool_category() noexcept;

[[nodiscard]] inline boost::system::error_code make_error_code(pool_errc e) noexcept {
    return {static_cast<int>(e), pool_category()};
}

} // namespace qail::pool

template <>
struct boost::system::is_error_code_enum<qail::pool::pool_errc> : std::true_type {};
