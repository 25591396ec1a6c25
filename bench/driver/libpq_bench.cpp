// libpq_bench: libpq's counterpart of `driver_bench pipeline`, which pgbench 15 cannot
// express: pgbench's \startpipeline ... \endpipeline sends one Sync per pipeline, while
// pipeline_mode::independent sends one Sync per command. This sends the same prepared
// pgbench -S SELECT in pipelines of --depth commands with PQpipelineSync after each
// command (`pipeline`) or once per pipeline (`pipeline-atomic`), and prints one line in
// driver_bench's format:
//
//   libpq_bench CONNINFO pipeline|pipeline-atomic SECONDS [--depth N]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <libpq-fe.h>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct conn_closer {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_closer>;

struct result_clearer {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_clearer>;

int fail(const char* what, PGconn* c) {
    std::fprintf(stderr, "libpq_bench: %s: %s", what, PQerrorMessage(c));
    return 1;
}

int usage() {
    std::fprintf(stderr, "usage: libpq_bench CONNINFO pipeline|pipeline-atomic SECONDS "
                         "[--depth N]\n");
    return 64;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4 && argc != 6)
        return usage();
    const std::string_view mode = argv[2];
    if (mode != "pipeline" && mode != "pipeline-atomic")
        return usage();
    const bool sync_each = mode == "pipeline";
    const double seconds = std::strtod(argv[3], nullptr);
    long depth_arg = 100;
    if (argc == 6) {
        if (std::string_view{argv[4]} != "--depth")
            return usage();
        depth_arg = std::strtol(argv[5], nullptr, 10);
    }
    if (seconds <= 0 || depth_arg <= 0 || depth_arg > 100000)
        return usage();
    const auto depth = static_cast<std::size_t>(depth_arg);

    conn_ptr conn{PQconnectdb(argv[1])};
    PGconn* c = conn.get();
    if (PQstatus(c) != CONNECTION_OK)
        return fail("connect", c);

    result_ptr scale_result{PQexec(c, "SELECT count(*) FROM pgbench_branches")};
    if (PQresultStatus(scale_result.get()) != PGRES_TUPLES_OK || PQntuples(scale_result.get()) != 1)
        return fail("reading the pgbench scale", c);
    const long long scale = std::strtoll(PQgetvalue(scale_result.get(), 0, 0), nullptr, 10);
    if (scale <= 0)
        return fail("pgbench_branches is empty", c);

    result_ptr prepared{PQprepare(
        c, "bench_select", "SELECT abalance FROM pgbench_accounts WHERE aid = $1", 1, nullptr)};
    if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK)
        return fail("prepare", c);
    if (PQenterPipelineMode(c) != 1)
        return fail("pipeline mode", c);

    std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<long long> aid(1, 100000 * scale);
    std::vector<std::string> values(depth);

    const auto start = clock_type::now();
    const auto end = start + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(seconds));
    auto last = start;
    std::uint64_t pipelines = 0;
    while (last < end) {
        for (std::size_t i = 0; i < depth; ++i) {
            values[i] = std::to_string(aid(rng));
            const char* v[1] = {values[i].c_str()};
            if (PQsendQueryPrepared(c, "bench_select", 1, v, nullptr, nullptr, 0) != 1)
                return fail("send", c);
            if (sync_each && PQpipelineSync(c) != 1)
                return fail("sync", c);
        }
        if (!sync_each && PQpipelineSync(c) != 1)
            return fail("sync", c);
        const std::size_t syncs = sync_each ? depth : 1;
        std::size_t synced = 0;
        std::size_t rows = 0;
        while (synced < syncs) {
            result_ptr r{PQgetResult(c)};
            if (!r)
                continue; // end of one command's results
            switch (PQresultStatus(r.get())) {
            case PGRES_PIPELINE_SYNC:
                ++synced;
                break;
            case PGRES_TUPLES_OK:
                rows += static_cast<std::size_t>(PQntuples(r.get()));
                break;
            default:
                return fail("query", c);
            }
        }
        if (rows != depth)
            return fail("unexpected row count", c);
        last = clock_type::now();
        ++pipelines;
    }
    const double elapsed = std::chrono::duration<double>(last - start).count();
    const auto queries = pipelines * depth;
    std::printf("mode=%s depth=%zu pipelines=%llu queries=%llu seconds=%.3f qps=%.1f\n",
                sync_each ? "pipeline" : "pipeline-atomic", depth,
                static_cast<unsigned long long>(pipelines),
                static_cast<unsigned long long>(queries), elapsed,
                static_cast<double>(queries) / elapsed);
    return 0;
}
