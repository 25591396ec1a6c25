// The client connection: transport (TCP, Unix, TLS), the startup exchange driven
// by startup_handshake, and the query, pipeline, COPY and cancel protocols.
#include "detail/transport.hpp"

#include <qail/client/connection.hpp>
#include <qail/client/scram_memo.hpp>
#include <qail/client/send_now.hpp>
#include <qail/client/sql_text.hpp>
#include <qail/client/statement_cache.hpp>
#include <qail/client/tls.hpp>
#include <qail/protocol/message.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>
#include <cstring>
#include <map>
#include <openssl/rand.h>
#include <poll.h>
#include <ranges>
#include <utility>
#include <variant>

namespace qail::client {

namespace asio = boost::asio;
namespace proto = qail::protocol;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol::socket;
using tls_stream = asio::ssl::stream<tcp::socket>;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
using detail::deferred_tuple;
using detail::transport;

namespace detail {
const char copy_abort_marker[1] = {'\0'};
} // namespace detail

std::string error::message() const {
    if (server)
        return server->to_string();
    return code.message();
}

void throw_exception_from_error(const error& e, const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(e.code, e.message()), loc);
}

namespace {

error make_error(errc e) {
    return error{make_error_code(e), std::nullopt};
}
error make_error(boost::system::error_code ec) {
    return error{ec, std::nullopt};
}
error server_error(pg_error e) {
    return error{make_error_code(errc::server_error), std::move(e)};
}

// The endpoint a connection reached, kept for CancelRequest.
struct peer_address {
    std::optional<tcp::endpoint> tcp_endpoint;
    std::string unix_path;
    std::string host_name; // for TLS verification on the cancel connection
};

std::string escape_copy_text(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        switch (c) {
        case '\\':
            out += "\\\\";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        default:
            out.push_back(c);
        }
    }
    return out;
}

bool is_stale_statement_error(const pg_error& e) {
    // 26000: the server lost the statement; 0A000: "cached plan must not change result type".
    return e.sqlstate == "26000" ||
           (e.sqlstate == "0A000" && e.message.find("cached plan") != std::string::npos);
}

// Encodes Bind with the params' own formats and values.
void encode_bind_params(proto::writer& w, std::string_view statement, std::span<const param> params,
                        proto::format_code result_format) {
    const auto formats = std::views::transform(
        params, [](const param& p) { return static_cast<std::int16_t>(p.format); });
    const auto values =
        std::views::transform(params, [](const param& p) -> std::optional<proto::byte_view> {
            if (p.bytes)
                return proto::byte_view{*p.bytes};
            return std::nullopt;
        });
    const std::int16_t rf[1] = {static_cast<std::int16_t>(result_format)};
    proto::encode_bind(w, "", statement, formats, values, std::span<const std::int16_t>(rf, 1));
}

std::vector<std::int32_t> param_oids(std::span<const param> params) {
    std::vector<std::int32_t> oids;
    oids.reserve(params.size());
    for (const param& p : params)
        oids.push_back(p.type_oid);
    return oids;
}

} // namespace

struct connection::impl : std::enable_shared_from_this<connection::impl> {
    explicit impl(asio::any_io_executor ex) : executor(std::move(ex)), deadline(executor) {}

    asio::any_io_executor executor;
    // What a proxy's every borrow and relayed transaction reads or writes (the raw_*
    // calls, the pool's lend and return), together: a connection lent to another client
    // each transaction is cold in the cache, and these are then few lines, not many.
    transport io;
    std::size_t rx_begin = 0; // rx[rx_begin, rx_end) is unread
    std::size_t rx_end = 0;
    std::shared_ptr<const std::vector<preamble_step>> preamble; // sent ahead of the next operation
    std::shared_ptr<void> attachment;                           // the owner's per-connection state
    std::uint64_t write_count = 0;
    std::uint64_t statements_forgotten = 0; // see connection::statements_forgotten()
    std::chrono::milliseconds op_timeout{0};
    bool broken = false;
    bool closed = false;
    bool timed_out = false;
    bool statements_unknown = false; // see connection::statements_unknown()
    transaction_state txn = transaction_state::idle;
    std::vector<std::string> pending_closes; // evicted statements to Close with the next batch

    connect_options options;
    std::shared_ptr<asio::ssl::context> tls_context;
    tls_client_config tls_config;
    peer_address peer;

    std::string rx; // receive buffer
    std::string tx; // encode buffer, sent by flush()

    std::int32_t version = proto::request_code::protocol_3_2;
    auth_method method = auth_method::none;
    std::int32_t pid = 0;
    std::string backend_key;
    std::map<std::string, std::string, std::less<>> parameters;
    statement_cache cache{100};
    asio::steady_timer deadline;
    std::function<void(const pg_error&)> notice_fn;
    std::function<void(const notification&)> notification_fn;

