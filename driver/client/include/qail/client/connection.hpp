// An asynchronous PostgreSQL connection (Asio C++20 coroutines): connect with
// protocol 3.2 first, TLS and authentication; simple and extended queries with a
// statement cache; pipelines; COPY in both directions; cancel.
#pragma once

#include <qail/client/error.hpp>
#include <qail/client/handshake.hpp>
#include <qail/client/options.hpp>
#include <qail/client/result.hpp>
#include <qail/client/types.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Asio's per-thread frame cache changes the layout of one of its structs, so every
// translation unit must use the size qail_driver was built with (the top-level
// CMakeLists.txt; CMake passes it on to whoever links qail_driver). A mismatch is heap
// corruption at run time, so it is a compile error here instead.
#if BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE != 16
#error "qail_driver needs -DBOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16 (link it through CMake)"
#endif

namespace qail::client {

/// A failed operation: the error code, and the server's ErrorResponse when the
/// code is errc::server_error.
struct error {
    boost::system::error_code code;
    std::optional<pg_error> server;

    [[nodiscard]] std::string message() const;
    /// The SQLSTATE of the server error, or empty.
    [[nodiscard]] std::string_view sqlstate() const noexcept {
        return server ? std::string_view{server->sqlstate} : std::string_view{};
    }
};

/// Throws boost::system::system_error carrying the message (used by result::value()).
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

template <class T>
using result = boost::system::result<T, error>;

/// A NOTIFY received on a LISTENing connection.
struct notification {
    std::int32_t process_id = 0;
    std::string channel;
    std::string payload;
};

/// One command of a pipeline: SQL with $n placeholders and its parameters.
struct pipeline_command {
    std::string sql;
    std::vector<param> params;
};

enum class pipeline_mode {
    /// One Sync after all commands: they run as one implicit transaction, and a
    /// failure rolls back the earlier ones and skips the later ones.
    atomic,
    /// A Sync after each command: each is its own transaction; a failure affects
    /// only its own command. Still one write and one round trip.
    independent,
};

namespace detail {
/// The one object whose address marks an abort (defined once, in connection.cpp).
extern const char copy_abort_marker[1];
} // namespace detail

/// Returned by a copy_in() source to abort the COPY with CopyFail. Recognised by
/// the address of its (empty) data, which no real chunk can share.
inline const std::string_view copy_abort{detail::copy_abort_marker, 0};

/// One statement of a connection preamble (see connection::set_preamble).
struct preamble_step {
    preamble_step() = default;
    preamble_step(std::string s, std::vector<param> p = {}, bool pipe = false)
        : sql(std::move(s)), params(std::move(p)), pipelined(pipe) {}

    std::string sql;
    std::vector<param> params;
    /// Shares the Sync of the step after it (sent as Parse/Bind/Execute without a Sync
    /// of its own), so the two end with one ReadyForQuery. `sql` must then be one
    /// statement; a reset that precedes the binding is sent this way. Ignored on the
    /// last step.
    bool pipelined = false;
    /// Prepared under a name the statement cache keeps, so that later preambles only
    /// Bind and Execute it (no parsing or planning on the server). `sql` must then be
    /// one statement; it goes as Parse/Bind/Execute even without parameters.
    bool keep = false;
    /// For a kept step: statement_cache::make_key(sql, parameter types), computed once
    /// by whoever builds steps that are reused; empty means computed when sent.
    std::string key;
};

/// The server's transaction status after the last completed exchange.
enum class transaction_state { idle, in_transaction, failed };

class connection {
public:
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Connects to the first reachable host of `options`.
    [[nodiscard]] static boost::asio::awaitable<result<std::unique_ptr<connection>>>
    connect(boost::asio::any_io_executor executor, connect_options options);

    /// Runs one or more statements with the simple protocol; one result_set each.
    [[nodiscard]] boost::asio::awaitable<result<std::vector<result_set>>>
    simple_query(std::string_view sql);

    /// Runs one statement with the extended protocol, prepared once through the
    /// statement cache; results in `result_format` (text by default).
    [[nodiscard]] boost::asio::awaitable<result<result_set>>
    query(std::string_view sql, std::span<const param> params = {},
          protocol::format_code result_format = protocol::format_code::text);

    /// query() with parameters converted from C++ values (binary format).
    template <class... Args>
    [[nodiscard]] boost::asio::awaitable<result<result_set>> execute(std::string_view sql,
                                                                     const Args&... args) {
        const std::vector<param> params{to_param(args)...};
        co_return co_await query(sql, params);
    }

