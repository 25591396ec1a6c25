// driver_bench: the qail_driver half of bench/run-driver. One connection, one mode, one
// machine-readable result line on stdout:
//
//   driver_bench URL select SECONDS     sequential pgbench -S queries (prepared once via the
//                                       statement cache), one at a time
//   driver_bench URL pipeline SECONDS   the same query in pipelines of --depth commands,
//                                       pipeline_mode::independent (a Sync per command)
//   driver_bench URL pipeline-atomic SECONDS
//                                       the same with pipeline_mode::atomic (one Sync per
//                                       pipeline, which is what libpq/pgbench pipelines send)
//   driver_bench URL copy 0             COPY --rows generated rows (or --file, COPY text
//                                       format) into an UNLOGGED table, via copy_in
//
// The select modes need a pgbench-initialised database (pgbench -i); the scale is read from
// pgbench_branches as pgbench does, and aids are drawn uniformly from 1..100000*scale.
#include <qail/client/connection.hpp>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace qail::client;
using clock_type = std::chrono::steady_clock;

// The statement pgbench -S runs.
constexpr std::string_view select_sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";

struct settings {
    std::string url;
    std::string mode;
    double seconds = 10;
    std::size_t depth = 100;
    std::uint64_t rows = 1'000'000;
    std::string file;
    std::string table = "driver_bench_copy";
};

void usage() {
    std::cerr
        << "usage: driver_bench URL MODE SECONDS [--depth N] [--rows N] [--file PATH] "
           "[--table NAME]\n"
           "  MODE     select | pipeline | pipeline-atomic | copy (SECONDS is ignored by copy)\n"
           "  --depth  commands per pipeline (default 100)\n"
           "  --rows   rows to generate for copy (default 1000000)\n"
           "  --file   COPY text-format file to send instead of generated rows\n"
           "  --table  UNLOGGED table copy creates and truncates (default driver_bench_copy)\n";
}

class bench_failure : public std::exception {
public:
    explicit bench_failure(std::string m) : message_(std::move(m)) {}
    [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }

private:
    std::string message_;
};

[[noreturn]] void fail(std::string_view what, const error& e) {
    throw bench_failure(std::string(what) + ": " + e.message());
}

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

std::string fmt(double v, int decimals) {
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return std::string(buf, static_cast<std::size_t>(std::max(n, 0)));
}

// Percentile of unsorted samples (nearest rank); reorders `v`.
double percentile(std::vector<double>& v, double p) {
    if (v.empty())
        return 0;
    auto rank = static_cast<std::size_t>(p * static_cast<double>(v.size()));
    rank = std::min(rank, v.size() - 1);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(rank), v.end());
    return v[rank];
}

asio::awaitable<std::int64_t> pgbench_scale(connection& c) {
    auto r = co_await c.simple_query("SELECT count(*) FROM pgbench_branches");
    if (!r)
        fail("reading the pgbench scale (run pgbench -i first)", r.error());
    const auto v = (*r).at(0)[0].raw(0);
    std::int64_t scale = 0;
    if (!v || std::from_chars(v->data(), v->data() + v->size(), scale).ec != std::errc{} ||
        scale <= 0)
        throw bench_failure("pgbench_branches is empty");
    co_return scale;
}

