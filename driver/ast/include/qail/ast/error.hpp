// Errors of the AST layer (JSON reading, limits, trust checks, compilation): an error
// code plus the path of the offending node and a message naming the token.
#pragma once

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string>
#include <type_traits>

namespace qail::ast {

/// Why an AST was refused. Every value is a client-side (request) problem.
enum class errc {
    ok = 0,
    /// The input is not JSON (syntax error, invalid UTF-8, trailing data).
    invalid_json,
    /// A parsing limit (body size, depth, node count, string or array length) was hit.
    limit_exceeded,
    /// An object has a key the QAIL type does not have.
    unknown_field,
    /// A required key is missing.
    missing_field,
    /// A key appears twice in one object.
    duplicate_field,
    /// A JSON value has the wrong type (a string where an object was expected, ...).
    wrong_type,
    /// An enum tag QAIL does not define ("Eqq" as an operator).
    unknown_variant,
    /// A QAIL node or field that this implementation does not compile (CTEs, MERGE, ...).
    unsupported,
    /// A node refused from untrusted clients: raw SQL, function calls, non-DML actions.
    forbidden,
    /// An identifier is empty, has an empty dotted part, or holds a NUL byte.
    invalid_identifier,
    /// A string value or raw SQL text holds a NUL byte (PostgreSQL text cannot).
    embedded_nul,
    /// A value is malformed or out of range (bad UUID, bad type name, $0, ...).
    invalid_value,
    /// The nodes do not make a statement (UPDATE without values, BETWEEN with one bound, ...).
    invalid_ast,
    /// An AST file could not be read.
    io_error,
};

[[nodiscard]] const boost::system::error_category& ast_category() noexcept;

[[nodiscard]] inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), ast_category()};
}

/// A refused AST: what kind of problem, where (a JSON-style path into the AST such as
/// `cages[0].conditions[0].op`, empty for the whole document) and a message naming the
/// offending token.
struct error {
    errc code = errc::ok;
    std::string path;
    std::string detail;

    /// "path: detail", or just the detail when the path is empty.
    [[nodiscard]] std::string message() const;
};

/// Throws boost::system::system_error carrying message() (used by result::value()).
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

template <class T>
using result = boost::system::result<T, error>;

} // namespace qail::ast

template <>
struct boost::system::is_error_code_enum<qail::ast::errc> : std::true_type {};