    /// Sends every command in one write and reads every result; see pipeline_mode.
    /// Each entry is the command's result, its error, or errc::pipeline_skipped.
    [[nodiscard]] boost::asio::awaitable<result<std::vector<result<result_set>>>>
    pipeline(std::span<const pipeline_command> commands,
             pipeline_mode mode = pipeline_mode::atomic);

    /// COPY ... FROM STDIN: `next_chunk` returns the next bytes to send (any
    /// format the COPY statement names), nullopt at the end. Returning
    /// `copy_abort` sends CopyFail and the operation ends with errc::aborted.
    /// Returns the number of rows the server copied.
    [[nodiscard]] boost::asio::awaitable<result<std::uint64_t>>
    copy_in(std::string_view copy_sql,
            const std::function<std::optional<std::string_view>()>& next_chunk);
    /// COPY ... FROM STDIN with typed rows in text format (tab, newline,
    /// backslash escaped; nullopt as \N).
    [[nodiscard]] boost::asio::awaitable<result<std::uint64_t>>
    copy_in_rows(std::string_view copy_sql,
                 std::span<const std::vector<std::optional<std::string>>> rows);
    /// COPY ... TO STDOUT: every CopyData chunk goes to `sink` as it arrives.
    [[nodiscard]] boost::asio::awaitable<result<std::uint64_t>>
    copy_out(std::string_view copy_sql, const std::function<void(std::string_view)>& sink);

    /// COPY ... TO STDOUT in text format, delivered as rows: each line is split on
    /// tabs and unescaped; \N becomes nullopt. Returns the rows.
    [[nodiscard]] boost::asio::awaitable<
        result<std::vector<std::vector<std::optional<std::string>>>>>
    copy_out_rows(std::string_view copy_sql);

    /// Sends a CancelRequest for whatever this connection is running, on a new
    /// connection to the same server with the same TLS rules.
    [[nodiscard]] boost::asio::awaitable<result<void>> cancel();

    /// Statements sent in the same write as, and ahead of, the next operation: the
    /// pool's reset and tenant binding ride along with the borrower's first command
    /// instead of costing a round trip. A step without parameters goes as a simple
    /// Query (it may hold several statements); a step with parameters, a pipelined one
    /// or a kept one as Parse/Bind/Execute(/Sync), values bound. If any step
    /// fails, that operation fails with its error and the connection is broken (its
    /// state is unknown). Replaces any preamble not yet sent.
    void set_preamble(std::vector<preamble_step> steps);
    /// The same for steps built once and shared (a pool's cached reset and binding).
    void set_preamble(std::shared_ptr<const std::vector<preamble_step>> steps);
    /// Encodes the preamble not yet sent onto `out` and clears it, for a caller that
    /// forwards raw protocol itself. Returns how many ReadyForQuery messages its
    /// answers end with (one per step); 0 when there was none.
    [[nodiscard]] std::size_t take_preamble(std::string& out);
    [[nodiscard]] bool has_preamble() const noexcept;

    // --- raw access, for a proxy that forwards protocol bytes it does not decode ---
    // Valid only between operations (nothing of an operation is left unread). The
    // caller owns message framing; the connection keeps its socket, TLS and state.

