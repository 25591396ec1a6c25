// The I/O backend name, fixed at build time by QAIL_IO_URING.
#include <qail/client/io_backend.hpp>

namespace qail::client {

std::string_view io_backend() noexcept {
#if defined(QAIL_IO_URING)
    return "io_uring";
#else
    return "epoll";
#endif
}

} // namespace qail::client
