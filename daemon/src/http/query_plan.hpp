// From an HTTP request to the pipeline it runs (no I/O): the query string, the body's
// AST(s) under the untrusted-mode guards, and the BEGIN / tenant binding / statement /
// COMMIT commands sent to Postgres in one write.
#pragma once

#include "api_error.hpp"
#include "json_result.hpp"

#include <qail/ast/compile.hpp>
#include <qail/client/connection.hpp>
#include <qail/proxy/config.hpp>

#include <boost/system/result.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qail::proxy::http {

/// The most statements one /v1/batch may hold.
inline constexpr std::size_t max_batch_queries = 1000;

/// What the request target says: the path and the ?db= and ?format= parameters.
struct request_target {
    std::string path;
    std::string database; ///< percent-decoded; empty when absent
    row_format format = row_format::objects;
};

/// Splits and decodes a request target. 400 for a malformed escape or an unknown format.
[[nodiscard]] boost::system::result<request_target, api_error>
parse_target(std::string_view target);

/// The statements of a request, compiled, and how they run.
struct query_plan {
    std::vector<ast::compiled> statements;
    /// /v1/batch: per-query results; /v1/query: one result.
    bool batch = false;
    /// All statements in one transaction (always for /v1/query).
    bool transaction = true;
};

/// Parses the body of /v1/query (one AST) or /v1/batch ({"queries":[...],
/// "transaction":true}) in untrusted mode under the AST limits, checks the table
/// allow-list (403) and compiles with the max_rows clamp. Errors name the JSON path.
[[nodiscard]] boost::system::result<query_plan, api_error>
plan_request(std::string_view body, bool batch, const http_config& cfg);

/// Who the statements run for, and their per-request limits.
struct run_context {
    std::optional<std::string> tenant;
    std::optional<std::string> user;
    /// 0: none.
    std::chrono::milliseconds statement_timeout{0};
};

/// The pipeline for a plan, always run in pipeline_mode::independent (a Sync after
/// each command) so the backend ends idle whatever fails:
///   transaction: BEGIN; SELECT set_config(tenant,$,true), set_config(user,$,true),
///                set_config('statement_timeout',$,true); s1; ...; sn; COMMIT
///   otherwise:   that sequence around each statement on its own.
/// After a failure inside an explicit transaction the server refuses the rest (25P02)
/// and COMMIT answers ROLLBACK, so nothing of the transaction stays.
struct pipeline_plan {
    std::vector<client::pipeline_command> commands;
    /// Index into `commands` of each statement of the plan, in order.
    std::vector<std::size_t> statement_index;
};

[[nodiscard]] pipeline_plan build_pipeline(const query_plan& plan, const run_context& ctx,
                                           const tenancy_config& tenancy);

} // namespace qail::proxy::http
