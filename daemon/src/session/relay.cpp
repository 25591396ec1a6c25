// The relay of one session: the client reader (client -> server, linking a backend when
// a message needs one) and the server pump (server -> client, releasing it at the
// ReadyForQuery that ends the mode's unit of work).
#include "session/session.hpp"

namespace qail::proxy::detail {

// A message of `needed` bytes starts at `begin` of `buf` (read up to `end`) and is not
// all there: moves the unread bytes to the front when the message would not fit behind
// them, and grows `buf` when it cannot hold the message at all.
void make_room(read_buffer& buf, std::size_t& begin, std::size_t& end, std::size_t needed) {
    if (begin + needed <= buf.size())
        return;
    std::memmove(buf.data(), buf.data() + begin, end - begin);
    end -= begin;
    begin = 0;
    if (needed > buf.size())
        buf.resize(needed);
}

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
    db_metrics_->transaction(std::chrono::duration<double>(now - linked_at_).count());
    auto& conn = **backend_;
    if (debug_logged())
        spdlog::debug("client {}: releasing backend pid {} (status {}, pending {}, unsynced {})",
                      peer_, conn.backend_pid(), last_status_, pending_ready_, unsynced_);
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
    pump_active_ = false;
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
                : db_->settings.share(pool::settings_list(params_.begin(), params_.end()));
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
    db_metrics_->pool_wait(0.0);
    linked(std::move(*conn), event_at_);
    return true;
}

