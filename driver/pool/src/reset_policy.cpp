// Deterministic release: the SQL of each reset policy, the end of a left-open
// transaction, and the tenant/user binding as connection preamble steps.
#include <qail/pool/reset.hpp>

#include <array>
#include <optional>
#include <string>
#include <utility>

namespace qail::pool {
namespace {

// DISCARD ALL minus DEALLOCATE ALL (protocol-level statements survive: the driver's
// cache and a proxy's) and minus DISCARD PLANS (only a cache). Each may run inside the
// implicit transaction block of an extended-protocol pipeline (DISCARD ALL may not, which
// is why it is never one of them). SQL-level PREPAREd statements are not here: their
// names are unknown, so a connection that may hold any gets DISCARD ALL instead
// (leftover::statements_unknown). The function is schema-qualified so that nothing a
// borrower created can shadow it. It comes last: preamble_for folds it into the binding.
constexpr std::array<std::string_view, 7> smart_reset = {
    "CLOSE ALL",
    "SET SESSION AUTHORIZATION DEFAULT",
    "RESET ALL",
    "UNLISTEN *",
    "DISCARD TEMP",
    "DISCARD SEQUENCES",
    "SELECT pg_catalog.pg_advisory_unlock_all()",
};
constexpr std::string_view advisory_unlock = "pg_catalog.pg_advisory_unlock_all()";

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

reset_policy effective_reset(const leftover& left, const pool_config& config) noexcept {
    return config.reset == reset_policy::smart && left.statements_unknown
               ? reset_policy::discard_all
               : config.reset;
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
    std::vector<client::preamble_step> steps;
    switch (policy) {
    case reset_policy::smart:
        for (const std::string_view sql : smart_reset) {
            steps.emplace_back(std::string(sql), std::vector<client::param>{}, true);
            steps.back().keep = true;
        }
        break;
    case reset_policy::discard_all:
        steps.emplace_back(std::string(discard_all));
        break;
    case reset_policy::none:
        break;
    }
    return steps;
}

std::vector<client::preamble_step> binding_steps(const binding& b, const pool_config& config,
                                                 bool settings_in_place, std::string_view lead) {
    std::vector<client::preamble_step> steps;
    if (b.transaction_local)
        steps.push_back({"BEGIN", {}});
    const std::string_view is_local = b.transaction_local ? "true" : "false";
    std::string sql;
    if (!lead.empty()) {
        sql = "SELECT ";
        sql += lead;
    }
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
    if (!params.empty()) {
        steps.emplace_back(std::move(sql), std::move(params));
        steps.back().keep = true;
    }
    return steps;
}

bool resets(const leftover& left, const pool_config& config) noexcept {
    return (left.dirty && config.reset != reset_policy::none) ||
           left.transaction != client::transaction_state::idle;
}

std::vector<client::preamble_step> preamble_for(const leftover& left, const binding& b,
                                                const pool_config& config, bool settings_in_place) {
    std::vector<client::preamble_step> steps = end_transaction_steps(left);
    std::optional<reset_policy> policy;
    if (left.dirty || !steps.empty()) {
        policy = effective_reset(left, config);
        for (auto& s : reset_steps(*policy))
            steps.push_back(std::move(s));
    }
    if (!policy || *policy == reset_policy::none || b.transaction_local) {
        // Nothing to share a Sync with, or a BEGIN that must follow a Sync of its own.
        if (policy && *policy != reset_policy::none)
            steps.back().pipelined = false;
        for (auto& s : binding_steps(b, config, settings_in_place))
            steps.push_back(std::move(s));
        return steps;
    }
    // The reset shares the session binding's Sync; the smart reset's last step, the
    // advisory unlock, becomes the first item of the binding's SELECT.
    const bool smart = *policy == reset_policy::smart;
    auto bind = binding_steps(b, config, settings_in_place, smart ? advisory_unlock : "");
    if (bind.empty()) {
        steps.back().pipelined = false;
        return steps;
    }
    if (smart)
        steps.pop_back();
    steps.back().pipelined = true;
    for (auto& s : bind)
        steps.push_back(std::move(s));
    return steps;
}

} // namespace qail::pool
