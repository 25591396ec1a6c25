#!/usr/bin/python3
"""End-to-end tests of qail-proxy with the drivers applications really use (asyncpg,
psycopg 3, node-postgres, pgjdbc, psql), many clients at once, a session-state leak hunt
side by side with pgbouncer, and row-level security with tenant-bound proxy users, against
the real PostgreSQL 15 and 18 servers of tests/harness/pg-cluster.

Usage: clients_e2e.py QAIL_PROXY_BIN TEST_NAME   (one ctest test per TEST_NAME)
       clients_e2e.py --list
Each test starts its own qail-proxy (proxy_e2e.Proxy) on free loopback ports and stops it
at the end; tables are named after the test so suites may run side by side. Every wait
is bounded.
"""
import asyncio
import concurrent.futures
import decimal
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

import psycopg

import proxy_e2e
from e2e_support import free_port, load_env
from proxy_e2e import Proxy, admin_conn, expect_error

TESTS = {}
PSQL = "/usr/lib/postgresql/15/bin/psql"
PGBOUNCER = "/usr/sbin/pgbouncer"
JDBC_JAR = "/usr/share/java/postgresql.jar"
HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(os.environ.get("QAIL_DEPS_DIR") or "/opt/qail-proxy-deps",
                            "node", "node_modules")
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": ""}


def test(fn):
    TESTS[fn.__name__] = fn
    return fn


def env():
    return proxy_e2e.ENV


def metric(p, series):
    """The value of one Prometheus series (`name{labels}` exactly as exported), or 0."""
    return proxy_e2e.metric(p.metrics_text(), series)


def fresh_table(name, ddl, pg="15"):
    with admin_conn(pg) as adm:
        adm.execute("DROP TABLE IF EXISTS %s" % name)
        adm.execute("CREATE TABLE %s (%s)" % (name, ddl))


def drop_table(name, pg="15"):
    with admin_conn(pg) as adm:
        adm.execute("DROP TABLE IF EXISTS %s" % name)


