// What a session tracks of the messages it relays: the answer each owes (the expect
// queue, with the answers the proxy gives itself), named prepared statements mapped to
// the proxy's server-side ones, and the setting changes a transaction commits.
#include "session/session.hpp"

#include <algorithm>

namespace qail::proxy::detail {

namespace {
std::string simple_message(char type) {
    return std::string{type, '\0', '\0', '\0', '\4'};
}

// CommandComplete "DEALLOCATE" and ReadyForQuery, as the server answers DEALLOCATE name.
std::string deallocate_answer(char status) {
    std::string out{'C', '\0', '\0', '\0', static_cast<char>(4 + 11)};
    out.append("DEALLOCATE");
    out.push_back('\0');
    wire::ready(out, status);
    return out;
}
} // namespace

std::shared_ptr<statement_def>& session::current_def(std::shared_ptr<statement_def>& def) {
    if (def->stale)
        def = db_->statements.get(def->query, def->param_types);
    return def;
}

void session::prepare_on_backend(const std::shared_ptr<statement_def>& def, std::string& to_server,
                                 bool swallow) {
    if (auto victim = backend_stmts_->add(def->server_name)) {
        write_target(to_server, 'C', 'S', *victim);
        expects_.push_back({expect::kind::close, true, false, {}, nullptr});
        ctx_.state->metrics().prepared(prepared_event::evicted);
    }
    write_parse(to_server, def->server_name, def->query, def->param_types);
    expects_.push_back({expect::kind::parse, swallow, false, {}, def});
    ctx_.state->metrics().prepared(prepared_event::prepared);
}

void session::forward_message(char type, bool whole, std::string_view bytes, std::string& to_server,
                              bool names_statements) {
    if (type == 'S' || type == 'Q' || type == 'F') {
        ++pending_ready_;
        query_started_.push_back(event_at_);
        unsynced_ = false;
    } else if (type != 'd' && type != 'c' && type != 'f' && type != 'H') {
        unsynced_ = true;
    }
    using k = expect::kind;
    auto plain = [&](k what) {
        to_server.append(bytes);
        expects_.emplace_back(what);
    };
    const std::string_view body = whole ? bytes.substr(5) : std::string_view{};
    switch (type) {
    case 'P': {
        if (whole && !body.empty() && body[0] == '\0') {
            // The unnamed statement (most drivers' every query): nothing to map.
            unnamed_changes_ = std::move(incoming_changes_);
            return plain(k::parse);
        }
        const auto f = whole ? read_parse(body) : std::nullopt;
        if (f && f->name.empty())
            unnamed_changes_ = std::move(incoming_changes_);
        if (!f || f->name.empty())
            return plain(k::parse);
        auto def = db_->statements.get(f->query, f->param_types);
        statements_.insert_or_assign(std::string(f->name), def);
        ctx_.state->metrics().prepared(prepared_event::mapped);
        if (backend_stmts_->touch(def->server_name)) {
            // The backend has it: answer ParseComplete without a round trip.
            expects_.push_back({k::synth, false, false, simple_message('1'), nullptr});
            return;
        }
        prepare_on_backend(def, to_server, false);
        return;
    }
    case 'B': {
        if (whole && body.size() >= 2 && body[0] == '\0' && body[1] == '\0') {
            // The unnamed portal of the unnamed statement.
            if (!unnamed_changes_.empty() || !portal_changes_.empty())
                note_portal({}, unnamed_changes_);
            return plain(k::bind);
        }
        const auto f = whole ? read_bind(body) : std::nullopt;
        if (f && f->statement.empty() && (!unnamed_changes_.empty() || !portal_changes_.empty()))
            note_portal(f->portal, unnamed_changes_);
        if (!f || f->statement.empty())
            return plain(k::bind);
        const auto it = statements_.find(f->statement);
        if (it == statements_.end())
            return plain(k::bind); // the server reports 26000 with the client's name
        auto& def = current_def(it->second);
        if (def->touches_settings)
            settings_touched_ = true;
        if (def->touches_statements)
            statements_touched_ = true;
        if (!def->changes.empty() || !portal_changes_.empty())
            note_portal(f->portal, def->changes);
        if (!backend_stmts_->touch(def->server_name))
            prepare_on_backend(def, to_server, true);
        write_bind(to_server, f->portal, def->server_name, f->rest);
        expects_.push_back({k::bind, false, false, {}, def});
        return;
    }
    case 'D':
    case 'C': {
        const k what = type == 'D' ? k::describe : k::close;
        if (whole && !body.empty() && body[0] == 'P')
            return plain(what); // a portal: the names the proxy maps are statements'
        const auto f = whole ? read_target(body) : std::nullopt;
        if (!f || f->kind != 'S' || f->name.empty())
            return plain(what);
        const auto it = statements_.find(f->name);
        if (it == statements_.end() && type == 'C') {
            // Every name a client prepared is in statements_, so this one names nothing
            // of its own (PostgreSQL answers CloseComplete too). Forwarded, it could close
            // a statement of the proxy's or the pool's, which the next client needs.
            expects_.push_back({k::synth, false, false, simple_message('3'), nullptr});
            return;
        }
        if (it == statements_.end())
            return plain(what);
        if (type == 'C') {
            // The server-side statement stays for other clients; the name is gone.
            statements_.erase(it);
            expects_.push_back({k::synth, false, false, simple_message('3'), nullptr});
            return;
        }
        auto& def = current_def(it->second);
        if (!backend_stmts_->touch(def->server_name))
            prepare_on_backend(def, to_server, true);
        write_target(to_server, 'D', 'S', def->server_name);
        expects_.push_back({k::describe, false, false, {}, def});
        return;
    }
    case 'E':
        plain(k::execute);
        if (whole && !portal_changes_.empty()) {
            const std::string_view portal = body.substr(0, body.find('\0'));
            for (const auto& [name, changes] : portal_changes_)
                if (name == portal)
                    expects_.back().changes = changes;
        }
        return;
    case 'S':
        return plain(k::sync);
    case 'F':
        return plain(k::query);
    case 'Q': {
        if (!whole || !names_statements)
            return plain(k::query);
        const std::string_view sql = body.substr(0, body.empty() ? 0 : body.size() - 1);
        std::string name;
        switch (classify_deallocate(sql, name)) {
        case sql_deallocate::none:
            return plain(k::query);
        case sql_deallocate::all:
            return plain(k::query); // the CommandComplete tag clears the mappings
        case sql_deallocate::one: {
            const auto it = statements_.find(name);
            if (it == statements_.end())
                return plain(k::query);
            // The client's name is the proxy's: deallocate the server statement here.
            const auto def = it->second;
            statements_.erase(it);
            if (!backend_stmts_->contains(def->server_name)) {
                // Not on this backend (a reset dropped it): only the name goes, answered
                // here; this Query owes no ReadyForQuery from the server.
                --pending_ready_;
                query_started_.pop_back();
                expects_.push_back(
                    {k::synth, false, false, deallocate_answer(last_status_), nullptr});
                return;
            }
            backend_stmts_->erase(def->server_name);
            std::string rewritten = "DEALLOCATE \"" + def->server_name + "\"";
            to_server.push_back('Q');
            const auto len = static_cast<std::uint32_t>(rewritten.size() + 1 + 4);
            for (int shift = 24; shift >= 0; shift -= 8)
                to_server.push_back(static_cast<char>((len >> shift) & 0xFFU));
            to_server.append(rewritten);
            to_server.push_back('\0');
            expects_.push_back({k::query, false, false, {}, nullptr});
            return;
        }
        }
        return plain(k::query);
    }
    default:
        to_server.append(bytes); // Flush, COPY data: no answer of their own
        return;
    }
}

void session::emit_synth_due(std::string& out) {
    while (!expects_.empty() && expects_.front().what == expect::kind::synth) {
        out.append(expects_.front().bytes);
        expects_.pop_front();
    }
}

// Without a backend, some messages need none: a Parse of a statement some backend already
// accepted, a Close of a client name, a Flush, a Sync after only those, and a SQL
// DEALLOCATE of a client's name (the server statement is the proxy's, shared).
// `names_statements`: false when the message's SQL was seen not to say DEALLOCATE.
bool session::answer_locally(char type, std::string_view bytes, bool names_statements) {
    using k = expect::kind;
    const std::string_view body = bytes.substr(5);
    switch (type) {
    case 'Q': {
        if (!names_statements)
            return false; // no DEALLOCATE in it
        std::string name;
        const std::string_view sql = body.substr(0, body.find('\0'));
        if (classify_deallocate(sql, name) != sql_deallocate::one || statements_.erase(name) == 0)
            return false;
        expects_.push_back({k::synth, false, false, deallocate_answer('I'), nullptr});
        return true;
    }
    case 'S': {
        std::string z;
        wire::ready(z, 'I');
        expects_.push_back({k::synth, false, false, std::move(z), nullptr});
        return true;
    }
    case 'H':
        return true;
    case 'P': {
        if (!body.empty() && body[0] == '\0')
            return false; // the unnamed statement is prepared on the backend
        const auto f = read_parse(body);
        if (!f || f->name.empty())
            return false;
        auto def = db_->statements.get(f->query, f->param_types);
        if (!def->validated || def->stale)
            return false;
        statements_.insert_or_assign(std::string(f->name), std::move(def));
        ctx_.state->metrics().prepared(prepared_event::mapped);
        expects_.push_back({k::synth, false, false, simple_message('1'), nullptr});
        return true;
    }
    case 'C': {
        const auto f = read_target(body);
        if (!f || f->kind != 'S' || f->name.empty())
            return false;
        if (const auto it = statements_.find(f->name); it != statements_.end())
            statements_.erase(it);
        expects_.push_back({k::synth, false, false, simple_message('3'), nullptr});
        return true;
    }
    default:
        return false;
    }
}

void session::note_portal(std::string_view portal, std::vector<setting_change> changes) {
    for (auto it = portal_changes_.begin(); it != portal_changes_.end(); ++it) {
        if (it->first == portal) {
            portal_changes_.erase(it);
            break;
        }
    }
    if (!changes.empty())
        portal_changes_.emplace_back(std::string(portal), std::move(changes));
}

// A transaction ended well: its confirmed setting changes become the client's.
void session::commit_changes() {
    if (!txn_changes_.empty())
        params_dirty_ = true;
    for (auto& c : txn_changes_) {
        switch (c.what) {
        case setting_change::kind::set:
            params_.insert_or_assign(std::move(c.name), std::move(c.value));
            break;
        case setting_change::kind::reset: {
            const auto it = startup_params_.find(c.name);
            if (it != startup_params_.end())
                params_.insert_or_assign(std::move(c.name), it->second);
            else
                params_.erase(c.name);
            break;
        }
        case setting_change::kind::reset_all: {
            // RESET ALL leaves the role and session authorization alone.
            auto keep = startup_params_;
            for (const char* name : {"role", "session_authorization"})
                if (const auto it = params_.find(name); it != params_.end())
                    keep.insert_or_assign(name, it->second);
            params_ = std::move(keep);
            break;
        }
        case setting_change::kind::none:
        case setting_change::kind::untracked:
        case setting_change::kind::savepoint: // never recorded as changes
        case setting_change::kind::release:
        case setting_change::kind::rollback_to:
        case setting_change::kind::rollback:
            break;
        }
    }
    txn_changes_.clear();
    savepoints_.clear();
}

// ROLLBACK (`to` null, or of kind rollback) drops the transaction's changes; ROLLBACK TO
// a savepoint those made since it. A savepoint not on record was set before the client's
// first SET/RESET of the transaction was seen (before savepoints_matter_): all of them
// came after it.
void session::rollback_changes(const setting_change* to) {
    if (to && to->what == setting_change::kind::rollback_to) {
        for (auto it = savepoints_.rbegin(); it != savepoints_.rend(); ++it) {
            if (it->first == to->name) {
                txn_changes_.resize(std::min(it->second, txn_changes_.size()));
                savepoints_.erase(it.base(), savepoints_.end()); // it itself stays
                return;
            }
        }
    }
    txn_changes_.clear();
    savepoints_.clear();
}

// RELEASE: the savepoint and those set after it end; their changes stay.
void session::release_savepoint(const std::string& name) {
    for (auto it = savepoints_.rbegin(); it != savepoints_.rend(); ++it) {
        if (it->first == name) {
            savepoints_.erase(std::prev(it.base()), savepoints_.end());
            return;
        }
    }
    savepoints_.clear();
}

// At every ReadyForQuery: at the end of a transaction (status I), changes still pending
// ran in an implicit transaction (autocommit, a multi-statement Query, or messages up to
// a Sync), which an error rolled back. Portals do not outlive transactions.
void session::on_ready(char status) {
    if (status == 'I') {
        if (error_since_ready_)
            txn_changes_.clear();
        else if (!txn_changes_.empty())
            commit_changes();
        savepoints_.clear();
        portal_changes_.clear();
    }
    error_since_ready_ = false;
}

bool session::on_server_message(char type, std::string_view bytes) {
    using k = expect::kind;
    if (type == 'E')
        error_since_ready_ = true;
    // A tag ending in a digit counts rows (SELECT 1, INSERT 0 1, UPDATE 3...): none of
    // the tags below, which all end in a letter, so they are not compared with it.
    if (type == 'C' && bytes.size() > 6 &&
        (bytes[bytes.size() - 2] < '0' || bytes[bytes.size() - 2] > '9')) {
        // However it was sent (simple or extended protocol), a completed DEALLOCATE ALL
        // or DISCARD ALL dropped every statement on this backend, the client's included.
        const auto tag = bytes.substr(5, bytes.size() - 6);
        if (tag == "DEALLOCATE ALL" || tag == "DISCARD ALL") {
            if (backend_stmts_)
                backend_stmts_->clear();
            statements_.clear();
            statements_touched_ = true; // the pool's kept reset statements went too
        }
        // Settings: each SET/RESET tag confirms the next change of its Query or portal
        // (and SAVEPOINT, RELEASE and ROLLBACK the next of theirs); COMMIT makes the
        // transaction's changes the client's, ROLLBACK drops them, ROLLBACK TO those
        // since its savepoint.
        const auto confirmed = [&]() -> const setting_change* {
            if (expects_.empty())
                return nullptr;
            auto& head = expects_.front();
            if ((head.what != k::query && head.what != k::execute) ||
                head.next_change >= head.changes.size() ||
                !head.changes[head.next_change].answered_by(tag))
                return nullptr;
            return &head.changes[head.next_change++];
        };
        if (tag == "SET" || tag == "RESET") {
            if (const auto* c = confirmed(); c && c->what != setting_change::kind::none)
                txn_changes_.push_back(*c);
        } else if (tag == "SAVEPOINT") {
            if (const auto* c = confirmed())
                savepoints_.emplace_back(c->name, txn_changes_.size());
        } else if (tag == "RELEASE") {
            if (const auto* c = confirmed())
                release_savepoint(c->name);
        } else if (tag == "COMMIT") {
            commit_changes();
        } else if (tag == "ROLLBACK") {
            rollback_changes(confirmed());
        } else if (tag == "DISCARD ALL") {
            txn_changes_.push_back(setting_change{setting_change::kind::reset_all, {}, {}});
        }
    }
    if (expects_.empty())
        return true;
    auto& head = expects_.front();
    if (type == 'E') {
        const auto body = bytes.substr(5);
        const auto code = wire::error_sqlstate(body);
        if (head.def && backend_stmts_) {
            if (code == "26000") {
                backend_stmts_->erase(head.def->server_name);
            } else if (code == "0A000" &&
                       wire::error_field(body, 'M').find("cached plan") != std::string_view::npos) {
                // The result type changed: forget the plan; the next use re-prepares.
                backend_stmts_->erase(head.def->server_name);
                db_->statements.retire(head.def);
            }
        }
        if (head.what == k::query) {
            head.failed = true;
            return true;
        }
        // The failing message and everything up to the next Sync were skipped.
        while (!expects_.empty() && expects_.front().what != k::sync) {
            auto& e = expects_.front();
            if (e.what == k::parse && e.def && backend_stmts_)
                backend_stmts_->erase(e.def->server_name);
            expects_.pop_front();
        }
        return true;
    }
    bool completes = false;
    switch (head.what) {
    case k::parse:
        completes = type == '1';
        break;
    case k::bind:
        completes = type == '2';
        break;
    case k::describe:
        completes = type == 'T' || type == 'n';
        break;
    case k::execute:
        completes = type == 'C' || type == 'I' || type == 's';
        break;
    case k::close:
        completes = type == '3';
        break;
    case k::sync:
    case k::query:
        completes = type == 'Z';
        break;
    case k::synth:
        break;
    }
    if (!completes) {
        if (type == 'Z') {
            // Out of step (should not happen): resynchronise at this ReadyForQuery.
            while (!expects_.empty() && expects_.front().what != k::sync &&
                   expects_.front().what != k::query)
                expects_.pop_front();
            if (!expects_.empty())
                expects_.pop_front();
        }
        return true;
    }
    if (head.what == k::parse && head.def)
        head.def->validated = true;
    const bool forward = !head.swallow;
    expects_.pop_front();
    return forward;
}

} // namespace qail::proxy::detail
