#!/usr/bin/python3
"""End-to-end tests of qail-proxy with real clients (psql, pgbench, psycopg 3) against
the real PostgreSQL 15 and 18 servers of tests/harness/pg-cluster.

Usage: proxy_e2e.py QAIL_PROXY_BIN TEST_NAME   (one ctest test per TEST_NAME)
       proxy_e2e.py --list
Each test starts its own qail-proxy on free loopback ports with a config it writes,
and stops it at the end. Every wait is bounded.
"""
import fcntl
import hashlib
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

import psycopg

from e2e_support import OwnPostgres, ProxyProcess, free_port, free_ports, load_env

TESTS = {}


def test(fn):
    TESTS[fn.__name__] = fn
    return fn


ENV = None
PROXY_BIN = None
PSQL = "/usr/lib/postgresql/15/bin/psql"
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


class Proxy(ProxyProcess):
    """A qail-proxy process with a generated config."""

    def __init__(self, databases=None, users=None, extra="", pg="15", workers=2):
        self.dir = tempfile.mkdtemp(prefix="qail-e2e-")
        self.port, self.admin_port = free_ports(2)
        pg_port = ENV["QAIL_PG%s_PORT" % pg]
        if databases is None:
            databases = {"appdb": {}}
        lines = [
            "workers: %d" % workers,
            "listen:",
            "  postgres: 127.0.0.1:%d" % self.port,
            "  unix_socket_dir: %s" % self.dir,
            "  admin: 127.0.0.1:%d" % self.admin_port,
            "databases:",
        ]
        for name, opts in databases.items():
            o = {
                "host": "127.0.0.1",
                "port": pg_port,
                "dbname": ENV["QAIL_PG_DB"],
                "user": ENV["QAIL_ADMIN_USER"],
                "password": ENV["QAIL_ADMIN_PASSWORD"],
                "pool_mode": "transaction",
                "pool_size": 2,
            }
            o.update(opts)
            lines.append("  %s:" % name)
            for k, v in o.items():
                lines.append("    %s: %s" % (k, v))
        if users is None:
            users = [
                {"name": "alice", "password": "alice-pw", "auth": "scram-sha-256", "tenant": "acme"},
                {"name": "bob", "password": "bob-pw", "auth": "md5", "tenant": "globex"},
                {"name": "carol", "auth": "trust"},
            ]
        lines.append("users:")
        for u in users:
            first = True
            for k, v in u.items():
                lines.append(("  - " if first else "    ") + "%s: %s" % (k, v))
                first = False
        lines.append("http:")
        lines.append("  require_auth: false")
        lines.append("limits:")
        lines.append("  auth_failure_delay_ms: 100")
        lines.append("  shutdown_timeout_ms: 10000")
        lines.append(extra)
        super().__init__(PROXY_BIN, self.dir, lines, self.port)

    def params(self, user="alice", password=None, db="appdb", **kw):
        pw = password if password is not None else {"alice": "alice-pw", "bob": "bob-pw"}.get(user, "")
        p = dict(host="127.0.0.1", port=self.port, dbname=db, user=user, password=pw,
                 sslmode="disable", connect_timeout=10)
        p.update(kw)
        return p

    def connect(self, user="alice", password=None, db="appdb", **kw):
        return psycopg.connect(autocommit=True, **self.params(user, password, db, **kw))

    def wait_log(self, text, seconds=10):
        """Waits (up to `seconds`) until the proxy's log says `text`."""
        deadline = time.monotonic() + seconds
        while text not in self.read_log():
            if time.monotonic() > deadline:
                raise AssertionError("the log never said %r:\n%s" % (text, self.read_log()))
            time.sleep(0.05)

    def metrics_text(self):
        """The admin port's /metrics exposition, now."""
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin_port,
                                    timeout=10) as r:
            return r.read().decode()


def admin_conn(pg="15"):
    return psycopg.connect(
        "host=127.0.0.1 port=%s dbname=%s user=%s password=%s sslmode=disable" %
        (ENV["QAIL_PG%s_PORT" % pg], ENV["QAIL_PG_DB"], ENV["QAIL_ADMIN_USER"],
         ENV["QAIL_ADMIN_PASSWORD"]), autocommit=True)


def expect_connect_error(fn, text):
    """libpq reports login failures without a SQLSTATE: check the server's message."""
    try:
        fn()
    except psycopg.OperationalError as e:
        assert text in str(e), "expected %r in: %s" % (text, e)
        return e
    raise AssertionError("expected the connection to fail with %r" % text)


def expect_error(fn, sqlstate):
    try:
        fn()
    except psycopg.Error as e:
        got = e.sqlstate
        assert got == sqlstate, "expected SQLSTATE %s, got %s: %s" % (sqlstate, got, e)
        return e
    raise AssertionError("expected SQLSTATE %s, got success" % sqlstate)


def psql(proxy, sql, user="alice", password=None, extra_env=None, stdin=None):
    env = dict(os.environ)
    env["PGPASSWORD"] = password if password is not None else {"alice": "alice-pw", "bob": "bob-pw"}.get(user, "")
    env["PGCONNECT_TIMEOUT"] = "10"
    if extra_env:
        env.update(extra_env)
    return subprocess.run([PSQL, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                           "-p", str(proxy.port), "-U", user, "-d", "appdb", "-c", sql],
                          env=env, capture_output=True, text=True, timeout=120, input=stdin)


# --- authentication ------------------------------------------------------------------------


@test
def auth_methods_and_failures():
    with Proxy() as p:
        for user in ("alice", "bob", "carol"):
            with p.connect(user) as c:
                assert c.execute("SELECT 1").fetchone()[0] == 1
        expect_connect_error(lambda: p.connect("alice", "wrong"),
                             'FATAL:  password authentication failed for user "alice"')
        expect_connect_error(lambda: p.connect("bob", "wrong"),
                             'FATAL:  password authentication failed for user "bob"')
        # An unknown user fails exactly like a wrong password.
        expect_connect_error(lambda: p.connect("nobody", "x"),
                             'FATAL:  password authentication failed for user "nobody"')
        expect_connect_error(lambda: p.connect("alice", db="nodb"),
                             'FATAL:  database "nodb" does not exist')
        log = p.read_log()
        assert "alice-pw" not in log and "bob-pw" not in log, "a password reached the log"


@test
def tls_and_scram_plus():
    extra = "tls:\n  cert: %s\n  key: %s\n  mode: require" % (ENV["QAIL_TEST_SERVER_CERT"],
                                                            ENV["QAIL_TEST_SERVER_KEY"])
    with Proxy(extra=extra) as p:
        with p.connect("alice", sslmode="require", channel_binding="require") as c:
            assert c.pgconn.ssl_in_use
            assert c.execute("SELECT 42").fetchone()[0] == 42
        # mode: require refuses plaintext with a FATAL error.
        expect_connect_error(lambda: p.connect("alice"), "accepts only TLS connections")


@test
def bytes_behind_an_ssl_request_end_the_connection_unanswered():
    # Sent with the SSLRequest, before its answer: plaintext the TLS session would not
    # cover (a man in the middle's injection). The proxy closes without answering 'S';
    # TLS clients that wait for the answer, as they must, go on being served.
    extra = "tls:\n  cert: %s\n  key: %s" % (ENV["QAIL_TEST_SERVER_CERT"],
                                            ENV["QAIL_TEST_SERVER_KEY"])
    with Proxy(extra=extra) as p:
        startup = b"\x00\x03\x00\x00user\x00alice\x00database\x00appdb\x00\x00"
        s = raw_client(p)
        s.sendall(struct.pack("!II", 8, 80877103) + struct.pack("!I", len(startup) + 4) + startup)
        assert read_until_closed(s) == b""
        s.close()
        p.wait_log("data after SSLRequest; closed")
        for _ in range(20):
            with p.connect("alice", sslmode="require") as c:
                assert c.pgconn.ssl_in_use
                assert c.execute("SELECT 1").fetchone()[0] == 1