// The end of a wait for a backend (or a connect): links it, or puts the error for the
// client in `out`.
bool session::waited(std::optional<pool::pooled_connection>& conn, const client::error& e,
                     clock::time_point started, std::string& out) {
    event_at_ = clock::now();
    db_metrics_->pool_wait(std::chrono::duration<double>(event_at_ - started).count());
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
    if (debug_logged())
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

// A Query's or Parse's SQL, looked at before it is forwarded: the settings it changes are
// noted (incoming_changes_), and what this pooling mode or the tenant guard
// (`tenant_settings`, the two names it protects, when it is on) does not allow is refused
// here: the error, and for a Query its ReadyForQuery, go to `to_client` (a refused Parse
// skips to the next Sync) and the result is true. `names_statements`: whether the SQL may
// name prepared statements (glance_at()). Not a coroutine, so that its locals and
// temporaries do not sit in the client loop's frame for the client's whole life.
bool session::refuse_sql(char type, std::string_view bytes, pool_mode mode,
                         const std::array<std::string, 2>* tenant_settings, std::string& to_client,
                         bool& names_statements) {
    // The SQL text: Query body, or Parse's after the statement name.
    std::string_view body = bytes.substr(5);
    if (type == 'P') {
        const std::size_t nul = body.find('\0');
        body = nul == std::string_view::npos ? std::string_view{} : body.substr(nul + 1);
    }
    // A Query's SQL ends at its last byte, the NUL (PostgreSQL refuses one with
    // bytes after its first NUL: checking them too only refuses more).
    if (type == 'Q' && !body.empty() && body.back() == '\0')
        body.remove_suffix(1);
    else
        body = body.substr(0, body.find('\0'));
    std::string refusal;
    std::string_view refusal_code = "42501";
    incoming_changes_.clear();
    const sql_glance glance = glance_at(body);
    names_statements = glance.names_statements;
    if (names_statements)
        statements_touched_ = true;
    const bool sets = mode != pool_mode::session && glance.may_set;
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
    if (mode == pool_mode::statement &&
        (wire::starts_with_keyword(body, "BEGIN") || wire::starts_with_keyword(body, "START"))) {
        refusal_code = "42501";
        refusal = "transaction blocks are not allowed in statement pooling mode";
    }
    if (tenant_settings != nullptr && (body.find((*tenant_settings)[0]) != std::string_view::npos ||
                                       body.find((*tenant_settings)[1]) != std::string_view::npos ||
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
        return true;
    }
    return false;
}

asio::awaitable<void> session::client_loop() {
    const auto mode = db_->cfg.mode;
    const bool tenant_guard = db_->cfg.tenant_guard;
    const auto cfg = ctx_.state->current();
    const std::array<std::string, 2> tenant_settings{cfg->tenancy.tenant_setting,
                                                     cfg->tenancy.user_setting};
    std::string to_server;
    std::string to_client;
    if (rx_.size() < first_chunk)
        rx_.resize(first_chunk);
    // A plain (TCP or Unix) client's reads wait without an EAGAIN read when the last one
    // emptied the socket (socket_readiness.hpp), which needs its end of stream reported.
    const bool plain = stream_.watch_peer_close();
    // What came behind the authentication response (read_auth_response()) is handled
    // before anything is read.
    bool read_already = rx_end_ > rx_begin_;
    for (;;) {
        if (rx_begin_ == rx_end_)
            rx_begin_ = rx_end_ = 0;
        if (rx_.size() - rx_end_ < 4096 && rx_begin_ > 0) {
            std::memmove(rx_.data(), rx_.data() + rx_begin_, rx_end_ - rx_begin_);
            rx_end_ -= rx_begin_;
            rx_begin_ = 0;
        }
        std::size_t n = 0;
        if (read_already) {
            read_already = false;
            n = rx_end_ - rx_begin_; // counted below as if read now
            rx_end_ = rx_begin_;
        } else {
            std::span<char> rx_room{rx_.data() + rx_end_, rx_.size() - rx_end_};
            n = stream_.read_now(rx_room);
            if (n == 0 && wait_unbuffered_ && rx_end_ == 0 && rx_.size() == first_chunk &&
                stream_.known_empty()) {
                // Nothing unread, nothing to read, and a client that keeps the proxy
                // waiting: wait for the socket without the buffer, which goes to the
                // thread's spares meanwhile (an idle client holds none; it takes a spare
                // when it speaks). Not for a busy client: Asio re-arms the socket in epoll
                // for such a wait, a system call, where a read waits for free.
                rx_.release();
                auto [ec] = co_await stream_.wait_readable();
                rx_.resize(first_chunk);
                if (ec)
                    co_return;
                rx_room = {rx_.data(), rx_.size()};
                n = stream_.read_now(rx_room);
            }
            if (n == 0) {
                auto [ec, got] =
                    co_await stream_.read_some(asio::buffer(rx_room.data(), rx_room.size()));
                if (ec)
                    co_return;
                n = got;
            }
            if (plain && n < rx_room.size())
                stream_.note_empty();
        }
        if (closing_ || !client_ok_)
            co_return;
        if (rx_end_ + n == rx_.size() && rx_.size() < read_chunk)
            rx_.resize(rx_.size() * 2);
        rx_end_ += n;
        const auto read_at = clock::now();
        wait_unbuffered_ = read_at - last_activity_ >= unbuffered_after;
        last_activity_ = event_at_ = read_at;
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
            bool names_statements = true; // unless its SQL below says otherwise
            if (step.what == scan_step::kind::message && (type == 'Q' || type == 'P') &&
                refuse_sql(type, bytes, mode, tenant_guard ? &tenant_settings : nullptr, to_client,
                           names_statements))
                continue;
            if (!backend_ && step.what == scan_step::kind::message &&
                answer_locally(type, bytes, names_statements))
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
                    // Waits here, not in a coroutine of its own (acquire_into()'s is a frame
                    // allocated per wait, and under load most links wait); acquire_into()
                    // only for what a queued wait does not cover (connecting, say).
                    set_state(client_state::waiting);
                    const auto started = event_at_;
                    std::optional<pool::pooled_connection> conn;
                    using wait_outcome = pool::pending_wait::outcome;
                    auto got = wait_outcome::connect;
                    if (auto wait = db_->pool->start_wait(executor_, wait_slot_)) {
                        got = wait_outcome::again;
                        while (got == wait_outcome::again) {
                            co_await wait->park(asio::deferred);
                            got = wait->finish(b, conn, wait_error_);
                        }
                    }
                    if (got == wait_outcome::connect)
                        co_await db_->pool->acquire_into(b, conn, wait_error_, &wait_slot_);
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
                link_swallow_ = (**backend_).take_preamble(to_server);
                preamble_failed_ = false;
                preamble_error_.clear();
            }
            forward_message(type, step.what == scan_step::kind::message, bytes, to_server,
                            names_statements);
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
        if (backend_ && !pump_active_) {
            // Everything sent is answered without more from the client (the common case):
            // the client reader waits for the answers itself, no wake-up of the pump.
            // Otherwise the pump relays from here on, while the client reader reads on.
            if (pending_ready_ > 0 && !unsynced_ && !client_scanner_.in_piece()) {
                // relay_backend(true), inline for a plain TCP backend: the coroutine
                // would be a frame per transaction.
                const auto backend = backend_;
                auto& conn = **backend;
                relay_next next = relay_next::read;
                while (next == relay_next::read) {
                    auto* socket = conn.raw_tcp_socket();
                    if (!socket)
                        break;
                    const std::span<char> room = server_read_room();
                    std::size_t got = conn.raw_take_buffered(room);
                    readiness::tcp_socket* drained = nullptr;
                    boost::system::error_code failed;
                    if (got == 0) {
                        got = readiness::read_now(*socket, room);
                        if (got == 0) {
                            auto [read_ec, read_n] = co_await socket->async_read_some(
                                asio::buffer(room.data(), room.size()),
                                asio::as_tuple(asio::deferred));
                            got = read_n;
                            if (read_ec)
                                failed = conn.raw_read_failed(read_ec);
                        }
                        if (got > 0 && got < room.size())
                            drained = socket;
                    }
                    next = server_read(backend, got, failed, true, drained);
                    if (next == relay_next::send) {
                        (void)co_await send_to_client(pump_out_);
                        next = server_sent(backend, true);
                    }
                }
                bool goes_on = next == relay_next::done;
                if (next == relay_next::read) {
                    goes_on = co_await relay_backend(true); // TLS
                } else if (next == relay_next::fail) {
                    co_await server_failed();
                }
                if (!goes_on)
                    co_return;
            } else {
                wake_pump();
            }
        }
    }
}

// Hands the linked backend to the server pump, which is started at the first need (most
// sessions never have one: no frame, timer and wait for them).
void session::wake_pump() {
    pump_active_ = true;
    if (pump_wake_) {
        pump_wake_->cancel();
        return;
    }
    pump_wake_.emplace(executor_);
    asio::co_spawn(
        executor_,
        [self = shared_from_this()]() -> asio::awaitable<void> { co_await self->server_pump(); },
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
}

// The server pump: relays the linked backend for the client reader once the client may
// send more before the backend's answers come (COPY FROM STDIN, a transaction left
// open, extended messages without a Sync); sleeps on pump_wake_ in between. Started by
// the first wake_pump(), then one coroutine for the session's life, not one per link
// (each would be a frame allocated per transaction).
asio::awaitable<void> session::server_pump() {
    for (;;) {
        while (!backend_ || !pump_active_) {
            if (closing_)
                co_return;
            pump_wake_->expires_at(clock::time_point::max());
            (void)co_await pump_wake_->async_wait(asio::as_tuple(asio::deferred));
            if (closing_)
                co_return;
        }
        const bool goes_on = co_await relay_backend(false);
        if (!goes_on)
            co_return;
    }
}

// Server -> client for the linked backend until the ReadyForQuery that releases it, or,
// for the client reader (`for_client_reader`), until the backend owes nothing more
// without more from the client: then the pump takes over. False when the session ends.
// The client reader runs the same loop inline for a plain TCP backend (client_loop()).
asio::awaitable<bool> session::relay_backend(bool for_client_reader) {
    const std::shared_ptr<pool::pooled_connection> backend = backend_;
    auto& conn = **backend;
    for (;;) {
        const std::span<char> room = server_read_room();
        // From a plain TCP socket directly: raw_read_some() is a coroutine frame per read.
        std::size_t got = conn.raw_take_buffered(room);
        readiness::tcp_socket* drained = nullptr;
        boost::system::error_code failed;
        if (got == 0) {
            if (auto* socket = conn.raw_tcp_socket()) {
                got = readiness::read_now(*socket, room);
                if (got == 0) {
                    auto [ec, n] = co_await socket->async_read_some(
                        asio::buffer(room.data(), room.size()), asio::as_tuple(asio::deferred));
                    got = n;
                    if (ec)
                        failed = conn.raw_read_failed(ec);
                }
                if (got > 0 && got < room.size())
                    drained = socket;
            } else {
                auto r = co_await conn.raw_read_some(room);
                got = r.bytes;
                failed = r.error;
            }
        }
        auto next = server_read(backend, got, failed, for_client_reader, drained);
        if (next == relay_next::send) {
            (void)co_await send_to_client(pump_out_);
            next = server_sent(backend, for_client_reader);
        }
        if (next == relay_next::read)
            continue;
        if (next == relay_next::fail)
            co_await server_failed();
        co_return next == relay_next::done;
    }
}

// Where the next read from the backend goes (the buffer keeps what is not relayed yet).
std::span<char> session::server_read_room() {
    read_buffer& buf = pump_buf_;
    if (buf.empty())
        buf.resize(first_chunk);
    if (pump_begin_ == pump_end_)
        pump_begin_ = pump_end_ = 0;
    else
        make_room(buf, pump_begin_, pump_end_, pump_needed_);
    return {buf.data() + pump_end_, buf.size() - pump_end_};
}

// After `got` bytes (or `failed`) from the backend: relays them and says what next. On
// `send` the caller awaits send_to_client(pump_out_), then asks server_sent(); on `fail`
// it awaits server_failed().
session::relay_next session::server_read(const std::shared_ptr<pool::pooled_connection>& backend,
                                         std::size_t got, boost::system::error_code failed,
                                         bool for_client_reader, readiness::tcp_socket* drained) {
    if (backend_ != backend)
        return relay_next::done; // released meanwhile (client gone)
    if (failed) {
        server_failure_ = failed;
        server_failure_step_ = relayed::more;
        return relay_next::fail;
    }
    read_buffer& buf = pump_buf_;
    pump_end_ += got;
    if (pump_end_ == buf.size() && buf.size() < read_chunk)
        buf.resize(buf.size() * 2);
    std::string& out = pump_out_;
    out.clear();
    bool copy_in = false;
    std::string_view direct;
    const relayed step = take_server_bytes(out, direct, copy_in);
    if (step == relayed::bad_length || step == relayed::preamble_failed ||
        step == relayed::transaction_in_statement_mode) {
        server_failure_ = {};
        server_failure_step_ = step;
        return relay_next::fail;
    }
    copy_in_ = copy_in;
    last_step_ = step;
    // Read empty, and the backend owes nothing until it is sent more: the next read of it
    // waits without trying (no EAGAIN read while it works on that). (Not after every short
    // read: in the middle of a long answer the next bytes are usually there already.)
    if (drained != nullptr && pending_ready_ == 0 && !unsynced_ && pump_begin_ == pump_end_ &&
        !server_scanner_.in_piece())
        readiness::note_empty(*drained);
    // (out is empty when direct is not: send_to_client_now() leaves the rest there.)
    const bool sent = direct.empty() ? send_to_client_now(out) : send_to_client_now(direct, out);
    if (!sent)
        return relay_next::send;
    return server_sent(backend, for_client_reader);
}

// After what server_read() relayed reached the client (or failed to).
session::relay_next session::server_sent(const std::shared_ptr<pool::pooled_connection>& backend,
                                         bool for_client_reader) {
    if (!client_ok_) {
        closing_ = true;
        stream_.close();
    }
    if (backend_ != backend)
        return relay_next::done;
    if (last_step_ == relayed::released && pump_begin_ == pump_end_ &&
        !server_scanner_.in_piece()) {
        release_backend(last_activity_); // the ReadyForQuery's time
        return relay_next::done;
    }
    if (closing_)
        return for_client_reader ? relay_next::stop : relay_next::done;
    if (for_client_reader && (copy_in_ || pending_ready_ == 0)) {
        wake_pump();
        return relay_next::done;
    }
    return relay_next::read;
}

// A server-side failure server_read() found: the backend is closed, the client told why
// and disconnected.
asio::awaitable<void> session::server_failed() {
    if (server_failure_) {
        spdlog::warn("client {}: server connection lost: {}", peer_, server_failure_.message());
        closing_ = true;
        backend_.reset();
        co_await fatal("08006", "server connection lost");
        stream_.close();
        co_return;
    }
    if (backend_)
        (**backend_).mark_broken();
    closing_ = true;
    backend_.reset();
    if (server_failure_step_ == relayed::bad_length) {
        spdlog::error("client {}: server sent an invalid message length", peer_);
        co_await fatal("08P01", "server protocol violation");
    } else if (server_failure_step_ == relayed::preamble_failed) {
        spdlog::error("client {}: resetting the server connection failed "
                      "(SQLSTATE {}); client disconnected",
                      peer_, preamble_error_);
        co_await fatal("08006", "could not prepare the server connection "
                                "(reset or settings failed: SQLSTATE " +
                                    preamble_error_ + ")");
    } else {
        // A transaction slipped past the BEGIN check (e.g. in a function).
        (void)co_await send_to_client(pump_out_);
        co_await fatal("25000", "transaction blocks are not allowed in statement "
                                "pooling mode");
    }
    stream_.close();
}

// Relays the complete messages read from the linked backend (pump_buf_ between
// pump_begin_ and pump_end_), doing the pooler's bookkeeping on the way. What the client
// gets is `direct` (a view into pump_buf_, valid until its next read: the common case,
// no copy) or, when the proxy hid or added messages, `out`. `copy_in` is set when the
// server started a COPY that waits for the client's data.
session::relayed session::take_server_bytes(std::string& out, std::string_view& direct,
                                            bool& copy_in) {
    const auto mode = db_->cfg.mode;
    const read_buffer& buf = pump_buf_;
    relayed result = relayed::more;
    // The forwarded bytes not yet copied into `out`: pump_buf_[run_begin, run_end).
    std::size_t run_begin = pump_begin_;
    std::size_t run_end = pump_begin_;
    const auto flush = [&] {
        out.append(buf.data() + run_begin, run_end - run_begin);
        run_begin = run_end = pump_begin_;
    };
    const auto forward = [&](std::size_t at, std::size_t n) {
        if (run_end != at) {
            flush();
            run_begin = at;
        }
        run_end = at + n;
    };
    const auto synth = [&] { // emit_synth(out), after what came before it
        if (synth_due()) {
            flush();
            emit_synth_due(out);
        }
    };
    const auto finish = [&](relayed r) {
        if (out.empty()) {
            direct = std::string_view(buf.data() + run_begin, run_end - run_begin);
        } else {
            flush();
            direct = {};
        }
        return r;
    };
    for (;;) {
        const std::size_t at = pump_begin_;
        const std::string_view unread{buf.data() + at, pump_end_ - at};
        const auto step = server_scanner_.next(unread);
        if (step.what == scan_step::kind::bad_length)
            return finish(relayed::bad_length);
        if (step.what == scan_step::kind::need_more) {
            // Room for it is made after the send: `direct` points into the buffer.
            pump_needed_ = unread.size() + step.size;
            return finish(result);
        }
        const std::string_view bytes = unread.substr(0, step.size);
        pump_begin_ += step.size;
        if (link_swallow_ > 0) {
            // Answers to the link's preamble (reset, settings, binding): not the client's.
            if (step.what == scan_step::kind::message) {
                if (step.type == 'E') {
                    preamble_failed_ = true;
                    if (preamble_error_.empty())
                        preamble_error_ = std::string(wire::error_sqlstate(bytes.substr(5)));
                } else if (step.type == 'Z') {
                    --link_swallow_;
                    if (link_swallow_ == 0 && preamble_failed_)
                        return finish(relayed::preamble_failed);
                }
            }
            continue;
        }
        if (step.what != scan_step::kind::message) {
            forward(at, step.size); // a piece of a long message
            continue;
        }
        if (step.type == 'D' && !synth_due()) {
            // DataRow, the bulk of most answers, settles no expected answer.
            forward(at, step.size);
            continue;
        }
        synth();
        if (!on_server_message(step.type, bytes)) {
            synth();
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
                db_metrics_->query(
                    std::chrono::duration<double>(now - query_started_[query_head_++]).count());
                if (query_head_ == query_started_.size()) {
                    query_started_.clear();
                    query_head_ = 0;
                }
            }
            if (pending_ready_ == 0 && !unsynced_ && mode != pool_mode::session &&
                (last_status_ == 'I' || mode == pool_mode::statement))
                result = relayed::released;
            if (mode == pool_mode::statement && last_status_ != 'I') {
                forward(at, step.size);
                flush();
                return finish(relayed::transaction_in_statement_mode);
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
        } else if (step.type == 'G' || step.type == 'W') {
            copy_in = true;
        }
        forward(at, step.size);
        synth();
    }
}

} // namespace qail::proxy::detail
