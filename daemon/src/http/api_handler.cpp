// One HTTP API request end to end: routing, bearer JWT, database lookup, AST plan, the
// pipelined BEGIN/binding/statements/COMMIT on a pooled backend, JSON results or errors.
#include "api_handler.hpp"

#include "api_error.hpp"
#include "json_result.hpp"
#include "query_plan.hpp"
#include "server/shared_state.hpp"

#include <chrono>
#include <exception>
#include <optional>
#include <spdlog/spdlog.h>
#include <utility>
#include <vector>

namespace qail::proxy::http {

namespace {

constexpr std::string_view route_query = "/v1/query";
constexpr std::string_view route_batch = "/v1/batch";
constexpr std::string_view route_other = "other";

api_answer error_answer(const api_error& e, std::string_view route) {
    api_answer a;
    a.status = e.status;
    a.body = to_json(e);
    a.www_authenticate = e.www_authenticate;
    a.route = route;
    return a;
}

/// The first failure among commands [from, to], preferring a real error to the
/// "skipped" placeholders of commands that never ran.
std::optional<client::error>
first_error(const std::vector<client::result<client::result_set>>& results, std::size_t from,
            std::size_t to, std::size_t* where = nullptr) {
    std::optional<client::error> skipped;
    for (std::size_t i = from; i <= to && i < results.size(); ++i) {
        if (results[i])
            continue;
        client::error e = results[i].error();
        if (e.code == client::errc::pipeline_skipped) {
            if (!skipped)
                skipped = std::move(e);
            continue;
        }
        if (where != nullptr)
            *where = i;
        return e;
    }
    return skipped;
}

void log_server_side(const api_error& e, std::string_view database) {
    if (e.status >= 500 && e.status != 504)
        spdlog::warn("http: database {}: {} {}", database, e.code, e.message);
}

} // namespace

std::string_view route_of(std::string_view target) noexcept {
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == route_query)
        return route_query;
    if (path == route_batch)
        return route_batch;
    return route_other;
}

api_handler::api_handler(std::shared_ptr<shared_state> state) : state_(std::move(state)) {}

void api_handler::prepare() {
    (void)verifier_for(state_->current());
}

std::shared_ptr<const jwt_verifier>
api_handler::verifier_for(const std::shared_ptr<const config>& cfg) {
    std::lock_guard lock(mutex_);
    if (verifier_ && verifier_config_.lock() == cfg)
        return verifier_;
    verifier_ = jwt_verifier::create(cfg->http.jwt);
    verifier_config_ = cfg;
    return verifier_;
}

