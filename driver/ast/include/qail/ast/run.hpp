// Running an AST on a driver connection: compile, then connection::query() through the
// statement cache (or copy_out() for Export).
#pragma once

#include <qail/ast/compile.hpp>
#include <qail/client/connection.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>

namespace qail::ast {

/// Why running an AST failed: it did not compile (nothing was sent), or the driver or the
/// server failed.
struct run_error {
    std::variant<error, pg::error> cause;

    [[nodiscard]] const error* compile_error() const noexcept { return std::get_if<error>(&cause); }
    [[nodiscard]] const pg::error* driver_error() const noexcept {
        return std::get_if<pg::error>(&cause);
    }
    [[nodiscard]] std::string message() const;
};

/// Throws boost::system::system_error carrying message() (used by result::value()).
[[noreturn]] void throw_exception_from_error(const run_error& e, const boost::source_location& loc);

template <class T>
using run_result = boost::system::result<T, run_error>;

/// Runs `q` (any action but Export) and returns its rows and command tag. `q` is
/// compiled before this returns, so the awaitable does not refer to it.
[[nodiscard]] boost::asio::awaitable<run_result<pg::result_set>>
fetch_all(pg::connection& conn, const qail& q, const compile_options& options = {});

/// Runs `q` (any action but Export) and returns the number of rows it affected or
/// returned (the command tag's count).
[[nodiscard]] boost::asio::awaitable<run_result<std::uint64_t>>
execute(pg::connection& conn, const qail& q, const compile_options& options = {});

/// Runs an Export: every COPY chunk (text format, one line per row) goes to `sink`.
/// Returns the number of rows copied.
[[nodiscard]] boost::asio::awaitable<run_result<std::uint64_t>>
export_rows(pg::connection& conn, const qail& q, std::function<void(std::string_view)> sink,
            const compile_options& options = {});

} // namespace qail::ast
