// One PostgreSQL-wire client: startup, login at the proxy, then relaying its
// transactions to pooled backends (session, transaction or statement mode).
//
// Two coroutines share the session on its worker thread: the client reader (client ->
// server) and, while a backend is linked, the server pump (server -> client). The
// reader links a backend at the first message that needs one; the pump releases it at
// the ReadyForQuery that ends the unit of work the mode pools by. Bodies are not
// decoded on this path except ReadyForQuery, ParameterStatus and ErrorResponse codes.
#include "session/client_session.hpp"

#include "session/wire.hpp"

#include <qail/client/sql_text.hpp>
#include <qail/client/tls.hpp>
#include <qail/protocol/startup.hpp>
#include <qail/protocol/tags.hpp>
#include <qail/proxy/prepared.hpp>
#include <qail/proxy/relay_scanner.hpp>
#include <qail/proxy/session_sql.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <spdlog/spdlog.h>
#include <unordered_map>

namespace qail::proxy {

namespace asio = boost::asio;
namespace proto = qail::protocol;
using clock = std::chrono::steady_clock;

namespace {

// Read buffers start small (an idle client costs little memory) and double, up to
// read_chunk, whenever a read fills them (COPY, large results).
constexpr std::size_t first_chunk = 8 * 1024;
constexpr std::size_t read_chunk = 64 * 1024;
constexpr std::size_t whole_limit = 64 * 1024;

// A message of `needed` bytes starts at `begin` of `buf` (read up to `end`) and is not
// all there: moves the unread bytes to the front when the message would not fit behind
// them, and grows `buf` when it cannot hold the message at all.
void make_room(std::string& buf, std::size_t& begin, std::size_t& end, std::size_t needed) {
    if (begin + needed <= buf.size())
        return;
    std::memmove(buf.data(), buf.data() + begin, end - begin);
    end -= begin;
    begin = 0;
    if (needed > buf.size())
        buf.resize(needed);
}

// Startup parameters that are not run-time settings to re-apply on every backend.
bool is_connection_parameter(std::string_view name) {
    return name == "user" || name == "database" || name == "replication" || name == "options" ||
           name.starts_with("_pq_.");
}

// Run-time settings a server reports with ParameterStatus when they change; a client's
// own values are tracked from those reports and re-applied on every backend it uses.
bool is_tracked_report(std::string_view name) {
    return name == "application_name" || name == "client_encoding" || name == "DateStyle" ||
           name == "IntervalStyle" || name == "TimeZone" || name == "search_path" ||
           name == "standard_conforming_strings" || name == "extra_float_digits";
}

// Setting names are case-insensitive; the session keys them in lower case.
std::string lower_name(std::string_view name) {
    std::string out(name);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Splits "-c a=b -c c=d --e=f" (libpq's options) into settings; backslash escapes a space.
std::vector<std::pair<std::string, std::string>> parse_options(std::string_view options) {
    std::vector<std::string> words;
    std::string cur;
    bool escape = false;
    for (const char c : options) {
        if (escape) {
            cur.push_back(c);
            escape = false;
        } else if (c == '\\') {
            escape = true;
        } else if (c == ' ' || c == '\t') {
            if (!cur.empty())
                words.push_back(std::move(cur));
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    if (!cur.empty())
        words.push_back(std::move(cur));
    std::vector<std::pair<std::string, std::string>> out;
    for (std::size_t i = 0; i < words.size(); ++i) {
        std::string_view w = words[i];
        if (w == "-c" && i + 1 < words.size())
            w = words[++i];
        else if (w.starts_with("-c"))
            w.remove_prefix(2);
        else if (w.starts_with("--"))
            w.remove_prefix(2);
        else
            continue;
        const std::size_t eq = w.find('=');
        if (eq == std::string_view::npos || eq == 0)
            continue;
        std::string name(w.substr(0, eq));
        for (char& ch : name)
            if (ch == '-')
                ch = '_';
        out.emplace_back(std::move(name), std::string(w.substr(eq + 1)));
    }
    return out;
}

class session : public std::enable_shared_from_this<session> {
public:
    session(session_context ctx, client_stream stream, std::string peer, asio::any_io_executor ex)
        : ctx_(std::move(ctx)), stream_(std::move(stream)), peer_(std::move(peer)), executor_(ex),
          client_scanner_(64 * 1024 * 1024, whole_limit),
          server_scanner_(std::size_t{1} << 30, whole_limit) {
        // Client messages the pooler looks at.
        for (const char t : {'Q', 'P', 'B', 'D', 'C'})
            client_scanner_.require_whole(t);
        // Server messages the pooler looks at; DataRow and CopyData may stream.
        for (const char t : {'Z', 'S', 'E', 'K', 'R', 'N', 'A'})
            server_scanner_.require_whole(t);
    }

    asio::awaitable<void> run();

private:
    // --- startup and login ---
    asio::awaitable<bool> startup();
    asio::awaitable<bool> authenticate(const proto::startup_message& sm);
    asio::awaitable<bool> greet();
    asio::awaitable<std::optional<std::string>> read_auth_response();

    // --- relaying ---
    asio::awaitable<void> client_loop();
    bool link_now(const pool::binding& b);
    bool waited(std::optional<pool::pooled_connection>& conn, const client::error& e,
                clock::time_point started, std::string& out);
    const pool::binding& current_binding();
    void linked(pool::pooled_connection conn, clock::time_point at);
    asio::awaitable<void> server_pump();
    void release_backend(clock::time_point now = clock::now());
    void cancel_backend();
    asio::awaitable<void> idle_watchdog(std::chrono::milliseconds client_idle,
                                        std::chrono::milliseconds idle_in_transaction);

    // --- client output: one writer at a time ---
    bool send_to_client_now(std::string& bytes);
    asio::awaitable<bool> send_to_client(std::string& bytes);
    asio::awaitable<void> fatal(std::string_view sqlstate, std::string_view message);
    void set_state(std::optional<client_state> s);

    session_context ctx_;
    client_stream stream_;
    std::string peer_;
    asio::any_io_executor executor_;
    relay_scanner client_scanner_;
    relay_scanner server_scanner_;

    // Identity.
    std::string user_;
    std::string database_name_;
    std::shared_ptr<database_state> db_;
    std::optional<user_config> user_cfg_;
    std::int32_t protocol_ = proto::request_code::protocol_3_0;
    std::int32_t pid_ = 0;
    std::shared_ptr<session_handle> handle_;
    // The client's settings (lower-case names), re-applied on every backend it uses:
    // from its startup packet, then SET/RESET it ran and the server confirmed.
    std::map<std::string, std::string, std::less<>> params_;
    std::map<std::string, std::string, std::less<>> startup_params_; // RESET's target
    std::vector<setting_change> txn_changes_; // confirmed, in a transaction not yet ended
    // The transaction's savepoints since savepoints_matter_, each with the size
    // txn_changes_ had when it was set: ROLLBACK TO drops what came after.
    std::vector<std::pair<std::string, std::size_t>> savepoints_;
    bool savepoints_matter_ = false; // set at the client's first SET/RESET: scan for them
    bool error_since_ready_ = false; // an ErrorResponse since the last ReadyForQuery
    std::vector<setting_change> unnamed_changes_; // those of the unnamed statement
    std::vector<std::pair<std::string, std::vector<setting_change>>> portal_changes_;
    std::vector<setting_change> incoming_changes_; // of the Query/Parse being forwarded
    // What this client's transactions borrow with: tenant and user (set at login) and
    // params_ as settings, rebuilt when params_dirty_; a backend that already has them
    // (no reset since an equal list) is not sent them again.
    pool::binding binding_;
    bool params_dirty_ = true;
    bool settings_touched_ = false;   // the linked backend may have had settings changed
    bool statements_touched_ = false; // ... or prepared statements created or dropped
    clock::time_point connected_at_ = clock::now();

    // Client input buffer.
    std::string rx_;
    std::size_t rx_begin_ = 0, rx_end_ = 0;

    // Link state.
    std::shared_ptr<pool::pooled_connection> backend_;
    std::size_t pending_ready_ = 0; // Syncs/Queries forwarded and not yet answered
    // When each of those was forwarded, oldest first from query_head_ (for
    // query_duration_seconds); cleared, keeping its capacity, whenever all are answered.
    std::vector<clock::time_point> query_started_;
    std::size_t query_head_ = 0;
    bool unsynced_ = false;        // extended-protocol messages sent since the last Sync
    bool skip_until_sync_ = false; // after a failed link, drop messages until Sync
    char last_status_ = 'I';
    bool closing_ = false;
    clock::time_point last_activity_ = clock::now(); // last client message or ReadyForQuery
    std::string close_reason_; // for the disconnect log line: the first cause recorded
    std::optional<asio::steady_timer> idle_timer_; // the idle watchdog's, when running
    clock::time_point linked_at_{};
    // When the event being handled happened: the last read from the client, or the end of
    // a wait for a backend (one clock read for every use in between).
    clock::time_point event_at_{};
    std::optional<client_state> state_;

    // The server pump lives as long as the session and sleeps on pump_wake_ while no
    // backend is linked; a link sets pump_swallow_ (answers to the preamble, not the
    // client's) and wakes it. Cheaper than a coroutine spawned per transaction.
    asio::cancellation_signal pump_cancel_;
    std::optional<asio::steady_timer> pump_wake_;
    std::size_t pump_swallow_ = 0;
    client::error wait_error_; // why the last wait for a backend failed
    std::string pump_buf_;     // the server pump's read buffer and client batch, kept between
    std::string pump_out_;     // links so a transaction allocates nothing for them

    // Extended protocol: what each forwarded message will be answered with, in order,
    // so the proxy can hide answers to its own messages and answer some itself.
    struct expect {
        enum class kind : std::uint8_t {
            parse,
            bind,
            describe,
            execute,
            close,
            sync,
            query,
            synth
        };
        expect(kind w, bool sw, bool f, std::string b, std::shared_ptr<statement_def> d)
            : what(w), swallow(sw), failed(f), bytes(std::move(b)), def(std::move(d)) {}

        kind what = kind::sync;
        bool swallow = false;                // an answer to the proxy's own message: not forwarded
        bool failed = false;                 // an ErrorResponse arrived for it
        std::string bytes;                   // synth: the message to send the client
        std::shared_ptr<statement_def> def;  // the mapped statement it concerns
        std::vector<setting_change> changes; // query/execute: its SETs/RESETs, in order
        std::size_t next_change = 0;
    };
    std::deque<expect> expects_;
    // Client statement names; looked up by string_view on every Bind (no key copy).
    struct name_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, std::shared_ptr<statement_def>, name_hash, std::equal_to<>>
        statements_;
    std::shared_ptr<backend_statements> backend_stmts_;

    void forward_message(char type, bool whole, std::string_view bytes, std::string& to_server);
    bool answer_locally(char type, std::string_view bytes);
    void prepare_on_backend(const std::shared_ptr<statement_def>& def, std::string& to_server,
                            bool swallow);
    std::shared_ptr<statement_def>& current_def(std::shared_ptr<statement_def>& def);
    void emit_synth(std::string& out);
    bool on_server_message(char type, std::string_view bytes);
    void on_ready(char status);
    void commit_changes();
    void rollback_changes(const setting_change* to);
    void release_savepoint(const std::string& name);
    void note_portal(std::string_view portal, std::vector<setting_change> changes);

    // Client output.
    bool writing_ = false;
    std::string pending_out_;
    bool client_ok_ = true;
};

void session::set_state(std::optional<client_state> s) {
    if (s == state_)
        return;
    ctx_.state->metrics().client_state_changed(state_, s);
    state_ = s;
    if (handle_ && s)
        handle_->state.store(static_cast<int>(*s));
}

// The common case of send_to_client, without a coroutine: when no write is in progress
// and the socket takes everything at once. Returns false when the caller must still
// co_await send_to_client(bytes) for what is left (then in `bytes`).
bool session::send_to_client_now(std::string& bytes) {
    if (bytes.empty() || !client_ok_)
        return true;
    if (writing_) {
        pending_out_.append(bytes);
        bytes.clear();
        return true;
    }
    boost::system::error_code ec;
    const std::size_t n = stream_.write_now(asio::buffer(bytes), ec);
    if (ec) {
        client_ok_ = false;
        bytes.clear();
        return true;
    }
    ctx_.state->metrics().bytes(false, n);
    bytes.erase(0, n);
    return bytes.empty();
}

asio::awaitable<bool> session::send_to_client(std::string& bytes) {
    if (bytes.empty())
        co_return client_ok_;
    if (writing_) {
        pending_out_.append(bytes);
        bytes.clear();
        co_return client_ok_;
    }
    writing_ = true;
    std::string out;
    out.swap(bytes);
    while (client_ok_ && !out.empty()) {
        ctx_.state->metrics().bytes(false, out.size());
        auto [ec, n] =
            co_await stream_.async_write(asio::buffer(out), asio::as_tuple(asio::use_awaitable));
        if (ec) {
            client_ok_ = false;
            break;
        }
        out.clear();
        out.swap(pending_out_);
    }
    writing_ = false;
    bytes.swap(out); // hand the (cleared) buffer back for reuse
    bytes.clear();
    co_return client_ok_;
}

asio::awaitable<void> session::fatal(std::string_view sqlstate, std::string_view message) {
    std::string out;
    wire::error(out, "FATAL", sqlstate, message);
    if (close_reason_.empty())
        close_reason_ = std::string(message);
    (void)co_await send_to_client(out);
    closing_ = true;
}

asio::awaitable<void> session::run() {
    set_state(client_state::authenticating);
    const bool ok = co_await startup();
    if (ok) {
        const auto cfg = ctx_.state->current();
        const auto idle = cfg->limits.client_idle_timeout;
        const auto idle_txn = cfg->limits.idle_transaction_timeout;
        if (idle.count() > 0 || idle_txn.count() > 0) {
            asio::co_spawn(executor_, idle_watchdog(idle, idle_txn), asio::detached);
        }
        pump_wake_.emplace(executor_);
        asio::co_spawn(
            executor_,
            [self = shared_from_this()]() -> asio::awaitable<void> {
                co_await self->server_pump();
            },
            asio::bind_cancellation_slot(pump_cancel_.slot(), [peer = peer_](std::exception_ptr e) {
                if (!e)
                    return;
                try {
                    std::rethrow_exception(e);
                } catch (const boost::system::system_error& ex) {
                    if (ex.code() != asio::error::operation_aborted)
                        spdlog::error("client {}: server pump failed: {}", peer, ex.what());
                } catch (const std::exception& ex) {
                    spdlog::error("client {}: server pump failed: {}", peer, ex.what());
                }
            }));
        co_await client_loop();
    }
    closing_ = true;
    if (idle_timer_)
        idle_timer_->cancel();
    if (pump_wake_) {
        pump_cancel_.emit(asio::cancellation_type::terminal);
        pump_wake_->cancel();
    }
    release_backend();
    stream_.close();
    if (pid_ != 0)
        ctx_.state->unregister_session(pid_);
    set_state(std::nullopt);
    if (!user_.empty())
        spdlog::info("client {} disconnected: user={} database={} duration={:.3f}s reason={}",
                     peer_, user_, database_name_,
                     std::chrono::duration<double>(clock::now() - connected_at_).count(),
                     close_reason_.empty() ? std::string_view("connection closed by the client")
                                           : std::string_view(close_reason_));
}

// --- startup --------------------------------------------------------------------------------

asio::awaitable<bool> session::startup() {
    const auto cfg = ctx_.state->current();
    proto::limits lim;
    lim.max_startup_size = 10000;
    std::string buf;
    std::size_t have = 0;
    bool tls_done = false;
    for (;;) {
        auto d = proto::decode_startup(std::string_view{buf.data(), have}, lim);
        if (d.error) {
            spdlog::warn("client {}: invalid startup packet ({}); closed", peer_,
                         d.error.message());
            co_await fatal("08P01", "invalid startup packet layout");
            co_return false;
        }
        if (d.needs_more()) {
            if (buf.size() < have + d.need)
                buf.resize(have + std::max<std::size_t>(d.need, 512));
            auto [ec, n] =
                co_await stream_.read_some(asio::buffer(buf.data() + have, buf.size() - have));
            if (ec) {
                if (have > 0)
                    spdlog::info("client {}: left during startup ({})", peer_, ec.message());
                co_return false;
            }
            have += n;
            continue;
        }
        // A complete packet; remember what follows it.
        const std::string rest = buf.substr(d.size, have - d.size);
        if (std::holds_alternative<proto::ssl_request>(d.message)) {
            if (!rest.empty()) {
                spdlog::warn("client {}: data after SSLRequest; closed", peer_);
                co_return false;
            }
            const bool offer = ctx_.tls && stream_.is_tcp() && !tls_done;
            std::string answer(1, offer ? 'S' : 'N');
            if (auto ec = co_await stream_.write(asio::buffer(answer)))
                co_return false;
            if (offer) {
                if (stream_.available() != 0) {
                    spdlog::warn("client {}: plaintext injected before the TLS handshake; closed",
                                 peer_);
                    co_return false;
                }
                const auto ec = co_await stream_.start_tls(*ctx_.tls);
                ctx_.state->metrics().tls_handshake(!ec);
                if (ec) {
                    spdlog::warn("client {}: TLS handshake failed: {}", peer_, ec.message());
                    co_return false;
                }
                tls_done = true;
            }
            have = 0;
            continue;
        }
        if (std::holds_alternative<proto::gssenc_request>(d.message)) {
            std::string answer(1, 'N');
            if (auto ec = co_await stream_.write(asio::buffer(answer)))
                co_return false;
            buf = rest;
            have = buf.size();
            continue;
        }
        if (const auto* c = std::get_if<proto::cancel_request>(&d.message)) {
            ctx_.state->cancel(c->process_id, c->secret_key);
            co_return false;
        }
        const auto& sm = std::get<proto::startup_message>(d.message);
        if (!rest.empty()) {
            // A client must wait for authentication before sending anything else.
            co_await fatal("08P01", "unexpected data after the startup packet");
            co_return false;
        }
        if (cfg->tls.enabled() && cfg->tls.mode == tls_mode::require && stream_.ssl() == nullptr) {
            co_await fatal("28000", "this server accepts only TLS connections (sslmode=require)");
            co_return false;
        }
        co_return co_await authenticate(sm);
    }
}

asio::awaitable<std::optional<std::string>> session::read_auth_response() {
    // One 'p' message; small (a SASL message or a password).
    std::string buf(5, '\0');
    std::size_t have = 0;
    while (have < 5) {
        auto [ec, n] = co_await stream_.read_some(asio::buffer(buf.data() + have, 5 - have));
        if (ec)
            co_return std::nullopt;
        have += n;
    }
    if (buf[0] != 'p')
        co_return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(buf.data() + 1);
    const std::uint32_t len = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                              (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    if (len < 4 || len > 64 * 1024)
        co_return std::nullopt;
    std::string body(len - 4, '\0');
    have = 0;
    while (have < body.size()) {
        auto [ec, n] =
            co_await stream_.read_some(asio::buffer(body.data() + have, body.size() - have));
        if (ec)
            co_return std::nullopt;
        have += n;
    }
    co_return body;
}

asio::awaitable<bool> session::authenticate(const proto::startup_message& sm) {
    const auto cfg = ctx_.state->current();
    if (proto::protocol_major(sm.version) != 3) {
        co_await fatal("0A000", "unsupported frontend protocol");
        co_return false;
    }
    std::vector<std::string> unsupported_options;
    for (const auto& p : sm.params) {
        if (p.name == "user")
            user_ = std::string(p.value);
        else if (p.name == "database")
            database_name_ = std::string(p.value);
        else if (p.name == "replication") {
            if (p.value != "false" && p.value != "0" && p.value != "off" && p.value != "no") {
                co_await fatal("08P01", "replication connections are not supported by qail-proxy");
                co_return false;
            }
        } else if (p.name == "options") {
            for (auto& [k, v] : parse_options(p.value))
                params_.insert_or_assign(lower_name(k), std::move(v));
        } else if (p.name.starts_with("_pq_.")) {
            unsupported_options.emplace_back(p.name);
        } else if (!is_connection_parameter(p.name)) {
            params_.insert_or_assign(lower_name(p.name), std::string(p.value));
        }
    }
    startup_params_ = params_;
    if (user_.empty()) {
        co_await fatal("28000", "no PostgreSQL user name specified in startup packet");
        co_return false;
    }
    if (database_name_.empty())
        database_name_ = user_;
    const std::int32_t newest = proto::request_code::protocol_3_2;
    protocol_ = std::min(sm.version, newest);
    std::string out;
    if (sm.version > newest || !unsupported_options.empty()) {
        proto::writer w(out);
        proto::encode_negotiate_protocol_version(w, newest, unsupported_options);
    }

    db_ = ctx_.state->database(database_name_);
    auto user = ctx_.state->find_user(user_);
    auth_context ac;
    ac.user = user_;
    if (SSL* ssl = stream_.ssl()) {
        ac.tls = true;
        ac.channel_binding_data = client::local_tls_server_end_point(ssl);
        ac.certificate_cn = client::peer_certificate_common_name(ssl);
    }
    client_authenticator auth(user ? user->second : decoy_credentials(user_), ac);
    auto st = auth.start(out);
    while (st == client_authenticator::status::in_progress) {
        if (!co_await send_to_client(out))
            co_return false;
        auto body = co_await read_auth_response();
        if (!body) {
            spdlog::info("client {}: user={} left during authentication", peer_, user_);
            co_return false;
        }
        st = auth.on_response(*body, out);
    }
    const bool allowed_db =
        user && (user->first.databases.empty() ||
                 std::find(user->first.databases.begin(), user->first.databases.end(),
                           database_name_) != user->first.databases.end());
    if (st != client_authenticator::status::ok || !user) {
        ctx_.state->metrics().auth_failure(db_ ? std::string_view{database_name_}
                                               : std::string_view{});
        spdlog::warn("client {}: authentication failed for user={} database={}: {}", peer_, user_,
                     database_name_, user ? auth.failure_reason() : "no such user");
        // The same delay whether or not the user exists.
        asio::steady_timer t(executor_, cfg->limits.auth_failure_delay);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        out.clear();
        // (Built before the co_await: GCC 12 mishandles temporaries of a conditional
        // expression inside one.)
        std::string message = "password authentication failed for user \"" + user_ + "\"";
        if (auth.mechanism() == "cert")
            message = "certificate authentication failed for user \"" + user_ + "\"";
        co_await fatal("28P01", message);
        co_return false;
    }
    if (!db_) {
        out.clear();
        co_await fatal("3D000", "database \"" + database_name_ + "\" does not exist");
        co_return false;
    }
    if (!allowed_db) {
        out.clear();
        co_await fatal("42501", "user \"" + user_ + "\" may not connect to database \"" +
                                    database_name_ + "\"");
        co_return false;
    }
    user_cfg_ = user->first;
    if (user_cfg_->tenant) {
        binding_.tenant = *user_cfg_->tenant;
        binding_.user = user_;
    }
    if (!co_await send_to_client(out))
        co_return false;
    spdlog::info("client {} logged in: user={} database={} auth={} tls={} protocol=3.{}", peer_,
                 user_, database_name_, auth.mechanism(), stream_.ssl() ? "yes" : "no",
                 proto::protocol_minor(protocol_));
    co_return co_await greet();
}

asio::awaitable<bool> session::greet() {
    // Server parameters come from the first backend of this database.
    std::vector<std::pair<std::string, std::string>> server_params;
    {
        std::lock_guard lock(db_->mutex);
        server_params = db_->server_parameters;
    }
    if (server_params.empty()) {
        auto conn = co_await db_->pool->acquire();
        if (!conn) {
            spdlog::warn("client {}: database {} unreachable: {}", peer_, database_name_,
                         conn.error().message());
            co_await fatal("08006",
                           "could not connect to the database server: " + conn.error().message());
            co_return false;
        }
        server_params = (*conn)->parameters();
        std::lock_guard lock(db_->mutex);
        db_->server_parameters = server_params;
    }
    std::string out;
    for (const auto& [name, value] : server_params) {
        const auto mine = params_.find(lower_name(name));
        wire::parameter_status(out, name, mine != params_.end() ? mine->second : value);
    }
    handle_ = std::make_shared<session_handle>();
    handle_->executor = executor_;
    handle_->address = peer_;
    handle_->user = user_;
    handle_->database = database_name_;
    handle_->connected_at = connected_at_;
    handle_->cancel = [weak = weak_from_this()] {
        if (auto self = weak.lock())
            self->cancel_backend();
    };
    std::string key;
    pid_ = ctx_.state->register_session(handle_, key,
                                        protocol_ >= proto::request_code::protocol_3_2 ? 32 : 4);
    wire::backend_key(out, pid_, key);
    wire::ready(out, 'I');
    set_state(client_state::idle);
    co_return co_await send_to_client(out);
}

// --- relaying -------------------------------------------------------------------------------

void session::cancel_backend() {
    if (!backend_)
        return;
    auto b = backend_;
    asio::co_spawn(
        executor_,
        [b]() -> asio::awaitable<void> {
            auto r = co_await (**b).cancel();
            if (!r)
                spdlog::warn("cancel request to the backend failed: {}", r.error().message());
        },
        [](std::exception_ptr e) {
            if (e)
                spdlog::error("cancel task failed with an exception");
        });
}

// Closes the client when it has been idle too long: client_idle outside a transaction,
// idle_in_transaction inside one (its backend's transaction is then rolled back by the
// pool). Idle means nothing owed by the server and no message from the client.
asio::awaitable<void> session::idle_watchdog(std::chrono::milliseconds client_idle,
                                             std::chrono::milliseconds idle_in_transaction) {
    auto self = shared_from_this();
    idle_timer_.emplace(executor_);
    auto& timer = *idle_timer_;
    for (;;) {
        const bool in_transaction = backend_ && last_status_ != 'I';
        const auto limit = in_transaction ? idle_in_transaction : client_idle;
        auto wake = last_activity_ + (limit.count() > 0 ? limit : std::chrono::milliseconds(1000));
        timer.expires_at(std::max(wake, clock::now() + std::chrono::milliseconds(10)));
        (void)co_await timer.async_wait(asio::as_tuple(asio::deferred));
        if (closing_ || !client_ok_)
            co_return;
        const bool now_in_transaction = backend_ && last_status_ != 'I';
        const auto now_limit = now_in_transaction ? idle_in_transaction : client_idle;
        if (now_limit.count() <= 0 || pending_ready_ > 0 ||
            clock::now() - last_activity_ < now_limit)
            continue;
        if (now_in_transaction) {
            spdlog::info("client {}: closed after {} ms idle in a transaction", peer_,
                         now_limit.count());
            co_await fatal("25P03", "terminating connection due to idle-in-transaction timeout "
                                    "(idle_transaction_timeout_ms)");
        } else {
            spdlog::info("client {}: closed after {} ms idle", peer_, now_limit.count());
            co_await fatal(
                "57P05",
                "terminating connection due to idle-session timeout (client_idle_timeout_ms)");
        }
        closing_ = true;
        stream_.close();
        co_return;
    }
}

void session::release_backend(clock::time_point now) {
    if (!backend_)
        return;
    const auto& name = database_name_;
    ctx_.state->metrics().transaction(name,
                                      std::chrono::duration<double>(now - linked_at_).count());
    auto& conn = **backend_;
    spdlog::debug("client {}: releasing backend pid {} (status {}, pending {}, unsynced {})", peer_,
                  conn.backend_pid(), last_status_, pending_ready_, unsynced_);
    if (settings_touched_ || params_dirty_ || db_->cfg.mode == pool_mode::session)
        backend_->settings_changed();
    settings_touched_ = false;
    if (statements_touched_)
        conn.note_statements_unknown(); // the next reset is DISCARD ALL
    statements_touched_ = false;
    conn.raw_finished(last_status_ == 'I'   ? client::transaction_state::idle
                      : last_status_ == 'T' ? client::transaction_state::in_transaction
                                            : client::transaction_state::failed);
    if (closing_ && (pending_ready_ > 0 || unsynced_))
        conn.mark_broken(); // mid-exchange: its state is unknown
    backend_.reset();
    backend_stmts_.reset();
    expects_.clear();
    pending_ready_ = 0;
    query_started_.clear();
    query_head_ = 0;
    unsynced_ = false;
    if (state_ && *state_ == client_state::active)
        set_state(client_state::idle);
}

// The binding for the next link, its settings rebuilt only after they changed.
const pool::binding& session::current_binding() {
    if (params_dirty_) {
        binding_.settings =
            params_.empty()
                ? nullptr
                : std::make_shared<const pool::settings_list>(params_.begin(), params_.end());
        params_dirty_ = false;
    }
    return binding_;
}

// Links an idle backend without suspending, when the pool has one at hand (the common
// case: no coroutine frame for link() and the pool's acquire()).
bool session::link_now(const pool::binding& b) {
    auto conn = db_->pool->try_acquire(executor_, b);
    if (!conn)
        return false;
    ctx_.state->metrics().pool_wait(database_name_, 0.0);
    linked(std::move(*conn), event_at_);
    return true;
}

// The end of a wait for a backend (or a connect): links it, or puts the error for the
// client in `out`.
bool session::waited(std::optional<pool::pooled_connection>& conn, const client::error& e,
                     clock::time_point started, std::string& out) {
    event_at_ = clock::now();
    ctx_.state->metrics().pool_wait(database_name_,
                                    std::chrono::duration<double>(event_at_ - started).count());
    if (!conn) {
        set_state(client_state::idle);
        if (e.code == pool::make_error_code(pool::pool_errc::acquire_timeout)) {
            ctx_.state->metrics().acquire_timeout(database_name_);
            wire::error(out, "ERROR", "53300",
                        "no server connection became free within query_wait_timeout");
        } else {
            wire::error(out, "ERROR", "08006", "could not get a server connection: " + e.message());
        }
        return false;
    }
    linked(std::move(*conn), event_at_);
    return true;
}

void session::linked(pool::pooled_connection conn, clock::time_point at) {
    // From Asio's per-thread cache: one per transaction in transaction mode.
    backend_ = std::allocate_shared<pool::pooled_connection>(
        asio::recycling_allocator<pool::pooled_connection>(), std::move(conn));
    auto& c = **backend_;
    spdlog::debug("client {}: linked backend pid {}", peer_, c.backend_pid());
    backend_stmts_ = std::static_pointer_cast<backend_statements>(c.attachment());
    if (!backend_stmts_) {
        backend_stmts_ = std::make_shared<backend_statements>(db_->cfg.max_prepared_statements);
        c.set_attachment(backend_stmts_);
    }
    if (backend_stmts_->forgotten != c.statements_forgotten()) {
        backend_stmts_->clear(); // the reset's DISCARD ALL dropped them
        backend_stmts_->forgotten = c.statements_forgotten();
    }
    linked_at_ = at;
    set_state(client_state::active);
}

asio::awaitable<void> session::client_loop() {
    const auto mode = db_->cfg.mode;
    const bool tenant_guard = db_->cfg.tenant_guard;
    const auto cfg = ctx_.state->current();
    const std::string tenant_setting = cfg->tenancy.tenant_setting;
    const std::string user_setting = cfg->tenancy.user_setting;
    std::string to_server;
    std::string to_client;
    rx_.resize(first_chunk);
    for (;;) {
        if (rx_begin_ == rx_end_)
            rx_begin_ = rx_end_ = 0;
        if (rx_.size() - rx_end_ < 4096 && rx_begin_ > 0) {
            std::memmove(rx_.data(), rx_.data() + rx_begin_, rx_end_ - rx_begin_);
            rx_end_ -= rx_begin_;
            rx_begin_ = 0;
        }
        auto [ec, n] =
            co_await stream_.read_some(asio::buffer(rx_.data() + rx_end_, rx_.size() - rx_end_));
        if (ec || closing_ || !client_ok_)
            co_return;
        if (rx_end_ + n == rx_.size() && rx_.size() < read_chunk)
            rx_.resize(rx_.size() * 2);
        rx_end_ += n;
        last_activity_ = event_at_ = clock::now();
        ctx_.state->metrics().bytes(true, n);
        std::shared_ptr<pool::pooled_connection> target;
        for (;;) {
            const std::string_view unread{rx_.data() + rx_begin_, rx_end_ - rx_begin_};
            const auto step = client_scanner_.next(unread);
            if (step.what == scan_step::kind::bad_length) {
                spdlog::warn("client {}: invalid message length; closed", peer_);
                co_await fatal("08P01", "invalid message length");
                closing_ = true;
                break;
            }
            if (step.what == scan_step::kind::need_more) {
                make_room(rx_, rx_begin_, rx_end_, unread.size() + step.size);
                break;
            }
            const std::string_view bytes = unread.substr(0, step.size);
            rx_begin_ += step.size;
            if (step.what == scan_step::kind::piece && !step.first) {
                if (!skip_until_sync_ && backend_)
                    to_server.append(bytes);
                continue;
            }
            const char type = step.type;
            if (type == 'X') {
                close_reason_ = "client sent Terminate";
                closing_ = true;
                break;
            }
            if (skip_until_sync_) {
                if (type == 'S') {
                    skip_until_sync_ = false;
                    wire::ready(to_client, 'I');
                }
                continue;
            }
            if (step.what == scan_step::kind::message && (type == 'Q' || type == 'P')) {
                // The SQL text: Query body, or Parse's after the statement name.
                std::string_view body = bytes.substr(5);
                if (type == 'P') {
                    const std::size_t nul = body.find('\0');
                    body =
                        nul == std::string_view::npos ? std::string_view{} : body.substr(nul + 1);
                }
                body = body.substr(0, body.find('\0'));
                std::string refusal;
                std::string_view refusal_code = "42501";
                incoming_changes_.clear();
                if (client::touches_prepared_statements(body))
                    statements_touched_ = true;
                const bool sets = mode != pool_mode::session && may_change_settings(body);
                if (sets)
                    settings_touched_ = savepoints_matter_ = true;
                if (sets || (savepoints_matter_ && may_touch_savepoints(body))) {
                    incoming_changes_ = setting_changes(body, true);
                    for (const auto& c : incoming_changes_)
                        if (c.what == setting_change::kind::untracked) {
                            refusal_code = "0A000";
                            refusal = "qail-proxy cannot carry this setting change from one "
                                      "transaction to the next in " +
                                      std::string(to_string(mode)) + " pooling mode (" + c.value +
                                      "); use SET LOCAL inside a transaction block, or a "
                                      "database in session pool_mode";
                        }
                }
                if (mode == pool_mode::statement && (wire::starts_with_keyword(body, "BEGIN") ||
                                                     wire::starts_with_keyword(body, "START"))) {
                    refusal_code = "42501";
                    refusal = "transaction blocks are not allowed in statement pooling mode";
                }
                if (tenant_guard && (body.find(tenant_setting) != std::string_view::npos ||
                                     body.find(user_setting) != std::string_view::npos ||
                                     body.find("set_config") != std::string_view::npos ||
                                     body.find("SET_CONFIG") != std::string_view::npos)) {
                    refusal_code = "42501";
                    refusal = "tenant_guard: statements may not name the tenant settings or "
                              "set_config";
                }
                if (!refusal.empty()) {
                    wire::error(to_client, "ERROR", refusal_code, refusal);
                    if (type == 'Q')
                        wire::ready(to_client, backend_ ? last_status_ : 'I');
                    else
                        skip_until_sync_ = true;
                    continue;
                }
            }
            if (!backend_ && step.what == scan_step::kind::message && answer_locally(type, bytes))
                continue;
            if (!backend_) {
                if (!send_to_client_now(to_client))
                    (void)co_await send_to_client(to_client);
                if (!client_ok_)
                    co_return;
                const pool::binding& b = current_binding();
                // (No co_await inside a && : GCC 12 mishandles temporaries there.)
                bool linked_ok = link_now(b);
                if (!linked_ok) {
                    // Waits here, not in a coroutine of its own: that would be a frame
                    // allocated per wait, and under load most links wait.
                    set_state(client_state::waiting);
                    const auto started = event_at_;
                    std::optional<pool::pooled_connection> conn;
                    co_await db_->pool->acquire_into(b, conn, wait_error_);
                    linked_ok = waited(conn, wait_error_, started, to_client);
                }
                if (!linked_ok) {
                    if (type != 'Q')
                        skip_until_sync_ = type != 'S';
                    if (type == 'Q' || type == 'S') {
                        wire::ready(to_client, 'I');
                    }
                    continue;
                }
                // Reset, the client's settings and tenant binding go first, in this write.
                pump_swallow_ = (**backend_).take_preamble(to_server);
                pump_wake_->cancel();
            }
            forward_message(type, step.what == scan_step::kind::message, bytes, to_server);
            if (type == 'Q' && !incoming_changes_.empty() && !expects_.empty() &&
                expects_.back().what == expect::kind::query)
                expects_.back().changes = std::move(incoming_changes_);
            incoming_changes_.clear();
        }
        // Answers the proxy gives itself, with nothing from the server owed before them.
        emit_synth(to_client);
        if (!send_to_client_now(to_client))
            (void)co_await send_to_client(to_client);
        if (!client_ok_)
            co_return;
        if (!to_server.empty()) {
            target = backend_;
            if (!target) {
                to_server.clear();
            } else {
                // Usually the socket takes it all at once; else the rest waits for room.
                auto now = (**target).raw_write_now(to_server);
                client::result<void> w =
                    now ? client::result<void>{} : client::result<void>(now.error());
                if (now && *now < to_server.size())
                    w = co_await (**target).raw_write(std::string_view(to_server).substr(*now));
                to_server.clear();
                if (!w) {
                    spdlog::warn("client {}: server write failed: {}", peer_, w.error().message());
                    co_await fatal("08006", "server connection lost");
                    co_return;
                }
            }
        }
        if (closing_)
            co_return;
    }
}

// Relays every backend the session links, one after the other, until the session ends:
// server -> client for one linked backend until the ReadyForQuery that releases it (or
// the link fails), then waits for the next link. One coroutine for the session's life,
// not one per link (each would be a frame allocated per transaction). A failure that
// ends the session returns from here; the end of a link breaks out to the wait.
asio::awaitable<void> session::server_pump() {
    for (;;) {
        while (!backend_) {
            if (closing_)
                co_return;
            pump_wake_->expires_at(clock::time_point::max());
            (void)co_await pump_wake_->async_wait(asio::as_tuple(asio::deferred));
            if (closing_)
                co_return;
        }
        const std::shared_ptr<pool::pooled_connection> backend = backend_;
        std::size_t swallow = std::exchange(pump_swallow_, 0);
        auto& conn = **backend;
        const auto mode = db_->cfg.mode;
        // Reused across links: at a release everything read has been consumed.
        std::string& buf = pump_buf_;
        if (buf.empty())
            buf.resize(first_chunk);
        std::size_t begin = 0, end = 0;
        std::string& out = pump_out_;
        out.clear();
        bool preamble_failed = false;
        std::string preamble_error;
        for (;;) {
            if (begin == end)
                begin = end = 0;
            auto r =
                co_await conn.raw_read_some(std::span<char>(buf.data() + end, buf.size() - end));
            if (backend_ != backend)
                break; // released meanwhile (client gone)
            if (r.error) {
                spdlog::warn("client {}: server connection lost: {}", peer_, r.error.message());
                closing_ = true;
                backend_.reset();
                co_await fatal("08006", "server connection lost");
                stream_.close();
                co_return;
            }
            end += r.bytes;
            if (end == buf.size() && buf.size() < read_chunk)
                buf.resize(buf.size() * 2);
            bool release = false;
            for (;;) {
                const std::string_view unread{buf.data() + begin, end - begin};
                const auto step = server_scanner_.next(unread);
                if (step.what == scan_step::kind::bad_length) {
                    spdlog::error("client {}: server sent an invalid message length", peer_);
                    conn.mark_broken();
                    closing_ = true;
                    backend_.reset();
                    co_await fatal("08P01", "server protocol violation");
                    stream_.close();
                    co_return;
                }
                if (step.what == scan_step::kind::need_more) {
                    make_room(buf, begin, end, unread.size() + step.size);
                    break;
                }
                const std::string_view bytes = unread.substr(0, step.size);
                begin += step.size;
                if (swallow > 0) {
                    if (step.what == scan_step::kind::message) {
                        if (step.type == 'E') {
                            preamble_failed = true;
                            if (preamble_error.empty())
                                preamble_error = std::string(wire::error_sqlstate(bytes.substr(5)));
                        } else if (step.type == 'Z') {
                            --swallow;
                            if (swallow == 0 && preamble_failed) {
                                spdlog::error("client {}: resetting the server connection failed "
                                              "(SQLSTATE {}); client disconnected",
                                              peer_, preamble_error);
                                conn.mark_broken();
                                closing_ = true;
                                backend_.reset();
                                co_await fatal("08006", "could not prepare the server connection "
                                                        "(reset or settings failed: SQLSTATE " +
                                                            preamble_error + ")");
                                stream_.close();
                                co_return;
                            }
                        }
                    }
                    continue;
                }
                if (step.what == scan_step::kind::message) {
                    emit_synth(out);
                    const bool forward = on_server_message(step.type, bytes);
                    if (!forward) {
                        emit_synth(out);
                        continue;
                    }
                    if (step.type == 'Z' && bytes.size() == 6) {
                        last_status_ = bytes[5];
                        const auto now = clock::now();
                        last_activity_ = now;
                        on_ready(last_status_);
                        if (pending_ready_ > 0)
                            --pending_ready_;
                        if (query_head_ < query_started_.size()) {
                            ctx_.state->metrics().query(
                                database_name_,
                                std::chrono::duration<double>(now - query_started_[query_head_++])
                                    .count());
                            if (query_head_ == query_started_.size()) {
                                query_started_.clear();
                                query_head_ = 0;
                            }
                        }
                        if (pending_ready_ == 0 && !unsynced_ && mode != pool_mode::session &&
                            (last_status_ == 'I' || mode == pool_mode::statement))
                            release = true;
                        if (mode == pool_mode::statement && last_status_ != 'I') {
                            // A transaction slipped past the BEGIN check (e.g. in a function).
                            out.append(bytes);
                            (void)co_await send_to_client(out);
                            conn.mark_broken();
                            closing_ = true;
                            backend_.reset();
                            co_await fatal("25000",
                                           "transaction blocks are not allowed in statement "
                                           "pooling mode");
                            stream_.close();
                            co_return;
                        }
                    } else if (step.type == 'S') {
                        proto::parameter_status ps;
                        if (!proto::decode(bytes.substr(5), ps) && is_tracked_report(ps.name)) {
                            auto name = lower_name(ps.name);
                            const auto it = params_.find(name);
                            if (it == params_.end() || it->second != ps.value) {
                                params_.insert_or_assign(std::move(name), std::string(ps.value));
                                params_dirty_ = true;
                            }
                        }
                    } else if (step.type == 'E') {
                        ctx_.state->metrics().server_error(wire::error_sqlstate(bytes.substr(5)));
                    }
                }
                out.append(bytes);
                if (step.what == scan_step::kind::message)
                    emit_synth(out);
            }
            if (!send_to_client_now(out))
                (void)co_await send_to_client(out);
            if (!client_ok_) {
                closing_ = true;
                stream_.close();
            }
            if (backend_ != backend)
                break;
            if (release && begin == end && !server_scanner_.in_piece()) {
                release_backend(last_activity_); // the ReadyForQuery's time
                break;
            }
        }
    }
}

// --- prepared statements and the answer queue -----------------------------------------------

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

void session::emit_synth(std::string& out) {
    while (!expects_.empty() && expects_.front().what == expect::kind::synth) {
        out.append(expects_.front().bytes);
        expects_.pop_front();
    }
}

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

void session::forward_message(char type, bool whole, std::string_view bytes,
                              std::string& to_server) {
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
        expects_.push_back({what, false, false, {}, nullptr});
    };
    const std::string_view body = whole ? bytes.substr(5) : std::string_view{};
    switch (type) {
    case 'P': {
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
        const auto f = whole ? read_target(body) : std::nullopt;
        const k what = type == 'D' ? k::describe : k::close;
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
        if (!whole)
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

// Without a backend, some messages need none: a Parse of a statement some backend already
// accepted, a Close of a client name, a Flush, a Sync after only those, and a SQL
// DEALLOCATE of a client's name (the server statement is the proxy's, shared).
bool session::answer_locally(char type, std::string_view bytes) {
    using k = expect::kind;
    const std::string_view body = bytes.substr(5);
    switch (type) {
    case 'Q': {
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
                txn_changes_.resize(it->second);
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
    if (type == 'C') {
        // However it was sent (simple or extended protocol), a completed DEALLOCATE ALL
        // or DISCARD ALL dropped every statement on this backend, the client's included.
        const auto tag = bytes.substr(5, bytes.size() > 6 ? bytes.size() - 6 : 0);
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

} // namespace

asio::awaitable<void> run_client_session(session_context ctx, client_stream stream,
                                         std::string peer) {
    auto ex = co_await asio::this_coro::executor;
    auto s = std::make_shared<session>(std::move(ctx), std::move(stream), std::move(peer), ex);
    try {
        co_await s->run();
    } catch (const std::exception& e) {
        spdlog::error("client session failed: {}", e.what());
    }
}

} // namespace qail::proxy
