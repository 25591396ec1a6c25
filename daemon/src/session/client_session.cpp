// One PostgreSQL-wire client: startup (TLS, cancel, protocol negotiation), login at the
// proxy, and the session's life around the relay (relay.cpp).
#include "session/session.hpp"

namespace qail::proxy {
namespace detail {

namespace {

// Startup parameters that are not run-time settings to re-apply on every backend.
bool is_connection_parameter(std::string_view name) {
    return name == "user" || name == "database" || name == "replication" || name == "options" ||
           name.starts_with("_pq_.");
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

} // namespace

// Run-time settings a server reports with ParameterStatus when they change; a client's
// own values are tracked from those reports and re-applied on every backend it uses.
bool is_tracked_report(std::string_view name) {
    return name == "application_name" || name == "client_encoding" || name == "DateStyle" ||
           name == "IntervalStyle" || name == "TimeZone" || name == "search_path" ||
           name == "standard_conforming_strings" || name == "extra_float_digits";
}

void session::set_state(std::optional<client_state> s) {
    if (s == state_)
        return;
    ctx_.state->metrics().client_state_changed(state_, s);
    state_ = s;
    if (handle_ && s)
        handle_->state.store(static_cast<int>(*s), std::memory_order_relaxed); // a report
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

// The same for bytes the session does not own (a view into a read buffer): what the
// socket does not take now is copied into `rest` (false: co_await send_to_client(rest)).
bool session::send_to_client_now(std::string_view bytes, std::string& rest) {
    if (bytes.empty() || !client_ok_)
        return true;
    if (writing_) {
        pending_out_.append(bytes);
        return true;
    }
    boost::system::error_code ec;
    const std::size_t n = stream_.write_now(asio::buffer(bytes), ec);
    if (ec) {
        client_ok_ = false;
        return true;
    }
    ctx_.state->metrics().bytes(false, n);
    if (n == bytes.size())
        return true;
    rest.assign(bytes.substr(n));
    return false;
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

void session::start_login_timer(std::chrono::milliseconds limit) {
    login_timer_ = std::make_unique<asio::steady_timer>(executor_, limit);
    login_timer_->async_wait([weak = weak_from_this(), limit](boost::system::error_code ec) {
        auto self = weak.lock();
        // login_timer_ is gone once the login has ended: an expiry already queued when
        // it ended (cancel() cannot recall that) must not close a logged-in client.
        if (ec || !self || !self->login_timer_)
            return;
        spdlog::warn("client {}: not logged in after {} ms (client_login_timeout_ms); closed",
                     self->peer_, limit.count());
        self->close_reason_ = "client_login_timeout";
        self->stream_.close(); // the login's pending read or write ends with an error
    });
}

// The session's life. Its coroutine frame lives as long as the client does, so the work
// around the two awaits is in plain functions: GCC gives a coroutine frame room for every
// temporary of its body, awaited across or not.
asio::awaitable<void> session::run() {
    begin_login();
    // Its own statement: GCC 12's -O3 build crashed with the await inside end_login()'s
    // argument list.
    const bool ok = co_await startup();
    if (end_login(ok))
        co_await client_loop();
    finish();
}

void session::begin_login() {
    set_state(client_state::authenticating);
    const auto login_limit = ctx_.state->current()->limits.client_login_timeout;
    if (login_limit.count() > 0)
        start_login_timer(login_limit);
}

bool session::end_login(bool ok) {
    if (login_timer_) {
        login_timer_->cancel();
        login_timer_.reset();
    }
    if (ok) {
        const auto cfg = ctx_.state->current();
        const auto idle = cfg->limits.client_idle_timeout;
        const auto idle_txn = cfg->limits.idle_transaction_timeout;
        if (idle.count() > 0 || idle_txn.count() > 0)
            asio::co_spawn(executor_, idle_watchdog(idle, idle_txn), asio::detached);
    }
    return ok;
}

void session::finish() {
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
            const std::size_t room = buf.size() - have;
            auto [ec, n] = co_await stream_.read_some(asio::buffer(buf.data() + have, room));
            if (ec) {
                if (have > 0)
                    spdlog::info("client {}: left during startup ({})", peer_, ec.message());
                co_return false;
            }
            // Found empty: what the client sends next answers what the proxy sends now, so
            // the next read waits for it rather than trying first (socket_readiness.hpp).
            if (n < room)
                stream_.note_empty();
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
            // Bytes that arrived before the answer was sent were not sent in reply to it:
            // plaintext injected ahead of the handshake. Checked before the answer, not
            // after: by then the client's ClientHello may be here already.
            if (offer && stream_.available() != 0) {
                spdlog::warn("client {}: plaintext injected before the TLS handshake; closed",
                             peer_);
                co_return false;
            }
            std::string answer(1, offer ? 'S' : 'N');
            if (auto ec = co_await stream_.write(asio::buffer(answer)))
                co_return false;
            if (offer) {
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
        if (ctx_.over_limit) {
            co_await fatal("53300", "too many clients already (max_client_conn)");
            co_return false;
        }
        co_return co_await authenticate(sm);
    }
}

// One 'p' message; small (a SASL message or a password). Read into rx_ with room to
// spare, so that it usually takes one read; what follows it (a client that sent its
// first query right behind it) stays there for the client reader.
asio::awaitable<std::optional<std::string>> session::read_auth_response() {
    if (rx_.size() < first_chunk)
        rx_.resize(first_chunk);
    proto::limits lim;
    lim.max_message_size = 64 * 1024;
    for (;;) {
        const std::string_view unread{rx_.data() + rx_begin_, rx_end_ - rx_begin_};
        const auto d = proto::decode_frame(unread, lim);
        if (d.error)
            co_return std::nullopt;
        if (d.complete()) {
            if (d.message.type != 'p')
                co_return std::nullopt;
            std::string body(d.message.body);
            rx_begin_ += d.size;
            if (rx_begin_ == rx_end_)
                rx_begin_ = rx_end_ = 0;
            co_return body;
        }
        make_room(rx_, rx_begin_, rx_end_, unread.size() + d.need);
        const std::size_t room = rx_.size() - rx_end_;
        auto [ec, n] = co_await stream_.read_some(asio::buffer(rx_.data() + rx_end_, room));
        if (ec)
            co_return std::nullopt;
        if (n < room)
            stream_.note_empty(); // as in startup()
        rx_end_ += n;
    }
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
    if (db_)
        db_metrics_ = &ctx_.state->metrics().database(database_name_);
    auto user = ctx_.state->find_user(user_);
    auth_context ac;
    ac.user = user_;
    if (SSL* ssl = stream_.ssl()) {
        ac.tls = true;
        ac.channel_binding_data = client::local_tls_server_end_point(ssl);
        ac.certificate_cn = client::peer_certificate_common_name(ssl);
    }
    client_authenticator auth(user ? user->credentials : decoy_credentials(user_), ac);
    auto st = auth.start(out);
    while (st == client_authenticator::status::in_progress) {
        // Written at once when the socket takes it (no coroutine frame, no completion to
        // wait for); the rest, if any, asynchronously.
        if (!send_to_client_now(out))
            (void)co_await send_to_client(out);
        if (!client_ok_)
            co_return false;
        auto body = co_await read_auth_response();
        if (!body) {
            spdlog::info("client {}: user={} left during authentication", peer_, user_);
            co_return false;
        }
        st = auth.on_response(*body, out);
    }
    const bool allowed_db =
        user && (user->config.databases.empty() ||
                 std::find(user->config.databases.begin(), user->config.databases.end(),
                           database_name_) != user->config.databases.end());
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
    user_cfg_ = user->config;
    if (user_cfg_->tenant) {
        binding_.tenant = *user_cfg_->tenant;
        binding_.user = user_;
    }
    spdlog::info("client {} logged in: user={} database={} auth={} tls={} protocol=3.{}", peer_,
                 user_, database_name_, auth.mechanism(), stream_.ssl() ? "yes" : "no",
                 proto::protocol_minor(protocol_));
    co_return co_await greet(out); // AuthenticationOk goes out with the greeting
}

// Appends the greeting (ParameterStatus, BackendKeyData, ReadyForQuery) to `out`, which
// holds the end of authentication, and sends it all in one write.
asio::awaitable<bool> session::greet(std::string& out) {
    // Server parameters come from the first backend of this database.
    std::shared_ptr<const server_parameters> server;
    {
        std::lock_guard lock(db_->mutex);
        server = db_->server_params;
    }
    if (!server) {
        // The first client of the database waits for a connection: tell it it is in.
        const bool sent = co_await send_to_client(out);
        if (!sent)
            co_return false;
        auto conn = co_await db_->pool->acquire();
        if (!conn) {
            spdlog::warn("client {}: database {} unreachable: {}", peer_, database_name_,
                         conn.error().message());
            co_await fatal("08006",
                           "could not connect to the database server: " + conn.error().message());
            co_return false;
        }
        auto reported = server_parameters::from((*conn)->parameters());
        std::lock_guard lock(db_->mutex);
        if (!db_->server_params)
            db_->server_params = std::move(reported);
        server = db_->server_params;
    }
    // The client's own values where it set them (startup parameters, options=-c), the
    // server's as encoded once otherwise.
    out.reserve(out.size() + server->encoded.size() + 256);
    const std::string_view encoded = server->encoded;
    for (const auto& e : server->entries) {
        const auto mine = params_.find(e.key);
        if (mine == params_.end())
            out.append(encoded.substr(e.at, e.size));
        else
            wire::parameter_status(out, e.name, mine->second);
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
    if (!send_to_client_now(out))
        co_return co_await send_to_client(out);
    co_return client_ok_;
}

} // namespace detail

void start_client_session(session_context ctx, client_stream stream, std::string peer,
                          const boost::asio::any_io_executor& ex) {
    auto s = std::make_shared<detail::session>(std::move(ctx), std::move(stream), peer, ex);
    // The completion handler owns the session (its coroutine holds only `this`): no
    // coroutine frame of a wrapper lives beside the session's own for the client's life.
    boost::asio::co_spawn(ex, s->run(), [s, peer = std::move(peer)](std::exception_ptr e) {
        if (!e)
            return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& failure) {
            spdlog::error("client {}: session ended with an exception: {}", peer, failure.what());
        }
    });
}

} // namespace qail::proxy