    // --- deadline: closes the socket when an operation overruns ---
    void arm(std::chrono::milliseconds limit) {
        timed_out = false;
        if (limit.count() <= 0)
            return;
        deadline.expires_after(limit);
        deadline.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            if (ec)
                return;
            if (auto self = weak.lock()) {
                self->timed_out = true;
                self->io.close();
            }
        });
    }
    void disarm() noexcept { deadline.cancel(); }

    error io_error(boost::system::error_code ec) {
        broken = true;
        if (timed_out)
            return make_error(errc::operation_timeout);
        return make_error(ec);
    }

    // --- raw I/O ---
    asio::awaitable<std::optional<error>> flush() {
        if (tx.empty())
            co_return std::nullopt;
        // One send(2) usually takes it all: no asynchronous operation (and no pass
        // through the event loop) unless the socket buffer is full, or over TLS.
        boost::system::error_code ec;
        const std::size_t sent = io.write_now(asio::buffer(tx), ec);
        if (!ec && sent < tx.size()) {
            const auto [wec, n] = co_await io.async_write(
                asio::buffer(tx.data() + sent, tx.size() - sent), use_tuple);
            (void)n;
            ec = wec;
        }
        tx.clear();
        ++write_count;
        if (ec)
            co_return io_error(ec);
        co_return std::nullopt;
    }

    // The next message when a whole one is already buffered, decoded without a
    // coroutine (most messages arrive several to a read); nullopt when the socket must
    // be read first: then co_await read_message(). A message's views into the buffer
    // stay valid until the next read_message(). Each coroutine call is a frame that
    // Asio does not recycle (a result<> makes it over 1 KiB), so
    //     auto next = buffered_message();
    //     if (!next)
    //         next.emplace(co_await read_message());
    // costs an allocation only per socket read, not per message.
    std::optional<result<proto::backend_message>> buffered_message() {
        const std::string_view unread{rx.data() + rx_begin, rx_end - rx_begin};
        const auto f = proto::decode_frame(unread);
        if (f.error) {
            broken = true;
            return result<proto::backend_message>(make_error(errc::protocol_violation));
        }
        if (!f.complete())
            return std::nullopt;
        rx_begin += f.size;
        return decode_message(f.message);
    }

    // Reads from the socket until a whole message is buffered, then decodes it.
    asio::awaitable<result<proto::backend_message>> read_message() {
        for (;;) {
            const std::string_view unread{rx.data() + rx_begin, rx_end - rx_begin};
            const auto f = proto::decode_frame(unread);
            if (f.error) {
                broken = true;
                co_return make_error(errc::protocol_violation);
            }
            if (f.complete()) {
                rx_begin += f.size;
                co_return decode_message(f.message);
            }
            // Compact, then grow to fit at least the rest of this message.
            if (rx_begin > 0) {
                std::memmove(rx.data(), rx.data() + rx_begin, rx_end - rx_begin);
                rx_end -= rx_begin;
                rx_begin = 0;
            }
            const std::size_t want = rx_end + std::max<std::size_t>(f.need, 16 * 1024);
            if (rx.size() < want)
                rx.resize(std::max(want, rx.size() * 2));
            auto [ec, n] =
                co_await io.read_some(asio::buffer(rx.data() + rx_end, rx.size() - rx_end));
            if (ec)
                co_return io_error(ec);
            rx_end += n;
        }
    }

    result<proto::backend_message> decode_message(const proto::frame& f) {
        proto::backend_message m;
        if (proto::decode_backend_body(f, m)) {
            broken = true;
            return make_error(errc::protocol_violation);
        }
        // After FATAL or PANIC the server closes the session.
        if (const auto* e = std::get_if<proto::error_response>(&m))
            if (e->fields.severity_nonlocalized == "FATAL" ||
                e->fields.severity_nonlocalized == "PANIC")
                broken = true;
        return m;
    }

    // Handles messages that may arrive at any time. Returns true if consumed.
    bool handle_async(const proto::backend_message& m) {
        if (const auto* n = std::get_if<proto::notice_response>(&m)) {
            if (notice_fn)
                notice_fn(pg_error::from(n->fields));
            return true;
        }
        if (const auto* a = std::get_if<proto::notification_response>(&m)) {
            if (notification_fn)
                notification_fn(
                    notification{a->process_id, std::string(a->channel), std::string(a->payload)});
            return true;
        }
        if (const auto* p = std::get_if<proto::parameter_status>(&m)) {
            parameters.insert_or_assign(std::string(p->name), std::string(p->value));
            return true;
        }
        return false;
    }

    void set_txn(const proto::ready_for_query& r) {
        switch (r.status) {
        case proto::transaction_status::idle:
            txn = transaction_state::idle;
            break;
        case proto::transaction_status::in_transaction:
            txn = transaction_state::in_transaction;
            break;
        case proto::transaction_status::failed:
            txn = transaction_state::failed;
            break;
        }
    }

    std::optional<error> usable() const {
        if (closed)
            return make_error(errc::connection_closed);
        if (broken)
            return make_error(errc::connection_broken);
        return std::nullopt;
    }

    // SQL about to run: one that mentions PREPARE may leave an SQL-level statement.
    void note_sql(std::string_view sql) noexcept {
        if (!statements_unknown && touches_prepared_statements(sql))
            statements_unknown = true;
    }

    // Queues Close messages for statements evicted from the cache.
    std::size_t write_pending_closes(proto::writer& w) {
        const std::size_t n = pending_closes.size();
        for (const auto& name : pending_closes)
            proto::encode(w, proto::close{proto::target_kind::statement, name});
        pending_closes.clear();
        return n;
    }

    // Encodes the pending preamble ahead of everything else in this write. Returns how
    // many ReadyForQuery its answers end with; the caller then awaits finish_preamble().
    std::size_t write_preamble(proto::writer& w) {
        if (!preamble)
            return 0;
        const auto steps = std::move(preamble);
        std::size_t n = 0;
        for (std::size_t i = 0; i < steps->size(); ++i) {
            const preamble_step& step = (*steps)[i];
            const bool sync = !step.pipelined || i + 1 == steps->size();
            if (step.params.empty() && sync && !step.keep) {
                proto::encode(w, proto::query{step.sql});
                ++n;
                continue;
            }
            std::string_view name;
            std::string fresh;
            std::optional<std::string> evicted;
            if (step.keep) {
                // Cached from the moment it is sent: a failed preamble breaks the
                // connection, cache and all.
                std::string made;
                const std::string& key =
                    step.key.empty()
                        ? (made = statement_cache::make_key(step.sql, param_oids(step.params)))
                        : step.key;
                if (const auto cached = cache.find(key)) {
                    name = *cached;
                } else {
                    fresh = cache.next_name();
                    proto::encode_parse(w, fresh, step.sql, param_oids(step.params));
                    evicted = cache.insert(key, fresh);
                    name = fresh;
                }
            } else {
                proto::encode_parse(w, "", step.sql, param_oids(step.params));
            }
            encode_bind_params(w, name, step.params, proto::format_code::text);
            proto::encode(w, proto::execute{"", 0});
            if (evicted) // after the Execute: with caching off, it is this very statement
                proto::encode(w, proto::close{proto::target_kind::statement, *evicted});
            if (sync) {
                proto::encode(w, proto::sync{});
                ++n;
            }
        }
        return n;
    }

    // Reads the preamble's results through its ReadyForQuery. A failure breaks the
    // connection: the session state it was meant to establish is unknown.
    asio::awaitable<std::optional<error>> finish_preamble(std::size_t ready_expected) {
        std::optional<error> failure;
        while (ready_expected > 0) {
            auto next = buffered_message();
            if (!next)
                next.emplace(co_await read_message());
            auto& m = *next;
            if (!m)
                co_return failure ? *failure : m.error();
            if (handle_async(*m))
                continue;
            if (const auto* er = std::get_if<proto::error_response>(&*m)) {
                if (!failure)
                    failure = server_error(pg_error::from(er->fields));
            } else if (const auto* rq = std::get_if<proto::ready_for_query>(&*m)) {
                set_txn(*rq);
                --ready_expected;
            }
            // Row descriptions, rows and command tags of the preamble are dropped.
        }
        if (failure)
            broken = true;
        co_return failure;
    }

    asio::awaitable<std::optional<error>> establish(const host_spec& host,
                                                    std::int32_t version_to_request);
    asio::awaitable<std::optional<error>> open_transport(const host_spec& host);
    asio::awaitable<std::optional<error>> start_tls(const std::string& server_name);
    asio::awaitable<result<result_set>> run_extended(std::string_view sql,
                                                     std::span<const param> params,
                                                     proto::format_code fmt, bool allow_retry);
    asio::awaitable<result<std::uint64_t>> finish_copy_in(std::optional<error> failure);
};

