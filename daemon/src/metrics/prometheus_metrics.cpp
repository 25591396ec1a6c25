// Prometheus metrics: the one table of every qail_proxy_* family and the sink that feeds it.
#include <qail/proxy/metrics.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <shared_mutex>
#include <spdlog/spdlog.h>
#include <sstream>
#include <string>
#include <utility>

namespace qail::proxy {

namespace {

namespace prom = ::prometheus;

/// Index of each family in the table below.
enum class fam : std::size_t {
    client_connections,
    server_connections,
    pool_waiting_clients,
    pool_size,
    pool_max_wait_seconds,
    pool_mode,
    server_connections_opened_total,
    server_connections_closed_total,
    pool_wait_seconds,
    transaction_duration_seconds,
    query_duration_seconds,
    bytes_total,
    errors_total,
    auth_failures_total,
    acquire_timeouts_total,
    resets_total,
    prepared_statements_total,
    http_requests_total,
    http_request_duration_seconds,
    tls_handshakes_total,
    config_reloads_total,
    io_backend,
    build_info,
    count_
};

enum class kind { counter, gauge, histogram };

/// Where a family's values come from: events reported through the sink and kept in the
/// registry; events of the relay's hot path, counted in the sink's own lock-free tallies
/// (no mutex per transaction) and read at scrape time; or the pool provider, read at
/// scrape time.
enum class source { event, tally, scrape };

struct family_def {
    fam id;
    kind type;
    source from;
    metric_family_info info;
};

// clang-format off
/// Every family, declared once. docs/metrics.md mirrors this table (a unit test checks).
constexpr std::array<family_def, static_cast<std::size_t>(fam::count_)> families{{
    {fam::client_connections, kind::gauge, source::tally,
     {"qail_proxy_client_connections", "gauge", "state",
      "Client connections by state (authenticating, idle, waiting for a server connection, active)."}},
    {fam::server_connections, kind::gauge, source::scrape,
     {"qail_proxy_server_connections", "gauge", "database,state",
      "Backend connections per pool by state (active = lent to a client, idle, connecting)."}},
    {fam::pool_waiting_clients, kind::gauge, source::scrape,
     {"qail_proxy_pool_waiting_clients", "gauge", "database",
      "Clients currently waiting for a backend connection from the pool."}},
    {fam::pool_size, kind::gauge, source::scrape,
     {"qail_proxy_pool_size", "gauge", "database",
      "Configured maximum number of backend connections of the pool."}},
    {fam::pool_max_wait_seconds, kind::gauge, source::scrape,
     {"qail_proxy_pool_max_wait_seconds", "gauge", "database",
      "How long the longest-waiting client of the pool has been waiting."}},
    {fam::pool_mode, kind::gauge, source::scrape,
     {"qail_proxy_pool_mode", "gauge", "database,mode",
      "Always 1; the pooling mode (session, transaction, statement) of each pool."}},
    {fam::server_connections_opened_total, kind::counter, source::scrape,
     {"qail_proxy_server_connections_opened_total", "counter", "database",
      "Backend connections the pool has opened."}},
    {fam::server_connections_closed_total, kind::counter, source::scrape,
     {"qail_proxy_server_connections_closed_total", "counter", "database",
      "Backend connections the pool has closed (broken, expired, idle or shrunk)."}},
    {fam::pool_wait_seconds, kind::histogram, source::tally,
     {"qail_proxy_pool_wait_seconds", "histogram", "database",
      "Time a client waited for a backend connection."}},
    {fam::transaction_duration_seconds, kind::histogram, source::tally,
     {"qail_proxy_transaction_duration_seconds", "histogram", "database",
      "Duration of client transactions (backend linked to unlinked)."}},
    {fam::query_duration_seconds, kind::histogram, source::tally,
     {"qail_proxy_query_duration_seconds", "histogram", "database",
      "Duration of queries (sent to the backend until ReadyForQuery)."}},
    {fam::bytes_total, kind::counter, source::tally,
     {"qail_proxy_bytes_total", "counter", "direction",
      "Bytes forwarded, by direction (client_to_server, server_to_client)."}},
    {fam::errors_total, kind::counter, source::event,
     {"qail_proxy_errors_total", "counter", "class",
      "ErrorResponses from backends by SQLSTATE class (first two characters)."}},
    {fam::auth_failures_total, kind::counter, source::event,
     {"qail_proxy_auth_failures_total", "counter", "database",
      "Client authentication failures at the proxy."}},
    {fam::acquire_timeouts_total, kind::counter, source::event,
     {"qail_proxy_acquire_timeouts_total", "counter", "database",
      "Clients that gave up waiting for a backend connection."}},
    {fam::resets_total, kind::counter, source::scrape,
     {"qail_proxy_resets_total", "counter", "database",
      "Deterministic resets run on released backend connections."}},
    {fam::prepared_statements_total, kind::counter, source::event,
     {"qail_proxy_prepared_statements_total", "counter", "event",
      "Named prepared statements mapped, prepared on a backend, or evicted."}},
    {fam::http_requests_total, kind::counter, source::event,
     {"qail_proxy_http_requests_total", "counter", "route,status",
      "HTTP requests (API and admin) by route and status code."}},
    {fam::http_request_duration_seconds, kind::histogram, source::event,
     {"qail_proxy_http_request_duration_seconds", "histogram", "route",
      "HTTP request latency by route."}},
    {fam::tls_handshakes_total, kind::counter, source::event,
     {"qail_proxy_tls_handshakes_total", "counter", "result",
      "Client-facing TLS handshakes by result (success, failure)."}},
    {fam::config_reloads_total, kind::counter, source::event,
     {"qail_proxy_config_reloads_total", "counter", "result",
      "Configuration reloads by result (success, failure)."}},
    {fam::io_backend, kind::gauge, source::event,
     {"qail_proxy_io_backend", "gauge", "backend",
      "Always 1; the I/O backend the sockets run on (epoll, io_uring)."}},
    {fam::build_info, kind::gauge, source::event,
     {"qail_proxy_build_info", "gauge", "version", "Always 1; the qail-proxy version."}},
}};
// clang-format on

constexpr bool table_in_enum_order() {
    for (std::size_t i = 0; i < families.size(); ++i) {
        if (static_cast<std::size_t>(families[i].id) != i) {
            return false;
        }
    }
    return true;
}
static_assert(table_in_enum_order(), "families[] must list the families in enum order");

constexpr const family_def& def(fam f) {
    return families[static_cast<std::size_t>(f)];
}

/// Durations from 100 µs (a pooled query on a LAN) to a minute (a long transaction).
constexpr std::array<double, 18> duration_bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                 1.0,    2.5,     5.0,    10.0,  30.0,   60.0};

const prom::Histogram::BucketBoundaries& duration_buckets() {
    static const prom::Histogram::BucketBoundaries buckets(duration_bounds.begin(),
                                                           duration_bounds.end());
    return buckets;
}

/// A duration histogram without a lock (prometheus-cpp's takes a mutex per
/// observation): a relaxed atomic count per bucket and the sum in nanoseconds, turned
/// into Prometheus' cumulative buckets at scrape time. A scrape racing an observation may
/// see its count without its sum, as with any lock-free client.
class tally_histogram {
public:
    void observe(double seconds) noexcept {
        std::size_t i = 0;
        while (i < duration_bounds.size() && seconds > duration_bounds[i])
            ++i; // bucket i holds values <= duration_bounds[i], as prometheus-cpp's
        counts_[i].fetch_add(1, std::memory_order_relaxed);
        const double ns = seconds > 0.0 ? seconds * 1e9 + 0.5 : 0.0;
        sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
    }

