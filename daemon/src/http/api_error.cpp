// Error mapping for the HTTP API: AST, JWT, pool, driver and SQLSTATE failures to statuses
// and the JSON error body.
#include "api_error.hpp"

#include "json_result.hpp"

#include <qail/client/error.hpp>
#include <qail/pool/error.hpp>

#include <utility>

namespace qail::proxy::http {

api_error make_error(unsigned status, std::string code, std::string message) {
    api_error e;
    e.status = status;
    e.code = std::move(code);
    e.message = std::move(message);
    return e;
}

api_error from_ast_error(const ast::error& e, std::string_view path_prefix) {
    std::string path(path_prefix);
    if (!e.path.empty()) {
        if (!path.empty() && e.path.front() != '[')
            path.push_back('.');
        path += e.path;
    }
    ast::error full = e;
    full.path = path;
    api_error out;
    out.message = full.message();
    out.detail = path.empty() ? std::string{} : "at " + path;
    switch (e.code) {
    case ast::errc::invalid_json:
        out.status = 400;
        out.code = "bad_json";
        break;
    case ast::errc::limit_exceeded:
        out.status = 400;
        out.code = "limit_exceeded";
        break;
    case ast::errc::forbidden:
        out.status = 403;
        out.code = "forbidden";
        break;
    case ast::errc::unsupported:
        out.status = 400;
        out.code = "unsupported";
        break;
    default:
        out.status = 400;
        out.code = "invalid_ast";
        break;
    }
    return out;
}

api_error from_auth_error(boost::system::error_code ec) {
    api_error out = make_error(401, "unauthorized", ec.message());
    out.www_authenticate = true;
    return out;
}

unsigned status_for_sqlstate(std::string_view s) noexcept {
    if (s == "23505" || s == "23503" || s == "40001" || s == "40P01")
        return 409;
    if (s == "57014")
        return 504;
    if (s == "42501")
        return 403;
    const std::string_view cls = s.substr(0, s.size() >= 2 ? 2 : 0);
    if (cls == "22" || cls == "23" || cls == "42" || cls == "21" || cls == "2B" || cls == "0A")
        return 400;
    if (cls == "08" || cls == "53" || cls == "57" || cls == "58")
        return 503;
    return 500;
}

api_error from_client_error(const client::error& e) {
    if (e.code.category() == pool::pool_category()) {
        switch (static_cast<pool::pool_errc>(e.code.value())) {
        case pool::pool_errc::acquire_timeout:
            return make_error(503, "pool_exhausted",
                              "no backend connection became free in time; retry later");
        case pool::pool_errc::pool_closed:
            return make_error(503, "shutting_down", "the proxy is shutting down");
        case pool::pool_errc::connect_failed:
            return make_error(503, "backend_unavailable", "the database server is unreachable");
        }
        return make_error(503, "backend_unavailable", "the database server is unavailable");
    }
    if (e.code == client::errc::server_error && e.server) {
        api_error out;
        out.status = status_for_sqlstate(e.server->sqlstate);
        out.code = e.server->sqlstate.empty() ? "database_error" : e.server->sqlstate;
        out.message = e.server->message;
        out.detail = e.server->detail;
        out.hint = e.server->hint;
        if (out.status == 503)
            out.message = "the database server is unavailable: " + out.message;
        return out;
    }
    if (e.code == client::errc::operation_timeout)
        return make_error(504, "timeout", "the database did not answer in time");
    if (e.code == client::errc::embedded_nul)
        return make_error(400, "invalid_value", "a value holds a NUL byte");
    return make_error(503, "backend_unavailable", "the connection to the database server failed");
}

std::string to_json(const api_error& e) {
    std::string out = R"({"error":{"code":)";
    append_json_string(out, e.code);
    out += R"(,"message":)";
    append_json_string(out, e.message);
    const auto optional = [&out](std::string_view key, const std::string& v) {
        out += key;
        if (v.empty())
            out += "null";
        else
            append_json_string(out, v);
    };
    optional(R"(,"detail":)", e.detail);
    optional(R"(,"hint":)", e.hint);
    out += "}}";
    return out;
}

} // namespace qail::proxy::http
