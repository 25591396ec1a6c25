// Unit tests for the metrics sink: rendered samples, histograms, label caps, promtool, docs.
#include "test_support.hpp"

#include <qail/proxy/metrics.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using qail::proxy::client_state;
using qail::proxy::pool_snapshot;
using qail::proxy::prepared_event;
using qail::proxy::prometheus_metrics;

/// The value of the sample whose name-and-labels part is exactly `series`, if present.
std::optional<double> sample(const std::string& text, std::string_view series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
            line[series.size()] == ' ') {
            return std::stod(line.substr(series.size() + 1));
        }
    }
    return std::nullopt;
}

/// Every distinct value of `label` among samples of `metric` (exact name).
std::set<std::string> label_values(const std::string& text, std::string_view metric,
                                   std::string_view label) {
    std::set<std::string> values;
    std::istringstream in(text);
    std::string line;
    const std::string prefix = std::string(metric) + "{";
    const std::string key = std::string(label) + "=\"";
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) != 0) {
            continue;
        }
        const auto at = line.find(key);
        if (at == std::string::npos) {
            continue;
        }
        const auto start = at + key.size();
        values.insert(line.substr(start, line.find('"', start) - start));
    }
    return values;
}

std::filesystem::path temp_file(std::string_view name) {
    return std::filesystem::temp_directory_path() /
           (std::string(name) + "." +
            std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id())));
}