    [[nodiscard]] prom::ClientMetric sample(prom::ClientMetric::Label label) const {
        prom::ClientMetric m;
        m.label.push_back(std::move(label));
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            cumulative += counts_[i].load(std::memory_order_relaxed);
            m.histogram.bucket.push_back(
                {cumulative, i < duration_bounds.size() ? duration_bounds[i]
                                                        : std::numeric_limits<double>::infinity()});
        }
        m.histogram.sample_count = cumulative;
        m.histogram.sample_sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
        return m;
    }

private:
    std::array<std::atomic<std::uint64_t>, duration_bounds.size() + 1> counts_{};
    std::atomic<std::uint64_t> sum_ns_{0};
};

constexpr std::string_view other_label = "other";

/// Label value -> cached series, with at most max_label_values distinct values (the rest
/// share the "other" series). Lookups take a shared lock and do not allocate; only the
/// first use of a value takes the exclusive lock and creates its series.
template <typename Series>
class bounded_series {
public:
    /// Calls fn(label value, series) for each, under the shared lock.
    template <typename Fn>
    void for_each(Fn&& fn) {
        std::shared_lock lock(mutex_);
        for (auto& [value, series] : map_)
            fn(value, series);
    }

    template <typename Make>
    Series& get(std::string_view value, Make&& make) {
        {
            std::shared_lock lock(mutex_);
            if (auto it = map_.find(value); it != map_.end()) {
                return it->second;
            }
        }
        std::unique_lock lock(mutex_);
        if (auto it = map_.find(value); it != map_.end()) {
            return it->second;
        }
        if (value != other_label && map_.size() + 1 >= prometheus_metrics::max_label_values) {
            if (!overflow_logged_) {
                overflow_logged_ = true;
                spdlog::warn("metrics: more than {} distinct label values; folding the rest "
                             "into \"other\"",
                             prometheus_metrics::max_label_values - 1);
            }
            value = other_label;
            if (auto it = map_.find(value); it != map_.end()) {
                return it->second;
            }
        }
        auto [it, inserted] = map_.emplace(std::string(value), make(value));
        return it->second;
    }

private:
    std::shared_mutex mutex_;
    std::map<std::string, Series, std::less<>> map_;
    bool overflow_logged_ = false;
};

