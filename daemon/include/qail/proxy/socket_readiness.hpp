// What the relay knows about a plain (TCP or Unix) socket's receive queue, told to Asio's
// epoll reactor so that a wait for data that is not there costs no system call.
//
// Asio tries every read first and waits only when the read finds nothing: on a relay,
// where the answer to what was just sent is never there yet, about every other read is
// a recv(2) that fails with EAGAIN (a system call costs over a microsecond on a
// virtualised host). The reactor skips that try when it knows the socket is empty: its
// per-socket flag says whether an edge-triggered event came since the socket was last
// found empty (Asio itself only clears it at end of stream). The relay clears it too, at
// moments when it knows the socket is empty, the peer has not closed its side, and no
// event about it can have been taken in between (see note_empty()); the next read then
// waits for the kernel's next event, which any later data, end of stream or reset raises.
//
// This reaches into Boost 1.81's private reactor state (named through explicit
// instantiation, which is exempt from access checking, so a change of those members
// fails the build instead of misbehaving). With another Boost version or reactor,
// `available` is false and reads behave as Asio's.
#pragma once

#include <qail/client/send_now.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <sys/socket.h>
#include <sys/types.h>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) &&                                    \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define QAIL_SOCKET_READINESS 1
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/query.hpp>
#include <sys/epoll.h>
#endif