@test
def query_sent_right_behind_the_password_is_answered():
    # A client may send its first query without waiting for AuthenticationOk. The proxy
    # reads the password message with room to spare: what came behind it must be served
    # as if read afterwards, and a password message that arrives in pieces still counts.
    with Proxy() as p:
        for split in (None, 3, 9):
            s = raw_client(p)
            startup = b"\x00\x03\x00\x00user\x00bob\x00database\x00appdb\x00\x00"
            s.sendall(struct.pack("!I", len(startup) + 4) + startup)
            (request,) = read_messages(s, ["R"])
            assert struct.unpack("!I", request[:4])[0] == 5, request  # md5, with a salt
            inner = hashlib.md5(b"bob-pw" + b"bob").hexdigest().encode()
            answer = b"md5" + hashlib.md5(inner + request[4:8]).hexdigest().encode()
            password = pg_message(b"p", answer + b"\0")
            query = pg_message(b"Q", b"SELECT 40 + 2\0")
            if split is None:
                s.sendall(password + query)  # one write: both arrive together
            else:
                s.sendall(password[:split])
                time.sleep(0.05)
                s.sendall(password[split:] + query)
            # The greeting and the answer may come in one read: parsed as one stream.
            buf, got = b"", []
            while [t for t, _ in got].count("Z") < 2:
                chunk = s.recv(65536)
                assert chunk, "the proxy closed the connection after %s" % got
                buf += chunk
                while len(buf) >= 5 and len(buf) >= 1 + struct.unpack("!I", buf[1:5])[0]:
                    n = struct.unpack("!I", buf[1:5])[0]
                    got.append((chr(buf[0]), buf[5:1 + n]))
                    buf = buf[1 + n:]
            types = [t for t, _ in got]
            assert types[0] == "R" and types[-5:] == ["Z", "T", "D", "C", "Z"], types
            assert got[-3][1].endswith(b"42"), got[-3:]
            s.sendall(pg_message(b"X"))
            s.close()


@test
def malformed_password_messages_end_the_login():
    # What a client sends where its password message belongs: another message type, a
    # length below the minimum, one far beyond any password. The login ends with the
    # connection closed; the proxy serves everyone else.
    with Proxy() as p:
        with p.connect("alice") as good:
            for bad in (pg_message(b"Q", b"SELECT 1\0"), b"p\x00\x00\x00\x03",
                        b"p" + struct.pack("!I", 0x7FFFFFF0)):
                s = raw_client(p)
                startup = b"\x00\x03\x00\x00user\x00bob\x00database\x00appdb\x00\x00"
                s.sendall(struct.pack("!I", len(startup) + 4) + startup)
                read_messages(s, ["R"])
                s.sendall(bad)
                data = read_until_closed(s)
                assert b"R\x00\x00\x00\x08\x00\x00\x00\x00" not in data, data  # no AuthenticationOk
                s.close()
                assert good.execute("SELECT 1").fetchone()[0] == 1


# --- pooling modes --------------------------------------------------------------------------


def run_pgbench(p, args, clients, seconds):
    env = dict(os.environ, PGPASSWORD="alice-pw")
    base = [PGBENCH, "-h", "127.0.0.1", "-p", str(p.port), "-U", "alice"]
    r = subprocess.run(base + args + ["-c", str(clients), "-j", "2", "-T", str(seconds), "appdb"],
                       env=env, capture_output=True, text=True, timeout=seconds + 120)
    return r


@test
def pgbench_transaction_mode_no_errors_and_exact_history():
    with Proxy(databases={"appdb": {"pool_size": 8}}) as p:
        env = dict(os.environ, PGPASSWORD="alice-pw")
        r = subprocess.run([PGBENCH, "-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p", str(p.port),
                            "-U", "alice", "appdb"], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        total = -1
        for mode in ("simple", "extended", "prepared"):
            r = run_pgbench(p, ["-M", mode], 64, 8)
            assert r.returncode == 0, r.stdout + r.stderr
            out = r.stdout
            assert "number of failed transactions: 0" in out, out
            processed = int(out.split("number of transactions actually processed: ")[1].split("\n")[0].split("/")[0])
            assert processed > 0
            # pgbench truncates pgbench_history before each run.
            total = processed
        with p.connect() as c:
            count = c.execute("SELECT count(*) FROM pgbench_history").fetchone()[0]
        assert count == total, "history %d != transactions %d" % (count, total)


@test
def prepared_statements_across_backends():
    # Two backends, many clients: named statements must work wherever a client lands.
    with Proxy(databases={"appdb": {"pool_size": 2}}) as p:
        conns = [psycopg.connect(autocommit=True, prepare_threshold=0, **p.params(u))
                 for u in ("alice", "bob", "alice", "bob")]
        for round_ in range(20):
            for i, c in enumerate(conns):
                v = c.execute("SELECT %s::int + %s::int", [i, round_]).fetchone()[0]
                assert v == i + round_
                assert c.execute("SELECT %s::text || 'x'", [str(i)]).fetchone()[0] == "%dx" % i
        for c in conns:
            c.close()
    # One backend: B's DEALLOCATE ALL drops B's names (as on a direct connection) but not
    # A's, whose statements the proxy prepares again on demand.
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        with psycopg.connect(autocommit=True, prepare_threshold=0, **p.params("alice")) as a, \
                psycopg.connect(autocommit=True, prepare_threshold=0, **p.params("bob")) as b:
            assert a.execute("SELECT %s::int", [5]).fetchone()[0] == 5
            assert b.execute("SELECT %s::int * 2", [5]).fetchone()[0] == 10
            b.execute("DEALLOCATE ALL")
            assert a.execute("SELECT %s::int", [6]).fetchone()[0] == 6
            expect_error(lambda: b.execute("SELECT %s::int * 2", [6]), "26000")
            # SQL-level DEALLOCATE (a simple Query) of a protocol-level name, as PDO does.
            res = a.pgconn.exec_(b"DEALLOCATE _pg3_0")
            assert res.status == psycopg.pq.ExecStatus.COMMAND_OK, res.error_message
            expect_error(lambda: a.execute("SELECT %s::int", [7]), "26000")
            # The same inside a transaction, where the client is linked to a backend
            # and the DEALLOCATE goes to it, rewritten to the server's name.
            ok = psycopg.pq.ExecStatus.COMMAND_OK
            res = a.pgconn.prepare(b"mine", b"SELECT $1::int + 1")
            assert res.status == ok, res.error_message
            for sql in (b"BEGIN", b"DEALLOCATE mine", b"COMMIT"):
                res = a.pgconn.exec_(sql)
                assert res.status == ok, (sql, res.error_message)
            res = a.pgconn.exec_prepared(b"mine", [b"1"])
            assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"26000"


@test
def prepared_statements_survive_a_background_reset():
    # A backend left dirty and idle is reset by the pool's maintenance (after about 1 s),
    # with DISCARD ALL: the proxy must see its statements went and prepare them again.
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        def resets():
            return metric(p.metrics_text(), 'qail_proxy_resets_total{database="appdb"}')

        with psycopg.connect(autocommit=True, prepare_threshold=0, **p.params("alice")) as a:
            for i in range(3):
                assert a.execute("SELECT %s::int + 1", [i]).fetchone()[0] == i + 1
                before = resets()
                deadline = time.time() + 15
                while resets() == before:
                    assert time.time() < deadline, "no background reset within 15 s"
                    time.sleep(0.1)


@test
def prepared_statement_survives_result_type_change():
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        with p.connect("alice") as setup:
            setup.execute("DROP TABLE IF EXISTS e2e_ddl")
            setup.execute("CREATE TABLE e2e_ddl (a int)")
            setup.execute("INSERT INTO e2e_ddl VALUES (1)")
        with psycopg.connect(autocommit=True, prepare_threshold=0, **p.params("alice")) as c:
            assert c.execute("SELECT * FROM e2e_ddl WHERE a = %s", [1]).fetchone() == (1,)
            with p.connect("bob") as other:
                other.execute("ALTER TABLE e2e_ddl ADD COLUMN b text DEFAULT 'x'")
            # Postgres refuses the old plan once (0A000) like a direct connection would...
            try:
                c.execute("SELECT * FROM e2e_ddl WHERE a = %s", [1]).fetchone()
            except psycopg.errors.FeatureNotSupported:
                pass
            # ...and the next execution re-prepares through the proxy.
            assert c.execute("SELECT * FROM e2e_ddl WHERE a = %s", [1]).fetchone() == (1, "x")
        with p.connect("alice") as c:
            c.execute("DROP TABLE e2e_ddl")


@test
def no_session_state_crosses_clients():
    # One backend for everyone: whatever one client leaves must be gone for the next.
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        with p.connect("alice") as a, p.connect("bob") as b:
            a.execute("SET work_mem = '77MB'")
            a.execute("SELECT set_config('app.leak', %s, false)", ["secret-a"])
            a.execute("CREATE TEMP TABLE leak_tmp (x int)")
            a.execute("LISTEN leak_channel")
            a.execute("SELECT pg_advisory_lock(4242)")
            pid_a = a.execute("SELECT pg_backend_pid()").fetchone()[0]
            pid_b = b.execute("SELECT pg_backend_pid()").fetchone()[0]
            assert pid_a == pid_b, "pool_size 1 must share one backend"
            assert b.execute("SHOW work_mem").fetchone()[0] != "77MB"
            assert b.execute("SELECT current_setting('app.leak', true)").fetchone()[0] in (None, "")
            assert b.execute("SELECT count(*) FROM pg_class WHERE relname = 'leak_tmp' "
                             "AND relpersistence = 't'").fetchone()[0] == 0
            assert b.execute("SELECT count(*) FROM pg_listening_channels()").fetchone()[0] == 0
            assert b.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                             "AND pid = pg_backend_pid()").fetchone()[0] == 0
            # Each sees its own tenant binding, never the other's.
            assert b.execute("SELECT current_setting('app.current_tenant_id', true)").fetchone()[0] == "globex"
            assert a.execute("SELECT current_setting('app.current_tenant_id', true)").fetchone()[0] == "acme"
            # A's own settings come back with it (tracked and re-applied).
            assert a.execute("SHOW work_mem").fetchone()[0] == "77MB"
            assert b.execute("SHOW work_mem").fetchone()[0] != "77MB"