connection::connection(std::shared_ptr<impl> p) noexcept : impl_(std::move(p)) {}
connection::~connection() {
    if (impl_) {
        impl_->disarm();
        impl_->io.close();
    }
}

// --- connect ---------------------------------------------------------------------------

asio::awaitable<std::optional<error>> connection::impl::open_transport(const host_spec& host) {
    if (host.is_unix_socket()) {
        io = transport(unix_socket(executor));
        auto& s = std::get<unix_socket>(io.raw());
        const std::string path = unix_socket_path(host);
        auto [ec] =
            co_await s.async_connect(asio::local::stream_protocol::endpoint(path), use_tuple);
        if (ec)
            co_return make_error(ec);
        peer = peer_address{std::nullopt, path, {}};
        co_return std::nullopt;
    }
    tcp::resolver resolver(executor);
    auto [rec, endpoints] = co_await resolver.async_resolve(
        host.hostaddr.empty() ? host.host : host.hostaddr, std::to_string(host.port), use_tuple);
    if (rec)
        co_return make_error(rec);
    // The socket lives in `io` while connecting, so the connect deadline can close it.
    io = transport(tcp::socket(executor));
    tcp::socket& s = *io.tcp_socket();
    auto [cec, ep] = co_await asio::async_connect(s, endpoints, use_tuple);
    if (cec)
        co_return make_error(cec);
    boost::system::error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);
    peer = peer_address{ep, {}, host.host};
    co_return std::nullopt;
}

asio::awaitable<std::optional<error>> connection::impl::start_tls(const std::string& server_name) {
    tcp::socket* sock = io.tcp_socket();
    if (sock == nullptr)
        co_return make_error(errc::tls_refused_by_server);
    // SSLRequest, then exactly one byte of answer.
    tx.clear();
    proto::writer w(tx);
    proto::encode(w, proto::ssl_request{});
    auto [wec, wn] = co_await asio::async_write(*sock, asio::buffer(tx), use_tuple);
    (void)wn;
    tx.clear();
    if (wec)
        co_return io_error(wec);
    char answer = 0;
    auto [rec, rn] = co_await asio::async_read(*sock, asio::buffer(&answer, 1), use_tuple);
    (void)rn;
    if (rec)
        co_return io_error(rec);
    const bool tls_required = options.sslmode == ssl_mode::require ||
                              options.sslmode == ssl_mode::verify_ca ||
                              options.sslmode == ssl_mode::verify_full;
    if (answer == 'N') {
        if (tls_required)
            co_return make_error(errc::tls_refused_by_server);
        co_return std::nullopt; // prefer/allow: continue in plaintext
    }
    if (answer != 'S')
        co_return make_error(errc::protocol_violation);
    // Bytes after 'S' and before the handshake would be injected plaintext.
    if (sock->available() != 0)
        co_return make_error(errc::tls_unexpected_data);

    tls_config = tls_client_config{};
    // libpq's rules: require with a root certificate file behaves like verify-ca, and
    // sslrootcert=system always verifies the host name.
    tls_config.verify_chain =
        options.sslmode == ssl_mode::verify_ca || options.sslmode == ssl_mode::verify_full ||
        (options.sslmode == ssl_mode::require && !options.sslrootcert.empty());
    tls_config.verify_host =
        options.sslmode == ssl_mode::verify_full || options.sslrootcert == "system";
    tls_config.root_cert_file = options.sslrootcert;
    tls_config.cert_file = options.sslcert;
    tls_config.key_file = options.sslkey;
    tls_config.server_name = server_name;
    tls_config.send_sni = options.sslsni;
    auto ctx = make_client_context(tls_config);
    if (!ctx)
        co_return make_error(ctx.error().code);
    tls_context = *ctx;
    // Like the TCP socket, the TLS stream lives in `io` during the handshake.
    io = transport(tls_stream(std::move(*sock), *tls_context));
    tls_stream& stream = *io.tls();
    if (auto ec = prepare_client_stream(stream.native_handle(), tls_config))
        co_return make_error(ec);
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (hec) {
        broken = true;
        co_return make_error(classify_handshake_error(stream.native_handle(), hec));
    }
    co_return std::nullopt;
}

asio::awaitable<std::optional<error>> connection::impl::establish(const host_spec& host,
                                                                  std::int32_t version_to_request) {
    rx_begin = rx_end = 0;
    broken = false;
    if (auto e = co_await open_transport(host))
        co_return e;
    if (!host.is_unix_socket() && options.sslmode != ssl_mode::disable &&
        options.sslmode != ssl_mode::allow) {
        if (auto e = co_await start_tls(host.host.empty() ? host.hostaddr : host.host))
            co_return e;
    }

    handshake_settings hs;
    hs.user = options.user;
    hs.password = options.password;
    if (options.scram_memo)
        hs.scram_keys = [memo = options.scram_memo, password = options.password](
                            std::span<const std::uint8_t> salt, std::uint32_t iterations) {
            return memo->keys(password, salt, iterations);
        };
    hs.database = options.effective_dbname();
    if (!options.application_name.empty())
        hs.parameters.emplace_back("application_name", options.application_name);
    for (const auto& p : options.startup_parameters)
        hs.parameters.push_back(p);
    hs.requested_version = version_to_request;
    hs.policy = options.auth;
    hs.channel_binding = options.channel_binding;
    if (tls_stream* t = io.tls()) {
        hs.tls = true;
        if (auto cb = peer_tls_server_end_point(t->native_handle()))
            hs.channel_binding_data = std::move(*cb);
    }
    if (RAND_bytes(hs.nonce.data(), static_cast<int>(hs.nonce.size())) != 1)
        co_return make_error(errc::auth_incomplete);

    startup_handshake hand(std::move(hs));
    tx.clear();
    hand.start(tx);
    if (hand.status() == handshake_status::failed)
        co_return make_error(hand.error());
    for (;;) {
        if (auto e = co_await flush())
            co_return e;
        auto next = buffered_message();
        if (!next)
            next.emplace(co_await read_message());
        auto& m = *next;
        if (!m)
            co_return m.error();
        const auto st = hand.on_message(*m, tx);
        if (st == handshake_status::in_progress)
            continue;
        if (st == handshake_status::ready) {
            if (proto::protocol_minor(hand.protocol_version()) < options.min_protocol_minor) {
                io.close();
                co_return make_error(errc::invalid_protocol_negotiation);
            }
            version = hand.protocol_version();
            method = hand.method();
            pid = hand.backend_pid();
            backend_key = hand.backend_key();
            for (const auto& [k, v] : hand.parameters())
                parameters.insert_or_assign(k, v);
            if (notice_fn)
                for (const auto& n : hand.notices())
                    notice_fn(n);
            txn = transaction_state::idle;
            co_return std::nullopt;
        }
        io.close();
        if (st == handshake_status::retry_with_3_0)
            co_return make_error(errc::protocol_version_rejected);
        if (hand.server_error())
            co_return server_error(*hand.server_error());
        co_return make_error(hand.error());
    }
}

