// fetch_all / execute / export_rows: compile eagerly, then await the driver.
#include <qail/ast/run.hpp>

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <utility>

namespace qail::ast {
namespace {

template <class T>
run_result<T> compile_failure(error e) {
    return {boost::system::in_place_error, run_error{std::move(e)}};
}
template <class T>
run_result<T> driver_failure(pg::error e) {
    return {boost::system::in_place_error, run_error{std::move(e)}};
}

/// The statement, or why it cannot run through query().
result<compiled> compile_for_query(const qail& q, const compile_options& options) {
    if (q.action == action_kind::export_)
        return {boost::system::in_place_error,
                error{errc::invalid_ast, "action", "Export runs through export_rows()"}};
    return compile(q, options);
}

// The coroutines own their compiled statement: nothing refers to the caller's AST.
boost::asio::awaitable<run_result<pg::result_set>> run_query(pg::connection& conn,
                                                             result<compiled> c) {
    if (!c)
        co_return compile_failure<pg::result_set>(std::move(c.error()));
    auto r = co_await conn.query(c->sql, c->params);
    if (!r)
        co_return driver_failure<pg::result_set>(std::move(r.error()));
    co_return std::move(*r);
}

boost::asio::awaitable<run_result<std::uint64_t>> run_count(pg::connection& conn,
                                                            result<compiled> c) {
    auto r = co_await run_query(conn, std::move(c));
    if (!r)
        co_return run_result<std::uint64_t>(boost::system::in_place_error, std::move(r.error()));
    co_return r->rows_affected();
}

boost::asio::awaitable<run_result<std::uint64_t>>
run_copy(pg::connection& conn, result<compiled> c, std::function<void(std::string_view)> sink) {
    if (!c)
        co_return compile_failure<std::uint64_t>(std::move(c.error()));
    auto r = co_await conn.copy_out(c->sql, sink);
    if (!r)
        co_return driver_failure<std::uint64_t>(std::move(r.error()));
    co_return *r;
}

} // namespace

std::string run_error::message() const {
    if (const auto* e = compile_error())
        return e->message();
    return std::get<pg::error>(cause).message();
}

void throw_exception_from_error(const run_error& e, const boost::source_location& loc) {
    const boost::system::error_code code =
        e.compile_error() ? make_error_code(e.compile_error()->code) : e.driver_error()->code;
    boost::throw_exception(boost::system::system_error(code, e.message()), loc);
}

boost::asio::awaitable<run_result<pg::result_set>> fetch_all(pg::connection& conn, const qail& q,
                                                             const compile_options& options) {
    return run_query(conn, compile_for_query(q, options));
}

boost::asio::awaitable<run_result<std::uint64_t>> execute(pg::connection& conn, const qail& q,
                                                          const compile_options& options) {
    return run_count(conn, compile_for_query(q, options));
}

boost::asio::awaitable<run_result<std::uint64_t>>
export_rows(pg::connection& conn, const qail& q, std::function<void(std::string_view)> sink,
            const compile_options& options) {
    if (q.action != action_kind::export_)
        return run_copy(conn,
                        result<compiled>(boost::system::in_place_error,
                                         error{errc::invalid_ast, "action",
                                               "export_rows() runs Export statements only"}),
                        std::move(sink));
    return run_copy(conn, compile(q, options), std::move(sink));
}

} // namespace qail::ast