@test
def set_and_reset_follow_the_client():
    # PostgreSQL 15 reports neither work_mem nor search_path: the proxy carries them from
    # the SET/RESET statements it relays. pool_size 1 and bob running in between: every
    # one of alice's transactions starts on a connection reset since her last one.
    for pg in ("15", "18"):
        with Proxy(databases={"appdb": {"pool_size": 1}}, pg=pg) as p:
            with p.connect("alice") as a, p.connect("bob") as b:
                default_wm = b.execute("SHOW work_mem").fetchone()[0]
                default_sp = b.execute("SHOW search_path").fetchone()[0]

                def show(name):
                    assert b.execute("SHOW %s" % name).fetchone()[0] != "5MB"
                    return a.execute("SHOW %s" % name).fetchone()[0]

                a.execute("SET search_path TO e2e_a, public")  # simple protocol
                a.execute("SET work_mem = '5MB'", [])  # extended, unnamed statement
                a.execute("SET TIME ZONE 'Asia/Tokyo'", prepare=True)  # extended, named
                for _ in range(2):
                    assert show("search_path") == "e2e_a, public"
                    assert show("work_mem") == "5MB"
                    assert show("TimeZone") == "Asia/Tokyo"
                    assert b.execute("SHOW search_path").fetchone()[0] == default_sp
                    assert b.execute("SHOW TimeZone").fetchone()[0] != "Asia/Tokyo"
                # Rolled back, explicitly or with the implicit transaction of a Query.
                a.execute("BEGIN")
                a.execute("SET work_mem = '7MB'")
                a.execute("ROLLBACK")
                assert show("work_mem") == "5MB"
                expect_error(lambda: a.execute("SET work_mem = '9MB'; SELECT 1/0"), "22012")
                assert show("work_mem") == "5MB"
                # Committed inside a Query whose last statement fails.
                expect_error(lambda: a.execute("BEGIN; SET work_mem = '11MB'; COMMIT; "
                                               "SELECT 1/0"), "22012")
                assert show("work_mem") == "11MB"
                # SET LOCAL lasts one transaction.
                with a.transaction():
                    a.execute("SET LOCAL work_mem = '13MB'")
                    assert a.execute("SHOW work_mem").fetchone()[0] == "13MB"
                assert show("work_mem") == "11MB"
                a.execute("RESET work_mem")
                assert show("work_mem") == default_wm
                a.execute("SET work_mem = '3MB'")
                a.execute("RESET ALL")
                assert show("work_mem") == default_wm
                assert show("search_path") == default_sp
                # A hostile value is a value: bound, never spliced into SQL.
                a.execute("CREATE TABLE IF NOT EXISTS e2e_sp_canary (x int)")
                a.execute("""SET search_path = 'x"; DROP TABLE e2e_sp_canary; --', public""")
                assert show("search_path") == '"x""; DROP TABLE e2e_sp_canary; --", public'
                assert a.execute("SELECT to_regclass('public.e2e_sp_canary') IS NOT NULL"
                                 ).fetchone()[0]
                a.execute("RESET search_path")
                a.execute("DROP TABLE e2e_sp_canary")
                # What the proxy cannot carry is refused, and the session goes on.
                expect_error(lambda: a.execute("SET application_name = E'tab\\there'"), "0A000")
                assert a.execute("SELECT 1").fetchone()[0] == 1


@test
def savepoints_scope_the_settings_carried():
    # ROLLBACK TO SAVEPOINT undoes only the SETs made since the savepoint; RELEASE keeps
    # them. pool_size 1 and bob in between: alice's next transaction runs on a connection
    # reset since, with what the proxy carried for her.
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        with p.connect("alice") as a, p.connect("bob") as b:
            default_wm = b.execute("SHOW work_mem").fetchone()[0]

            def carried():
                assert b.execute("SHOW work_mem").fetchone()[0] == default_wm
                return a.execute("SHOW work_mem").fetchone()[0]

            def each(*statements):  # one Query per statement
                for sql in statements:
                    a.execute(sql)

            # A savepoint set before the client's first SET of the session.
            each("BEGIN", "SAVEPOINT early", "SET work_mem = '25MB'",
                 "ROLLBACK TO SAVEPOINT early", "COMMIT")
            assert carried() == default_wm
            each("BEGIN", "SET work_mem = '21MB'", "SAVEPOINT s1", "SET work_mem = '23MB'",
                 "ROLLBACK TO s1", "COMMIT")
            assert carried() == "21MB"
            # RELEASE keeps; nested savepoints; all in one Query.
            a.execute("BEGIN; SAVEPOINT a; SET work_mem = '27MB'; RELEASE SAVEPOINT a; COMMIT")
            assert carried() == "27MB"
            a.execute("BEGIN; SAVEPOINT a; SET work_mem = '29MB'; SAVEPOINT b; "
                      "SET work_mem = '31MB'; ROLLBACK TO a; SET work_mem = '33MB'; "
                      "ROLLBACK TO a; COMMIT")
            assert carried() == "27MB"
            # An error after the savepoint, recovered from by rolling back to it.
            each("BEGIN", "SET work_mem = '39MB'", "SAVEPOINT s")
            expect_error(lambda: a.execute("SELECT 1/0"), "22012")
            each("ROLLBACK TO SAVEPOINT s", "COMMIT")
            assert carried() == "39MB"
            # Extended protocol (unnamed statements), and psycopg's own nested transaction
            # blocks: SAVEPOINT _pg3_1 ... ROLLBACK TO SAVEPOINT _pg3_1; RELEASE ...
            with a.transaction():
                a.execute("SET work_mem = '35MB'", [])
                with a.transaction():
                    a.execute("SET work_mem = '37MB'", [])
                    raise psycopg.Rollback()
            assert carried() == "35MB"
            with a.transaction():
                with a.transaction():
                    a.execute("SET work_mem = '41MB'")
                each("SAVEPOINT \"Mixed\"", "SET work_mem = '43MB'", "ROLLBACK TO \"Mixed\"")
            assert carried() == "41MB"
            # A whole rollback still drops everything.
            a.execute("BEGIN; SET work_mem = '45MB'; SAVEPOINT z; ROLLBACK")
            assert carried() == "41MB"


@test
def startup_parameters_follow_the_client():
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        with p.connect("alice", application_name="e2e-app", options="-c search_path=pg_catalog,public") as a, \
                p.connect("bob", application_name="other") as b:
            # The greeting's ParameterStatus: the client's own value where it set one,
            # the server's otherwise.
            assert a.info.parameter_status("application_name") == "e2e-app"
            assert b.info.parameter_status("application_name") == "other"
            with p.connect("carol") as c:
                # (The pool's backends connect as application_name qail-proxy.)
                assert c.info.parameter_status("application_name") == "qail-proxy"
                for name in ("server_version", "TimeZone", "DateStyle", "client_encoding"):
                    assert c.info.parameter_status(name) == a.info.parameter_status(name), name
                assert c.info.parameter_status("server_version") == \
                    c.execute("SHOW server_version").fetchone()[0]
            for _ in range(3):
                assert a.execute("SHOW application_name").fetchone()[0] == "e2e-app"
                assert a.execute("SHOW search_path").fetchone()[0] == "pg_catalog,public"
                assert b.execute("SHOW application_name").fetchone()[0] == "other"
                assert b.execute("SHOW search_path").fetchone()[0] != "pg_catalog,public"


