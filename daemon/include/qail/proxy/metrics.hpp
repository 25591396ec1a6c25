// Metrics: the narrow sink interface the pooler reports through, and its Prometheus backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qail::proxy {

/// Where a client connection is in its life; nullopt (in client_state_changed) means
/// "not connected", so a connect is nullopt -> authenticating and a disconnect X -> nullopt.
enum class client_state {
    authenticating, ///< startup / TLS / authentication in progress
    idle,           ///< connected, not in a transaction, no server connection needed
    waiting,        ///< waiting for a server connection from the pool
    active,         ///< linked to a server connection
};

/// What happened to a client's named prepared statement in transaction pooling.
enum class prepared_event {
    mapped,   ///< a client name was mapped to a server-side statement
    prepared, ///< the statement was prepared on a backend (on demand)
    evicted,  ///< a server-side statement was closed to bound the cache
};

/// One pool's state, read when /metrics is scraped.
struct pool_snapshot {
    std::string database; ///< configured database name (bounded label value)
    std::string mode;     ///< session | transaction | statement
    std::size_t in_use = 0;
    std::size_t idle = 0;
    std::size_t waiting = 0;
    std::size_t connecting = 0;
    std::size_t max_size = 0;
    std::uint64_t created = 0;
    std::uint64_t destroyed = 0;
    std::uint64_t resets = 0; ///< deterministic resets sent (pipelined or eager)
    std::uint64_t acquire_timeouts = 0;
    double wait_seconds_max = 0.0;
};

/// The duration histograms of one database, resolved once by whoever reports for it (a
/// session, at login) rather than by name on every transaction. Thread-safe; the base
/// does nothing.
class database_metrics {
public:
    database_metrics() = default;
    database_metrics(const database_metrics&) = delete;
    database_metrics& operator=(const database_metrics&) = delete;
    virtual ~database_metrics() = default;

    virtual void pool_wait(double /*seconds*/) {}
    virtual void transaction(double /*seconds*/) {}
    virtual void query(double /*seconds*/) {}
};

/// What the pooler, sessions and HTTP servers report. Every method is thread-safe and
/// cheap; the base class does nothing, so components can be unit-tested without
/// Prometheus (or with a recording subclass).
class metrics_sink {
public:
    metrics_sink() = default;
    metrics_sink(const metrics_sink&) = delete;
    metrics_sink& operator=(const metrics_sink&) = delete;
    virtual ~metrics_sink() = default;

    /// nullopt = not connected.
    virtual void client_state_changed(std::optional<client_state>, std::optional<client_state>) {}
    virtual void auth_failure(std::string_view /*database*/) {}
    virtual void bytes(bool /*client_to_server*/, std::uint64_t /*n*/) {}
    /// Counted in errors_total{class="<first two characters of the SQLSTATE>"}.
    virtual void server_error(std::string_view /*sqlstate*/) {}
    virtual void acquire_timeout(std::string_view /*database*/) {}
    /// The histograms of `database`, valid as long as this sink. Resolve it once per
    /// database, not per observation: a new name is a new label value.
    virtual database_metrics& database(std::string_view /*database*/) {
        static database_metrics none;
        return none;
    }
    virtual void prepared(prepared_event) {}
    virtual void tls_handshake(bool /*ok*/) {}
    virtual void config_reload(bool /*ok*/) {}
    /// `route` must come from a fixed set (the route pattern, never the raw target).
    virtual void http_request(std::string_view /*route*/, int /*status*/, double /*seconds*/) {}
};

/// One metric family as declared in the table (also the source of docs/metrics.md).
struct metric_family_info {
    std::string_view name;
    std::string_view type;   ///< counter | gauge | histogram
    std::string_view labels; ///< comma-separated label names, empty for none
    std::string_view help;
};

/// Every family prometheus_metrics exports, in declaration order.
[[nodiscard]] std::span<const metric_family_info> metric_families() noexcept;

/// The Prometheus-backed sink. Every family is declared once, in the table in
/// daemon/src/metrics/prometheus_metrics.cpp. Label values are bounded: at most `max_label_values`
/// distinct databases (and HTTP routes); further values are folded into "other".
class prometheus_metrics final : public metrics_sink {
public:
    static constexpr std::size_t max_label_values = 256;

    prometheus_metrics(std::string_view version, std::string_view io_backend);
    ~prometheus_metrics() override;

    /// Pool gauges (server_connections{database,state}, pool_size, waiting clients, ...)
    /// are read from this provider at scrape time. Called from render(), on the scraping
    /// thread; it must be thread-safe.
    void set_pool_provider(std::function<std::vector<pool_snapshot>()> fn);

    /// Everything in the Prometheus text exposition format (version 0.0.4).
    [[nodiscard]] std::string render();

    void client_state_changed(std::optional<client_state> from,
                              std::optional<client_state> to) override;
    void auth_failure(std::string_view database) override;
    void bytes(bool client_to_server, std::uint64_t n) override;
    void server_error(std::string_view sqlstate) override;
    void acquire_timeout(std::string_view database) override;
    database_metrics& database(std::string_view database) override;
    void prepared(prepared_event e) override;
    void tls_handshake(bool ok) override;
    void config_reload(bool ok) override;
    void http_request(std::string_view route, int status, double seconds) override;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace qail::proxy