class aid_source {
public:
    explicit aid_source(std::int64_t scale) : dist_(1, 100'000 * scale) {}
    std::string next() { return std::to_string(dist_(rng_)); }

private:
    std::mt19937_64 rng_{std::random_device{}()};
    std::uniform_int_distribution<std::int64_t> dist_;
};

asio::awaitable<void> run_select(connection& c, const settings& s) {
    aid_source aids(co_await pgbench_scale(c));
    std::vector<param> params{text_param("1")};
    std::vector<double> latencies_us;
    latencies_us.reserve(1 << 20);
    const auto writes_before = c.writes();
    const auto start = clock_type::now();
    const auto end = start + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(s.seconds));
    auto last = start;
    std::uint64_t queries = 0;
    while (last < end) {
        params[0].bytes = aids.next();
        auto r = co_await c.query(select_sql, params);
        if (!r)
            fail("select", r.error());
        if (r->size() != 1)
            throw bench_failure("select returned " + std::to_string(r->size()) + " rows");
        const auto now = clock_type::now();
        latencies_us.push_back(std::chrono::duration<double, std::micro>(now - last).count());
        last = now;
        ++queries;
    }
    const double elapsed = seconds_between(start, last);
    double sum = 0;
    for (const double l : latencies_us)
        sum += l;
    const double mean = latencies_us.empty() ? 0 : sum / static_cast<double>(latencies_us.size());
    const double p50 = percentile(latencies_us, 0.50);
    const double p99 = percentile(latencies_us, 0.99);
    std::cout << "mode=select queries=" << queries << " seconds=" << fmt(elapsed, 3)
              << " qps=" << fmt(static_cast<double>(queries) / elapsed, 1)
              << " mean_us=" << fmt(mean, 2) << " p50_us=" << fmt(p50, 2)
              << " p99_us=" << fmt(p99, 2) << " writes_per_query="
              << fmt(static_cast<double>(c.writes() - writes_before) / static_cast<double>(queries),
                     2)
              << "\n";
}

asio::awaitable<void> run_pipeline(connection& c, const settings& s, pipeline_mode mode) {
    aid_source aids(co_await pgbench_scale(c));
    std::vector<pipeline_command> commands(s.depth);
    for (auto& cmd : commands) {
        cmd.sql = select_sql;
        cmd.params = {text_param("1")};
    }
    const auto start = clock_type::now();
    const auto end = start + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(s.seconds));
    auto last = start;
    std::uint64_t pipelines = 0;
    std::vector<double> latencies_us;
    latencies_us.reserve(1 << 16);
    while (last < end) {
        for (auto& cmd : commands)
            cmd.params[0].bytes = aids.next();
        auto r = co_await c.pipeline(commands, mode);
        if (!r)
            fail("pipeline", r.error());
        for (const auto& one : *r) {
            if (!one)
                fail("pipeline command", one.error());
            if (one->size() != 1)
                throw bench_failure("pipeline command returned " + std::to_string(one->size()) +
                                    " rows");
        }
        const auto now = clock_type::now();
        latencies_us.push_back(std::chrono::duration<double, std::micro>(now - last).count());
        last = now;
        ++pipelines;
    }
    const double elapsed = seconds_between(start, last);
    const auto queries = pipelines * s.depth;
    double sum = 0;
    for (const double l : latencies_us)
        sum += l;
    const double mean = latencies_us.empty() ? 0 : sum / static_cast<double>(latencies_us.size());
    const double p99 = percentile(latencies_us, 0.99);
    std::cout << "mode=" << s.mode << " depth=" << s.depth << " pipelines=" << pipelines
              << " queries=" << queries << " seconds=" << fmt(elapsed, 3)
              << " qps=" << fmt(static_cast<double>(queries) / elapsed, 1)
              << " pipeline_mean_us=" << fmt(mean, 2) << " pipeline_p99_us=" << fmt(p99, 2) << "\n";
}

// Rows as `id<TAB>name-id<TAB>v` lines, in chunks of about 64 KiB.
class generated_rows {
public:
    explicit generated_rows(std::uint64_t rows) : rows_(rows) { buffer_.reserve(80 * 1024); }
    std::optional<std::string_view> operator()() {
        buffer_.clear();
        char line[96];
        while (next_ <= rows_ && buffer_.size() < 64 * 1024) {
            const auto id = static_cast<unsigned long long>(next_);
            const int n = std::snprintf(line, sizeof line, "%llu\tname-%llu\t%.2f\n", id, id,
                                        static_cast<double>(next_) * 0.25);
            buffer_.append(line, static_cast<std::size_t>(n));
            ++next_;
        }
        if (buffer_.empty())
            return std::nullopt;
        return std::string_view{buffer_};
    }

private:
    std::uint64_t rows_;
    std::uint64_t next_ = 1;
    std::string buffer_;
};