@test
def reset_none_resends_settings_a_borrower_may_have_changed():
    # reset: none sends a backend no settings when it already has the next client's list.
    # A borrower that ran anything able to change a setting the server does not report
    # (set_config of search_path on PostgreSQL 15) makes the next one send them again,
    # also when the set_config comes from a statement prepared in an earlier transaction.
    with Proxy(databases={"appdb": {"pool_size": 1, "reset": "none"}}, pg="15") as p:
        opts = "-c search_path=pg_catalog,public"
        with p.connect("alice", application_name="same", options=opts) as a, \
                p.connect("bob", application_name="same", options=opts) as b:
            for c in (a, b, a, b):
                assert c.execute("SHOW search_path").fetchone()[0] == "pg_catalog,public"
            a.execute("SELECT set_config('search_path', 'e2e_evil', false)")
            assert b.execute("SHOW search_path").fetchone()[0] == "pg_catalog,public"
            for value in ("e2e_evil2", "e2e_evil3"):
                a.execute("SELECT set_config('search_path', %s, false)", [value], prepare=True)
            assert b.execute("SHOW search_path").fetchone()[0] == "pg_catalog,public"


@test
def hostile_startup_parameter_is_bound_not_interpolated():
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        evil = "x'; DROP TABLE IF EXISTS e2e_canary; --"
        with p.connect("alice") as a:
            a.execute("CREATE TABLE IF NOT EXISTS e2e_canary (x int)")
        with p.connect("alice", application_name=evil) as a:
            assert a.execute("SHOW application_name").fetchone()[0] == evil
        with p.connect("alice") as a:
            assert a.execute("SELECT to_regclass('e2e_canary') IS NOT NULL").fetchone()[0]
            a.execute("DROP TABLE e2e_canary")


@test
def session_mode_keeps_state():
    with Proxy(databases={"appdb": {"pool_mode": "session", "pool_size": 2}}) as p:
        with p.connect("alice") as a:
            a.execute("SET work_mem = '33MB'")
            pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
            for _ in range(3):
                assert a.execute("SHOW work_mem").fetchone()[0] == "33MB"
                assert a.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        # The backend comes back clean for the next client.
        with p.connect("bob") as b:
            assert b.execute("SHOW work_mem").fetchone()[0] != "33MB"


@test
def statement_mode_refuses_transactions():
    with Proxy(databases={"appdb": {"pool_mode": "statement", "pool_size": 1}}) as p:
        with p.connect("alice") as a:
            assert a.execute("SELECT 7").fetchone()[0] == 7
            e = expect_error(lambda: a.execute("BEGIN"), "42501")
            assert "statement pooling" in str(e)
            assert a.execute("SELECT 8").fetchone()[0] == 8


@test
def statement_mode_closes_a_backend_left_in_a_transaction():
    # A transaction the BEGIN check cannot see (opened by the second statement of a
    # Query) ends the client (FATAL 25000), and its backend is closed, not lent on in
    # the transaction: the next client's statements run on a clean one.
    with Proxy(databases={"appdb": {"pool_mode": "statement", "pool_size": 1}}) as p:
        a = p.connect("alice")
        a.execute("SELECT 1; BEGIN")  # relayed up to the ReadyForQuery ('T'), then FATAL
        expect_connect_error(lambda: a.execute("SELECT 2"), "")
        a.close()
        p.wait_log("reason=transaction blocks are not allowed in statement pooling mode")
        with p.connect("bob") as b:
            for i in range(3):  # on a backend in a transaction: 25000 again
                assert b.execute("SELECT %d" % i).fetchone()[0] == i


@test
def failing_link_settings_end_only_that_client():
    # A startup setting the server refuses only when the proxy applies it at the link:
    # that client is ended with 08006 naming the SQLSTATE, the backend is closed, others
    # go on.
    with Proxy() as p:
        with p.connect("bob") as good:
            bad = p.connect("alice", options="-c lock_timeout=not_a_duration")
            expect_connect_error(lambda: bad.execute("SELECT 1"), "SQLSTATE 22023")
            bad.close()
            assert good.execute("SELECT 2").fetchone()[0] == 2
            with p.connect("alice") as again:
                assert again.execute("SELECT 3").fetchone()[0] == 3


@test
def tenant_guard_refuses_tenant_settings():
    with Proxy(databases={"appdb": {"tenant_guard": "true"}}) as p:
        with p.connect("alice") as a:
            expect_error(lambda: a.execute("SELECT set_config('app.current_tenant_id', 'globex', false)"), "42501")
            expect_error(lambda: a.execute("SET app.current_tenant_id = 'globex'"), "42501")
            assert a.execute("SELECT 5").fetchone()[0] == 5
        # Without the guard the same client may read its binding.
    with Proxy() as p:
        with p.connect("alice") as a:
            assert a.execute("SELECT current_setting('app.current_tenant_id', true)").fetchone()[0] == "acme"


@test
def psql_multi_statement_copy_and_errors():
    with Proxy() as p:
        r = psql(p, "CREATE TABLE IF NOT EXISTS e2e_copy (id int, t text); TRUNCATE e2e_copy")
        assert r.returncode == 0, r.stderr
        data = "".join("%d\trow %d\n" % (i, i) for i in range(100000))
        r = psql(p, "\\copy e2e_copy FROM STDIN", stdin=data)
        assert r.returncode == 0, r.stderr
        r = psql(p, "SELECT count(*), sum(id) FROM e2e_copy")
        assert r.stdout.strip() == "100000|4999950000", r.stdout
        out = os.path.join(p.dir, "out.tsv")
        r = psql(p, "\\copy (SELECT * FROM e2e_copy ORDER BY id) TO '%s'" % out)
        assert r.returncode == 0, r.stderr
        with open(out) as f:
            assert f.read() == data
        # An error in the middle of a multi-statement query: later statements do not run.
        r = psql(p, "SELECT 1; SELECT 1/0; SELECT 3")
        assert r.returncode != 0 and "division by zero" in r.stderr
        r = psql(p, "\\d e2e_copy")
        assert r.returncode == 0 and "id" in r.stdout, r.stdout + r.stderr
        r = psql(p, "DROP TABLE e2e_copy")
        assert r.returncode == 0


def cancel_stops_a_sleep(conn, seconds):
    """Runs `SELECT pg_sleep(seconds)` on `conn` in a thread, cancels it (psycopg's
    cancel(): a CancelRequest on a connection of its own) once the server runs it, and
    checks that it ends with 57014 within 2 s."""
    sql = "SELECT pg_sleep(%d)" % seconds
    result = {}

    def sleeper():
        try:
            conn.execute(sql)
            result["err"] = None
        except psycopg.Error as e:
            result["err"] = e.sqlstate

    th = threading.Thread(target=sleeper)
    th.start()
    deadline = time.monotonic() + 10
    with admin_conn() as adm:
        while adm.execute("SELECT count(*) FROM pg_stat_activity WHERE query = %s "
                          "AND state = 'active'", [sql]).fetchone()[0] == 0:
            assert time.monotonic() < deadline, "the sleep never started"
            time.sleep(0.05)
    t_cancel = time.monotonic()
    conn.cancel()
    th.join(15)
    assert result.get("err") == "57014", result
    assert time.monotonic() - t_cancel < 2.0


@test
def cancel_reaches_the_right_backend():
    with Proxy(workers=2) as p:
        with p.connect("alice") as a, p.connect("bob") as b:
            cancel_stops_a_sleep(a, 30)
            assert b.execute("SELECT 1").fetchone()[0] == 1
            assert a.execute("SELECT 2").fetchone()[0] == 2


@test
def terminated_backend_affects_only_its_client():
    with Proxy(databases={"appdb": {"pool_size": 2}}) as p:
        with p.connect("alice") as a, p.connect("bob") as b:
            a.execute("BEGIN")
            pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
            with admin_conn() as adm:
                adm.execute("SELECT pg_terminate_backend(%s)", [pid])
            try:
                a.execute("SELECT 1")
                raise AssertionError("the client of a terminated backend saw no error")
            except psycopg.Error:
                pass
            for _ in range(5):
                assert b.execute("SELECT 1").fetchone()[0] == 1
        with p.connect("alice") as a2:
            assert a2.execute("SELECT 3").fetchone()[0] == 3