    /// What one raw_read_some() got: `bytes` read, or the `error` that ended it.
    /// Small on purpose (not a result<>, which carries a server error): a coroutine's
    /// frame holds it, and Asio recycles only frames under 1 KiB; a bigger one is a
    /// malloc on every read.
    struct raw_read_result {
        std::size_t bytes = 0;
        boost::system::error_code error;
    };
    /// Reads bytes from the server into `out`: first whatever the connection had
    /// already buffered, then from the socket. An error marks the connection broken,
    /// except a cancelled read of a plain socket (nothing was lost).
    [[nodiscard]] boost::asio::awaitable<raw_read_result> raw_read_some(std::span<char> out);
    /// raw_read_some() in parts, for a relay that reads without a coroutine frame of
    /// the connection's own on every read: copies what the connection had already
    /// buffered into `out` and returns how many bytes (0: none, or not usable).
    [[nodiscard]] std::size_t raw_take_buffered(std::span<char> out) noexcept;
    /// Then the socket to async_read_some() from: only a usable plain TCP connection
    /// has one (else null: use raw_read_some(), which also reports why not). The error
    /// of such a read goes through raw_read_failed().
    [[nodiscard]] boost::asio::ip::tcp::socket* raw_tcp_socket() noexcept;
    /// The error raw_read_some() reports for a failed socket read `ec`; the connection
    /// is marked broken unless the read was cancelled (nothing lost on a plain socket).
    [[nodiscard]] boost::system::error_code raw_read_failed(boost::system::error_code ec);
    /// Writes all of `bytes` to the server. An error marks the connection broken.
    [[nodiscard]] boost::asio::awaitable<result<void>> raw_write(std::string_view bytes);
    /// Writes what the socket takes at once, without waiting: the bytes written (0 over
    /// TLS, where only raw_write() writes, or when the socket buffer is full). The caller
    /// raw_write()s the rest. An error marks the connection broken.
    [[nodiscard]] result<std::size_t> raw_write_now(std::string_view bytes);
    /// Records the transaction state of the last ReadyForQuery the raw caller saw.
    void raw_finished(transaction_state state) noexcept;
    /// Marks the connection unusable (the raw caller saw something it cannot recover).
    void mark_broken() noexcept;
    /// The cancel key from BackendKeyData (4 bytes under 3.0, up to 256 under 3.2).
    [[nodiscard]] std::string_view backend_key() const noexcept;
    /// For a raw caller: what it forwarded may have created or dropped prepared
    /// statements by name (see statements_unknown()).
    void note_statements_unknown() noexcept;
    /// Every run-time parameter the server has reported (ParameterStatus).
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> parameters() const;

    /// An object owned by whoever pools or proxies this connection (e.g. which
    /// statements the proxy prepared on it); destroyed with the connection.
    void set_attachment(std::shared_ptr<void> attachment) noexcept;
    [[nodiscard]] const std::shared_ptr<void>& attachment() const noexcept;

    /// Sends Terminate and closes the socket.
    [[nodiscard]] boost::asio::awaitable<void> close();

    /// A limit for every later operation; on expiry the socket is closed and the
    /// connection is broken (errc::operation_timeout). Zero disables it.
    void set_operation_timeout(std::chrono::milliseconds timeout) noexcept;

    void on_notice(std::function<void(const pg_error&)> fn);
    void on_notification(std::function<void(const notification&)> fn);

    /// True after an I/O or protocol error: the connection must not be reused.
    [[nodiscard]] bool broken() const noexcept;
    /// For a connection nobody is using: true if it is broken, or the server has closed
    /// it or sent something unasked (as it does before terminating a backend at
    /// shutdown). One poll(2), no round trip; over TLS only a closed peer counts, since
    /// TLS records may arrive on their own. Safe from any thread while it is unused.
    [[nodiscard]] bool server_hung_up() const noexcept;
    [[nodiscard]] transaction_state transaction() const noexcept;
    /// The negotiated protocol version (196610 for 3.2, 196608 for 3.0).
    [[nodiscard]] std::int32_t protocol_version() const noexcept;
    [[nodiscard]] auth_method authentication() const noexcept;
    /// "TLSv1.3", or "none" for a plaintext connection.
    [[nodiscard]] std::string tls_version() const;
    [[nodiscard]] std::int32_t backend_pid() const noexcept;
    /// The latest value the server reported for a run-time parameter.
    [[nodiscard]] std::optional<std::string> parameter(std::string_view name) const;
    [[nodiscard]] std::size_t cached_statements() const noexcept;
    /// Empties the statement cache without closing anything on the server: for a caller
    /// that is about to drop them there itself (a pool's DISCARD ALL), so that a later
    /// query prepares again instead of failing with 26000 (fatal inside a transaction).
    void forget_prepared_statements() noexcept;
    /// The server's prepared statements may differ from what the statement cache knows:
    /// since the last forget_prepared_statements(), SQL that may create or drop them by
    /// name (touches_prepared_statements(): PREPARE, DEALLOCATE) went through
    /// simple_query(), query(), pipeline() or a COPY, or a raw caller called
    /// note_statements_unknown(). A pool resets such a connection with DISCARD ALL.
    /// Dynamic SQL that a server-side function builds is not seen.
    [[nodiscard]] bool statements_unknown() const noexcept;
    /// How many times forget_prepared_statements() was called: a raw user that keeps its
    /// own statements on the connection (a proxy) drops its bookkeeping when it changes.
    [[nodiscard]] std::uint64_t statements_forgotten() const noexcept;
    /// Socket writes since connect (a pipeline or a cached query is one write).
    [[nodiscard]] std::uint64_t writes() const noexcept;

private:
    struct impl;
    explicit connection(std::shared_ptr<impl> p) noexcept;
    std::shared_ptr<impl> impl_;
};

} // namespace qail::client
