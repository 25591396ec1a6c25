// The session of one PostgreSQL-wire client, shared by the files that implement it:
// client_session.cpp (startup, login, its life), relay.cpp (the client reader and the
// server pump) and tracking.cpp (what each relayed message owes, prepared statements
// across backends, setting changes). Private to daemon/src/session.
//
// Two coroutines share the session on its worker thread: the client reader (client ->
// server) and, while a backend is linked, the server pump (server -> client). The
// reader links a backend at the first message that needs one; the pump releases it at
// the ReadyForQuery that ends the unit of work the mode pools by. Bodies are not
// decoded on this path except ReadyForQuery, ParameterStatus and ErrorResponse codes.
#pragma once

#include "session/client_session.hpp"
#include "session/wire.hpp"

#include <qail/client/tls.hpp>
#include <qail/protocol/frame.hpp>
#include <qail/protocol/startup.hpp>
#include <qail/protocol/tags.hpp>
#include <qail/proxy/prepared.hpp>
#include <qail/proxy/read_buffer.hpp>
#include <qail/proxy/relay_scanner.hpp>
#include <qail/proxy/session_sql.hpp>
#include <qail/proxy/socket_readiness.hpp>

#include <algorithm>
#include <array>
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
#include <map>
#include <memory>
#include <spdlog/spdlog.h>
#include <unordered_map>
#include <vector>

namespace qail::proxy::detail {

namespace asio = boost::asio;
namespace proto = qail::protocol;
using clock = std::chrono::steady_clock;

using proxy::first_chunk;
using proxy::read_buffer;
using proxy::read_chunk;
inline constexpr std::size_t whole_limit = 64 * 1024;

// A message of `needed` bytes starts at `begin` of `buf` (read up to `end`) and is not
// all there: makes room for it behind `begin` (moving the unread bytes to the front, or
// growing `buf`).
void make_room(read_buffer& buf, std::size_t& begin, std::size_t& end, std::size_t needed);

// Whether debug lines are logged: the logger's level, read inline (spdlog::should_log()
// is a call into the library; two run per transaction).
inline bool debug_logged() noexcept {
    return spdlog::default_logger_raw()->should_log(spdlog::level::debug);
}

// Run-time settings a server reports with ParameterStatus when they change; a client's
// own values are tracked from those reports and re-applied on every backend it uses.
bool is_tracked_report(std::string_view name);

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
    void begin_login();
    bool end_login(bool ok); // ok, after the login's timer is stopped and the idle watch set
    void finish();           // closes the client and returns what it held
    asio::awaitable<bool> startup();
    asio::awaitable<bool> authenticate(const proto::startup_message& sm);
    asio::awaitable<bool> greet(std::string& out);
    asio::awaitable<std::optional<std::string>> read_auth_response();
    // Ends the login of a client that is not logged in `limit` after the accept.
    void start_login_timer(std::chrono::milliseconds limit);

    // --- relaying ---
    asio::awaitable<void> client_loop();
    bool refuse_sql(char type, std::string_view bytes, pool_mode mode,
                    const std::array<std::string, 2>* tenant_settings, std::string& to_client,
                    bool& names_statements);
    bool link_now(const pool::binding& b);
    bool waited(std::optional<pool::pooled_connection>& conn, const client::error& e,
                clock::time_point started, std::string& out);
    const pool::binding& current_binding();
    void linked(pool::pooled_connection conn, clock::time_point at);
    void wake_pump();
    asio::awaitable<void> server_pump();
    asio::awaitable<bool> relay_backend(bool for_client_reader);
    // What relaying the bytes read from the backend came to. The last three are server-
    // side failures: the backend is closed and the session ends (relay_backend decides).
    enum class relayed : std::uint8_t {
        more,                          // the link goes on
        released,                      // the ReadyForQuery that ends the mode's unit of work
        bad_length,                    // a message length no server sends
        preamble_failed,               // the reset, settings or binding failed
        transaction_in_statement_mode, // a transaction opened in statement mode
    };
    relayed take_server_bytes(std::string& out, std::string_view& direct, bool& copy_in);
    // What relay_backend() (or the client reader's copy of its loop) does after a step.
    enum class relay_next : std::uint8_t {
        read, // read more from the backend
        send, // co_await send_to_client(pump_out_), then server_sent()
        fail, // co_await server_failed(); the session ends
        done, // the relay is over for now (released, or the pump takes over)
        stop, // the session is closing
    };
    std::span<char> server_read_room();
    relay_next server_read(const std::shared_ptr<pool::pooled_connection>& backend, std::size_t got,
                           boost::system::error_code failed, bool for_client_reader,
                           readiness::tcp_socket* drained);
    relay_next server_sent(const std::shared_ptr<pool::pooled_connection>& backend,
                           bool for_client_reader);
    asio::awaitable<void> server_failed();
    boost::system::error_code server_failure_;    // the read that failed (server_failed())
    relayed server_failure_step_ = relayed::more; // else what take_server_bytes() found
    relayed last_step_ = relayed::more;           // of the last server_read()
    bool copy_in_ = false;                        // the last server_read() started a COPY
    void release_backend(clock::time_point now = clock::now());
    void cancel_backend();
    asio::awaitable<void> idle_watchdog(std::chrono::milliseconds client_idle,
                                        std::chrono::milliseconds idle_in_transaction);