std::string read_all(const std::filesystem::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_CASE("metrics: base sink is a no-op") {
    qail::proxy::metrics_sink sink;
    sink.client_state_changed(std::nullopt, client_state::idle);
    sink.bytes(true, 1);
    sink.database("db").query(0.1);
    sink.http_request("/metrics", 200, 0.001);
    // It keeps no per-database series: every name gets the one do-nothing object.
    CHECK(&sink.database("db") == &sink.database("other"));
}

TEST_CASE("metrics: counters and gauges render with their labels and values") {
    prometheus_metrics m("1.2.3", "epoll");
    m.bytes(true, 40);
    m.bytes(true, 2);
    m.bytes(false, 7);
    m.client_state_changed(std::nullopt, client_state::authenticating);
    m.client_state_changed(client_state::authenticating, client_state::idle);
    m.client_state_changed(std::nullopt, client_state::authenticating);
    m.client_state_changed(client_state::authenticating, client_state::idle);
    m.client_state_changed(client_state::idle, client_state::waiting);
    m.client_state_changed(client_state::waiting, client_state::active);
    m.client_state_changed(std::nullopt, client_state::authenticating);
    m.client_state_changed(client_state::authenticating, std::nullopt);
    m.auth_failure("appdb");
    m.auth_failure("appdb");
    m.acquire_timeout("appdb");
    m.prepared(prepared_event::mapped);
    m.prepared(prepared_event::mapped);
    m.prepared(prepared_event::prepared);
    m.tls_handshake(true);
    m.tls_handshake(false);
    m.tls_handshake(false);
    m.config_reload(true);
    m.http_request("/v1/query", 200, 0.01);
    m.http_request("/v1/query", 200, 0.02);
    m.http_request("/v1/query", 401, 0.001);
    m.http_request("/v1/query", 99999, 0.001); // not a status: counted as 500

    const std::string text = m.render();
    INFO(text);
    CHECK(sample(text, R"(qail_proxy_bytes_total{direction="client_to_server"})") == 42);
    CHECK(sample(text, R"(qail_proxy_bytes_total{direction="server_to_client"})") == 7);
    CHECK(sample(text, R"(qail_proxy_client_connections{state="authenticating"})") == 0);
    CHECK(sample(text, R"(qail_proxy_client_connections{state="idle"})") == 1);
    CHECK(sample(text, R"(qail_proxy_client_connections{state="waiting"})") == 0);
    CHECK(sample(text, R"(qail_proxy_client_connections{state="active"})") == 1);
    CHECK(sample(text, R"(qail_proxy_auth_failures_total{database="appdb"})") == 2);
    CHECK(sample(text, R"(qail_proxy_acquire_timeouts_total{database="appdb"})") == 1);
    CHECK(sample(text, R"(qail_proxy_prepared_statements_total{event="mapped"})") == 2);
    CHECK(sample(text, R"(qail_proxy_prepared_statements_total{event="prepared"})") == 1);
    CHECK(sample(text, R"(qail_proxy_prepared_statements_total{event="evicted"})") == 0);
    CHECK(sample(text, R"(qail_proxy_tls_handshakes_total{result="success"})") == 1);
    CHECK(sample(text, R"(qail_proxy_tls_handshakes_total{result="failure"})") == 2);
    CHECK(sample(text, R"(qail_proxy_config_reloads_total{result="success"})") == 1);
    CHECK(sample(text, R"(qail_proxy_config_reloads_total{result="failure"})") == 0);
    CHECK(sample(text, R"(qail_proxy_http_requests_total{route="/v1/query",status="200"})") == 2);
    CHECK(sample(text, R"(qail_proxy_http_requests_total{route="/v1/query",status="401"})") == 1);
    CHECK(sample(text, R"(qail_proxy_http_requests_total{route="/v1/query",status="500"})") == 1);
    CHECK(sample(text, R"(qail_proxy_http_request_duration_seconds_count{route="/v1/query"})") ==
          4);
    CHECK(sample(text, R"(qail_proxy_io_backend{backend="epoll"})") == 1);
    CHECK(sample(text, R"(qail_proxy_build_info{version="1.2.3"})") == 1);
    CHECK(text.find("# TYPE qail_proxy_bytes_total counter") != std::string::npos);
    CHECK(text.find("# TYPE qail_proxy_client_connections gauge") != std::string::npos);
}

TEST_CASE("metrics: histograms have _bucket, _sum and _count") {
    prometheus_metrics m("0.1.0", "epoll");
    // A handle kept (as a session keeps its database's) and a name looked up again
    // report into the same series.
    auto& appdb = m.database("appdb");
    appdb.query(0.0002);
    m.database("appdb").query(0.003);
    appdb.query(2.0);
    m.database("appdb").transaction(0.5);
    m.database("appdb").pool_wait(0.0);
    m.database("appdb").pool_wait(100.0); // beyond the last bucket: only +Inf

    const std::string text = m.render();
    INFO(text);
    CHECK(text.find("# TYPE qail_proxy_query_duration_seconds histogram") != std::string::npos);
    CHECK(sample(text, R"(qail_proxy_query_duration_seconds_count{database="appdb"})") == 3);
    const auto sum = sample(text, R"(qail_proxy_query_duration_seconds_sum{database="appdb"})");
    REQUIRE(sum);
    CHECK(*sum == doctest::Approx(2.0032));
    CHECK(sample(text,
                 R"(qail_proxy_query_duration_seconds_bucket{database="appdb",le="0.00025"})") ==
          1);
    CHECK(sample(text,
                 R"(qail_proxy_query_duration_seconds_bucket{database="appdb",le="0.005"})") == 2);
    CHECK(sample(text, R"(qail_proxy_query_duration_seconds_bucket{database="appdb",le="+Inf"})") ==
          3);
    CHECK(sample(text, R"(qail_proxy_transaction_duration_seconds_count{database="appdb"})") == 1);
    CHECK(sample(text, R"(qail_proxy_pool_wait_seconds_count{database="appdb"})") == 2);
    CHECK(sample(text, R"(qail_proxy_pool_wait_seconds_bucket{database="appdb",le="60"})") == 1);
    CHECK(sample(text, R"(qail_proxy_pool_wait_seconds_bucket{database="appdb",le="+Inf"})") == 2);
}

TEST_CASE("metrics: a duration equal to a bucket's bound counts in that bucket (le)") {
    prometheus_metrics m("0.1.0", "epoll");
    m.database("appdb").transaction(0.001);
    m.database("appdb").transaction(0.0010001);
    m.database("appdb").transaction(60.0);
    const std::string text = m.render();
    INFO(text);
    const auto bucket = [&](std::string_view le) {
        return sample(text,
                      "qail_proxy_transaction_duration_seconds_bucket{database=\"appdb\",le=\"" +
                          std::string(le) + "\"}");
    };
    CHECK(bucket("0.0005") == 0);
    CHECK(bucket("0.001") == 1);
    CHECK(bucket("0.0025") == 2);
    CHECK(bucket("30") == 2);
    CHECK(bucket("60") == 3);
    CHECK(bucket("+Inf") == 3);
}

TEST_CASE("metrics: durations land in their own database's series and their own sink") {
    // Alternating databases, and a new sink that may sit where a destroyed one was: each
    // name's handle is its own series of its own sink.
    for (int round = 0; round < 3; ++round) {
        auto m = std::make_unique<prometheus_metrics>("0.1.0", "epoll");
        for (int i = 0; i < 5; ++i) {
            m->database("appdb").query(0.001);
            m->database("otherdb").query(0.001);
            m->database("otherdb").query(0.001);
        }
        m->database("appdb").transaction(0.5);
        const std::string text = m->render();
        INFO(text);
        CHECK(sample(text, R"(qail_proxy_query_duration_seconds_count{database="appdb"})") == 5);
        CHECK(sample(text, R"(qail_proxy_query_duration_seconds_count{database="otherdb"})") == 10);
        CHECK(sample(text, R"(qail_proxy_transaction_duration_seconds_count{database="appdb"})") ==
              1);
    }
}

TEST_CASE("metrics: errors_total groups by SQLSTATE class") {
    prometheus_metrics m("0.1.0", "epoll");
    m.server_error("23505"); // unique_violation
    m.server_error("23503"); // foreign_key_violation
    m.server_error("42P01"); // undefined_table
    m.server_error("40001"); // serialization_failure
    m.server_error("4");     // malformed
    m.server_error("a'\"");  // malformed, and no label injection
    const std::string text = m.render();
    INFO(text);
    CHECK(sample(text, R"(qail_proxy_errors_total{class="23"})") == 2);
    CHECK(sample(text, R"(qail_proxy_errors_total{class="42"})") == 1);
    CHECK(sample(text, R"(qail_proxy_errors_total{class="40"})") == 1);
    CHECK(sample(text, R"(qail_proxy_errors_total{class="other"})") == 2);
    CHECK(label_values(text, "qail_proxy_errors_total", "class") ==
          std::set<std::string>{"23", "40", "42", "other"});
}

TEST_CASE("metrics: a database label never gets more than the cap") {
    prometheus_metrics m("0.1.0", "epoll");
    constexpr std::size_t n = prometheus_metrics::max_label_values + 50;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string db = "db" + std::to_string(i);
        m.database(db).query(0.001);
        m.auth_failure(db);
    }
    std::vector<pool_snapshot> pools;
    for (std::size_t i = 0; i < n; ++i) {
        pool_snapshot p;
        p.database = "pool" + std::to_string(i);
        p.mode = "transaction";
        p.in_use = 1;
        p.max_size = 2;
        pools.push_back(p);
    }
    m.set_pool_provider([pools] { return pools; });
    const std::string text = m.render();

    const auto queried = label_values(text, "qail_proxy_query_duration_seconds_count", "database");
    CHECK(queried.size() == prometheus_metrics::max_label_values);
    CHECK(queried.count("other") == 1);
    CHECK(queried.count("db0") == 1);
    CHECK(label_values(text, "qail_proxy_auth_failures_total", "database").size() ==
          prometheus_metrics::max_label_values);
    const auto pooled = label_values(text, "qail_proxy_pool_size", "database");
    CHECK(pooled.size() <= prometheus_metrics::max_label_values);
    CHECK(pooled.count("other") == 1);
    // Every call was counted somewhere: 305 queries in total, folded ones under "other".
    double total = 0;
    for (const auto& db : queried) {
        total += sample(text, "qail_proxy_query_duration_seconds_count{database=\"" + db + "\"}")
                     .value_or(0);
    }
    CHECK(total == static_cast<double>(n));
    // Pool gauges of folded databases are summed, not lost.
    double in_use = 0;
    for (const auto& db : label_values(text, "qail_proxy_server_connections", "database")) {
        in_use +=
            sample(text, "qail_proxy_server_connections{database=\"" + db + "\",state=\"active\"}")
                .value_or(0);
    }
    CHECK(in_use == static_cast<double>(n));
}

