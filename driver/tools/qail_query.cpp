// qail-query: the driver's psql. Runs one SQL string against a connection URL or
// key=value string and prints the rows tab-separated; -v also prints how it connected.
#include <qail/client/connection.hpp>
#include <qail/client/io_backend.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
using namespace qail::client;

void usage() {
    std::cerr << "usage: qail-query [-v] URL SQL\n"
                 "  URL  postgres://user:pass@host:port/db?sslmode=... or 'host=... dbname=...'\n"
                 "  -v   also print protocol, auth, tls and io_backend lines first\n";
}

std::string protocol_text(std::int32_t v) {
    return std::to_string(qail::protocol::protocol_major(v)) + "." +
           std::to_string(qail::protocol::protocol_minor(v));
}

asio::awaitable<int> run(connect_options options, std::string sql, bool verbose) {
    auto ex = co_await asio::this_coro::executor;
    auto conn = co_await connection::connect(ex, std::move(options));
    if (!conn) {
        std::cerr << "qail-query: connection failed: " << conn.error().message() << "\n";
        co_return 2;
    }
    connection& c = **conn;
    c.on_notice([](const pg_error& n) { std::cerr << n.to_string() << "\n"; });
    if (verbose) {
        std::cout << "protocol: " << protocol_text(c.protocol_version()) << "\n"
                  << "auth: " << to_string(c.authentication()) << "\n"
                  << "tls: " << c.tls_version() << "\n"
                  << "io_backend: " << io_backend() << "\n";
    }
    auto r = co_await c.simple_query(sql);
    co_await c.close();
    if (!r) {
        const error& e = r.error();
        if (e.server)
            std::cerr << "qail-query: " << e.server->sqlstate << " " << e.server->message << "\n";
        else
            std::cerr << "qail-query: " << e.message() << "\n";
        co_return 1;
    }
    for (const result_set& rs : *r) {
        for (const row rw : rs) {
            for (std::size_t i = 0; i < rw.size(); ++i) {
                if (i > 0)
                    std::cout << '\t';
                const auto v = rw.raw(i);
                std::cout << (v ? *v : std::string_view{"NULL"});
            }
            std::cout << '\n';
        }
    }
    co_return 0;
}

} // namespace

int main(int argc, char** argv) {
    bool verbose = false;
    int i = 1;
    if (i < argc && std::string_view{argv[i]} == "-v") {
        verbose = true;
        ++i;
    }
    if (argc - i != 2) {
        usage();
        return 64;
    }
    auto options = parse_connection_string(argv[i]);
    if (!options) {
        std::cerr << "qail-query: " << options.error().message << "\n";
        return 64;
    }
    asio::io_context ctx;
    int status = 70;
    asio::co_spawn(ctx, run(std::move(*options), argv[i + 1], verbose),
                   [&status](std::exception_ptr e, int rc) {
                       if (e) {
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               std::cerr << "qail-query: " << ex.what() << "\n";
                           }
                           status = 70;
                       } else {
                           status = rc;
                       }
                   });
    ctx.run();
    return status;
}