    // --- client output: one writer at a time ---
    bool send_to_client_now(std::string& bytes);
    bool send_to_client_now(std::string_view bytes, std::string& rest);
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
    database_metrics* db_metrics_ = nullptr; // db_'s histograms (set with db_)
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
    read_buffer rx_;
    std::size_t rx_begin_ = 0, rx_end_ = 0;
    // Whether the client's next wait gives its read buffer up: after its login, and after
    // a pause of unbuffered_after or more (its last message came that long after the
    // message or ReadyForQuery before it).
    static constexpr std::chrono::milliseconds unbuffered_after{100};
    bool wait_unbuffered_ = true;

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
    std::unique_ptr<asio::steady_timer> login_timer_; // client_login_timeout, until logged in
    clock::time_point last_activity_ = clock::now();  // last client message or ReadyForQuery
    std::string close_reason_; // for the disconnect log line: the first cause recorded
    std::optional<asio::steady_timer> idle_timer_; // the idle watchdog's, when running
    clock::time_point linked_at_{};
    // When the event being handled happened: the last read from the client, or the end of
    // a wait for a backend (one clock read for every use in between).
    clock::time_point event_at_{};
    std::optional<client_state> state_;

    // The linked backend is read by the client reader while it waits for the answers to
    // what it sent, or by the server pump (pump_active_), which, once started by the first
    // wake_pump(), lives as long as the session and sleeps on pump_wake_ until a link
    // needs it.
    asio::cancellation_signal pump_cancel_;
    std::optional<asio::steady_timer> pump_wake_;
    bool pump_active_ = false;
    std::size_t link_swallow_ = 0; // answers to the link's preamble still to hide
    bool preamble_failed_ = false;
    std::string preamble_error_; // the SQLSTATE of the preamble's first error
    client::error wait_error_;   // why the last wait for a backend failed
    pool::wait_slot wait_slot_;  // the waiter kept between waits
    // The backend's read buffer (read up to pump_end_, relayed up to pump_begin_) and the
    // client batch, kept between links so a transaction allocates nothing for them.
    read_buffer pump_buf_;
    std::size_t pump_begin_ = 0, pump_end_ = 0;
    std::size_t pump_needed_ = 0; // the size of the message begun at pump_begin_
    std::string pump_out_;

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
        explicit expect(kind w) : what(w) {}

        kind what = kind::sync;
        bool swallow = false;                // an answer to the proxy's own message: not forwarded
        bool failed = false;                 // an ErrorResponse arrived for it
        std::string bytes;                   // synth: the message to send the client
        std::shared_ptr<statement_def> def;  // the mapped statement it concerns
        std::vector<setting_change> changes; // query/execute: its SETs/RESETs, in order
        std::size_t next_change = 0;
    };
    // The expected answers, oldest first. It empties at every ReadyForQuery, so its
    // storage is kept and reused (a std::deque allocates a block every few transactions);
    // the answered prefix is dropped when it grows long under an endless pipeline.
    class expect_queue {
    public:
        [[nodiscard]] bool empty() const noexcept { return head_ == items_.size(); }
        [[nodiscard]] expect& front() noexcept { return items_[head_]; }
        [[nodiscard]] const expect& front() const noexcept { return items_[head_]; }
        [[nodiscard]] expect& back() noexcept { return items_.back(); }
        void push_back(expect e) { items_.push_back(std::move(e)); }
        void emplace_back(expect::kind what) { items_.emplace_back(what); }
        void pop_front() {
            if (++head_ == items_.size()) {
                clear();
            } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
                items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
                head_ = 0;
            }
        }
        void clear() noexcept {
            items_.clear();
            head_ = 0;
        }

    private:
        std::vector<expect> items_;
        std::size_t head_ = 0;
    };
    expect_queue expects_;
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

    /// `names_statements`: a Query's SQL may say DEALLOCATE (glance_at()); else it is
    /// forwarded without looking for the statement it deallocates.
    void forward_message(char type, bool whole, std::string_view bytes, std::string& to_server,
                         bool names_statements);
    bool answer_locally(char type, std::string_view bytes, bool names_statements);
    void prepare_on_backend(const std::shared_ptr<statement_def>& def, std::string& to_server,
                            bool swallow);
    std::shared_ptr<statement_def>& current_def(std::shared_ptr<statement_def>& def);
    // Appends the answers the proxy gives itself that are due now (nothing the server
    // owes comes before them). The check is inline: it runs around every relayed server
    // message, and there is rarely anything to append.
    void emit_synth(std::string& out) {
        if (synth_due())
            emit_synth_due(out);
    }
    [[nodiscard]] bool synth_due() const noexcept {
        return !expects_.empty() && expects_.front().what == expect::kind::synth;
    }
    void emit_synth_due(std::string& out);
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

} // namespace qail::proxy::detail
