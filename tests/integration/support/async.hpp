// Runs a test body written as an Asio coroutine to completion on its own io_context.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <functional>

namespace qail::test {

/// Runs `body` (a function returning awaitable<void>) and rethrows what it threw.
template <class Body>
void run_async(Body&& body) {
    boost::asio::io_context ctx;
    std::exception_ptr failure;
    boost::asio::co_spawn(ctx, std::forward<Body>(body)(),
                          [&failure](std::exception_ptr e) { failure = e; });
    ctx.run();
    if (failure)
        std::rethrow_exception(failure);
}

} // namespace qail::test
