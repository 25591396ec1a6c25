// Names the socket I/O backend Asio was built with (epoll or io_uring).
#pragma once

#include <string_view>

namespace qail::client {

/// "io_uring" when built with QAIL_IO_URING=ON, else "epoll".
[[nodiscard]] std::string_view io_backend() noexcept;

} // namespace qail::client