asio::awaitable<result<std::unique_ptr<connection>>>
connection::connect(asio::any_io_executor executor, connect_options options) {
    auto p = std::make_shared<impl>(executor);
    p->options = std::move(options);
    p->cache = statement_cache(p->options.statement_cache_capacity);
    std::optional<error> last;
    p->arm(p->options.connect_timeout);
    for (const host_spec& host : p->options.hosts) {
        const std::int32_t first = p->options.protocol_minor >= 2
                                       ? proto::request_code::protocol_3_2
                                       : proto::request_code::protocol_3_0;
        last = co_await p->establish(host, first);
        // One retry with 3.0, only when the server explicitly rejected 3.2.
        if (last && last->code == errc::protocol_version_rejected &&
            first != proto::request_code::protocol_3_0 && p->options.min_protocol_minor == 0)
            last = co_await p->establish(host, proto::request_code::protocol_3_0);
        if (!last)
            break;
        if (p->timed_out)
            break;
        // A server's own refusal (bad password, no such database) is final;
        // transport failures move on to the next host.
        if (last->server || last->code.category() == client_category())
            break;
    }
    p->disarm();
    if (last) {
        p->io.close();
        if (p->timed_out)
            co_return make_error(errc::connect_timeout);
        co_return *last;
    }
    p->broken = false;
    co_return std::unique_ptr<connection>(new connection(std::move(p)));
}

// --- simple query ------------------------------------------------------------------------

asio::awaitable<result<std::vector<result_set>>> connection::simple_query(std::string_view sql) {
    impl& s = *impl_;
    if (auto e = s.usable())
        co_return *e;
    s.note_sql(sql);
    s.arm(s.op_timeout);
    proto::writer w(s.tx);
    const std::size_t preamble = s.write_preamble(w);
    const std::size_t closes = s.write_pending_closes(w);
    if (closes > 0)
        proto::encode(w, proto::sync{});
    proto::encode(w, proto::query{sql});
    if (w.error()) {
        s.tx.clear();
        s.disarm();
        co_return make_error(errc::embedded_nul);
    }
    if (auto e = co_await s.flush()) {
        s.disarm();
        co_return *e;
    }
    if (preamble > 0) {
        if (auto e = co_await s.finish_preamble(preamble)) {
            s.disarm();
            co_return *e;
        }
    }
    std::vector<result_set> results;
    result_set current;
    std::optional<error> failure;
    std::size_t syncs_to_skip = closes > 0 ? 1 : 0;
    for (;;) {
        auto next = s.buffered_message();
        if (!next)
            next.emplace(co_await s.read_message());
        auto& m = *next;
        if (!m) {
            s.disarm();
            co_return failure ? *failure : m.error(); // a FATAL error explains the EOF
        }
        if (s.handle_async(*m))
            continue;
        if (const auto* rd = std::get_if<proto::row_description>(&*m)) {
            current = result_set{};
            current.set_columns(*rd);
        } else if (const auto* dr = std::get_if<proto::data_row>(&*m)) {
            if (!current.add_row(*dr)) {
                s.broken = true;
                s.disarm();
                co_return make_error(errc::protocol_violation);
            }
        } else if (const auto* cc = std::get_if<proto::command_complete>(&*m)) {
            current.set_command_tag(cc->tag);
            results.push_back(std::move(current));
            current = result_set{};
        } else if (std::holds_alternative<proto::empty_query_response>(*m)) {
            results.push_back(std::move(current));
            current = result_set{};
        } else if (const auto* er = std::get_if<proto::error_response>(&*m)) {
            if (!failure)
                failure = server_error(pg_error::from(er->fields));
        } else if (std::holds_alternative<proto::copy_in_response>(*m)) {
            // The simple path has no data to send; copy_in() is the way to COPY FROM STDIN.
            proto::writer cw(s.tx);
            proto::encode(cw, proto::copy_fail{"COPY FROM STDIN needs copy_in()"});
            if (auto e = co_await s.flush()) {
                s.disarm();
                co_return *e;
            }
        } else if (std::holds_alternative<proto::copy_out_response>(*m) ||
                   std::holds_alternative<proto::copy_data>(*m) ||
                   std::holds_alternative<proto::copy_done>(*m) ||
                   std::holds_alternative<proto::close_complete>(*m)) {
            // COPY TO STDOUT data without a sink is dropped; CloseComplete answers evictions.
        } else if (const auto* rq = std::get_if<proto::ready_for_query>(&*m)) {
            s.set_txn(*rq);
            if (syncs_to_skip > 0) {
                --syncs_to_skip;
                continue;
            }
            break;
        } else {
            s.broken = true;
            s.disarm();
            co_return make_error(errc::protocol_violation);
        }
    }
    s.disarm();
    if (failure)
        co_return *failure;
    co_return results;
}

// --- extended query ------------------------------------------------------------------------

asio::awaitable<result<result_set>> connection::query(std::string_view sql,
                                                      std::span<const param> params,
                                                      proto::format_code result_format) {
    impl& s = *impl_;
    if (auto e = s.usable())
        co_return *e;
    s.note_sql(sql);
    s.arm(s.op_timeout);
    auto r = co_await s.run_extended(sql, params, result_format, true);
    s.disarm();
    co_return r;
}