// One database's series; sessions hold it (as database_metrics) for their life.
struct database_series final : database_metrics {
    database_series(prom::Counter* auth, prom::Counter* timeouts)
        : auth_failures(auth), acquire_timeouts(timeouts) {}

    void pool_wait(double seconds) override { pool_waits.observe(seconds); }
    void transaction(double seconds) override { transactions.observe(seconds); }
    void query(double seconds) override { queries.observe(seconds); }

    tally_histogram pool_waits;
    tally_histogram transactions;
    tally_histogram queries;
    prom::Counter* auth_failures;
    prom::Counter* acquire_timeouts;
};

/// HTTP status codes 100..599 each get a lazily created counter.
constexpr int min_status = 100;
constexpr int max_status = 599;

struct route_series {
    std::string route;
    prom::Histogram* duration = nullptr;
    std::array<std::atomic<prom::Counter*>, max_status - min_status + 1> by_status{};
};

/// SQLSTATE class of `sqlstate`: its first two characters if they are [0-9A-Z], else "other".
std::string_view sqlstate_class(std::string_view sqlstate) {
    const auto valid = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); };
    if (sqlstate.size() < 2 || !valid(sqlstate[0]) || !valid(sqlstate[1])) {
        return other_label;
    }
    return sqlstate.substr(0, 2);
}

constexpr std::size_t index_of(client_state s) {
    return static_cast<std::size_t>(s);
}

} // namespace

struct prometheus_metrics::impl {
    prom::Registry registry;

    // Family handles, indexed by fam; null where the family is of another kind or scraped.
    std::array<prom::Family<prom::Counter>*, families.size()> counters{};
    std::array<prom::Family<prom::Gauge>*, families.size()> gauges{};
    std::array<prom::Family<prom::Histogram>*, families.size()> histograms{};

    // The tallies (source::tally).
    std::array<std::atomic<std::int64_t>, 4> client_states{};
    std::atomic<std::uint64_t> bytes_client_to_server{0};
    std::atomic<std::uint64_t> bytes_server_to_client{0};

    // Pre-created series for the fixed label sets.
    std::array<prom::Counter*, 3> prepared{};
    prom::Counter* tls_ok = nullptr;
    prom::Counter* tls_failed = nullptr;
    prom::Counter* reload_ok = nullptr;
    prom::Counter* reload_failed = nullptr;

    // Behind pointers: the map's values move while it is built, atomics cannot.
    bounded_series<std::unique_ptr<database_series>> databases;
    bounded_series<prom::Counter*> error_classes;
    bounded_series<std::unique_ptr<route_series>> routes;

    std::mutex provider_mutex;
    std::function<std::vector<pool_snapshot>()> pool_provider;

    impl(std::string_view version, std::string_view io_backend_name) {
        for (const family_def& f : families) {
            if (f.from != source::event) {
                continue;
            }
            const auto i = static_cast<std::size_t>(f.id);
            const std::string name(f.info.name);
            const std::string help(f.info.help);
            switch (f.type) {
            case kind::counter:
                counters[i] = &prom::BuildCounter().Name(name).Help(help).Register(registry);
                break;
            case kind::gauge:
                gauges[i] = &prom::BuildGauge().Name(name).Help(help).Register(registry);
                break;
            case kind::histogram:
                histograms[i] = &prom::BuildHistogram().Name(name).Help(help).Register(registry);
                break;
            }
        }