// A file's bytes in 64 KiB chunks (COPY does not need chunks to end at a row boundary).
class file_chunks {
public:
    explicit file_chunks(const std::string& path)
        : f_(std::fopen(path.c_str(), "rb"), &std::fclose), buffer_(64 * 1024, '\0') {
        if (!f_)
            throw bench_failure("cannot open " + path);
    }
    std::optional<std::string_view> operator()() {
        const std::size_t n = std::fread(buffer_.data(), 1, buffer_.size(), f_.get());
        if (n == 0) {
            if (std::ferror(f_.get()))
                throw bench_failure("read error");
            return std::nullopt;
        }
        return std::string_view{buffer_.data(), n};
    }

private:
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f_;
    std::string buffer_;
};

asio::awaitable<void> run_copy(connection& c, const settings& s) {
    auto prep = co_await c.simple_query("CREATE UNLOGGED TABLE IF NOT EXISTS " + s.table +
                                        " (id int, name text, v float8); TRUNCATE " + s.table);
    if (!prep)
        fail("preparing the COPY table", prep.error());
    const std::string sql = "COPY " + s.table + " (id, name, v) FROM STDIN";
    const auto start = clock_type::now();
    result<std::uint64_t> r = std::uint64_t{0};
    if (s.file.empty()) {
        generated_rows source(s.rows);
        r = co_await c.copy_in(sql, [&source] { return source(); });
    } else {
        file_chunks source(s.file);
        r = co_await c.copy_in(sql, [&source] { return source(); });
    }
    const double elapsed = seconds_between(start, clock_type::now());
    if (!r)
        fail("copy", r.error());
    std::cout << "mode=copy rows=" << *r << " seconds=" << fmt(elapsed, 3)
              << " rows_per_s=" << fmt(static_cast<double>(*r) / elapsed, 1)
              << " writes=" << c.writes() << "\n";
}

asio::awaitable<void> run(settings s) {
    auto options = parse_connection_string(s.url);
    if (!options)
        throw bench_failure("bad connection string: " + options.error().message);
    auto ex = co_await asio::this_coro::executor;
    auto conn = co_await connection::connect(ex, std::move(*options));
    if (!conn)
        fail("connect", conn.error());
    connection& c = **conn;
    if (s.mode == "select")
        co_await run_select(c, s);
    else if (s.mode == "pipeline")
        co_await run_pipeline(c, s, pipeline_mode::independent);
    else if (s.mode == "pipeline-atomic")
        co_await run_pipeline(c, s, pipeline_mode::atomic);
    else
        co_await run_copy(c, s);
    co_await c.close();
}

template <class T>
bool parse_number(std::string_view text, T& out) {
    const auto* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, out);
    return r.ec == std::errc{} && r.ptr == end;
}

std::optional<settings> parse_args(int argc, char** argv) {
    if (argc < 4)
        return std::nullopt;
    settings s;
    s.url = argv[1];
    s.mode = argv[2];
    if (s.mode != "select" && s.mode != "pipeline" && s.mode != "pipeline-atomic" &&
        s.mode != "copy")
        return std::nullopt;
    char* end = nullptr;
    s.seconds = std::strtod(argv[3], &end);
    if (end == argv[3] || *end != '\0' || s.seconds < 0 || (s.mode != "copy" && s.seconds <= 0))
        return std::nullopt;
    for (int i = 4; i < argc; i += 2) {
        const std::string_view key = argv[i];
        if (i + 1 >= argc)
            return std::nullopt;
        const std::string_view value = argv[i + 1];
        if (key == "--depth") {
            if (!parse_number(value, s.depth) || s.depth == 0)
                return std::nullopt;
        } else if (key == "--rows") {
            if (!parse_number(value, s.rows))
                return std::nullopt;
        } else if (key == "--file") {
            s.file = value;
        } else if (key == "--table") {
            if (value.empty() || !std::all_of(value.begin(), value.end(), [](char ch) {
                    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
                }))
                return std::nullopt;
            s.table = value;
        } else {
            return std::nullopt;
        }
    }
    return s;
}

} // namespace

int main(int argc, char** argv) {
    auto s = parse_args(argc, argv);
    if (!s) {
        usage();
        return 64;
    }
    asio::io_context ctx{1};
    int status = 0;
    asio::co_spawn(ctx, run(std::move(*s)), [&status](const std::exception_ptr& e) {
        if (!e)
            return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            std::cerr << "driver_bench: " << ex.what() << "\n";
        }
        status = 1;
    });
    ctx.run();
    return status;
}