asio::awaitable<result<result_set>> connection::impl::run_extended(std::string_view sql,
                                                                   std::span<const param> params,
                                                                   proto::format_code fmt,
                                                                   bool allow_retry) {
    const std::vector<std::int32_t> oids = param_oids(params);
    const std::string key = statement_cache::make_key(sql, oids);
    std::string name;
    bool parse_sent = false;
    proto::writer w(tx);
    const std::size_t with_preamble = write_preamble(w);
    write_pending_closes(w);
    if (const auto cached = cache.find(key)) {
        name.assign(*cached);
    } else {
        name = cache.next_name();
        proto::encode_parse(w, name, sql, oids);
        parse_sent = true;
    }
    encode_bind_params(w, name, params, fmt);
    proto::encode(w, proto::describe{proto::target_kind::portal, ""});
    proto::encode(w, proto::execute{"", 0});
    proto::encode(w, proto::sync{});
    if (w.error()) {
        tx.clear();
        co_return make_error(errc::embedded_nul);
    }
    if (auto e = co_await flush())
        co_return *e;
    if (with_preamble > 0) {
        if (auto e = co_await finish_preamble(with_preamble))
            co_return *e;
    }

    result_set rs;
    std::optional<pg_error> failure;
    bool parsed = false;
    for (;;) {
        auto next = buffered_message();
        if (!next)
            next.emplace(co_await read_message());
        auto& m = *next;
        if (!m)
            co_return m.error();
        if (handle_async(*m))
            continue;
        if (std::holds_alternative<proto::parse_complete>(*m)) {
            parsed = true;
        } else if (std::holds_alternative<proto::bind_complete>(*m) ||
                   std::holds_alternative<proto::close_complete>(*m) ||
                   std::holds_alternative<proto::no_data>(*m) ||
                   std::holds_alternative<proto::portal_suspended>(*m)) {
        } else if (const auto* rd = std::get_if<proto::row_description>(&*m)) {
            rs.set_columns(*rd);
        } else if (const auto* dr = std::get_if<proto::data_row>(&*m)) {
            if (!rs.add_row(*dr)) {
                broken = true;
                co_return make_error(errc::protocol_violation);
            }
        } else if (const auto* cc = std::get_if<proto::command_complete>(&*m)) {
            rs.set_command_tag(cc->tag);
        } else if (std::holds_alternative<proto::empty_query_response>(*m)) {
        } else if (const auto* er = std::get_if<proto::error_response>(&*m)) {
            if (!failure)
                failure = pg_error::from(er->fields);
        } else if (std::holds_alternative<proto::copy_in_response>(*m) ||
                   std::holds_alternative<proto::copy_out_response>(*m)) {
            // COPY through the extended protocol is not supported here; the server
            // waits for data we will not send, so the connection cannot continue.
            broken = true;
            co_return make_error(errc::protocol_violation);
        } else if (const auto* rq = std::get_if<proto::ready_for_query>(&*m)) {
            set_txn(*rq);
            break;
        } else {
            broken = true;
            co_return make_error(errc::protocol_violation);
        }
    }
    if (parse_sent && parsed) {
        if (auto evicted = cache.insert(key, name))
            pending_closes.push_back(std::move(*evicted));
    }
    if (failure) {
        if (!parse_sent && is_stale_statement_error(*failure)) {
            // The server no longer has the plan we cached: forget it, and retry
            // once if no transaction is open (inside one, the retry would fail too).
            cache.erase(key);
            pending_closes.push_back(name);
            if (allow_retry && txn == transaction_state::idle)
                co_return co_await run_extended(sql, params, fmt, false);
        }
        co_return server_error(std::move(*failure));
    }
    co_return rs;
}

// --- pipeline ------------------------------------------------------------------------------

asio::awaitable<result<std::vector<result<result_set>>>>
connection::pipeline(std::span<const pipeline_command> commands, pipeline_mode mode) {
    impl& s = *impl_;
    if (auto e = s.usable())
        co_return *e;
    for (const auto& c : commands)
        s.note_sql(c.sql);
    s.arm(s.op_timeout);
    proto::writer w(s.tx);
    const std::size_t preamble = s.write_preamble(w);
    s.write_pending_closes(w);
    // Statements this pipeline prepares: added to the cache once ParseComplete arrives.
    struct new_statement {
        std::string key;
        std::string name;
        std::size_t command;
    };
    std::vector<new_statement> fresh;
    std::map<std::string, std::string, std::less<>> in_batch; // key -> name
    for (std::size_t i = 0; i < commands.size(); ++i) {
        const auto& c = commands[i];
        const std::vector<std::int32_t> oids = param_oids(c.params);
        std::string key = statement_cache::make_key(c.sql, oids);
        std::string name;
        if (const auto it = in_batch.find(key); it != in_batch.end()) {
            name = it->second;
        } else if (const auto cached = s.cache.find(key)) {
            name.assign(*cached);
        } else {
            name = s.cache.next_name();
            proto::encode_parse(w, name, c.sql, oids);
            fresh.push_back({key, name, i});
        }
        in_batch.emplace(std::move(key), name);
        encode_bind_params(w, name, c.params, proto::format_code::text);
        proto::encode(w, proto::describe{proto::target_kind::portal, ""});
        proto::encode(w, proto::execute{"", 0});
        if (mode == pipeline_mode::independent)
            proto::encode(w, proto::sync{});
    }
    if (mode == pipeline_mode::atomic)
        proto::encode(w, proto::sync{});
    if (w.error()) {
        s.tx.clear();
        s.disarm();
        co_return make_error(errc::embedded_nul);
    }
    if (auto e = co_await s.flush()) {
        s.disarm();
        co_return *e;
    }
    if (preamble > 0) {
        if (auto e = co_await s.finish_preamble(preamble)) {
            s.disarm();
            co_return *e;
        }
    }

    std::vector<result<result_set>> out;
    out.reserve(commands.size());
    const std::size_t expected_ready = mode == pipeline_mode::atomic ? 1 : commands.size();
    std::size_t ready_seen = 0;
    std::size_t parse_seen = 0;
    result_set current;
    bool failed_in_sync = false; // the rest until the next Sync is skipped by the server
    while (ready_seen < expected_ready) {
        auto next = s.buffered_message();
        if (!next)
            next.emplace(co_await s.read_message());
        auto& m = *next;
        if (!m) {
            s.disarm();
            co_return m.error();
        }
        if (s.handle_async(*m))
            continue;
        if (std::holds_alternative<proto::parse_complete>(*m)) {
            // ParseCompletes arrive in the order the Parses were sent.
            if (parse_seen < fresh.size()) {
                const auto& f = fresh[parse_seen++];
                if (auto evicted = s.cache.insert(f.key, f.name))
                    s.pending_closes.push_back(std::move(*evicted));
            }
        } else if (std::holds_alternative<proto::bind_complete>(*m) ||
                   std::holds_alternative<proto::no_data>(*m) ||
                   std::holds_alternative<proto::close_complete>(*m) ||
                   std::holds_alternative<proto::portal_suspended>(*m)) {
        } else if (const auto* rd = std::get_if<proto::row_description>(&*m)) {
            current = result_set{};
            current.set_columns(*rd);
        } else if (const auto* dr = std::get_if<proto::data_row>(&*m)) {
            if (!current.add_row(*dr)) {
                s.broken = true;
                s.disarm();
                co_return make_error(errc::protocol_violation);
            }
        } else if (const auto* cc = std::get_if<proto::command_complete>(&*m)) {
            current.set_command_tag(cc->tag);
            out.emplace_back(std::move(current));
            current = result_set{};
        } else if (std::holds_alternative<proto::empty_query_response>(*m)) {
            out.emplace_back(std::move(current));
            current = result_set{};
        } else if (const auto* er = std::get_if<proto::error_response>(&*m)) {
            out.emplace_back(server_error(pg_error::from(er->fields)));
            current = result_set{};
            failed_in_sync = true;
        } else if (const auto* rq = std::get_if<proto::ready_for_query>(&*m)) {
            s.set_txn(*rq);
            ++ready_seen;
            if (mode == pipeline_mode::independent && out.size() < ready_seen)
                out.emplace_back(make_error(errc::pipeline_skipped));
            failed_in_sync = false;
        } else {
            s.broken = true;
            s.disarm();
            co_return make_error(errc::protocol_violation);
        }
    }
    (void)failed_in_sync;
    // Atomic mode: everything after the failing command was skipped by the server.
    while (out.size() < commands.size())
        out.emplace_back(make_error(errc::pipeline_skipped));
    s.disarm();
    co_return out;
}