def expect_closed(s, who):
    """The proxy closes `s` (within its timeout) without sending anything more."""
    try:
        assert s.recv(4096) == b"", "bytes sent to %s before the close" % who
    except socket.timeout:
        raise AssertionError("the proxy did not close %s" % who)


@test
def half_closed_client_is_answered_then_closed():
    # A client that sends its last query and shuts its side at once (data and end of
    # stream arrive together) gets its answer, and the proxy then sees the end of stream
    # and closes: it must not wait on a socket it took for empty (socket_readiness.hpp).
    # Over TCP and over the Unix socket.
    with Proxy(workers=1) as p:
        for host in ["127.0.0.1"] * 5 + [p.dir] * 5:
            c, s = raw_session(p, host=host)
            s.sendall(pg_message(b"Q", b"SELECT 42\0"))
            s.shutdown(socket.SHUT_WR)
            assert read_until_ready(s) == ["T", "D", "C", "Z"]
            expect_closed(s, "a half-closed client")
            s.close()
            c.close()
        with p.connect("bob") as b:
            assert b.execute("SELECT 1").fetchone()[0] == 1


@test
def clients_that_pause_are_served_after_waiting_without_a_buffer():
    # A client quiet for 100 ms or more is waited for without its read buffer (it goes
    # back to the worker's spares). Whatever comes after such a wait must be read whole:
    # a query in pieces with pauses between them, two queries in one send, a message
    # larger than the first buffer, and the end of stream; over TCP, the Unix socket and
    # TLS.
    extra = "tls:\n  cert: %s\n  key: %s" % (ENV["QAIL_TEST_SERVER_CERT"],
                                            ENV["QAIL_TEST_SERVER_KEY"])
    with Proxy(workers=1, extra=extra) as p:
        for host in ("127.0.0.1", p.dir, "tls"):
            if host == "tls":
                c, s = None, tls_raw_session(p)
            else:
                c, s = raw_session(p, host=host)
            for _ in range(2):
                time.sleep(0.15)
                q = pg_message(b"Q", b"SELECT 42\0")
                for piece in (q[:1], q[1:7], q[7:]):
                    s.sendall(piece)
                    time.sleep(0.15)
                assert read_messages(s, ["T", "D", "C", "Z"])[1].endswith(b"42")
            time.sleep(0.15)
            s.sendall(pg_message(b"Q", b"SELECT 1\0") + pg_message(b"Q", b"SELECT 2\0"))
            bodies = read_messages(s, ["T", "D", "C", "Z"] * 2)
            assert bodies[1].endswith(b"1") and bodies[5].endswith(b"2")
            time.sleep(0.15)
            big = b"SELECT length('" + b"x" * 20000 + b"')\0"
            s.sendall(pg_message(b"Q", big))
            assert read_messages(s, ["T", "D", "C", "Z"])[1].endswith(b"20000")
            time.sleep(0.15)
            s.sendall(pg_message(b"X"))
            s.shutdown(socket.SHUT_WR)
            expect_closed(s, "a client that left while idle")
            s.close()
            if c is not None:
                c.close()


def tls_raw_session(p, user="carol"):
    """A socket logged in over TLS as a trust user, by hand (no certificate check)."""
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(struct.pack("!II", 8, 80877103))  # SSLRequest
    assert s.recv(1) == b"S"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s)
    t.sendall(startup_packet(user.encode(), b"appdb"))
    assert read_until_ready(t)[0] == "R"
    return t


def raw_client(p):
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    return s


def read_until_closed(s):
    data = b""
    s.settimeout(5)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk
    except socket.timeout:
        raise AssertionError("the proxy did not close a bad client")


@test
def malformed_clients_are_dropped_others_served():
    with Proxy() as p:
        with p.connect("alice") as good:
            cases = [
                b"\x00\x00\x00\x03",                                # length below minimum
                struct.pack("!I", 0x7FFFFFFF) + b"\x00\x03\x00\x00",  # 2 GiB startup packet
                struct.pack("!II", 16, 0x12345678) + b"garbage!",   # unknown request code
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",               # wrong protocol entirely
            ]
            for raw in cases:
                s = raw_client(p)
                s.sendall(raw)
                read_until_closed(s)
                s.close()
                assert good.execute("SELECT 1").fetchone()[0] == 1
            # Garbage after a good login: a 2 GiB message header.
            s = raw_client(p)
            s.close()
            # A client vanishing mid-message.
            s = raw_client(p)
            s.sendall(struct.pack("!I", 200) + b"\x00\x03\x00\x00user\x00ali")
            s.close()
            # TLS handshake of junk (TLS not configured: 'N', then junk as startup).
            s = raw_client(p)
            s.sendall(struct.pack("!II", 8, 80877103))
            assert s.recv(1) == b"N"
            s.sendall(b"\x16\x03\x01junkjunkjunk")
            read_until_closed(s)
            s.close()
            assert good.execute("SELECT 2").fetchone()[0] == 2


