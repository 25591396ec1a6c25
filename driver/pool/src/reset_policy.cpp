// Deterministic release: the SQL of each reset policy, the end of a left-open
// transaction, and the tenant/user binding as connection preamble steps.
#include <qail/pool/reset.hpp>

#include <string>
#include <utility>

namespace qail::pool {
namespace {

// DISCARD ALL minus DEALLOCATE ALL (the driver's protocol-level statements survive) and
// minus DISCARD PLANS (only a cache). Every statement is allowed inside the implicit
// transaction block of a multi-statement simple Query (DISCARD ALL itself is not, which
// is why it is its own step). SQL-level PREPAREd statements (from_sql) are deallocated
// one by one from a DO block. Functions are schema-qualified so that nothing a borrower
// created can shadow them.
constexpr std::string_view smart_reset = //
    "CLOSE ALL; "
    "SET SESSION AUTHORIZATION DEFAULT; "
    "RESET ALL; "
    "UNLISTEN *; "
    "SELECT pg_catalog.pg_advisory_unlock_all(); "
    "DISCARD TEMP; "
    "DISCARD SEQUENCES; "
    "DO $qail_reset$ DECLARE s text; BEGIN "
    "FOR s IN SELECT name FROM pg_catalog.pg_prepared_statements WHERE from_sql LOOP "
    "EXECUTE pg_catalog.format('DEALLOCATE %I', s); "
    "END LOOP; END $qail_reset$";

constexpr std::string_view discard_all = "DISCARD ALL";

constexpr std::int32_t text_oid = 25;

client::param text_param(std::string v) {
    return client::param{text_oid, protocol::format_code::text, std::move(v)};
}

} // namespace

std::string_view to_string(reset_policy p) noexcept {
    switch (p) {
    case reset_policy::smart:
        return "smart";
    case reset_policy::discard_all:
        return "discard_all";
    case reset_policy::none:
        return "none";
    }
    return "unknown";
}

std::optional<reset_policy> parse_reset_policy(std::string_view s) noexcept {
    if (s == "smart")
        return reset_policy::smart;
    if (s == "discard_all" || s == "discard-all")
        return reset_policy::discard_all;
    if (s == "none")
        return reset_policy::none;
    return std::nullopt;
}

std::string_view reset_sql(reset_policy policy) noexcept {
    switch (policy) {
    case reset_policy::smart:
        return smart_reset;
    case reset_policy::discard_all:
        return discard_all;
    case reset_policy::none:
        return {};
    }
    return {};
}

std::vector<client::preamble_step> end_transaction_steps(const leftover& left) {
    switch (left.transaction) {
    case client::transaction_state::idle:
        return {};
    case client::transaction_state::in_transaction:
        return {{left.commit_open_transaction ? "COMMIT" : "ROLLBACK", {}}};
    case client::transaction_state::failed:
        return {{"ROLLBACK", {}}};
    }
    return {};
}

std::vector<client::preamble_step> reset_steps(reset_policy policy) {
    const std::string_view sql = reset_sql(policy);
    if (sql.empty())
        return {};
    return {{std::string(sql), {}}};
}

std::vector<client::preamble_step> binding_steps(const binding& b, const pool_config& config,
                                                 bool settings_in_place) {
    std::vector<client::preamble_step> steps;
    if (b.transaction_local)
        steps.push_back({"BEGIN", {}});
    const std::string_view is_local = b.transaction_local ? "true" : "false";
    std::string sql;
    std::vector<client::param> params;
    const auto add = [&](const std::string& setting, const std::optional<std::string>& value) {
        if (!value)
            return;
        sql += sql.empty() ? "SELECT " : ", ";
        sql += "pg_catalog.set_config($" + std::to_string(params.size() + 1) + ", $" +
               std::to_string(params.size() + 2) + ", ";
        sql += is_local;
        sql += ")";
        params.push_back(text_param(setting));
        params.push_back(text_param(*value));
    };
    if (b.settings && !settings_in_place) {
        for (const auto& [name, value] : *b.settings) {
            if ((b.tenant && name == config.tenant_setting) ||
                (b.user && name == config.user_setting))
                continue;
            add(name, value);
        }
    }
    add(config.tenant_setting, b.tenant);
    add(config.user_setting, b.user);
    if (!params.empty())
        steps.push_back({std::move(sql), std::move(params)});
    return steps;
}

bool resets(const leftover& left, const pool_config& config) noexcept {
    return (left.dirty && config.reset != reset_policy::none) ||
           left.transaction != client::transaction_state::idle;
}

std::vector<client::preamble_step> preamble_for(const leftover& left, const binding& b,
                                                const pool_config& config, bool settings_in_place) {
    std::vector<client::preamble_step> steps = end_transaction_steps(left);
    bool discards = false;
    if (left.dirty || !steps.empty()) {
        const auto policy = config.reset == reset_policy::smart && !left.keeps_statements
                                ? reset_policy::discard_all
                                : config.reset;
        discards = policy == reset_policy::discard_all;
        for (auto& s : reset_steps(policy))
            steps.push_back(std::move(s));
    }
    auto bind = binding_steps(b, config, settings_in_place);
    // DISCARD ALL may run as the first statement of an extended-protocol pipeline (the
    // server commits it at once), so it and a session binding end with one
    // ReadyForQuery instead of two. A BEGIN of a transaction-local binding keeps its own.
    if (discards && !bind.empty() && !b.transaction_local)
        steps.back().pipelined = true;
    for (auto& s : bind)
        steps.push_back(std::move(s));
    return steps;
}

} // namespace qail::pool