namespace qail::proxy::readiness {

/// The sockets this applies to: a stream socket of TCP or of a Unix-domain socket.
template <class Protocol>
using stream_socket = boost::asio::basic_stream_socket<Protocol, boost::asio::any_io_executor>;
using tcp_socket = stream_socket<boost::asio::ip::tcp>;
using unix_socket = stream_socket<boost::asio::local::stream_protocol>;

#if defined(QAIL_SOCKET_READINESS)
inline constexpr bool available = true;

namespace detail {
namespace ad = boost::asio::detail;
template <class Protocol>
using socket_base = boost::asio::basic_socket<Protocol, boost::asio::any_io_executor>;
template <class Protocol>
using socket_impl =
    ad::io_object_impl<ad::reactive_socket_service<Protocol>, boost::asio::any_io_executor>;
using descriptor = ad::epoll_reactor::descriptor_state;

template <class Tag, typename Tag::type M>
struct grant {
    friend typename Tag::type member(Tag) { return M; }
};
struct tcp_impl_tag {
    using type = socket_impl<boost::asio::ip::tcp> socket_base<boost::asio::ip::tcp>::*;
    friend type member(tcp_impl_tag);
};
struct unix_impl_tag {
    using type = socket_impl<boost::asio::local::stream_protocol>
        socket_base<boost::asio::local::stream_protocol>::*;
    friend type member(unix_impl_tag);
};
template <class Protocol>
struct impl_tag_of;
template <>
struct impl_tag_of<boost::asio::ip::tcp> {
    using type = tcp_impl_tag;
};
template <>
struct impl_tag_of<boost::asio::local::stream_protocol> {
    using type = unix_impl_tag;
};
struct flags_tag { // whether to try a read (write, ...) before waiting
    using type = bool (descriptor::*)[ad::epoll_reactor::max_ops];
    friend type member(flags_tag);
};
struct registered_tag { // the epoll events the socket is registered for
    using type = std::uint32_t descriptor::*;
    friend type member(registered_tag);
};
struct events_tag { // the events of the reactor's last report about the socket
    using type = unsigned int ad::scheduler_operation::*;
    friend type member(events_tag);
};
struct epoll_fd_tag {
    using type = int ad::epoll_reactor::*;
    friend type member(epoll_fd_tag);
};
template struct grant<tcp_impl_tag, &socket_base<boost::asio::ip::tcp>::impl_>;
template struct grant<unix_impl_tag, &socket_base<boost::asio::local::stream_protocol>::impl_>;
template struct grant<flags_tag, &descriptor::try_speculative_>;
template struct grant<registered_tag, &descriptor::registered_events_>;
template struct grant<events_tag, &ad::scheduler_operation::task_result_>;
template struct grant<epoll_fd_tag, &ad::epoll_reactor::epoll_fd_>;

// The reactor's state of `s`, when `s` belongs to the io_context this thread runs (each
// worker's io_context runs on its one thread, so nothing else touches that state
// meanwhile); else null.
template <class Protocol>
descriptor* of(stream_socket<Protocol>& s) noexcept {
    const auto* io = s.get_executor().template target<boost::asio::io_context::executor_type>();
    if (io == nullptr || !io->running_in_this_thread())
        return nullptr;
    return (s.*member(typename impl_tag_of<Protocol>::type{})).get_implementation().reactor_data_;
}

inline bool& try_read_first(descriptor& d) noexcept {
    return (d.*member(flags_tag{}))[ad::epoll_reactor::read_op];
}

// The events the reactor last reported for `d`. (descriptor_state derives privately
// from scheduler_operation: only a C-style cast may convert to that base.)
inline unsigned int last_events(descriptor& d) noexcept {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
    auto& op = (ad::scheduler_operation&)d;
#pragma GCC diagnostic pop
    return op.*member(events_tag{});
}
} // namespace detail

// The reactor's "try a read first" flag of `s` (see detail::of()), or null.
template <class Protocol>
[[nodiscard]] bool* try_first_flag(stream_socket<Protocol>& s) noexcept {
    detail::descriptor* d = detail::of(s);
    return d == nullptr ? nullptr : &detail::try_read_first(*d);
}

// Has the kernel report the peer's end of stream (EPOLLRDHUP) with the socket's events,
// so note_empty() can tell. One epoll_ctl(2), the first time; false where
// it cannot be done (another loop's socket, or the call failed).
template <class Protocol>
[[nodiscard]] bool watch_peer_close(stream_socket<Protocol>& s) noexcept {
    detail::descriptor* d = detail::of(s);
    if (d == nullptr)
        return false;
    std::uint32_t& registered = (*d).*member(detail::registered_tag{});
    if ((registered & EPOLLRDHUP) != 0)
        return true;
    auto& reactor = boost::asio::use_service<detail::ad::epoll_reactor>(
        boost::asio::query(s.get_executor(), boost::asio::execution::context));
    epoll_event ev{};
    ev.events = registered | EPOLLRDHUP;
    ev.data.ptr = d;
    if (::epoll_ctl(reactor.*member(detail::epoll_fd_tag{}), EPOLL_CTL_MOD, s.native_handle(),
                    &ev) != 0)
        return false;
    registered = ev.events;
    return true;
}
#else
inline constexpr bool available = false;
template <class Protocol>
[[nodiscard]] bool* try_first_flag(stream_socket<Protocol>&) noexcept {
    return nullptr;
}
template <class Protocol>
[[nodiscard]] bool watch_peer_close(stream_socket<Protocol>&) noexcept {
    return false;
}
#endif

// Before async_read_some(): when Asio would try a read first, tries it here instead (the
// same one system call), so that an empty socket is marked as such at once. Returns the
// bytes read; on 0 the caller's async_read_some() reads: on a socket marked empty it is
// queued without trying and completes from the reactor's next event for the socket,
// inline (on this thread, before the reactor runs again).
template <class Protocol>
[[nodiscard]] std::size_t read_now(stream_socket<Protocol>& s, std::span<char> room) noexcept {
    bool* flag = try_first_flag(s);
    if (flag == nullptr || !*flag)
        return 0;
    for (;;) {
        const ssize_t n =
            client::recv_syscall(s.native_handle(), room.data(), room.size(), MSG_DONTWAIT);
        if (n > 0)
            return static_cast<std::size_t>(n);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            *flag = false; // found empty by this read: the next data raises an event
        return 0;          // (end of stream or an error: async_read_some() meets it again)
    }
}

// The socket was found empty by a read that just returned fewer bytes than it asked for
// (read_now()'s, or one it left waiting, with nothing run since): the next read waits
// without trying, unless the peer may have closed its side. A short read does not show
// an end of stream queued behind the bytes, and no event would come for it then; so the
// socket is watched for the peer's end of stream (watch_peer_close(), on the first call
// if not before) and not marked when the reactor's last report about it included one.
// An end of stream that came after that report raises a report of its own, still to
// come; so does one already there when this call starts the watch (epoll re-checks a
// socket whose events are changed).
template <class Protocol>
void note_empty(stream_socket<Protocol>& s) noexcept {
#if defined(QAIL_SOCKET_READINESS)
    detail::descriptor* d = detail::of(s);
    if (d == nullptr || !watch_peer_close(s))
        return;
    if ((detail::last_events(*d) & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
        return;
    detail::try_read_first(*d) = false;
#else
    (void)s;
#endif
}

} // namespace qail::proxy::readiness