def syn_recv_count(port):
    """Connections to 127.0.0.1:`port` the kernel holds half-open on the listening side
    (SYN_RECV in /proc/net/tcp): with TCP_DEFER_ACCEPT, those that have sent nothing."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state = fields[1], fields[3]
            if local == "0100007F:%04X" % port and state == "03":
                n += 1
    return n


def startup_packet(user, database):
    body = struct.pack("!I", 196608) + b"user\0" + user + b"\0database\0" + database + b"\0\0"
    return struct.pack("!I", 4 + len(body)) + body


@test
def silent_connections_wait_in_the_kernel_until_they_speak():
    # The listener defers accepts until the client's first bytes (TCP_DEFER_ACCEPT): a
    # connection that has sent nothing stays half-open in the kernel, is no session and
    # does not count against max_client_conn; once it sends its startup packet it is
    # accepted and logs in.
    with Proxy(extra="  max_client_conn: 1") as p:
        silent = [raw_client(p) for _ in range(3)]
        try:
            deadline = time.monotonic() + 5
            while syn_recv_count(p.port) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert syn_recv_count(p.port) == 3, "the silent connections were accepted"
            with p.connect("carol") as c:
                assert c.execute("SELECT 1").fetchone()[0] == 1
            s = silent[0]
            s.sendall(startup_packet(b"carol", b"appdb"))
            types = read_until_ready(s)
            assert types[0] == "R" and types[-1] == "Z", types
            s.sendall(pg_message(b"Q", b"SELECT 42\0"))
            assert read_until_ready(s) == ["T", "D", "C", "Z"]
            assert syn_recv_count(p.port) == 2
        finally:
            for s in silent:
                s.close()


@test
def clients_that_do_not_log_in_in_time_are_closed():
    # client_login_timeout_ms: a client that sent half a startup packet and one that
    # stalls in the SCRAM exchange are closed once it has passed (not before), while a
    # client that logged in before them stays connected past it.
    with Proxy(extra="  client_login_timeout_ms: 700") as p:
        with p.connect("alice") as good:
            started = time.monotonic()
            half = raw_client(p)
            half.sendall(startup_packet(b"carol", b"appdb")[:9])
            stalled = raw_client(p)
            stalled.sendall(startup_packet(b"alice", b"appdb"))
            stalled.settimeout(5)
            first = stalled.recv(5)
            assert first[:1] == b"R", first  # AuthenticationSASL; no answer follows
            try:
                for s in (half, stalled):
                    read_until_closed(s)
                assert time.monotonic() - started >= 0.6, "closed before the timeout"
            finally:
                half.close()
                stalled.close()
            assert good.execute("SELECT 1").fetchone()[0] == 1
        log = p.read_log()
        assert log.count("not logged in after 700 ms (client_login_timeout_ms)") == 2, log[-2000:]


@test
def max_client_conn_refuses_with_53300_until_a_client_leaves():
    # With max_client_conn clients connected, a new one gets FATAL 53300 "too many clients
    # already", whether it starts with an SSLRequest or not and over TCP or the Unix
    # socket; every time (the error is not lost to a reset of the connection); the
    # connected ones carry on, their cancel requests work, and once one leaves a new
    # client gets in.
    with Proxy(extra="  max_client_conn: 2") as p:
        a = p.connect("carol")
        b = p.connect("alice")
        try:
            for sslmode in ["disable", "prefer"] * 10:
                expect_connect_error(lambda: p.connect("carol", sslmode=sslmode),
                                     "too many clients already")
            expect_connect_error(lambda: p.connect("carol", host=p.dir),
                                 "too many clients already")
            assert a.execute("SELECT 1").fetchone()[0] == 1
            assert b.execute("SELECT current_setting('app.current_tenant_id')").fetchone()[0] \
                == "acme"
            assert "max_client_conn (2) reached" in p.read_log()
            # A cancel request is a connection of its own: it still reaches the backend.
            cancel_stops_a_sleep(a, 31)
            b.close()
            deadline = time.monotonic() + 10
            while True:
                try:
                    with p.connect("carol") as c:
                        assert c.execute("SELECT 2").fetchone()[0] == 2
                    break
                except psycopg.OperationalError as e:
                    assert "too many clients already" in str(e), str(e)
                    assert time.monotonic() < deadline, "no room after a client left"
                    time.sleep(0.05)
        finally:
            a.close()
            b.close()


@test
def oversized_message_after_login_is_refused():
    with Proxy() as p:
        with p.connect("alice") as good:
            c = p.connect("alice")
            fd = c.pgconn.socket
            s = socket.socket(fileno=os.dup(fd))
            s.sendall(b"Q" + struct.pack("!I", 0x7FFFFFF0))
            s.settimeout(5)
            data = s.recv(4096)
            assert b"08P01" in data or data == b"", data
            s.close()
            c.close()
            assert good.execute("SELECT 1").fetchone()[0] == 1


def pg_message(tag, payload=b""):
    return tag + struct.pack("!I", len(payload) + 4) + payload


def read_until_ready(s):
    """Message types the server side sends up to and including ReadyForQuery."""
    buf, types = b"", []
    while True:
        while len(buf) >= 5:
            n = struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + n:
                break
            types.append(chr(buf[0]))
            buf = buf[1 + n:]
            if types[-1] == "Z":
                assert not buf, "bytes after ReadyForQuery"
                return types
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("the proxy closed the connection")
        buf += chunk


@test
def client_close_of_a_foreign_statement_name_touches_nothing():
    # On the server the pool's kept reset statements are named qail_s<N> and the proxy's
    # mapped ones qail_<N>. A client's Close of such a name, which it never prepared, must
    # not reach them: the next borrower's reset and statements need them.
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        with p.connect("bob") as b:
            for i in range(3):  # reset more than once: the reset statements exist
                assert b.execute("SELECT %s::int", [i], prepare=True).fetchone()[0] == i
            c, s = raw_session(p)
            s.sendall(pg_message(b"Q", b"BEGIN\0"))  # linked: messages go to the server
            assert read_until_ready(s)[-1] == "Z"
            names = ["qail_s%d" % i for i in range(1, 30)] + ["qail_%d" % i for i in range(1, 30)]
            batch = b"".join(pg_message(b"C", b"S" + n.encode() + b"\0") for n in names)
            s.sendall(batch + pg_message(b"S"))
            types = read_until_ready(s)
            assert types == ["3"] * len(names) + ["Z"], types
            s.sendall(pg_message(b"Q", b"COMMIT\0"))
            assert read_until_ready(s)[-1] == "Z"
            s.close()
            c.close()
            for i in range(5):
                assert b.execute("SELECT 2").fetchone()[0] == 2
                assert b.execute("SELECT %s::int", [i], prepare=True).fetchone()[0] == i


def read_messages(s, want):
    """Reads server messages until their types are `want` (fails on anything else);
    returns their bodies."""
    buf, got = b"", []
    while len(got) < len(want):
        while len(buf) >= 5 and len(got) < len(want):
            n = struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + n:
                break
            got.append((chr(buf[0]), buf[5:1 + n]))
            buf = buf[1 + n:]
            assert [t for t, _ in got] == want[:len(got)], (
                "message %d: %s, wanted %s (the last ones: %s)" % (
                    len(got), got[-1][0], want[len(got) - 1], got[-4:]))
        if len(got) < len(want):
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError("the proxy closed the connection after %s" % got)
            buf += chunk
    assert not buf, "unexpected bytes after %s" % got
    return [body for _, body in got]


def raw_session(p, user="alice", timeout=5, **kw):
    """A logged-in psycopg connection and a socket on its descriptor, to speak the
    protocol by hand (close both)."""
    c = p.connect(user, **kw)
    s = socket.socket(fileno=os.dup(c.pgconn.socket))
    s.settimeout(timeout)
    return c, s


def parse_message(name, sql):
    return pg_message(b"P", name + b"\0" + sql + b"\0" + struct.pack("!h", 0))


def bind_message(statement, value):
    """Bind of the unnamed portal with one text parameter."""
    return pg_message(b"B", b"\0" + statement + b"\0" + struct.pack("!hhi", 0, 1, len(value))
                      + value + struct.pack("!h", 0))


def execute_message():
    return pg_message(b"E", b"\0" + struct.pack("!i", 0))


@test
def backend_output_is_relayed_while_the_client_is_silent():
    # The client reader relays the answers to what it sent itself when nothing more is
    # needed from the client for them; otherwise the server pump takes over. Both the
    # answers to a Flush (no Sync) and a server's FATAL in an idle transaction must reach
    # a client that sends nothing more.
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        c, s = raw_session(p)
        s.sendall(parse_message(b"", b"SELECT $1::int") + pg_message(b"D", b"S\0")
                  + pg_message(b"H"))
        read_messages(s, ["1", "t", "T"])
        s.sendall(bind_message(b"", b"7") + execute_message() + pg_message(b"H"))
        row = read_messages(s, ["2", "D", "C"])[1]
        assert row.endswith(b"7"), row
        s.sendall(pg_message(b"S"))
        read_messages(s, ["Z"])
        s.sendall(pg_message(b"Q", b"BEGIN; SELECT pg_backend_pid()\0"))
        row = read_messages(s, ["C", "T", "D", "C", "Z"])[2]
        pid = int(row[6:])
        with admin_conn() as adm:
            adm.execute("SELECT pg_terminate_backend(%s)", [pid])
        data = read_until_closed(s)
        assert b"57P01" in data and b"08006" in data, data
        s.close()
        c.close()
        with p.connect("bob") as b:
            assert b.execute("SELECT 1").fetchone()[0] == 1


@test
def long_pipeline_is_answered_in_order():
    # Hundreds of extended-protocol queries in one write, each with its Sync, and a Close
    # of a name never prepared (answered by the proxy itself) among them: every answer
    # comes back, in order, with its own value.
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        c, s = raw_session(p, timeout=10)
        n = 300
        batch = parse_message(b"s1", b"SELECT $1::int") + pg_message(b"S")
        want = ["1", "Z"]
        for i in range(n):
            batch += bind_message(b"s1", str(i).encode()) + execute_message() + pg_message(b"S")
            want += ["2", "D", "C", "Z"]
            if i == n // 2:
                batch += pg_message(b"C", b"Snever_prepared\0") + pg_message(b"S")
                want += ["3", "Z"]
        s.sendall(batch)
        bodies = read_messages(s, want)
        rows = [b for t, b in zip(want, bodies) if t == "D"]
        assert [int(r[6:]) for r in rows] == list(range(n)), rows[:5]
        # A Describe of the portal is answered by RowDescription, before the answer the
        # proxy gives itself to the Close behind it.
        s.sendall(parse_message(b"", b"SELECT $1::int") + bind_message(b"", b"5")
                  + pg_message(b"D", b"P\0") + execute_message()
                  + pg_message(b"C", b"Snever_prepared\0") + pg_message(b"S"))
        assert read_messages(s, ["1", "2", "T", "D", "C", "3", "Z"])[3].endswith(b"5")
        s.sendall(pg_message(b"Q", b"SELECT 1\0"))
        read_messages(s, ["T", "D", "C", "Z"])
        s.close()
        c.close()


def stall_queue(s, seconds=10):
    """Waits (up to `seconds`) until the bytes queued for reading on `s` stop growing."""
    queued, deadline = -1, time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = struct.unpack("i", fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0" * 4))[0]
        if now > 0 and now == queued:
            return
        queued = now
        time.sleep(0.05)


@test
def slow_reader_receives_a_large_result_intact():
    # A client reading slowly through a small receive buffer: the proxy's writes to it
    # are partial (what the socket does not take is kept and sent when it has room),
    # while the answer is relayed straight from the backend's read buffer otherwise.
    # Every row must arrive once, in order, unchanged.
    n = 300000
    with Proxy(databases={"appdb": {"pool_size": 1}}) as p:
        c, s = raw_session(p, timeout=20)
        s.sendall(pg_message(b"Q", b"SELECT g, md5(g::text) FROM generate_series(1, %d) g\0" % n))
        # Now and then read nothing until the bytes queued for this socket stop growing:
        # the proxy's write to it came back short and the rest waits for room, while
        # the backend fills the proxy's socket (its next reads fill the read buffer).
        stall_queue(s)
        buf, want, types = b"", 1, []
        received, next_stall = 0, 2 << 20
        while True:
            chunk = s.recv(8192)
            if not chunk:
                raise AssertionError("the proxy closed the connection at row %d" % want)
            buf += chunk
            received += len(chunk)
            if received >= next_stall:
                stall_queue(s)
                next_stall += 2 << 20
            at = 0
            while len(buf) - at >= 5:
                length = struct.unpack_from("!I", buf, at + 1)[0]
                if len(buf) - at < 1 + length:
                    break
                kind, body = buf[at:at + 1], buf[at + 5:at + 1 + length]
                at += 1 + length
                if kind == b"D":
                    n1 = struct.unpack_from("!i", body, 2)[0]
                    g = body[6:6 + n1]
                    digest = body[6 + n1 + 4:]
                    assert int(g) == want, (g, want)
                    assert digest == hashlib.md5(g).hexdigest().encode(), (g, digest)
                    want += 1
                else:
                    types.append(kind)
            buf = buf[at:]
            if types and types[-1] == b"Z":
                break
        assert want == n + 1 and types == [b"T", b"C", b"Z"], (want, types)
        assert not buf
        s.sendall(pg_message(b"Q", b"SELECT 1\0"))
        read_messages(s, ["T", "D", "C", "Z"])
        s.close()
        c.close()


@test
def many_idle_clients_then_all_query():
    n = 300
    with Proxy(databases={"appdb": {"pool_size": 8}}) as p:
        conns = []
        for _ in range(n):
            conns.append(p.connect("carol"))
        errors = []

        def run(c):
            try:
                c.execute("SELECT pg_sleep(0.01)")
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=run, args=(c,)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for c in conns:
            c.close()
        assert not errors, errors[:3]


@test
def sighup_reload_changes_passwords_keeps_clients():
    with Proxy() as p:
        with p.connect("alice") as a:
            with open(p.config_path) as f:
                cfg = f.read()
            with open(p.config_path, "w") as f:
                f.write(cfg.replace("password: alice-pw", "password: alice-new"))
            p.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while time.time() < deadline and "configuration reloaded" not in p.read_log():
                time.sleep(0.05)
            assert "configuration reloaded" in p.read_log()
            expect_connect_error(lambda: p.connect("alice", "alice-pw"), "password authentication failed")
            with p.connect("alice", "alice-new") as a2:
                assert a2.execute("SELECT 1").fetchone()[0] == 1
            assert a.execute("SELECT 2").fetchone()[0] == 2


@test
def sigterm_lets_open_transaction_commit():
    p = Proxy()
    try:
        a = p.connect("alice")
        a.execute("CREATE TABLE IF NOT EXISTS e2e_term (x int)")
        a.execute("BEGIN")
        a.execute("INSERT INTO e2e_term VALUES (1)")
        p.proc.send_signal(signal.SIGTERM)
        # Bounded wait until the proxy has taken the signal and is draining.
        deadline = time.time() + 10
        while "SIGTERM: draining" not in p.read_log() and time.time() < deadline:
            time.sleep(0.02)
        assert "SIGTERM: draining" in p.read_log()
        assert p.proc.poll() is None, "exited with a transaction open"
        # New clients are refused while draining (the listener closes within seconds).
        deadline = time.time() + 5
        refused = False
        while not refused and time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
                time.sleep(0.05)
            except OSError:
                refused = True
        assert refused, "the listener still accepts during the drain"
        a.execute("COMMIT")
        a.close()
        p.proc.wait(15)
        assert p.proc.returncode == 0, p.proc.returncode
        with admin_conn() as adm:
            assert adm.execute("SELECT count(*) FROM e2e_term").fetchone()[0] >= 1
            adm.execute("DROP TABLE e2e_term")
    finally:
        p.stop()


@test
def unix_socket_and_protocol_3_2_on_pg18():
    with Proxy(pg="18") as p:
        with p.connect("alice", host=p.dir) as c:
            v = c.execute("SHOW server_version_num").fetchone()[0]
            assert int(v) >= 180000, v
            # Many transactions on the Unix socket: its reads wait without trying the
            # socket first once it was found empty (socket_readiness.hpp).
            for i in range(300):
                assert c.execute("SELECT %s::int", [i]).fetchone()[0] == i


@test
def admin_endpoints_report_live_state():
    import json
    import urllib.request

    with Proxy() as p:
        base = "http://127.0.0.1:%d" % p.admin_port

        def get(path):
            with urllib.request.urlopen(base + path, timeout=10) as r:
                return r.status, r.read().decode()

        with p.connect("alice") as a:
            a.execute("SELECT 1")
            status, body = get("/healthz")
            assert status == 200
            # The backend is released just after the answer is sent: wait for it (bounded).
            deadline = time.time() + 5
            while True:
                status, body = get("/metrics")
                if 'qail_proxy_client_connections{state="idle"} 1' in body or time.time() > deadline:
                    break
                time.sleep(0.02)
            assert 'qail_proxy_client_connections{state="idle"} 1' in body, body[:2000]
            assert 'qail_proxy_server_connections{database="appdb"' in body
            assert "qail_proxy_build_info" in body
            # Each query was timed; the second transaction's link reset the backend the
            # first one used (pool_size 2: the LIFO pool hands back the same one).
            assert metric(body, 'qail_proxy_query_duration_seconds_count{database="appdb"}') >= 1
            a.execute("SELECT 2")
            deadline = time.time() + 5
            while True:
                status, body = get("/metrics")
                # (The transaction's duration is recorded at its release, just after the
                # answer reached the client.)
                if (metric(body, 'qail_proxy_resets_total{database="appdb"}') >= 1 and
                        metric(body, 'qail_proxy_transaction_duration_seconds_count'
                                     '{database="appdb"}') >= 2) or time.time() > deadline:
                    break
                time.sleep(0.02)
            assert metric(body, 'qail_proxy_resets_total{database="appdb"}') >= 1, body[:3000]
            assert metric(body, 'qail_proxy_query_duration_seconds_count{database="appdb"}') >= 2
            assert metric(body, 'qail_proxy_transaction_duration_seconds_count{database="appdb"}') >= 2
            status, body = get("/admin/pools")
            pools = json.loads(body)["pools"]
            assert [x["database"] for x in pools] == ["appdb"]
            assert pools[0]["mode"] == "transaction"
            status, body = get("/admin/clients")
            clients = json.loads(body)["clients"]
            assert len(clients) == 1 and clients[0]["user"] == "alice"
            # The client's own address and port, as its socket has them.
            with socket.socket(fileno=os.dup(a.pgconn.socket)) as s:
                host, port = s.getsockname()[:2]
            assert clients[0]["address"] == "%s:%d" % (host, port), (clients, host, port)
        # A failed login is counted.
        expect_connect_error(lambda: p.connect("alice", "wrong"), "password authentication failed")
        status, body = get("/metrics")
        assert 'qail_proxy_auth_failures_total{database="appdb"} 1' in body


def metric(text, series):
    """The value of one sample line of a Prometheus exposition (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


@test
def postgres_restart_under_idle_clients():
    # A server of this test's own is restarted (fast shutdown terminates every backend);
    # the idle clients' next transactions succeed without restarting the proxy.
    with OwnPostgres() as pg:
        dbs = {"appdb": {"port": pg.port, "dbname": "postgres", "user": "postgres",
                         "password": "unused", "pool_size": 3}}
        with Proxy(databases=dbs) as p:
            clients = [p.connect("carol") for _ in range(6)]
            try:
                # Fill the pool: three transactions held open at once, then idle.
                for c in clients[:3]:
                    c.execute("BEGIN")
                    c.execute("SELECT 1")
                old = {c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in clients[:3]}
                for c in clients[:3]:
                    c.execute("COMMIT")
                pg.restart()
                for i, c in enumerate(clients):
                    assert c.execute("SELECT %s::int", [i]).fetchone()[0] == i
                    pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
                    assert pid not in old, "a connection from before the restart was reused"
            finally:
                for c in clients:
                    c.close()


@test
def idle_timeouts_close_idle_clients():
    import select
    extra = "  client_idle_timeout_ms: 1500\n  idle_transaction_timeout_ms: 800"
    with Proxy(extra=extra) as p:
        with p.connect("carol") as setup:
            setup.execute("CREATE TABLE IF NOT EXISTS e2e_idle (x int)")
            setup.execute("TRUNCATE e2e_idle")
        a = p.connect("carol")
        b = p.connect("carol")
        try:
            # a goes idle inside a transaction: closed with 25P03, its insert rolled back.
            a.execute("BEGIN")
            a.execute("INSERT INTO e2e_idle VALUES (1)")
            started = time.time()
            # b stays busy meanwhile (a query every 200 ms): never closed.
            closed = False
            while time.time() - started < 10:
                r, _, _ = select.select([a.fileno()], [], [], 0.2)
                if r:
                    closed = True
                    break
                assert b.execute("SELECT 1").fetchone()[0] == 1
            assert closed, "the idle-in-transaction client was not closed within 10 s"
            try:
                a.execute("SELECT 1")
                raise AssertionError("the closed client could still query")
            except psycopg.OperationalError as e:
                assert "idle-in-transaction" in str(e) or "closed" in str(e), str(e)
            for _ in range(10):  # 2 s of activity, past client_idle_timeout_ms
                assert b.execute("SELECT 1").fetchone()[0] == 1
                time.sleep(0.2)
            with p.connect("carol") as c:
                assert c.execute("SELECT count(*) FROM e2e_idle").fetchone()[0] == 0
            # Now b idles (outside a transaction): closed with 57P05 after 1.5 s.
            r, _, _ = select.select([b.fileno()], [], [], 10)
            assert r, "the idle client was not closed within 10 s"
            try:
                b.execute("SELECT 1")
                raise AssertionError("the closed client could still query")
            except psycopg.OperationalError as e:
                assert "idle-session" in str(e) or "closed" in str(e), str(e)
            log = p.read_log()
            assert "idle in a transaction" in log and "ms idle" in log, log[-2000:]
        finally:
            a.close()
            b.close()


@test
def metrics_move_under_load_and_prometheus_scrapes_them():
    # A real Prometheus (Debian's) scrapes the admin port every second while pgbench runs
    # through the proxy; the live exposition passes promtool, has every documented family,
    # and its counters move by what pgbench did.
    import json
    import re
    import urllib.parse
    import urllib.request
    with Proxy(databases={"appdb": {"pool_size": 4}}) as p:
        scrape = p.metrics_text
        prom_dir = tempfile.mkdtemp(prefix="qail-e2e-prom-")
        prom_port = free_port()
        with open(os.path.join(prom_dir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                    "  - job_name: qail-proxy\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % p.admin_port)
        prom = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(prom_dir, "prometheus.yml"),
                                 "--storage.tsdb.path=" + os.path.join(prom_dir, "data"),
                                 "--web.listen-address=127.0.0.1:%d" % prom_port],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def prom_query(expr):
            q = urllib.parse.urlencode({"query": expr})
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?%s" %
                                            (prom_port, q), timeout=5) as resp:
                    result = json.loads(resp.read())["data"]["result"]
                return float(result[0]["value"][1]) if result else 0.0
            except OSError:
                return 0.0

        try:
            # Prometheus must hold a sample from before the load, or increase() has only
            # post-load samples to compare (a slow start on a busy machine).
            deadline = time.time() + 60
            while prom_query('up{job="qail-proxy"}') < 1:
                assert time.time() < deadline, "Prometheus never scraped the admin port"
                time.sleep(0.2)
            before = scrape()
            script = os.path.join(prom_dir, "select.sql")
            with open(script, "w") as f:
                f.write("SELECT 1;\n")
            r = run_pgbench(p, ["-n", "-f", script], 4, 6)
            assert r.returncode == 0, r.stdout + r.stderr
            n = int(r.stdout.split("number of transactions actually processed: ")[1].split("\n")[0]
                    .split("/")[0])
            assert n > 0
            with p.connect("carol") as c:  # one error, counted by its SQLSTATE class
                expect_error(lambda: c.execute("SELECT 1/0"), "22012")
                n += 1
            deadline = time.time() + 5
            while True:  # the last release happens just after pgbench's last answer
                after = scrape()
                series = 'qail_proxy_transaction_duration_seconds_count{database="appdb"}'
                if metric(after, series) - metric(before, series) >= n or time.time() > deadline:
                    break
                time.sleep(0.05)

            def delta(series):
                return metric(after, series) - metric(before, series)

            # Each pgbench transaction is one Query, one backend link and one release.
            for series in ('qail_proxy_transaction_duration_seconds_count{database="appdb"}',
                           'qail_proxy_query_duration_seconds_count{database="appdb"}',
                           'qail_proxy_pool_wait_seconds_count{database="appdb"}'):
                assert n <= delta(series) <= n + 8, (series, delta(series), n)
            assert delta('qail_proxy_errors_total{class="22"}') == 1
            assert delta('qail_proxy_bytes_total{direction="client_to_server"}') >= n * 15
            assert delta('qail_proxy_bytes_total{direction="server_to_client"}') >= n * 30
            # promtool accepts the live exposition, and every documented family is in it.
            check = subprocess.run(["promtool", "check", "metrics"], input=after, text=True,
                                   capture_output=True, timeout=60)
            assert check.returncode == 0, check.stdout + check.stderr
            with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                   "docs", "metrics.md")) as f:
                documented = set(re.findall(r"^\| `(qail_proxy_[a-z_]+)`", f.read(), re.M))
            assert len(documented) >= 15, documented
            exported = set(re.findall(r"^# TYPE (qail_proxy_[a-z_]+) ", after, re.M))
            assert documented <= exported, documented - exported
            # Prometheus saw the transactions: a non-zero increase over the last minute.
            deadline = time.time() + 20
            value = 0.0
            while value <= 0 and time.time() < deadline:
                value = prom_query(
                    "sum(increase(qail_proxy_transaction_duration_seconds_count[1m]))")
                if value <= 0:
                    time.sleep(0.5)
            assert value > 0, "Prometheus saw no transactions"
        finally:
            prom.terminate()
            prom.wait(30)


