// qail-query: the driver's psql. Runs one SQL string (or a QAIL AST from a JSON file)
// against a connection URL or key=value string and prints the rows tab-separated; -v
// also prints how it connected, and for an AST the generated SQL and parameters.
#include <qail/ast/compile.hpp>
#include <qail/ast/json.hpp>
#include <qail/client/connection.hpp>
#include <qail/client/io_backend.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
using namespace qail::client;

void usage() {
    std::cerr << "usage: qail-query [-v] URL SQL\n"
                 "       qail-query [-v] --ast FILE.json URL\n"
                 "  URL  postgres://user:pass@host:port/db?sslmode=... or 'host=... dbname=...'\n"
                 "  -v   also print protocol, auth, tls and io_backend lines first (and, for\n"
                 "       an AST, the generated SQL and its parameters)\n";
}

std::string protocol_text(std::int32_t v) {
    return std::to_string(qail::protocol::protocol_major(v)) + "." +
           std::to_string(qail::protocol::protocol_minor(v));
}

// The parameters on one line ("none" when there are none).
std::string params_line(std::span<const param> params) {
    std::string p = qail::ast::to_string(params);
    while (!p.empty() && (p.back() == '\n' || p.back() == ' '))
        p.pop_back();
    return p.empty() ? std::string{"none"} : p;
}

void print_rows(const result_set& rs) {
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

int report(const error& e) {
    if (e.server)
        std::cerr << "qail-query: " << e.server->sqlstate << " " << e.server->message << "\n";
    else
        std::cerr << "qail-query: " << e.message() << "\n";
    return 1;
}

// `ast` set: `sql` is ignored and the compiled AST runs with the extended protocol.
asio::awaitable<int> run(connect_options options, std::string sql, bool verbose,
                         std::optional<qail::ast::compiled> ast) {
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
    if (ast) {
        if (verbose)
            std::cout << "sql: " << ast->sql << "\n"
                      << "params: " << params_line(ast->params) << "\n";
        if (ast->copy_out) {
            auto r = co_await c.copy_out(ast->sql, [](std::string_view d) { std::cout << d; });
            co_await c.close();
            co_return r ? 0 : report(r.error());
        }
        auto r = co_await c.query(ast->sql, ast->params);
        co_await c.close();
        if (!r)
            co_return report(r.error());
        print_rows(*r);
        co_return 0;
    }
    auto r = co_await c.simple_query(sql);
    co_await c.close();
    if (!r)
        co_return report(r.error());
    for (const result_set& rs : *r)
        print_rows(rs);
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
    std::optional<qail::ast::compiled> ast;
    if (i < argc && std::string_view{argv[i]} == "--ast") {
        if (argc - i != 3) {
            usage();
            return 64;
        }
        auto q = qail::ast::load_ast_file(argv[i + 1]);
        if (!q) {
            std::cerr << "qail-query: " << argv[i + 1] << ": " << q.error().message() << "\n";
            return 65;
        }
        auto c = qail::ast::compile(*q);
        if (!c) {
            std::cerr << "qail-query: " << argv[i + 1] << ": " << c.error().message() << "\n";
            return 65;
        }
        ast = std::move(*c);
        i += 2; // argv[i] is the URL; no SQL argument follows
    } else if (argc - i != 2) {
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
    const std::string sql = ast ? std::string{} : std::string{argv[i + 1]};
    asio::co_spawn(ctx, run(std::move(*options), sql, verbose, std::move(ast)),
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