def run(cmd, timeout, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    return r


# --- asyncpg ----------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


async def _asyncpg_client(p, idx, table, rounds):
    import asyncpg

    user = ("alice", "bob")[idx % 2]
    # Default statement cache (100 statements): every query below is a named server-side
    # prepared statement (__asyncpg_stmt_N__, the same names on every connection).
    # jit=off as asyncpg's FAQ advises: its type-introspection query (run here for int[])
    # otherwise costs PG15's LLVM JIT seconds per connection.
    conn = await asyncpg.connect(host="127.0.0.1", port=p.port, user=user, password=PASSWORDS[user],
                                 database="appdb", ssl=False, timeout=60, server_settings={"jit": "off"})
    queries = 0
    try:
        for r in range(rounds):
            rows = await conn.fetch("SELECT g, $1::text || g::text AS s FROM generate_series(1, $2::int) g "
                                    "ORDER BY g", "c%d-" % idx, r % 7 + 1)
            assert [(x["g"], x["s"]) for x in rows] == [(g, "c%d-%d" % (idx, g)) for g in range(1, r % 7 + 2)], rows
            u = uuid.uuid4()
            row = await conn.fetchrow("SELECT $1::int * 2 AS d, $2::text AS t, $3::numeric + 1 AS n, "
                                      "$4::jsonb AS j, $5::int[] AS a, $6::uuid AS u, $7::bytea AS b",
                                      idx * 1000 + r, "é-%d" % r, decimal.Decimal("1.25"),
                                      json.dumps({"k": [idx, r]}), [idx, r, None], u, bytes([idx, r % 256, 0]))
            assert row["d"] == 2 * (idx * 1000 + r) and row["t"] == "é-%d" % r
            assert row["n"] == decimal.Decimal("2.25") and json.loads(row["j"]) == {"k": [idx, r]}
            assert row["a"] == [idx, r, None] and row["u"] == u and row["b"] == bytes([idx, r % 256, 0]), row
            # 140 distinct texts overflow the 100-entry cache: asyncpg closes the statements it
            # evicts (Close messages) while the others stay prepared.
            for k in range(r * 10, r * 10 + 10):
                v = await conn.fetchval("SELECT $1::bigint + %d" % k, idx)
                assert v == idx + k, (v, idx, k)
            await conn.executemany("INSERT INTO %s (conn, round, i, v) VALUES ($1, $2, $3, $4)" % table,
                                   [(idx, r, i, "v%d" % i) for i in range(5)])
            async with conn.transaction():
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                n = await conn.fetchval("SELECT count(*) FROM %s WHERE conn = $1 AND round = $2" % table, idx, r)
                assert n == 5, n
                status = await conn.execute("UPDATE %s SET v = v || '!' WHERE conn = $1 AND round = $2" % table,
                                            idx, r)
                assert status == "UPDATE 5", status
                assert await conn.fetchval("SELECT pg_backend_pid()") == pid, "a transaction changed backend"
            try:
                async with conn.transaction():
                    await conn.execute("DELETE FROM %s WHERE conn = $1 AND round = $2" % table, idx, r)
                    raise _Rollback()
            except _Rollback:
                pass
            rows = await conn.fetch("SELECT i, v FROM %s WHERE conn = $1 AND round = $2 ORDER BY i" % table, idx, r)
            assert [(x["i"], x["v"]) for x in rows] == [(i, "v%d!" % i) for i in range(5)], rows
            queries += 28  # statements per round, executemany's 5 and BEGIN/COMMIT included
            if r % 5 == 2:
                try:
                    await conn.fetchval("SELECT 1 / $1::int", 0)
                    raise AssertionError("division by zero succeeded")
                except asyncpg.DivisionByZeroError:
                    pass
                queries += 1
    finally:
        await conn.close(timeout=30)
    return queries


def asyncpg_statement_cache(pg):
    table = "e2e_clients_asyncpg"
    fresh_table(table, "conn int, round int, i int, v text", pg)
    clients, rounds = 16, 10
    with Proxy(databases={"appdb": {"pool_size": 2}}, pg=pg) as p:
        async def main():
            return await asyncio.wait_for(
                asyncio.gather(*[_asyncpg_client(p, i, table, rounds) for i in range(clients)]), 240)

        t0 = time.time()
        counts = asyncio.run(main())
        mapped = metric(p, 'qail_proxy_prepared_statements_total{event="mapped"}')
        print("asyncpg PG%s: %d clients, %d statements in %.1fs, %d named statements mapped" %
              (pg, clients, sum(counts), time.time() - t0, mapped))
        assert mapped > 0, "asyncpg's statement cache never reached the proxy as named statements"
    with admin_conn(pg) as adm:
        n = adm.execute("SELECT count(*), count(DISTINCT (conn, round)) FROM %s WHERE v LIKE '%%!'" % table).fetchone()
        assert n == (clients * rounds * 5, clients * rounds), n
    drop_table(table, pg)


@test
def asyncpg_statement_cache_pg15():
    asyncpg_statement_cache("15")


@test
def asyncpg_statement_cache_pg18():
    asyncpg_statement_cache("18")


# --- psycopg 3 --------------------------------------------------------------------------------


def _psycopg_auto_prepare_client(p, idx, table, rounds):
    user = ("alice", "bob")[idx % 2]
    # Default prepare_threshold (5): each query becomes a named statement (_pg3_0, _pg3_1...)
    # on its sixth run. The clients run their queries in rotated orders, so the same name
    # stands for different SQL on different connections.
    queries = [
        ("SELECT %s::int + 1", lambda r: [r], lambda r: (r + 1,)),
        ("SELECT %s::text || '-' || %s::text", lambda r: ["c%d" % idx, str(r)], lambda r: ("c%d-%d" % (idx, r),)),
        ("SELECT count(*) FROM generate_series(1, %s::int)", lambda r: [r % 9 + 1], lambda r: (r % 9 + 1,)),
        ("SELECT %s::numeric * 2, %s::bool", lambda r: [decimal.Decimal(r) / 4, r % 2 == 0],
         lambda r: (decimal.Decimal(r) / 2, r % 2 == 0)),
    ]
    order = queries[idx % 4:] + queries[:idx % 4]
    n = 0
    with psycopg.connect(autocommit=True, **p.params(user)) as c:
        for r in range(rounds):
            for sql, params, want in order:
                got = c.execute(sql, params(r)).fetchone()
                assert got == want(r), (sql, got, want(r))
                n += 1
            with c.transaction():
                c.execute("INSERT INTO %s (client, round, v) VALUES (%%s, %%s, %%s)" % table, [idx, r, "a"])
                got = c.execute("SELECT count(*) FROM %s WHERE client = %%s AND round = %%s" % table,
                                [idx, r]).fetchone()
                assert got == (1,), got
                n += 2
        assert c.prepare_threshold == 5
    return n


def _psycopg_pipeline_client(p, idx, table, rounds):
    user = ("alice", "bob")[idx % 2]
    n = 0
    for autocommit in (True, False):
        with psycopg.connect(autocommit=autocommit, **p.params(user)) as c:
            for r in range(rounds):
                base = 100000 * (1 + autocommit) + r * 100
                curs = []
                with c.pipeline():
                    for k in range(20):
                        curs.append((k, c.execute("SELECT %s::int * 3, %s::text", [base + k, "p%d" % idx])))
                    c.execute("INSERT INTO %s (client, round, v) VALUES (%%s, %%s, 'pipe')" % table, [idx, base])
                    cnt = c.execute("SELECT count(*) FROM %s WHERE client = %%s AND round = %%s" % table, [idx, base])
                for k, cur in curs:
                    assert cur.fetchone() == ((base + k) * 3, "p%d" % idx)
                assert cnt.fetchone() == (1,)
                n += 22
                if not autocommit:
                    c.commit()
            # An error inside a pipeline aborts the rest of it up to the Sync, as on a direct
            # connection, and the connection goes on.
            try:
                with c.pipeline():
                    c.execute("SELECT 1")
                    c.execute("SELECT 1 / %s::int", [0])
                    c.execute("SELECT 2")
                raise AssertionError("division by zero in a pipeline succeeded")
            except psycopg.errors.DivisionByZero:
                pass
            if not autocommit:
                c.rollback()
            assert c.execute("SELECT %s::int", [idx]).fetchone() == (idx,)
            n += 4
    return n


@test
def psycopg_auto_prepare_and_pipeline():
    table = "e2e_clients_psycopg"
    fresh_table(table, "client int, round int, v text")
    with Proxy(databases={"appdb": {"pool_size": 2}}) as p:
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            t0 = time.time()
            prepared = [ex.submit(_psycopg_auto_prepare_client, p, i, table, 40) for i in range(8)]
            counts = [f.result(timeout=240) for f in prepared]
            mapped = metric(p, 'qail_proxy_prepared_statements_total{event="mapped"}')
            print("psycopg auto-prepare: %d statements in %.1fs, %d named statements mapped" %
                  (sum(counts), time.time() - t0, mapped))
            assert mapped > 0, "psycopg's auto-prepared statements never reached the proxy"
            t0 = time.time()
            piped = [ex.submit(_psycopg_pipeline_client, p, i, table, 15) for i in range(8)]
            counts = [f.result(timeout=240) for f in piped]
            print("psycopg pipeline: %d statements in %.1fs" % (sum(counts), time.time() - t0))
        with p.connect("carol") as c:
            got = c.execute("SELECT count(*) FILTER (WHERE v = 'a'), count(*) FILTER (WHERE v = 'pipe') "
                            "FROM %s" % table).fetchone()
            assert got == (8 * 40, 8 * 15 * 2), got
    drop_table(table)


# --- node-postgres ----------------------------------------------------------------------------

NODE_SCRIPT = r"""
// node-postgres clients running named queries ({name, text, values}) through qail-proxy.
const { Client } = require('pg');
const [port, nclients, iters] = process.argv.slice(2).map(Number);
const table = process.argv[5];
const pw = { alice: 'alice-pw', bob: 'bob-pw' };

function check(ok, what) { if (!ok) throw new Error(what); }

async function client(k) {
  const user = k % 2 ? 'bob' : 'alice';
  const c = new Client({ host: '127.0.0.1', port, user, password: pw[user], database: 'appdb',
                         connectionTimeoutMillis: 60000 });
  await c.connect();
  let n = 0;
  try {
    for (let i = 0; i < iters; i++) {
      let r = await c.query({ name: 'q1', text: 'SELECT $1::int + $2::int AS s', values: [i, k] });
      check(r.rows.length === 1 && r.rows[0].s === i + k, `q1: ${JSON.stringify(r.rows)}`);
      // The same name with a different text on every client.
      r = await c.query({ name: 'mine', text: `SELECT $1::text || '-${k}' AS t`, values: [String(i)] });
      check(r.rows[0].t === `${i}-${k}`, `mine: ${JSON.stringify(r.rows)}`);
      const m = i % 10 + 1;
      r = await c.query({ name: 'rows', text: 'SELECT g FROM generate_series(1, $1::int) g ORDER BY g',
                          values: [m] });
      check(r.rows.length === m && r.rows.every((x, j) => x.g === j + 1), `rows: ${JSON.stringify(r.rows)}`);
      n += 3;
      if (i % 10 === 0) {
        await c.query('BEGIN');
        const a = await c.query({ name: 'pid', text: 'SELECT pg_backend_pid() AS p' });
        await c.query({ name: 'ins', text: `INSERT INTO ${table} (client, iter) VALUES ($1, $2)`, values: [k, i] });
        r = await c.query({ name: 'cnt', text: `SELECT count(*)::int AS n FROM ${table} WHERE client = $1`,
                            values: [k] });
        check(r.rows[0].n === i / 10 + 1, `cnt: ${r.rows[0].n} at ${i}`);
        const b = await c.query({ name: 'pid', text: 'SELECT pg_backend_pid() AS p' });
        check(a.rows[0].p === b.rows[0].p, 'a transaction changed backend');
        await c.query('COMMIT');
        n += 6;
      }
      if (i % 25 === 7) {
        try {
          await c.query({ name: 'div', text: 'SELECT 1 / $1::int', values: [0] });
          check(false, 'division by zero succeeded');
        } catch (e) {
          check(e.code === '22012', `div: ${e.code} ${e.message}`);
        }
        n += 1;
      }
    }
  } finally {
    await c.end();
  }
  return n;
}

const deadline = setTimeout(() => { console.log('FAIL: not finished within 240 s'); process.exit(1); }, 240000);
Promise.all([...Array(nclients).keys()].map(client)).then(
  (counts) => { clearTimeout(deadline); console.log('ok: ' + counts.reduce((a, b) => a + b, 0) + ' queries'); },
  (e) => { console.log('FAIL: ' + (e.stack || e)); process.exit(1); });
"""


@test
def node_postgres_named_queries():
    assert os.path.isfile(os.path.join(NODE_MODULES, "pg", "package.json")), \
        "node-postgres is not installed in %s (run scripts/setup)" % NODE_MODULES
    table = "e2e_clients_node"
    fresh_table(table, "client int, iter int")
    with Proxy(databases={"appdb": {"pool_size": 2}}) as p:
        script = os.path.join(p.dir, "named_queries.js")
        with open(script, "w") as f:
            f.write(NODE_SCRIPT)
        clients, iters = 12, 120
        t0 = time.time()
        r = run(["node", script, str(p.port), str(clients), str(iters), table], 300,
                env=dict(os.environ, NODE_PATH=NODE_MODULES))
        print("node-postgres: %s in %.1fs" % (r.stdout.strip(), time.time() - t0))
        assert r.returncode == 0 and r.stdout.startswith("ok:"), r.stdout + r.stderr
        assert metric(p, 'qail_proxy_prepared_statements_total{event="mapped"}') > 0
    with admin_conn() as adm:
        assert adm.execute("SELECT count(*) FROM %s" % table).fetchone()[0] == clients * iters // 10
    drop_table(table)


# --- pgjdbc -----------------------------------------------------------------------------------


@test
def jdbc_prepared_statements():
    table = "e2e_clients_jdbc"
    fresh_table(table, "client int, iter int, k int, v text")
    with Proxy(databases={"appdb": {"pool_size": 2}}) as p:
        classes = os.path.join(p.dir, "classes")
        os.mkdir(classes)
        r = run(["javac", "-Xlint:all", "-Werror", "-cp", JDBC_JAR, "-d", classes,
                 os.path.join(HERE, "jdbc", "JdbcClients.java")], 180)
        assert r.returncode == 0, r.stdout + r.stderr
        url = "jdbc:postgresql://127.0.0.1:%d/appdb?prepareThreshold=1&sslmode=disable&connectTimeout=60" % p.port
        threads, iters = 6, 60
        t0 = time.time()
        r = run(["java", "-cp", classes + ":" + JDBC_JAR, "JdbcClients", url, "alice", "alice-pw",
                 str(threads), str(iters), table], 360)
        print("pgjdbc: %s in %.1fs" % (r.stdout.strip(), time.time() - t0))
        assert r.returncode == 0 and r.stdout.startswith("ok:"), r.stdout + r.stderr
        assert metric(p, 'qail_proxy_prepared_statements_total{event="mapped"}') > 0
    with admin_conn() as adm:
        got = adm.execute("SELECT count(*), count(*) FILTER (WHERE v LIKE '%%!') FROM %s" % table).fetchone()
        assert got == (threads * iters * 3,) * 2, got
    drop_table(table)


# --- psql in every pool mode ------------------------------------------------------------------


def psql_run(p, args, stdin=None, user="alice", on_error_stop=True, timeout=180, tuples_only=True):
    """psql -X -A -q [-t] through the proxy; `args` are psql arguments (-c ..., -f -)."""
    e = dict(os.environ, PGPASSWORD=PASSWORDS[user], PGCONNECT_TIMEOUT="30")
    cmd = [PSQL, "-X", "-A", "-q"] + (["-t"] if tuples_only else []) + [
        "-h", "127.0.0.1", "-p", str(p.port), "-U", user, "-d", "appdb",
        "-v", "ON_ERROR_STOP=%d" % on_error_stop] + args
    return run(cmd, timeout, env=e, input=stdin)


def psql_ok(p, sql, **kw):
    r = psql_run(p, ["-c", sql], **kw)
    assert r.returncode == 0, "psql -c %r failed: %s" % (sql, r.stderr)
    return r.stdout


def ids(p, table, lo, hi):
    out = psql_ok(p, "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM %s "
                     "WHERE id BETWEEN %d AND %d" % (table, lo, hi))
    return out.strip()


def copy_rows(n, first=0):
    # Text with the characters COPY escapes, non-ASCII, and NULLs.
    return "".join("%d\t%s\n" % (i, "\\N" if i % 97 == 0 else "r\\t%d \\\\ é %x" % (i, i * 7919))
                   for i in range(first, first + n))


def psql_in_mode(mode):
    table = "e2e_clients_psql_%s" % mode
    with Proxy(databases={"appdb": {"pool_mode": mode, "pool_size": 2}}) as p:
        psql_ok(p, "DROP TABLE IF EXISTS %s" % table)
        psql_ok(p, "CREATE TABLE %s (id int PRIMARY KEY, t text)" % table)

        # \d runs several catalogue queries: the same output as straight from Postgres.
        r = psql_run(p, ["-c", "\\d %s" % table], tuples_only=False)
        assert r.returncode == 0, r.stderr
        assert "id|integer" in r.stdout and '"%s_pkey" PRIMARY KEY' % table in r.stdout, r.stdout
        e = env()
        direct = run([PSQL, "-X", "-A", "-q", "-h", "127.0.0.1", "-p", e["QAIL_PG15_PORT"], "-U",
                      e["QAIL_ADMIN_USER"], "-d", e["QAIL_PG_DB"], "-c", "\\d %s" % table], 60,
                     env=dict(os.environ, PGPASSWORD=e["QAIL_ADMIN_PASSWORD"]))
        assert direct.returncode == 0 and r.stdout == direct.stdout, (r.stdout, direct.stdout, direct.stderr)

        # \copy in and out, byte for byte.
        data = copy_rows(20000, first=1000000)
        r = psql_run(p, ["-c", "\\copy %s FROM STDIN" % table], stdin=data)
        assert r.returncode == 0, r.stderr
        out_file = os.path.join(p.dir, "copy_out.tsv")
        psql_ok(p, "\\copy (SELECT * FROM %s WHERE id >= 1000000 ORDER BY id) TO '%s'" % (table, out_file))
        with open(out_file) as f:
            assert f.read() == data, "\\copy out differs from what \\copy in sent"
        # A bad row in the middle of a COPY: the whole COPY is rolled back, the session goes on.
        bad = copy_rows(100, first=2000000) + "notanumber\tx\n" + copy_rows(100, first=2000100)
        r = psql_run(p, ["-f", "-"], on_error_stop=False,
                     stdin="\\copy %s FROM STDIN\n%s\\.\nSELECT 'alive', count(*) FROM %s WHERE id >= 2000000;\n"
                           % (table, bad, table))
        assert "invalid input syntax for type integer" in r.stderr, r.stderr
        assert "alive|0" in r.stdout, r.stdout + r.stderr

        # A multi-statement query is one implicit transaction: an error in the middle rolls
        # back the statements before it, and the ones after it do not run.
        r = psql_run(p, ["-c", "INSERT INTO %s VALUES (1, 'a'); INSERT INTO %s VALUES (2, 'b'); "
                               "SELECT 1/0; INSERT INTO %s VALUES (3, 'c')" % (table, table, table)])
        assert r.returncode != 0 and "division by zero" in r.stderr, r.stdout + r.stderr
        assert ids(p, table, 1, 9) == "", "statements before the error were not rolled back"
        # The same batch succeeds as a whole.
        psql_ok(p, "INSERT INTO %s VALUES (4, 'd'); INSERT INTO %s VALUES (5, 'e'); SELECT 1" % (table, table))
        assert ids(p, table, 1, 9) == "4,5"

        # A script (one query per statement) without ON_ERROR_STOP: the statements before the
        # error stay committed, the session goes on and runs the rest.
        script = ("INSERT INTO {t} VALUES (11, 'a');\nINSERT INTO {t} VALUES (12, 'b');\nSELECT 1/0;\n"
                  "INSERT INTO {t} VALUES (13, 'c');\nSELECT 'alive', count(*) FROM {t} WHERE id BETWEEN 11 AND 19;\n"
                  ).format(t=table)
        r = psql_run(p, ["-f", "-"], stdin=script, on_error_stop=False)
        assert r.returncode == 0 and "division by zero" in r.stderr, r.stdout + r.stderr
        assert "alive|3" in r.stdout, r.stdout
        assert ids(p, table, 11, 19) == "11,12,13"

        if mode == "statement":
            # Explicit transactions are refused by design; the session goes on.
            script = ("BEGIN;\nINSERT INTO {t} VALUES (21, 'a');\nSELECT 'alive';\n").format(t=table)
            r = psql_run(p, ["-f", "-"], stdin=script, on_error_stop=False)
            assert "statement pooling" in r.stderr, r.stdout + r.stderr
            assert "alive" in r.stdout, r.stdout + r.stderr
            assert ids(p, table, 21, 29) == "21"
        else:
            # An error inside an explicit transaction aborts it; ROLLBACK ends it and the
            # session goes on.
            script = ("BEGIN;\nINSERT INTO {t} VALUES (21, 'a');\nSELECT 1/0;\nINSERT INTO {t} VALUES (22, 'b');\n"
                      "ROLLBACK;\nINSERT INTO {t} VALUES (23, 'c');\nBEGIN;\nINSERT INTO {t} VALUES (24, 'd');\n"
                      "COMMIT;\nSELECT 'alive';\n").format(t=table)
            r = psql_run(p, ["-f", "-"], stdin=script, on_error_stop=False)
            assert "division by zero" in r.stderr and "current transaction is aborted" in r.stderr, r.stderr
            assert "alive" in r.stdout, r.stdout + r.stderr
            assert ids(p, table, 21, 29) == "23,24"
            # COMMIT inside a multi-statement query commits what came before it; the implicit
            # transaction after it is rolled back by the error.
            r = psql_run(p, ["-c", "BEGIN; INSERT INTO {t} VALUES (31, 'a'); COMMIT; INSERT INTO {t} VALUES (32, 'b'); "
                                   "SELECT 1/0".format(t=table)])
            assert r.returncode != 0 and "division by zero" in r.stderr, r.stdout + r.stderr
            assert ids(p, table, 31, 39) == "31"

        # COPY of 1,000,000 rows in and out (the COPY protocol through psql's stdin/stdout).
        n = 1000000
        big = "".join("%d\tv%x\n" % (i, i * 2654435761 % 4294967296) for i in range(10000000, 10000000 + n))
        want_md5 = hashlib.md5("".join(line.split("\t")[1][:-1] for line in big.splitlines(True)).encode()).hexdigest()
        r = psql_run(p, ["-c", "COPY %s FROM STDIN" % table], stdin=big, timeout=300)
        assert r.returncode == 0, r.stderr
        out = psql_ok(p, "SELECT count(*), sum(id), md5(string_agg(t, '' ORDER BY id)) FROM %s "
                         "WHERE id >= 10000000" % table)
        want_sum = sum(range(10000000, 10000000 + n))
        assert out.strip() == "%d|%d|%s" % (n, want_sum, want_md5), (out, want_sum, want_md5)
        r = psql_run(p, ["-c", "COPY (SELECT * FROM %s WHERE id >= 10000000 ORDER BY id) TO STDOUT" % table],
                     timeout=300)
        assert r.returncode == 0, r.stderr
        assert hashlib.sha256(r.stdout.encode()).hexdigest() == hashlib.sha256(big.encode()).hexdigest(), \
            "COPY TO STDOUT of 1M rows differs from what COPY FROM STDIN sent (%d vs %d bytes)" % (
                len(r.stdout), len(big))
        psql_ok(p, "DROP TABLE %s" % table)


@test
def psql_session_mode():
    psql_in_mode("session")


@test
def psql_transaction_mode():
    psql_in_mode("transaction")


@test
def psql_statement_mode():
    psql_in_mode("statement")


# --- 1,000 clients on 8 backends --------------------------------------------------------------


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= want, "RLIMIT_NOFILE is %d, this test needs %d" % (soft, want)


@test
def thousand_clients_on_eight_backends():
    n, pool = 1000, 8
    # The proxy inherits the limit: it holds n client sockets, this process n more.
    raise_nofile(2 * n + 500)
    # A database of its own, so the count in pg_stat_activity is exactly the proxy's.
    db = "e2e_clients_thousand_%d" % os.getpid()
    with admin_conn() as adm:
        adm.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        adm.execute("CREATE DATABASE %s" % db)
    samples, over, watch_errors = [], [], []
    stop = threading.Event()

    def watch():
        try:
            with admin_conn() as adm:
                while not stop.is_set():
                    # Client backends only: autovacuum workers visit the new database too.
                    rows = adm.execute("SELECT pid, backend_start, state, wait_event, application_name, "
                                       "left(query, 60) FROM pg_stat_activity WHERE datname = %s "
                                       "AND backend_type = 'client backend'", [db]).fetchall()
                    samples.append(len(rows))
                    if len(rows) > pool:
                        over.append(rows)
                    stop.wait(0.005)
        except Exception as e:  # noqa: BLE001 - reported below
            watch_errors.append(repr(e))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with Proxy(databases={"appdb": {"dbname": db, "pool_size": pool}}) as p:
            async def main():
                sem = asyncio.Semaphore(50)

                async def connect(i):
                    async with sem:
                        return await psycopg.AsyncConnection.connect(autocommit=True, **p.params("carol"))

                conns = await asyncio.wait_for(asyncio.gather(*[connect(i) for i in range(n)]), 300)
                try:
                    # All n are connected and idle at the same time.
                    with urllib.request.urlopen("http://127.0.0.1:%d/admin/clients" % p.admin_port,
                                                timeout=30) as r:
                        listed = json.loads(r.read().decode())["clients"]
                    assert len(listed) == n, "the proxy lists %d clients, want %d" % (len(listed), n)

                    async def query(i, c):
                        cur = await c.execute("SELECT %s::int, pg_sleep(0.005)", [i])
                        return (await cur.fetchone())[0]

                    got = await asyncio.wait_for(asyncio.gather(*[query(i, c) for i, c in enumerate(conns)]), 300)
                    assert got == list(range(n)), "wrong answers"
                finally:
                    for c in conns:
                        await c.close()

            t0 = time.time()
            asyncio.run(main())
            print("%d clients connected and answered in %.1fs; %d samples of pg_stat_activity, at most %d "
                  "server connections" % (n, time.time() - t0, len(samples), max(samples, default=-1)))
    finally:
        stop.set()
        watcher.join(30)
        with admin_conn() as adm:
            adm.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
    assert not watch_errors and not watcher.is_alive(), watch_errors
    assert len(samples) >= 10 and max(samples) >= 1, samples[:20]
    assert max(samples) <= pool, "Postgres saw %d connections from a pool of %d:\n%s" % (
        max(samples), pool, "\n".join(map(str, over[0])))


# --- leak hunt: qail-proxy and pgbouncer side by side -----------------------------------------

LEAK_ROLE = "e2e_clients_leak_role"
OBSERVE_SQL = """
SELECT coalesce(current_setting('app.x', true), '') <> '',
       current_setting('work_mem') <> %(work_mem)s,
       current_user::text <> %(user)s,
       (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()) > 0,
       (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) > 0,
       (SELECT count(*) FROM pg_listening_channels()) > 0,
       (SELECT count(*) FROM pg_cursors WHERE name <> '') > 0,  -- not our own unnamed portal
       (SELECT count(*) FROM pg_prepared_statements WHERE from_sql) > 0
"""
LEAK_KINDS = ["set_config", "work_mem", "role", "temp_table", "advisory_lock", "listen", "cursor", "prepare"]


def leak_hunt(params, total, seed):
    """4 mutators and 4 observers, connected with `params` to one pooler, run `total`
    transactions in all. Returns the counts (mutations, observations, and `observed`: the
    observations that saw any state not their own) and, per kind of state, how many
    observations saw it."""
    lock = threading.Lock()
    state = {"next": 0, "observations": 0, "mutations": 0, "observed": 0}
    seen = {k: 0 for k in LEAK_KINDS}
    errors = []
    with admin_conn() as adm:
        defaults = {"work_mem": adm.execute("SHOW work_mem").fetchone()[0], "user": env()["QAIL_ADMIN_USER"]}

    def ticket():
        with lock:
            if state["next"] >= total:
                return None
            state["next"] += 1
            return state["next"]

    def mutator(k):
        rng = random.Random(seed * 100 + k)
        # prepare_threshold=None: unnamed statements only, which pgbouncer 1.18 supports in
        # transaction mode (the same workload goes through both poolers).
        with psycopg.connect(autocommit=True, prepare_threshold=None, **params) as c:
            while (t := ticket()) is not None:
                kind = rng.choice(LEAK_KINDS)
                sql, args = {
                    "set_config": ("SELECT set_config('app.x', %s, false)", ["leak-%d" % t]),
                    "work_mem": ("SET work_mem = '%dkB'" % (5000 + t % 1000), None),
                    "role": ("SET ROLE %s" % LEAK_ROLE, None),
                    "temp_table": ("CREATE TEMP TABLE leak_t_%d (x int)" % t, None),
                    "advisory_lock": ("SELECT pg_advisory_lock(%s)", [seed * 1000000 + t]),
                    "listen": ("LISTEN leak_channel", None),
                    "cursor": ("DECLARE leak_c_%d CURSOR WITH HOLD FOR SELECT 1" % t, None),
                    "prepare": ("PREPARE leak_p_%d AS SELECT 1" % t, None),
                }[kind]
                if rng.random() < 0.5:
                    with c.transaction():
                        c.execute(sql, args)
                else:
                    c.execute(sql, args)
                with lock:
                    state["mutations"] += 1

    def observer(k):
        with psycopg.connect(autocommit=True, prepare_threshold=None, **params) as c:
            while ticket() is not None:
                row = c.execute(OBSERVE_SQL, defaults).fetchone()
                with lock:
                    state["observations"] += 1
                    if any(row):
                        state["observed"] += 1
                    for kind, hit in zip(LEAK_KINDS, row):
                        seen[kind] += bool(hit)

    def guarded(fn, k):
        try:
            fn(k)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("%s %d: %r" % (fn.__name__, k, e))
            with lock:
                state["next"] = total  # stop the others

    threads = [threading.Thread(target=guarded, args=(fn, k)) for k in range(4) for fn in (mutator, observer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "the leak hunt did not finish within 300 s"
    assert not errors, errors
    assert state["mutations"] + state["observations"] == total, state
    assert state["mutations"] > 0 and state["observations"] > 0, state
    return state, seen


class PgBouncer:
    """Debian's pgbouncer in transaction mode on a free port, in front of PG15 as the same
    backend user qail-proxy uses; runs as `postgres` (-u), never as root."""

    def __init__(self, pool_size):
        self.dir = tempfile.mkdtemp(prefix="qail-e2e-pgbouncer-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        e = env()
        ini = os.path.join(self.dir, "pgbouncer.ini")
        users = os.path.join(self.dir, "userlist.txt")
        with open(users, "w") as f:
            f.write('"carol" ""\n')
        with open(ini, "w") as f:
            f.write("[databases]\nappdb = host=127.0.0.1 port=%s dbname=%s user=%s password=%s\n"
                    "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir =\n"
                    "auth_type = trust\nauth_file = %s\npool_mode = transaction\ndefault_pool_size = %d\n"
                    "max_client_conn = 100\nlogfile =\npidfile =\n" %
                    (e["QAIL_PG15_PORT"], e["QAIL_PG_DB"], e["QAIL_ADMIN_USER"], e["QAIL_ADMIN_PASSWORD"],
                     self.port, users, pool_size))
        for path in (ini, users):
            os.chmod(path, 0o644)
        self.log_path = os.path.join(self.dir, "pgbouncer.log")
        self.log = open(self.log_path, "w")
        cmd = [PGBOUNCER] + (["-u", "postgres"] if os.geteuid() == 0 else []) + [ini]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while True:
            assert self.proc.poll() is None, "pgbouncer exited at start:\n" + self.read_log()
            try:
                with psycopg.connect(**self.params()) as c:
                    c.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise AssertionError("pgbouncer did not accept connections:\n" + self.read_log())
                time.sleep(0.1)

    def params(self):
        return dict(host="127.0.0.1", port=self.port, dbname="appdb", user="carol", sslmode="disable",
                    connect_timeout=10)

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if exc[0] is not None:
            sys.stderr.write("--- pgbouncer log ---\n" + self.read_log()[-3000:] + "\n")
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


@test
def leak_hunt_against_pgbouncer():
    total = 10000
    seed = int(os.environ.get("QAIL_E2E_SEED") or random.randrange(1, 1000))
    print("seed %d (QAIL_E2E_SEED=%d repeats it)" % (seed, seed))
    with admin_conn() as adm:
        try:
            adm.execute("CREATE ROLE %s NOLOGIN" % LEAK_ROLE)
        except psycopg.errors.DuplicateObject:
            pass
    assert os.access(PGBOUNCER, os.X_OK), "no pgbouncer at %s (run scripts/setup)" % PGBOUNCER

    t0 = time.time()
    with Proxy(databases={"appdb": {"pool_size": 2, "reset": "smart"}}) as p:
        ours, ours_seen = leak_hunt(p.params("carol"), total, seed)
    t_ours = time.time() - t0
    t0 = time.time()
    with PgBouncer(pool_size=2) as b:
        theirs, theirs_seen = leak_hunt(b.params(), total, seed)
    t_theirs = time.time() - t0
    print("qail-proxy: %d of %d observations saw another client's state %s (%.1fs)" %
          (ours["observed"], ours["observations"], ours_seen, t_ours))
    print("pgbouncer:  %d of %d observations saw another client's state %s (%.1fs)" %
          (theirs["observed"], theirs["observations"], theirs_seen, t_theirs))
    assert theirs["observed"] > 0, "the hunt saw no leak through pgbouncer: it cannot see leaks"
    assert ours["observed"] == 0, "state leaked between clients through qail-proxy: %s" % ours_seen


# --- row-level security with tenant-bound proxy users -----------------------------------------


def tenants_seen(c, sql="SELECT DISTINCT tenant_id FROM e2e_clients_rls ORDER BY 1", params=None):
    return [r[0] for r in c.execute(sql, params).fetchall()]


@test
def rls_tenants_share_one_backend():
    table = "e2e_clients_rls"
    with admin_conn() as adm:
        adm.execute("DROP TABLE IF EXISTS %s" % table)
        adm.execute("CREATE TABLE %s (id serial PRIMARY KEY, tenant_id text NOT NULL, secret text NOT NULL)" % table)
        adm.execute("INSERT INTO %s (tenant_id, secret) SELECT t, t || '-' || g FROM "
                    "unnest(ARRAY['acme', 'globex', 'initech']) t, generate_series(1, 20) g" % table)
        adm.execute("ALTER TABLE %s ENABLE ROW LEVEL SECURITY" % table)
        adm.execute("CREATE POLICY tenant_rows ON %s USING (tenant_id = current_setting('app.current_tenant_id', "
                    "true)) WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true))" % table)
        adm.execute("GRANT SELECT, INSERT ON %s TO %s" % (table, env()["QAIL_SCRAM_USER"]))
        adm.execute("GRANT USAGE ON SEQUENCE %s_id_seq TO %s" % (table, env()["QAIL_SCRAM_USER"]))
    # The backend role must be subject to RLS: not a superuser, not the table's owner.
    db = {"pool_size": 1, "user": env()["QAIL_SCRAM_USER"], "password": env()["QAIL_SCRAM_PASSWORD"]}
    with Proxy(databases={"appdb": db}) as p:
        with p.connect("alice") as a, p.connect("bob") as b, p.connect("carol") as c, \
                psycopg.connect(autocommit=True, prepare_threshold=0, **p.params("alice")) as ap, \
                psycopg.connect(autocommit=True, prepare_threshold=0, **p.params("bob")) as bp:
            pids = {x.execute("SELECT pg_backend_pid()").fetchone()[0] for x in (a, b, c)}
            assert len(pids) == 1, "pool_size 1 must share one backend: %s" % pids
            clients = {"acme": (a, ap), "globex": (b, bp)}
            for i in range(1000):
                for tenant, (simple, prepared) in clients.items():
                    k = i % 4
                    if k == 0:
                        got = tenants_seen(simple)
                    elif k == 1:
                        # Named prepared statements, bound on whichever backend serves them.
                        got = tenants_seen(prepared, "SELECT DISTINCT tenant_id FROM e2e_clients_rls "
                                                     "WHERE id > %s ORDER BY 1", [0])
                    elif k == 2:
                        with simple.transaction():
                            got = tenants_seen(simple)
                            n = simple.execute("SELECT count(*) FROM e2e_clients_rls").fetchone()[0]
                            assert n == 20, (tenant, n)
                    else:
                        with prepared.pipeline():
                            cur1 = prepared.execute("SELECT count(*) FROM e2e_clients_rls WHERE secret LIKE %s",
                                                    ["%-1%"])
                            cur2 = prepared.execute("SELECT DISTINCT tenant_id FROM e2e_clients_rls ORDER BY 1")
                        assert cur1.fetchone()[0] == 11, tenant
                        got = [r[0] for r in cur2.fetchall()]
                    assert got == [tenant], "round %d: %s saw %s" % (i, tenant, got)
                if i % 100 == 50:
                    # A user without a tenant binding sees nothing, whoever used the backend before.
                    assert tenants_seen(c) == [], "round %d: carol saw rows" % i
            # A session-level tenant override made with set_config ends with the transaction's
            # backend lease: the next client on that backend does not inherit it...
            assert a.execute("SELECT set_config('app.current_tenant_id', 'initech', false)").fetchone()[0] == "initech"
            assert tenants_seen(c) == [], "carol inherited alice's session-level tenant override"
            assert tenants_seen(b) == ["globex"]
            # ...and alice's own binding applies again to her next transaction.
            assert tenants_seen(a) == ["acme"]
            # The policy's WITH CHECK refuses rows for another tenant.
            expect_error(lambda: a.execute("INSERT INTO e2e_clients_rls (tenant_id, secret) VALUES (%s, 'x')",
                                           ["globex"]), "42501")
            a.execute("INSERT INTO e2e_clients_rls (tenant_id, secret) VALUES (%s, 'acme-new')", ["acme"])
            assert tenants_seen(b, "SELECT secret FROM e2e_clients_rls WHERE secret = 'acme-new'") == []
            assert tenants_seen(a, "SELECT secret FROM e2e_clients_rls WHERE secret = 'acme-new'") == ["acme-new"]
        # Concurrent clients of both tenants on the one backend.
        errors = []

        def hammer(user, tenant):
            try:
                with psycopg.connect(autocommit=True, **p.params(user)) as conn:
                    for _ in range(200):
                        got = tenants_seen(conn)
                        assert got == [tenant], "%s saw %s" % (tenant, got)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=hammer, args=ut) for ut in (("alice", "acme"), ("bob", "globex")) * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "the concurrent phase did not finish within 120 s"
        assert not errors, errors
    drop_table(table)


def main():
    if sys.argv[1:] == ["--list"]:
        print("\n".join(TESTS))
        return 0
    binary, name = sys.argv[1], sys.argv[2]
    # Another build may be replacing the binary: wait for it (bounded).
    deadline = time.time() + 120
    while not os.access(binary, os.X_OK) and time.time() < deadline:
        time.sleep(1)
    proxy_e2e.PROXY_BIN = binary
    proxy_e2e.ENV = load_env()
    t0 = time.time()
    TESTS[name]()
    print("ok: %s (%.1fs)" % (name, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