@test
def readyz_follows_a_real_postgres_stop_and_start():
    with OwnPostgres() as pg:
        dbs = {"appdb": {"port": pg.port, "dbname": "postgres", "user": "postgres",
                         "password": "unused"}}
        with Proxy(databases=dbs) as p:
            url = "http://127.0.0.1:%d/readyz" % p.admin_port
            status, body = wait_status(url, 200)
            assert status == 200, body
            pg.shutdown()
            status, body = wait_status(url, 503)
            assert status == 503 and '"reachable":false' in body, body
            pg.start()
            status, body = wait_status(url, 200)
            assert status == 200, body
            with p.connect("carol") as c:
                assert c.execute("SELECT 1").fetchone()[0] == 1


def http_status(url):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_status(url, want, seconds=8):
    deadline = time.time() + seconds
    while True:
        status, body = http_status(url)
        if status == want or time.time() > deadline:
            return status, body
        time.sleep(0.05)


@test
def readyz_follows_backend_reachability():
    dead_port = free_port()
    with Proxy(databases={"appdb": {}, "otherdb": {"port": dead_port}}) as p:
        url = "http://127.0.0.1:%d/readyz" % p.admin_port
        status, body = wait_status(url, 503)
        assert status == 503 and '"database":"otherdb","reachable":false' in body, body
        # The backend comes up (a listener on its port): ready within seconds, with no
        # client ever having connected.
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", dead_port))
        lsock.listen(16)
        status, body = wait_status(url, 200)
        assert status == 200, body
        # And goes away again: not ready within seconds.
        lsock.close()
        status, body = wait_status(url, 503)
        assert status == 503, body
        status, body = http_status("http://127.0.0.1:%d/healthz" % p.admin_port)
        assert status == 200


@test
def check_config_names_file_and_line():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "bad.yaml")
    with open(path, "w") as f:
        f.write("workers: 2\nlisten:\n  postgres: 127.0.0.1:6432\ndatabases:\n  appdb:\n    pool_sise: 3\n")
    r = subprocess.run([PROXY_BIN, "--check-config", path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "bad.yaml:6" in r.stderr and "pool_sise" in r.stderr, r.stderr
    r = subprocess.run([PROXY_BIN, "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "io_backend:" in r.stdout and "OpenSSL" in r.stdout, r.stdout


def main():
    global ENV, PROXY_BIN
    if sys.argv[1:] == ["--list"]:
        print("\n".join(TESTS))
        return 0
    PROXY_BIN, name = sys.argv[1], sys.argv[2]
    ENV = load_env()
    TESTS[name]()
    print("ok:", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