        auto& prepared_family = counter(fam::prepared_statements_total);
        prepared[static_cast<std::size_t>(prepared_event::mapped)] =
            &prepared_family.Add({{"event", "mapped"}});
        prepared[static_cast<std::size_t>(prepared_event::prepared)] =
            &prepared_family.Add({{"event", "prepared"}});
        prepared[static_cast<std::size_t>(prepared_event::evicted)] =
            &prepared_family.Add({{"event", "evicted"}});

        tls_ok = &counter(fam::tls_handshakes_total).Add({{"result", "success"}});
        tls_failed = &counter(fam::tls_handshakes_total).Add({{"result", "failure"}});
        reload_ok = &counter(fam::config_reloads_total).Add({{"result", "success"}});
        reload_failed = &counter(fam::config_reloads_total).Add({{"result", "failure"}});

        gauge(fam::io_backend).Add({{"backend", std::string(io_backend_name)}}).Set(1.0);
        gauge(fam::build_info).Add({{"version", std::string(version)}}).Set(1.0);
    }

    prom::Family<prom::Counter>& counter(fam f) { return *counters[static_cast<std::size_t>(f)]; }
    prom::Family<prom::Gauge>& gauge(fam f) { return *gauges[static_cast<std::size_t>(f)]; }
    prom::Family<prom::Histogram>& histogram(fam f) {
        return *histograms[static_cast<std::size_t>(f)];
    }

    // Series are never removed: the reference stays valid as long as this object.
    database_series& database(std::string_view name) {
        return *databases.get(name, [this](std::string_view value) {
            const prom::Labels labels{{"database", std::string(value)}};
            return std::make_unique<database_series>(
                &counter(fam::auth_failures_total).Add(labels),
                &counter(fam::acquire_timeouts_total).Add(labels));
        });
    }

    prom::Counter& error_class(std::string_view sqlstate) {
        return *error_classes.get(sqlstate_class(sqlstate), [this](std::string_view value) {
            return &counter(fam::errors_total).Add({{"class", std::string(value)}});
        });
    }

    route_series& route(std::string_view name) {
        return *routes.get(name, [this](std::string_view value) {
            auto series = std::make_unique<route_series>();
            series->route = std::string(value);
            series->duration = &histogram(fam::http_request_duration_seconds)
                                    .Add({{"route", series->route}}, duration_buckets());
            return series;
        });
    }

    prom::Counter& route_status(route_series& r, int status) {
        if (status < min_status || status > max_status) {
            status = 500; // not an HTTP status: count it as a server error, bounded
        }
        auto& slot = r.by_status[static_cast<std::size_t>(status - min_status)];
        prom::Counter* c = slot.load(std::memory_order_acquire);
        if (c == nullptr) {
            // Family::Add returns the existing series for equal labels, so a race here
            // stores the same pointer twice.
            c = &counter(fam::http_requests_total)
                     .Add({{"route", r.route}, {"status", std::to_string(status)}});
            slot.store(c, std::memory_order_release);
        }
        return *c;
    }

