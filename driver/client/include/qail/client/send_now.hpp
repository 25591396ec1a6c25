// One send(2) without waiting, for callers that write small messages and want no
// asynchronous operation (and no coroutine frame) when the socket takes them at once.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstddef>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace qail::client {

/// send(2) and recv(2) as bare system calls. glibc's wrappers are thread-cancellation
/// points: each call switches asynchronous cancellation on and off around the system
/// call (some 60 instructions, on every relayed message); nothing here cancels threads.
inline ssize_t send_syscall(int fd, const void* data, std::size_t size, int flags) noexcept {
    return ::syscall(SYS_sendto, fd, data, size, flags, static_cast<void*>(nullptr), 0);
}
inline ssize_t recv_syscall(int fd, void* data, std::size_t size, int flags) noexcept {
    return ::syscall(SYS_recvfrom, fd, data, size, flags, static_cast<void*>(nullptr),
                     static_cast<void*>(nullptr));
}

/// Sends what a plain stream socket (TCP or Unix) takes now: the bytes written, 0 when
/// its buffer is full (the caller then writes the rest asynchronously). One send(2)
/// with MSG_DONTWAIT, straight to the system call: the socket's own mode is left as it
/// is, and Asio's synchronous send (its blocking-mode bookkeeping and error-code
/// comparisons) stays off a path that runs for every relayed message.
template <typename Socket>
[[nodiscard]] std::size_t send_now(Socket& socket, boost::asio::const_buffer b,
                                   boost::system::error_code& ec) {
    ec = {};
    if (b.size() == 0)
        return 0;
    for (;;) {
        const ssize_t n = send_syscall(socket.native_handle(), b.data(), b.size(),
                                       MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return static_cast<std::size_t>(n);
        const int err = errno;
        if (err == EINTR)
            continue;
        if (err == EAGAIN || err == EWOULDBLOCK)
            return 0;
        ec.assign(err, boost::asio::error::get_system_category());
        return 0;
    }
}

} // namespace qail::client
