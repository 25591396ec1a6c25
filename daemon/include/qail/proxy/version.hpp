// Version, I/O backend and TLS library of this build, for --version and build_info.
#pragma once

#include <string_view>

namespace qail::proxy {

[[nodiscard]] std::string_view version() noexcept;
/// "epoll" or "io_uring": the Asio backend the sockets run on.
[[nodiscard]] std::string_view io_backend_name() noexcept;
/// The OpenSSL version string this binary was built against.
[[nodiscard]] std::string_view tls_library() noexcept;

} // namespace qail::proxy
