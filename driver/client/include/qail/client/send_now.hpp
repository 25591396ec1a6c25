// One send(2) without waiting, for callers that write small messages and want no
// asynchronous operation (and no coroutine frame) when the socket takes them at once.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>

namespace qail::client {

/// Sends what a plain stream socket (TCP or Unix) takes now: the bytes written, 0 when
/// its buffer is full (the caller then writes the rest asynchronously). Puts the socket
/// in non-blocking mode for synchronous calls; asynchronous operations are unaffected.
template <typename Socket>
[[nodiscard]] std::size_t send_now(Socket& socket, boost::asio::const_buffer b,
                                   boost::system::error_code& ec) {
    ec = {};
    if (!socket.non_blocking()) {
        socket.non_blocking(true, ec);
        if (ec)
            return 0;
    }
    const std::size_t n = socket.write_some(b, ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        ec = {};
        return 0;
    }
    return n;
}

} // namespace qail::client
