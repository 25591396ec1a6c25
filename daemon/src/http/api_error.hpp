// The HTTP API's error answers: one table from each failure domain (AST, JWT, pool,
// driver, SQLSTATE) to an HTTP status and {"error":{"code","message","detail","hint"}}.
#pragma once

#include <qail/ast/error.hpp>
#include <qail/client/connection.hpp>

#include <boost/system/error_code.hpp>
#include <string>
#include <string_view>

namespace qail::proxy::http {

/// An error answer. `code` is a SQLSTATE for database errors, else one of the proxy's
/// codes (bad_json, invalid_ast, forbidden, unauthorized, not_found, ...).
struct api_error {
    unsigned status = 500;
    std::string code;
    std::string message;
    std::string detail;
    std::string hint;
    /// 401: the answer carries `WWW-Authenticate: Bearer`.
    bool www_authenticate = false;
};

/// A refused AST: 400 (invalid JSON, unknown operator, ...), 403 (errc::forbidden: a
/// non-DML action, raw SQL, a function call) or 413 (the body limit). `path_prefix`
/// ("queries[2]") is prepended to the error's JSON path.
[[nodiscard]] api_error from_ast_error(const ast::error& e, std::string_view path_prefix = {});

/// A refused bearer token (a jwt_errc): 401 with WWW-Authenticate.
[[nodiscard]] api_error from_auth_error(boost::system::error_code ec);

/// The status for a server error's SQLSTATE: 409 for 23505/23503 and serialization
/// failures, 504 for 57014, 403 for 42501, 400 for data/integrity/syntax classes, 503
/// for connection/resource/shutdown classes, else 500.
[[nodiscard]] unsigned status_for_sqlstate(std::string_view sqlstate) noexcept;

/// A driver or pool failure: server errors keep SQLSTATE, message, detail and hint; the
/// pool's acquire timeout and connect failures are 503, an operation timeout 504, a
/// broken/closed backend 503. Internal details (addresses, OpenSSL text) are not shown.
[[nodiscard]] api_error from_client_error(const client::error& e);

/// A proxy-side error with a fixed code.
[[nodiscard]] api_error make_error(unsigned status, std::string code, std::string message);

/// {"error":{"code":..,"message":..,"detail":..,"hint":..}} (detail/hint null when empty).
[[nodiscard]] std::string to_json(const api_error& e);

} // namespace qail::proxy::http