TEST_CASE("metrics: pool gauges come from the provider at scrape time") {
    prometheus_metrics m("0.1.0", "epoll");
    std::size_t in_use = 3;
    m.set_pool_provider([&in_use] {
        pool_snapshot p;
        p.database = "appdb";
        p.mode = "transaction";
        p.in_use = in_use;
        p.idle = 2;
        p.connecting = 1;
        p.waiting = 4;
        p.max_size = 20;
        p.created = 9;
        p.destroyed = 5;
        p.resets = 7;
        p.wait_seconds_max = 0.25;
        return std::vector<pool_snapshot>{p};
    });
    std::string text = m.render();
    INFO(text);
    CHECK(sample(text, R"(qail_proxy_server_connections{database="appdb",state="active"})") == 3);
    CHECK(sample(text, R"(qail_proxy_server_connections{database="appdb",state="idle"})") == 2);
    CHECK(sample(text, R"(qail_proxy_server_connections{database="appdb",state="connecting"})") ==
          1);
    CHECK(sample(text, R"(qail_proxy_pool_waiting_clients{database="appdb"})") == 4);
    CHECK(sample(text, R"(qail_proxy_pool_size{database="appdb"})") == 20);
    CHECK(sample(text, R"(qail_proxy_pool_max_wait_seconds{database="appdb"})") == 0.25);
    CHECK(sample(text, R"(qail_proxy_pool_mode{database="appdb",mode="transaction"})") == 1);
    CHECK(sample(text, R"(qail_proxy_server_connections_opened_total{database="appdb"})") == 9);
    CHECK(sample(text, R"(qail_proxy_server_connections_closed_total{database="appdb"})") == 5);
    CHECK(sample(text, R"(qail_proxy_resets_total{database="appdb"})") == 7);
    // Configured databases get their event series at zero before any event.
    CHECK(sample(text, R"(qail_proxy_query_duration_seconds_count{database="appdb"})") == 0);
    CHECK(sample(text, R"(qail_proxy_acquire_timeouts_total{database="appdb"})") == 0);

    in_use = 7;
    text = m.render();
    CHECK(sample(text, R"(qail_proxy_server_connections{database="appdb",state="active"})") == 7);

    m.set_pool_provider([]() -> std::vector<pool_snapshot> { throw std::runtime_error("boom"); });
    text = m.render(); // a failing provider costs the pool gauges, not the scrape
    CHECK(sample(text, R"(qail_proxy_server_connections{database="appdb",state="active"})") ==
          std::nullopt);
    CHECK(text.find("qail_proxy_build_info") != std::string::npos);
}