boost::asio::awaitable<api_answer> api_handler::handle(std::string_view method,
                                                       std::string_view target,
                                                       std::string_view authorization,
                                                       std::string body) {
    const std::string_view route = route_of(target);
    if (route == route_other)
        co_return error_answer(make_error(404, "not_found", "no such route"), route);
    if (method != "POST") {
        api_answer a = error_answer(
            make_error(405, "method_not_allowed", "only POST is allowed on this route"), route);
        a.allow = "POST";
        co_return a;
    }
    const std::shared_ptr<const config> cfg = state_->current();
    auto parsed_target = parse_target(target);
    if (!parsed_target)
        co_return error_answer(parsed_target.error(), route);

    // --- authentication ---
    run_context ctx;
    if (cfg->http.require_auth || !authorization.empty()) {
        const auto token = bearer_token(authorization);
        if (!token)
            co_return error_answer(from_auth_error(make_error_code(jwt_errc::missing_token)),
                                   route);
        std::shared_ptr<const jwt_verifier> verifier;
        try {
            verifier = verifier_for(cfg);
        } catch (const std::exception& e) {
            spdlog::error("http: JWT verification unavailable: {}", e.what());
            co_return error_answer(make_error(500, "auth_unavailable",
                                              "token verification is misconfigured; see the "
                                              "proxy log"),
                                   route);
        }
        auto identity = verifier->verify(*token, std::chrono::system_clock::now());
        if (!identity) {
            state_->metrics().auth_failure(parsed_target->database.empty()
                                               ? cfg->http.default_database
                                               : parsed_target->database);
            co_return error_answer(from_auth_error(identity.error()), route);
        }
        ctx.tenant = std::move(identity->tenant);
        ctx.user = std::move(identity->user);
    }
    ctx.statement_timeout = cfg->http.statement_timeout;

    // --- database ---
    const std::string db_name =
        parsed_target->database.empty() ? cfg->http.default_database : parsed_target->database;
    if (db_name.empty())
        co_return error_answer(make_error(400, "no_database",
                                          "name a database with ?db= (no "
                                          "http.default_database is configured)"),
                               route);
    const auto db = state_->database(db_name);
    if (!db || !db->pool)
        co_return error_answer(
            make_error(404, "unknown_database", "no database \"" + db_name + "\" is configured"),
            route);

    // --- plan ---
    auto plan = plan_request(body, route == route_batch, cfg->http);
    if (!plan)
        co_return error_answer(plan.error(), route);
    const pipeline_plan pipe = build_pipeline(*plan, ctx, cfg->tenancy);

    // --- one round trip ---
    auto conn = co_await db->pool->acquire(pool::binding{});
    if (!conn) {
        const api_error e = from_client_error(conn.error());
        log_server_side(e, db_name);
        co_return error_answer(e, route);
    }
    // A transaction is one Sync: BEGIN, binding, statements and COMMIT run as one
    // server-side cycle (a failure skips the rest; the pool rolls the failed transaction
    // back at release). Independent statements need a Sync each, so that one failure
    // leaves the others alone.
    const auto mode =
        plan->transaction ? client::pipeline_mode::atomic : client::pipeline_mode::independent;
    auto results = co_await (*conn)->pipeline(pipe.commands, mode);
    if (!results) {
        const api_error e = from_client_error(results.error());
        log_server_side(e, db_name);
        co_return error_answer(e, route);
    }
    conn->release();

    const row_format format = parsed_target->format;
    api_answer answer;
    answer.route = route;
    if (plan->transaction) {
        std::size_t where = 0;
        if (const auto err = first_error(*results, 0, pipe.commands.size() - 1, &where)) {
            const api_error e = from_client_error(*err);
            if (err->server)
                state_->metrics().server_error(err->server->sqlstate);
            log_server_side(e, db_name);
            answer = error_answer(e, route);
            if (plan->batch) {
                // Which query failed: the first statement at or after the failing command.
                std::size_t index = 0;
                while (index + 1 < pipe.statement_index.size() &&
                       pipe.statement_index[index] < where)
                    ++index;
                answer.body.pop_back();
                answer.body += ",\"index\":" + std::to_string(index) + "}";
            }
            co_return answer;
        }
        if (!plan->batch) {
            append_result_json(answer.body, *(*results)[pipe.statement_index.front()], format);
            co_return answer;
        }
        answer.body = R"({"results":[)";
        for (std::size_t i = 0; i < pipe.statement_index.size(); ++i) {
            if (i > 0)
                answer.body.push_back(',');
            append_result_json(answer.body, *(*results)[pipe.statement_index[i]], format);
        }
        answer.body += "]}";
        co_return answer;
    }

    // Independent statements: each group is BEGIN [binding] statement COMMIT.
    answer.body = R"({"results":[)";
    std::size_t group_start = 0;
    for (std::size_t i = 0; i < pipe.statement_index.size(); ++i) {
        if (i > 0)
            answer.body.push_back(',');
        const std::size_t group_end = pipe.statement_index[i] + 1; // its COMMIT
        if (const auto err = first_error(*results, group_start, group_end)) {
            const api_error e = from_client_error(*err);
            if (err->server)
                state_->metrics().server_error(err->server->sqlstate);
            log_server_side(e, db_name);
            answer.body += to_json(e);
        } else {
            append_result_json(answer.body, *(*results)[pipe.statement_index[i]], format);
        }
        group_start = group_end + 1;
    }
    answer.body += "]}";
    co_return answer;
}

} // namespace qail::proxy::http