// --- COPY --------------------------------------------------------------------------------

asio::awaitable<result<std::uint64_t>>
connection::impl::finish_copy_in(std::optional<error> failure) {
    std::uint64_t rows = 0;
    std::optional<error> server_failure;
    for (;;) {
        auto next = buffered_message();
        if (!next)
            next.emplace(co_await read_message());
        auto& m = *next;
        if (!m)
            co_return m.error();
        if (handle_async(*m))
            continue;
        if (const auto* cc = std::get_if<proto::command_complete>(&*m)) {
            result_set tmp;
            tmp.set_command_tag(cc->tag);
            rows = tmp.rows_affected();
        } else if (const auto* er = std::get_if<proto::error_response>(&*m)) {
            if (!server_failure)
                server_failure = server_error(pg_error::from(er->fields));
        } else if (const auto* rq = std::get_if<proto::ready_for_query>(&*m)) {
            set_txn(*rq);
            break;
        }
    }
    if (failure)
        co_return *failure;
    if (server_failure)
        co_return *server_failure;
    co_return rows;
}

asio::awaitable<result<std::uint64_t>>
connection::copy_in(std::string_view copy_sql,
                    const std::function<std::optional<std::string_view>()>& next_chunk) {
    impl& s = *impl_;
    if (auto e = s.usable())
        co_return *e;
    s.note_sql(copy_sql);
    s.arm(s.op_timeout);
    proto::writer w(s.tx);
    const std::size_t preamble = s.write_preamble(w);
    proto::encode(w, proto::query{copy_sql});
    if (auto e = co_await s.flush()) {
        s.disarm();
        co_return *e;
    }
    if (preamble > 0) {
        if (auto e = co_await s.finish_preamble(preamble)) {
            s.disarm();
            co_return *e;
        }
    }
    // Wait for CopyInResponse (or an error ending the statement).
    for (;;) {
        auto next = s.buffered_message();
        if (!next)
            next.emplace(co_await s.read_message());
        auto& m = *next;
        if (!m) {
            s.disarm();
            co_return m.error();
        }
        if (s.handle_async(*m))
            continue;
        if (std::holds_alternative<proto::copy_in_response>(*m))
            break;
        if (const auto* er = std::get_if<proto::error_response>(&*m)) {
            auto r = co_await s.finish_copy_in(server_error(pg_error::from(er->fields)));
            s.disarm();
            co_return r;
        }
        if (std::holds_alternative<proto::ready_for_query>(*m) ||
            std::holds_alternative<proto::row_description>(*m) ||
            std::holds_alternative<proto::command_complete>(*m)) {
            // Not a COPY FROM STDIN statement.
            if (const auto* rq = std::get_if<proto::ready_for_query>(&*m)) {
                s.set_txn(*rq);
                s.disarm();
                co_return make_error(errc::protocol_violation);
            }
            continue;
        }
    }
    constexpr std::size_t batch = 256 * 1024;
    std::optional<error> failure;
    for (;;) {
        const auto chunk = next_chunk();
        proto::writer cw(s.tx);
        if (!chunk) {
            proto::encode(cw, proto::copy_done{});
            break;
        }
        if (chunk->data() == detail::copy_abort_marker) {
            proto::encode(cw, proto::copy_fail{"aborted by the client"});
            failure = make_error(errc::aborted);
            break;
        }
        if (!chunk->empty())
            proto::encode(cw, proto::copy_data{*chunk});
        if (s.tx.size() >= batch) {
            if (auto e = co_await s.flush()) {
                s.disarm();
                co_return *e;
            }
        }
    }
    if (auto e = co_await s.flush()) {
        s.disarm();
        co_return *e;
    }
    auto r = co_await s.finish_copy_in(failure);
    s.disarm();
    co_return r;
}

