// Version, I/O backend and TLS library of this build, for --version and build_info.
#include <qail/proxy/version.hpp>

#include <openssl/opensslv.h>

namespace qail::proxy {

std::string_view version() noexcept {
    return QAIL_PROXY_VERSION;
}
std::string_view io_backend_name() noexcept {
    return QAIL_PROXY_IO_BACKEND;
}
std::string_view tls_library() noexcept {
    return OPENSSL_VERSION_TEXT;
}

} // namespace qail::proxy