    /// The tallied families (source::tally), read now.
    std::vector<prom::MetricFamily> collect_tallies() {
        const auto family = [](fam f) {
            prom::MetricFamily mf;
            mf.name = std::string(def(f).info.name);
            mf.help = std::string(def(f).info.help);
            mf.type = def(f).type == kind::counter ? prom::MetricType::Counter
                      : def(f).type == kind::gauge ? prom::MetricType::Gauge
                                                   : prom::MetricType::Histogram;
            return mf;
        };
        std::vector<prom::MetricFamily> out;

        auto clients = family(fam::client_connections);
        for (const auto& [s, name] :
             {std::pair{client_state::authenticating, "authenticating"},
              std::pair{client_state::idle, "idle"}, std::pair{client_state::waiting, "waiting"},
              std::pair{client_state::active, "active"}}) {
            prom::ClientMetric m;
            m.label.push_back({"state", name});
            m.gauge.value =
                static_cast<double>(client_states[index_of(s)].load(std::memory_order_relaxed));
            clients.metric.push_back(std::move(m));
        }
        out.push_back(std::move(clients));

        auto bytes = family(fam::bytes_total);
        for (const auto& [direction, n] :
             {std::pair{"client_to_server", &bytes_client_to_server},
              std::pair{"server_to_client", &bytes_server_to_client}}) {
            prom::ClientMetric m;
            m.label.push_back({"direction", direction});
            m.counter.value = static_cast<double>(n->load(std::memory_order_relaxed));
            bytes.metric.push_back(std::move(m));
        }
        out.push_back(std::move(bytes));

        auto waits = family(fam::pool_wait_seconds);
        auto transactions = family(fam::transaction_duration_seconds);
        auto queries = family(fam::query_duration_seconds);
        databases.for_each([&](const std::string& name, const auto& d) {
            waits.metric.push_back(d->pool_waits.sample({"database", name}));
            transactions.metric.push_back(d->transactions.sample({"database", name}));
            queries.metric.push_back(d->queries.sample({"database", name}));
        });
        out.push_back(std::move(waits));
        out.push_back(std::move(transactions));
        out.push_back(std::move(queries));
        return out;
    }

    /// The scrape-time families, from the pool provider; databases beyond the label cap
    /// are summed into "other".
    std::vector<prom::MetricFamily> collect_pools() {
        std::function<std::vector<pool_snapshot>()> provider;
        {
            std::lock_guard lock(provider_mutex);
            provider = pool_provider;
        }
        if (!provider) {
            return {};
        }
        std::vector<pool_snapshot> pools;
        try {
            pools = provider();
        } catch (const std::exception& e) {
            spdlog::error("metrics: pool provider failed: {}", e.what());
            return {};
        }

        std::map<std::string, pool_snapshot, std::less<>> folded;
        for (pool_snapshot& p : pools) {
            database(p.database); // so per-database event series exist (at 0) from the start
            auto it = folded.find(p.database);
            if (it == folded.end() && folded.size() + 1 >= prometheus_metrics::max_label_values) {
                it = folded.find(other_label);
                if (it == folded.end()) {
                    it = folded.emplace(std::string(other_label), pool_snapshot{}).first;
                    it->second.database = other_label;
                    it->second.mode = other_label;
                }
            } else if (it == folded.end()) {
                std::string key = p.database;
                folded.emplace(std::move(key), std::move(p));
                continue;
            }
            pool_snapshot& sum = it->second;
            sum.in_use += p.in_use;
            sum.idle += p.idle;
            sum.waiting += p.waiting;
            sum.connecting += p.connecting;
            sum.max_size += p.max_size;
            sum.created += p.created;
            sum.destroyed += p.destroyed;
            sum.resets += p.resets;
            sum.wait_seconds_max = std::max(sum.wait_seconds_max, p.wait_seconds_max);
            if (sum.mode != p.mode) {
                sum.mode = other_label;
            }
        }

        std::array<prom::MetricFamily, families.size()> out;
        for (const family_def& f : families) {
            auto& mf = out[static_cast<std::size_t>(f.id)];
            mf.name = std::string(f.info.name);
            mf.help = std::string(f.info.help);
            mf.type = f.type == kind::counter ? prom::MetricType::Counter : prom::MetricType::Gauge;
        }
        const auto gauge_sample = [&out](fam f, prom::ClientMetric::Label a,
                                         std::optional<prom::ClientMetric::Label> b, double v) {
            prom::ClientMetric m;
            m.label.push_back(std::move(a));
            if (b) {
                m.label.push_back(std::move(*b));
            }
            m.gauge.value = v;
            m.counter.value = v;
            out[static_cast<std::size_t>(f)].metric.push_back(std::move(m));
        };
        for (const auto& [name, p] : folded) {
            const prom::ClientMetric::Label db{"database", name};
            gauge_sample(fam::server_connections, db, prom::ClientMetric::Label{"state", "active"},
                         static_cast<double>(p.in_use));
            gauge_sample(fam::server_connections, db, prom::ClientMetric::Label{"state", "idle"},
                         static_cast<double>(p.idle));
            gauge_sample(fam::server_connections, db,
                         prom::ClientMetric::Label{"state", "connecting"},
                         static_cast<double>(p.connecting));
            gauge_sample(fam::pool_waiting_clients, db, std::nullopt,
                         static_cast<double>(p.waiting));
            gauge_sample(fam::pool_size, db, std::nullopt, static_cast<double>(p.max_size));
            gauge_sample(fam::pool_max_wait_seconds, db, std::nullopt, p.wait_seconds_max);
            gauge_sample(fam::pool_mode, db, prom::ClientMetric::Label{"mode", p.mode}, 1.0);
            gauge_sample(fam::server_connections_opened_total, db, std::nullopt,
                         static_cast<double>(p.created));
            gauge_sample(fam::server_connections_closed_total, db, std::nullopt,
                         static_cast<double>(p.destroyed));
            gauge_sample(fam::resets_total, db, std::nullopt, static_cast<double>(p.resets));
        }

        std::vector<prom::MetricFamily> result;
        for (const family_def& f : families) {
            if (f.from == source::scrape) {
                result.push_back(std::move(out[static_cast<std::size_t>(f.id)]));
            }
        }
        return result;
    }
};