TEST_CASE("metrics: concurrent reporting and scraping lose no increments") {
    prometheus_metrics m("0.1.0", "epoll");
    constexpr int threads = 4;
    constexpr int per_thread = 5000;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&m, t] {
            const std::string db = "db" + std::to_string(t % 2);
            for (int i = 0; i < per_thread; ++i) {
                m.bytes(true, 1);
                m.database(db).query(0.001);
                if (i % 1000 == 0) {
                    (void)m.render();
                }
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    const std::string text = m.render();
    CHECK(sample(text, R"(qail_proxy_bytes_total{direction="client_to_server"})") ==
          threads * per_thread);
    CHECK(sample(text, R"(qail_proxy_query_duration_seconds_count{database="db0"})") ==
          threads / 2 * per_thread);
}

TEST_CASE("metrics: the exposition passes promtool check metrics") {
    // promtool comes with Debian's `prometheus` package (scripts/setup installs it). A
    // missing promtool fails this test: the check must not silently stop running.
    REQUIRE_MESSAGE(std::system("command -v promtool >/dev/null 2>&1") == 0,
                    "promtool is not on PATH: apt-get install prometheus");
    prometheus_metrics m("0.1.0", "epoll");
    m.bytes(true, 1);
    m.client_state_changed(std::nullopt, client_state::idle);
    m.server_error("23505");
    m.database("appdb").query(0.01);
    m.database("appdb").transaction(0.02);
    m.database("appdb").pool_wait(0.0);
    m.auth_failure("appdb");
    m.acquire_timeout("appdb");
    m.prepared(prepared_event::evicted);
    m.tls_handshake(true);
    m.config_reload(false);
    m.http_request("/metrics", 200, 0.001);
    m.set_pool_provider([] {
        pool_snapshot p;
        p.database = "appdb";
        p.mode = "session";
        p.max_size = 5;
        return std::vector<pool_snapshot>{p};
    });
    const auto input = temp_file("qail_metrics_promtool.txt");
    const auto output = temp_file("qail_metrics_promtool.out");
    {
        std::ofstream out(input);
        out << m.render();
    }
    const std::string cmd =
        "promtool check metrics < '" + input.string() + "' > '" + output.string() + "' 2>&1";
    const int rc = std::system(cmd.c_str());
    const std::string report = read_all(output);
    INFO("promtool says: ", report);
    INFO("input: ", read_all(input));
    CHECK(rc == 0);
    CHECK(report.find("error") == std::string::npos);
    std::filesystem::remove(input);
    std::filesystem::remove(output);
}

TEST_CASE("metrics: docs/metrics.md documents every family") {
    const std::string docs = read_all(std::filesystem::path(QAIL_SOURCE_DIR) / "docs/metrics.md");
    REQUIRE(!docs.empty());
    for (const auto& f : qail::proxy::metric_families()) {
        INFO(f.name);
        CHECK(docs.find("`" + std::string(f.name) + "`") != std::string::npos);
        CHECK(f.name.rfind("qail_proxy_", 0) == 0);
    }
}
