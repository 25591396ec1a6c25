// qail-proxy entry point: command line, then the server.
#include <qail/proxy/version.hpp>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--version") == 0) {
            std::printf("qail-proxy %.*s\nio_backend: %.*s\ntls: %.*s\n",
                        static_cast<int>(qail::proxy::version().size()),
                        qail::proxy::version().data(),
                        static_cast<int>(qail::proxy::io_backend_name().size()),
                        qail::proxy::io_backend_name().data(),
                        static_cast<int>(qail::proxy::tls_library().size()),
                        qail::proxy::tls_library().data());
            return 0;
        }
    }
    std::fprintf(stderr, "usage: qail-proxy --config FILE | --check-config FILE | --version\n");
    return 2;
}