std::span<const metric_family_info> metric_families() noexcept {
    static const auto infos = [] {
        std::array<metric_family_info, families.size()> a{};
        for (std::size_t i = 0; i < families.size(); ++i) {
            a[i] = families[i].info;
        }
        return a;
    }();
    return infos;
}

prometheus_metrics::prometheus_metrics(std::string_view version, std::string_view io_backend)
    : impl_(std::make_unique<impl>(version, io_backend)) {}

prometheus_metrics::~prometheus_metrics() = default;

void prometheus_metrics::set_pool_provider(std::function<std::vector<pool_snapshot>()> fn) {
    std::lock_guard lock(impl_->provider_mutex);
    impl_->pool_provider = std::move(fn);
}

std::string prometheus_metrics::render() {
    std::vector<prom::MetricFamily> collected = impl_->collect_pools();
    const auto append = [&collected](std::vector<prom::MetricFamily> more) {
        collected.insert(collected.end(), std::make_move_iterator(more.begin()),
                         std::make_move_iterator(more.end()));
    };
    append(impl_->collect_tallies());
    append(impl_->registry.Collect());
    // Table order, so the exposition reads like docs/metrics.md.
    const auto rank = [](const prom::MetricFamily& mf) {
        for (std::size_t i = 0; i < families.size(); ++i) {
            if (families[i].info.name == mf.name) {
                return i;
            }
        }
        return families.size();
    };
    std::stable_sort(collected.begin(), collected.end(),
                     [&rank](const auto& a, const auto& b) { return rank(a) < rank(b); });
    std::ostringstream out;
    prom::TextSerializer{}.Serialize(out, collected);
    return std::move(out).str();
}

void prometheus_metrics::client_state_changed(std::optional<client_state> from,
                                              std::optional<client_state> to) {
    if (from == to) {
        return;
    }
    if (from) {
        impl_->client_states[index_of(*from)].fetch_sub(1, std::memory_order_relaxed);
    }
    if (to) {
        impl_->client_states[index_of(*to)].fetch_add(1, std::memory_order_relaxed);
    }
}

void prometheus_metrics::auth_failure(std::string_view database) {
    impl_->database(database).auth_failures->Increment();
}

void prometheus_metrics::bytes(bool client_to_server, std::uint64_t n) {
    (client_to_server ? impl_->bytes_client_to_server : impl_->bytes_server_to_client)
        .fetch_add(n, std::memory_order_relaxed);
}

void prometheus_metrics::server_error(std::string_view sqlstate) {
    impl_->error_class(sqlstate).Increment();
}

void prometheus_metrics::acquire_timeout(std::string_view database) {
    impl_->database(database).acquire_timeouts->Increment();
}

database_metrics& prometheus_metrics::database(std::string_view database) {
    return impl_->database(database);
}

void prometheus_metrics::prepared(prepared_event e) {
    impl_->prepared[static_cast<std::size_t>(e)]->Increment();
}

void prometheus_metrics::tls_handshake(bool ok) {
    (ok ? impl_->tls_ok : impl_->tls_failed)->Increment();
}

void prometheus_metrics::config_reload(bool ok) {
    (ok ? impl_->reload_ok : impl_->reload_failed)->Increment();
}

void prometheus_metrics::http_request(std::string_view route, int status, double seconds) {
    route_series& r = impl_->route(route);
    impl_->route_status(r, status).Increment();
    r.duration->Observe(seconds);
}

} // namespace qail::proxy
