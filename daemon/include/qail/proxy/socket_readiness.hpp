// What the relay knows about a plain TCP socket's receive queue, told to Asio's epoll
// reactor so that a wait for data that is not there costs no system call.
//
// Asio tries every read first and waits only when the read finds nothing: on a relay,
// where the answer to what was just sent is never there yet, about every other read is
// a recv(2) that fails with EAGAIN (a system call costs over a microsecond on a
// virtualised host). The reactor skips that try when it knows the socket is empty: its
// per-socket flag says whether an edge-triggered event came since the socket was last
// found empty (Asio itself only clears it at end of stream). The relay clears it too, at
// moments when it knows the socket is empty and no event about it can have been taken in
// between (see note_empty()); the next read then waits for the kernel's next event, which
// any later data or end of stream raises.
//
// This reaches into Boost 1.81's private reactor state (named through explicit
// instantiation, which is exempt from access checking, so a change of those members
// fails the build instead of misbehaving). With another Boost version or reactor,
// `available` is false and reads behave as Asio's.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <cstddef>
#include <span>
#include <sys/socket.h>
#include <sys/types.h>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) &&                                    \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define QAIL_SOCKET_READINESS 1
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/io_context.hpp>
#endif

namespace qail::proxy::readiness {

using tcp_socket = boost::asio::ip::tcp::socket;

#if defined(QAIL_SOCKET_READINESS)
inline constexpr bool available = true;

namespace access {
namespace ad = boost::asio::detail;
using socket_base = boost::asio::basic_socket<boost::asio::ip::tcp, boost::asio::any_io_executor>;
using socket_impl = ad::io_object_impl<ad::reactive_socket_service<boost::asio::ip::tcp>,
                                       boost::asio::any_io_executor>;
using descriptor = ad::epoll_reactor::descriptor_state;

struct impl_tag {
    using type = socket_impl socket_base::*;
    friend type member(impl_tag);
};
struct flags_tag {
    using type = bool (descriptor::*)[ad::epoll_reactor::max_ops];
    friend type member(flags_tag);
};
template <class Tag, typename Tag::type M>
struct grant {
    friend typename Tag::type member(Tag) { return M; }
};
template struct grant<impl_tag, &socket_base::impl_>;
template struct grant<flags_tag, &descriptor::try_speculative_>;
} // namespace access

// The reactor's "try a read first" flag of `s`, when `s` belongs to the io_context this
// thread runs (each worker's io_context runs on its one thread, so nothing else touches
// the flag meanwhile); else null.
inline bool* try_first_flag(tcp_socket& s) noexcept {
    const auto* io = s.get_executor().target<boost::asio::io_context::executor_type>();
    if (io == nullptr || !io->running_in_this_thread())
        return nullptr;
    auto* d = (s.*member(access::impl_tag{})).get_implementation().reactor_data_;
    if (d == nullptr)
        return nullptr;
    return &((*d).*member(access::flags_tag{}))[access::ad::epoll_reactor::read_op];
}
#else
inline constexpr bool available = false;
inline bool* try_first_flag(tcp_socket&) noexcept {
    return nullptr;
}
#endif

// What read_now() found.
struct attempt {
    std::size_t bytes = 0; // read (0: none)
    bool wait = false;     // nothing there, and the socket is marked so: async_read_some() waits
};

// Before async_read_some(): when Asio would try a read first, tries it here instead (the
// same one system call), so that an empty socket is marked as such at once. Bytes read are
// returned; with `wait` the caller's async_read_some() is queued without trying and
// completes from the reactor's next event for the socket. End of stream and errors are
// left for async_read_some() to find and report (bytes 0, wait false).
inline attempt read_now(tcp_socket& s, std::span<char> room) noexcept {
    bool* flag = try_first_flag(s);
    if (flag == nullptr)
        return {};
    if (!*flag)
        return {0, true};
    for (;;) {
        const ssize_t n = ::recv(s.native_handle(), room.data(), room.size(), MSG_DONTWAIT);
        if (n > 0)
            return {static_cast<std::size_t>(n), false};
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            *flag = false; // found empty by this read: the next data raises an event
            return {0, true};
        }
        return {};
    }
}

// The socket was found empty by the read that just returned fewer bytes than it asked
// for, with nothing that ran the reactor since (the read was read_now()'s, or a queued
// one completed inline from the reactor's event), and the peer owes nothing more until
// it is sent something: the next read waits without trying. (A short read does not show
// an end of stream queued behind the data; the caller's guarantee that it sends before it
// reads again covers it: a peer that has closed answers that with a reset, an event.)
inline void note_empty(tcp_socket& s) noexcept {
    if (bool* flag = try_first_flag(s))
        *flag = false;
}

} // namespace qail::proxy::readiness