asio::awaitable<result<std::uint64_t>>
connection::copy_in_rows(std::string_view copy_sql,
                         std::span<const std::vector<std::optional<std::string>>> rows) {
    std::size_t next = 0;
    std::string buffer;
    auto source = [&]() -> std::optional<std::string_view> {
        buffer.clear();
        // Encode up to ~64 KiB of rows per chunk.
        while (next < rows.size() && buffer.size() < 64 * 1024) {
            const auto& r = rows[next++];
            for (std::size_t i = 0; i < r.size(); ++i) {
                if (i > 0)
                    buffer.push_back('\t');
                if (r[i])
                    buffer += escape_copy_text(*r[i]);
                else
                    buffer += "\\N";
            }
            buffer.push_back('\n');
        }
        if (buffer.empty())
            return std::nullopt;
        return std::string_view{buffer};
    };
    co_return co_await copy_in(copy_sql, source);
}

asio::awaitable<result<std::uint64_t>>
connection::copy_out(std::string_view copy_sql, const std::function<void(std::string_view)>& sink) {
    impl& s = *impl_;
    if (auto e = s.usable())
        co_return *e;
    s.note_sql(copy_sql);
    s.arm(s.op_timeout);
    proto::writer w(s.tx);
    const std::size_t preamble = s.write_preamble(w);
    proto::encode(w, proto::query{copy_sql});
    if (auto e = co_await s.flush()) {
        s.disarm();
        co_return *e;
    }
    if (preamble > 0) {
        if (auto e = co_await s.finish_preamble(preamble)) {
            s.disarm();
            co_return *e;
        }
    }
    std::uint64_t rows = 0;
    std::optional<error> failure;
    for (;;) {
        auto next = s.buffered_message();
        if (!next)
            next.emplace(co_await s.read_message());
        auto& m = *next;
        if (!m) {
            s.disarm();
            co_return m.error();
        }
        if (s.handle_async(*m))
            continue;
        if (const auto* d = std::get_if<proto::copy_data>(&*m)) {
            sink(d->data);
        } else if (const auto* cc = std::get_if<proto::command_complete>(&*m)) {
            result_set tmp;
            tmp.set_command_tag(cc->tag);
            rows = tmp.rows_affected();
        } else if (const auto* er = std::get_if<proto::error_response>(&*m)) {
            if (!failure)
                failure = server_error(pg_error::from(er->fields));
        } else if (const auto* rq = std::get_if<proto::ready_for_query>(&*m)) {
            s.set_txn(*rq);
            break;
        }
    }
    s.disarm();
    if (failure)
        co_return *failure;
    co_return rows;
}

namespace {

// Splits COPY text-format lines into unescaped fields (the inverse of escape_copy_text).
class copy_text_parser {
public:
    explicit copy_text_parser(std::vector<std::vector<std::optional<std::string>>>& rows)
        : rows_(rows) {}

    void feed(std::string_view chunk) {
        for (const char c : chunk) {
            if (escape_) {
                escape_ = false;
                switch (c) {
                case 'N':
                    null_ = true;
                    break;
                case 't':
                    field_.push_back('\t');
                    break;
                case 'n':
                    field_.push_back('\n');
                    break;
                case 'r':
                    field_.push_back('\r');
                    break;
                case 'b':
                    field_.push_back('\b');
                    break;
                case 'f':
                    field_.push_back('\f');
                    break;
                case 'v':
                    field_.push_back('\v');
                    break;
                default:
                    field_.push_back(c);
                    break;
                }
            } else if (c == '\\') {
                escape_ = true;
            } else if (c == '\t') {
                end_field();
            } else if (c == '\n') {
                end_field();
                rows_.push_back(std::move(row_));
                row_.clear();
            } else {
                field_.push_back(c);
            }
        }
    }

private:
    void end_field() {
        if (null_)
            row_.emplace_back(std::nullopt);
        else
            row_.emplace_back(std::move(field_));
        field_.clear();
        null_ = false;
    }

    std::vector<std::vector<std::optional<std::string>>>& rows_;
    std::vector<std::optional<std::string>> row_;
    std::string field_;
    bool escape_ = false;
    bool null_ = false;
};

} // namespace

asio::awaitable<result<std::vector<std::vector<std::optional<std::string>>>>>
connection::copy_out_rows(std::string_view copy_sql) {
    std::vector<std::vector<std::optional<std::string>>> rows;
    copy_text_parser parser(rows);
    auto r = co_await copy_out(copy_sql, [&parser](std::string_view d) { parser.feed(d); });
    if (!r)
        co_return r.error();
    co_return rows;
}

// --- cancel, close, accessors -----------------------------------------------------------------

asio::awaitable<result<void>> connection::cancel() {
    impl& s = *impl_;
    std::string packet;
    proto::writer w(packet);
    proto::encode(w, proto::cancel_request{s.pid, s.backend_key});
    if (w.error())
        co_return make_error(errc::protocol_violation);
    transport t;
    if (s.peer.tcp_endpoint) {
        tcp::socket sock(s.executor);
        auto [ec] = co_await sock.async_connect(*s.peer.tcp_endpoint, use_tuple);
        if (ec)
            co_return make_error(ec);
        if (s.tls_context) {
            // Same TLS rules as the main connection: SSLRequest, then the handshake.
            std::string ssl_packet;
            proto::writer sw(ssl_packet);
            proto::encode(sw, proto::ssl_request{});
            auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(ssl_packet), use_tuple);
            (void)wn;
            if (wec)
                co_return make_error(wec);
            char answer = 0;
            auto [rec, rn] = co_await asio::async_read(sock, asio::buffer(&answer, 1), use_tuple);
            (void)rn;
            if (rec)
                co_return make_error(rec);
            if (answer != 'S')
                co_return make_error(errc::tls_refused_by_server);
            tls_stream stream(std::move(sock), *s.tls_context);
            if (auto pec = prepare_client_stream(stream.native_handle(), s.tls_config))
                co_return make_error(pec);
            auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
            if (hec)
                co_return make_error(classify_handshake_error(stream.native_handle(), hec));
            t = transport(std::move(stream));
        } else {
            t = transport(std::move(sock));
        }
    } else {
        unix_socket sock(s.executor);
        auto [ec] = co_await sock.async_connect(
            asio::local::stream_protocol::endpoint(s.peer.unix_path), use_tuple);
        if (ec)
            co_return make_error(ec);
        t = transport(std::move(sock));
    }
    if (auto ec = co_await t.write(asio::buffer(packet)))
        co_return make_error(ec);
    // The server closes the connection once it has processed the request.
    char sink[64];
    (void)co_await t.read_some(asio::buffer(sink));
    t.close();
    co_return boost::system::result<void, error>{};
}

asio::awaitable<void> connection::close() {
    impl& s = *impl_;
    if (s.closed)
        co_return;
    if (!s.broken) {
        proto::writer w(s.tx);
        proto::encode(w, proto::terminate{});
        (void)co_await s.flush();
    }
    s.closed = true;
    s.disarm();
    s.io.close();
}

void connection::set_operation_timeout(std::chrono::milliseconds timeout) noexcept {
    impl_->op_timeout = timeout;
}
void connection::on_notice(std::function<void(const pg_error&)> fn) {
    impl_->notice_fn = std::move(fn);
}
void connection::on_notification(std::function<void(const notification&)> fn) {
    impl_->notification_fn = std::move(fn);
}
bool connection::broken() const noexcept {
    return impl_->broken || impl_->closed;
}
bool connection::server_hung_up() const noexcept {
    if (broken())
        return true;
    const int fd = impl_->io.native_fd();
    if (fd < 0)
        return true;
    pollfd p{};
    p.fd = fd;
    p.events = POLLIN | POLLRDHUP;
    if (::poll(&p, 1, 0) <= 0)
        return false;
    if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0)
        return true;
    return (p.revents & POLLIN) != 0 && impl_->io.tls() == nullptr;
}
transaction_state connection::transaction() const noexcept {
    return impl_->txn;
}
std::int32_t connection::protocol_version() const noexcept {
    return impl_->version;
}
auth_method connection::authentication() const noexcept {
    return impl_->method;
}
std::string connection::tls_version() const {
    if (tls_stream* t = impl_->io.tls())
        return std::string(tls_version_name(t->native_handle()));
    return "none";
}
std::int32_t connection::backend_pid() const noexcept {
    return impl_->pid;
}
std::optional<std::string> connection::parameter(std::string_view name) const {
    const auto it = impl_->parameters.find(name);
    if (it == impl_->parameters.end())
        return std::nullopt;
    return it->second;
}
std::size_t connection::cached_statements() const noexcept {
    return impl_->cache.size();
}
std::uint64_t connection::statements_forgotten() const noexcept {
    return impl_->statements_forgotten;
}
void connection::forget_prepared_statements() noexcept {
    ++impl_->statements_forgotten;
    impl_->cache.clear();
    impl_->pending_closes.clear();
    impl_->statements_unknown = false;
}
bool connection::statements_unknown() const noexcept {
    return impl_->statements_unknown;
}
void connection::note_statements_unknown() noexcept {
    impl_->statements_unknown = true;
}
std::uint64_t connection::writes() const noexcept {
    return impl_->write_count;
}

void connection::set_preamble(std::vector<preamble_step> steps) {
    if (steps.empty())
        impl_->preamble.reset();
    else
        impl_->preamble = std::make_shared<const std::vector<preamble_step>>(std::move(steps));
}
void connection::set_preamble(std::shared_ptr<const std::vector<preamble_step>> steps) {
    impl_->preamble = std::move(steps);
}
std::size_t connection::take_preamble(std::string& out) {
    proto::writer w(out);
    const std::size_t n = impl_->write_preamble(w);
    if (w.error()) {
        impl_->broken = true; // a NUL in a step: nothing sane can be sent
        return 0;
    }
    return n;
}
void connection::set_attachment(std::shared_ptr<void> attachment) noexcept {
    impl_->attachment = std::move(attachment);
}
const std::shared_ptr<void>& connection::attachment() const noexcept {
    return impl_->attachment;
}
bool connection::has_preamble() const noexcept {
    return impl_->preamble && !impl_->preamble->empty();
}

// --- raw access ---------------------------------------------------------------------------

asio::awaitable<connection::raw_read_result> connection::raw_read_some(std::span<char> out) {
    impl& s = *impl_;
    if (s.closed)
        co_return raw_read_result{0, make_error_code(errc::connection_closed)};
    if (s.broken)
        co_return raw_read_result{0, make_error_code(errc::connection_broken)};
    if (const std::size_t n = raw_take_buffered(out); n > 0)
        co_return raw_read_result{n, {}};
    auto [ec, n] = co_await s.io.read_some(asio::buffer(out.data(), out.size()));
    if (ec)
        co_return raw_read_result{0, raw_read_failed(ec)};
    co_return raw_read_result{n, {}};
}

std::size_t connection::raw_take_buffered(std::span<char> out) noexcept {
    impl& s = *impl_;
    if (s.closed || s.broken || s.rx_end == s.rx_begin)
        return 0;
    const std::size_t n = std::min(out.size(), s.rx_end - s.rx_begin);
    std::memcpy(out.data(), s.rx.data() + s.rx_begin, n);
    s.rx_begin += n;
    if (s.rx_begin == s.rx_end)
        s.rx_begin = s.rx_end = 0;
    return n;
}

tcp::socket* connection::raw_tcp_socket() noexcept {
    impl& s = *impl_;
    return s.closed || s.broken ? nullptr : s.io.tcp_socket();
}

boost::system::error_code connection::raw_read_failed(boost::system::error_code ec) {
    impl& s = *impl_;
    // A cancelled read of a plain socket loses nothing: the connection stays usable.
    // A TLS record may have been half read, so there it is broken.
    if (ec == asio::error::operation_aborted && s.io.tls() == nullptr)
        return ec;
    return s.io_error(ec).code;
}

asio::awaitable<result<void>> connection::raw_write(std::string_view bytes) {
    impl& s = *impl_;
    if (auto e = s.usable())
        co_return *e;
    const auto [ec, n] =
        co_await s.io.async_write(asio::buffer(bytes.data(), bytes.size()), use_tuple);
    (void)n;
    ++s.write_count;
    if (ec)
        co_return s.io_error(ec);
    co_return boost::system::result<void, error>{};
}

result<std::size_t> connection::raw_write_now(std::string_view bytes) {
    impl& s = *impl_;
    if (auto e = s.usable())
        return *e;
    boost::system::error_code ec;
    const std::size_t n = s.io.write_now(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec)
        return s.io_error(ec);
    if (n > 0)
        ++s.write_count;
    return n;
}

void connection::raw_finished(transaction_state state) noexcept {
    impl_->txn = state;
}
void connection::mark_broken() noexcept {
    impl_->broken = true;
}
std::string_view connection::backend_key() const noexcept {
    return impl_->backend_key;
}
std::vector<std::pair<std::string, std::string>> connection::parameters() const {
    return {impl_->parameters.begin(), impl_->parameters.end()};
}

} // namespace qail::client
