#!/usr/bin/python3
"""End-to-end tests of qail-proxy's HTTP/JSON AST API (POST /v1/query, /v1/batch) with a
real HTTP client (urllib / http.client) against the harness's real PostgreSQL.

Usage: http_e2e.py QAIL_PROXY_BIN TEST_NAME   (one ctest test per TEST_NAME)
       http_e2e.py --list
Each test starts its own qail-proxy with listen.http on a free loopback port and an
HS256 JWT secret, and stops it at the end. JWTs are signed here with hmac/hashlib.
"""
import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import psycopg

from e2e_support import ProxyProcess, free_ports, load_env

TESTS = {}
ENV = None
PROXY_BIN = None
SECRET = "e2e-http-secret-at-least-32-bytes-long!"
AUDIENCE = "qail-e2e"
ISSUER = "https://issuer.e2e"


def test(fn):
    TESTS[fn.__name__] = fn
    return fn


def admin_conn(pg="15"):
    return psycopg.connect(
        "host=127.0.0.1 port=%s dbname=%s user=%s password=%s sslmode=disable" %
        (ENV["QAIL_PG%s_PORT" % pg], ENV["QAIL_PG_DB"], ENV["QAIL_ADMIN_USER"],
         ENV["QAIL_ADMIN_PASSWORD"]), autocommit=True)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims=None, secret=SECRET, alg="HS256", **overrides):
    now = int(time.time())
    c = {"sub": "user-1", "tenant_id": "acme", "aud": AUDIENCE, "iss": ISSUER, "exp": now + 300}
    c.update(claims or {})
    c.update(overrides)
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(c).encode())
    signing_input = (header + "." + payload).encode()
    if alg == "none":
        return header + "." + payload + "."
    sig = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return header + "." + payload + "." + b64url(sig)


class Proxy(ProxyProcess):
    """A qail-proxy process with listen.http and a generated config."""

    def __init__(self, db_opts=None, http_extra=None, pg="15", workers=2, extra_lines=()):
        self.dir = tempfile.mkdtemp(prefix="qail-http-e2e-")
        self.port, self.http_port = free_ports(2)
        o = {
            "host": "127.0.0.1",
            "port": ENV["QAIL_PG%s_PORT" % pg],
            "dbname": ENV["QAIL_PG_DB"],
            "user": ENV["QAIL_ADMIN_USER"],
            "password": ENV["QAIL_ADMIN_PASSWORD"],
            "pool_mode": "transaction",
            "pool_size": 2,
        }
        o.update(db_opts or {})
        h = {"default_database": "appdb", "require_auth": "true", "statement_timeout_ms": 30000}
        h.update(http_extra or {})
        lines = [
            "workers: %d" % workers,
            "listen:",
            "  postgres: 127.0.0.1:%d" % self.port,
            "  http: 127.0.0.1:%d" % self.http_port,
            "databases:",
            "  appdb:",
        ] + ["    %s: %s" % kv for kv in o.items()] + [
            "users:",
            "  - name: carol",
            "    auth: trust",
            "http:",
        ] + ["  %s: %s" % kv for kv in h.items()] + [
            "  jwt:",
            "    hs256_secret: %s" % json.dumps(SECRET),
            "    issuer: %s" % json.dumps(ISSUER),
            "    audience: %s" % AUDIENCE,
            "limits:",
            "  shutdown_timeout_ms: 5000",
        ] + list(extra_lines)
        self.lines = lines
        super().__init__(PROXY_BIN, self.dir, lines, self.http_port)

    def request(self, path, body, token=None, method="POST", headers=None):
        """Returns (status, parsed JSON body, response headers)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path),
                                     data=data if method == "POST" else None, method=method)
        req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read()), dict(r.headers)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None), dict(e.headers)

    def query(self, ast, token=None, path="/v1/query", expect=200, **kw):
        status, body, headers = self.request(path, ast, token if token is not None else jwt(), **kw)
        assert status == expect, "expected %d, got %d: %s" % (expect, status, body)
        return body


# --- AST helpers (QAIL serde JSON, defaults left out) --------------------------------------


def cond(col, op, value):
    return {"left": {"Named": col}, "op": op, "value": value}


def filt(*conds):
    return {"kind": "Filter", "conditions": list(conds), "logical_op": "And"}


def payload(**cols):
    return {"kind": "Payload", "conditions": [cond(k, "Eq", v) for k, v in cols.items()],
            "logical_op": "And"}


def sort(col, order="Asc"):
    return {"kind": {"Sort": order}, "conditions": [cond(col, "Eq", "Null")], "logical_op": "And"}


def get(table, *cages, columns=None):
    return {"action": "Get", "table": table,
            "columns": [{"Named": c} for c in columns] if columns else ["Star"],
            "cages": list(cages)}


def S(s):
    return {"String": s}


def I(i):
    return {"Int": i}


def fresh_table(name, ddl):
    with admin_conn() as c:
        c.execute("DROP TABLE IF EXISTS %s CASCADE" % name)
        c.execute(ddl)


def app_role(tables):
    """The harness's non-superuser login role (superusers bypass RLS), granted `tables`.
    Returns the database options for the proxy to log in as it."""
    role = ENV["QAIL_SCRAM_USER"]
    with admin_conn() as c:
        for t in tables:
            c.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s" % (t, role))
    return {"user": role, "password": ENV["QAIL_SCRAM_PASSWORD"]}


# --- tests ------------------------------------------------------------------------------------


@test
def every_action_through_http():
    fresh_table("e2e_http_users", "CREATE TABLE e2e_http_users (id int PRIMARY KEY, "
                "email text UNIQUE NOT NULL, age int, active bool DEFAULT true)")
    with Proxy() as p:
        r = p.query({"action": "Add", "table": "e2e_http_users",
                     "cages": [payload(id=I(1), email=S("a@x"), age=I(30))],
                     "returning": [{"Named": "id"}, {"Named": "email"}]})
        assert r["rows"] == [{"id": 1, "email": "a@x"}], r
        assert r["command"] == "INSERT 0 1" and r["count"] == 1, r
        for i, age in ((2, 17), (3, 45)):
            p.query({"action": "Add", "table": "e2e_http_users",
                     "cages": [payload(id=I(i), email=S("u%d@x" % i), age=I(age))]})
        r = p.query(get("e2e_http_users", filt(cond("age", "Gte", I(18))), sort("id"),
                        columns=["id", "email"]))
        assert r["rows"] == [{"id": 1, "email": "a@x"}, {"id": 3, "email": "u3@x"}], r
        assert r["columns"] == [{"name": "id", "type": "int4"}, {"name": "email", "type": "text"}]
        assert r["command"] == "SELECT 2" and r["count"] == 2
        r = p.query({"action": "Cnt", "table": "e2e_http_users"})
        assert list(r["rows"][0].values()) == [3], r
        r = p.query({"action": "Set", "table": "e2e_http_users",
                     "cages": [payload(age=I(18)), filt(cond("id", "Eq", I(2)))]})
        assert r["command"] == "UPDATE 1" and r["count"] == 1, r
        r = p.query({"action": "Upsert", "table": "e2e_http_users",
                     "cages": [payload(id=I(3), email=S("new3@x"), age=I(46))],
                     "on_conflict": {"columns": ["id"], "action": {"DoUpdate": {"assignments": [
                         ["email", {"Named": "EXCLUDED.email"}]]}}}})
        assert r["count"] == 1, r
        r = p.query(get("e2e_http_users", filt(cond("id", "Eq", I(3))), columns=["email"]))
        assert r["rows"] == [{"email": "new3@x"}], r
        r = p.query({"action": "Del", "table": "e2e_http_users",
                     "cages": [filt(cond("id", "Eq", I(2)))]})
        assert r["command"] == "DELETE 1", r
        r = p.query(get("e2e_http_users", sort("id"), columns=["id"]), path="/v1/query?format=arrays")
        assert r["rows"] == [[1], [3]], r
        # ?db= names the database explicitly; an unknown one is 404.
        p.query(get("e2e_http_users"), path="/v1/query?db=appdb")
        assert p.query(get("e2e_http_users"), path="/v1/query?db=nope", expect=404)["error"]
    fresh_table("e2e_http_users", "SELECT 1")


@test
def type_mapping_exact():
    fresh_table("e2e_http_types", """CREATE TABLE e2e_http_types (
        id int PRIMARY KEY, i2 int2, i8 int8, big int8, f4 float4, f8 float8, n numeric,
        nbig numeric, b bool, t text, j jsonb, js json, by bytea, d date, ts timestamp,
        tz timestamptz, u uuid, arr int4[], tarr text[], nul text)""")
    with admin_conn() as c:
        c.execute("""INSERT INTO e2e_http_types VALUES (1, -7, 9007199254740992,
            9007199254740993, 1.5, 2.25, 123.450, 12345678901234567890.123, true, 'he"llo',
            '{"a": [1, null]}', '{"b": 2}', '\\x48656c6c6f', '2024-02-29',
            '2024-02-29 13:45:00.5', '2024-02-29 13:45:00+00',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2,NULL}', '{"a b",NULL,"NULL"}', NULL)""")
    with Proxy() as p:
        r = p.query(get("e2e_http_types"))
        row = r["rows"][0]
        assert row["i2"] == -7 and row["i8"] == 9007199254740992, row
        assert row["big"] == "9007199254740993", row
        assert row["f4"] == 1.5 and row["f8"] == 2.25, row
        assert row["n"] == 123.45, row
        assert row["nbig"] == "12345678901234567890.123", row
        assert row["b"] is True and row["t"] == 'he"llo', row
        assert row["j"] == {"a": [1, None]} and row["js"] == {"b": 2}, row
        assert row["by"] == base64.b64encode(b"Hello").decode(), row
        assert row["d"] == "2024-02-29", row
        assert row["ts"] == "2024-02-29T13:45:00.5", row
        assert row["tz"].startswith("2024-02-29T") and row["tz"][19:] in ("+00:00", "Z") or \
            "T" in row["tz"], row
        assert row["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", row
        assert row["arr"] == [1, 2, None] and row["tarr"] == ["a b", None, "NULL"], row
        assert row["nul"] is None, row
        types = {c["name"]: c["type"] for c in r["columns"]}
        assert types["big"] == "int8" and types["j"] == "jsonb" and types["arr"] == "_int4", types
    fresh_table("e2e_http_types", "SELECT 1")


@test
def rls_tenants_see_only_their_rows():
    fresh_table("e2e_http_rls", "CREATE TABLE e2e_http_rls (id serial PRIMARY KEY, "
                "tenant_id text NOT NULL, item text)")
    with admin_conn() as c:
        c.execute("ALTER TABLE e2e_http_rls ENABLE ROW LEVEL SECURITY")
        c.execute("CREATE POLICY tenant_rows ON e2e_http_rls USING "
                  "(tenant_id = current_setting('app.current_tenant_id', true))")
        c.execute("INSERT INTO e2e_http_rls (tenant_id, item) VALUES "
                  "('acme','a1'),('acme','a2'),('globex','g1')")
    opts = app_role(["e2e_http_rls"])
    opts["pool_size"] = 1
    with Proxy(db_opts=opts) as p:
        acme, globex = jwt({"tenant_id": "acme"}), jwt({"tenant_id": "globex"})
        other = jwt({"tenant_id": "initech"})
        q = get("e2e_http_rls", sort("item"), columns=["item"])
        for _ in range(5):  # interleaved on the one backend
            assert [r["item"] for r in p.query(q, acme)["rows"]] == ["a1", "a2"]
            assert [r["item"] for r in p.query(q, globex)["rows"]] == ["g1"]
            assert p.query(q, other)["rows"] == []
    fresh_table("e2e_http_rls", "SELECT 1")


@test
def auth_failures_are_401():
    with Proxy() as p:
        q = get("pg_catalog.pg_class", columns=["relname"])
        cases = {
            "no token": None,
            "bad signature": jwt(secret="another-secret-that-is-long-enough-xx"),
            "expired": jwt(exp=int(time.time()) - 3600),
            "wrong audience": jwt(aud="someone-else"),
            "wrong issuer": jwt(iss="https://evil"),
            "alg none": jwt(alg="none"),
            "garbage": "not-a-jwt",
        }
        for name, token in cases.items():
            status, body, headers = p.request("/v1/query", q, token)
            assert status == 401, (name, status, body)
            assert headers.get("WWW-Authenticate", "").startswith("Bearer"), (name, headers)
            assert body["error"]["code"] == "unauthorized", (name, body)
        assert p.query(q, jwt(aud=[AUDIENCE, "x"]))["count"] >= 1


@test
def request_errors_are_4xx_with_json():
    fresh_table("e2e_http_err", "CREATE TABLE e2e_http_err (id int PRIMARY KEY, email text UNIQUE)")
    with Proxy(http_extra={"max_body_bytes": 4096,
                           "allowed_tables": '["e2e_http_err", "pg_catalog.pg_class"]'}) as p:
        e = p.query(b'{"action": "Get", "table": ', expect=400)["error"]
        assert e["code"] == "bad_json", e
        bad_op = get("e2e_http_err", filt(cond("id", "Eqq", I(1))))
        e = p.query(bad_op, expect=400)["error"]
        assert "cages[0].conditions[0].op" in e["message"] and "Eqq" in e["message"], e
        fn = get("e2e_http_err", filt(cond("id", "Eq", {"Function": "pg_sleep(1)"})))
        assert p.query(fn, expect=403)["error"]["code"] == "forbidden"
        assert p.query({"action": "Drop", "table": "e2e_http_err"}, expect=403)["error"]
        e = p.query(get("e2e_http_users"), expect=403)["error"]
        assert e["code"] == "forbidden_table", e
        deep = {"action": "Get", "table": "e2e_http_err", "columns": []}
        node = deep
        for _ in range(100):
            node["columns"] = [{"x": []}]
            node = node["columns"][0]
        assert p.query(deep, expect=400)["error"]
        big = get("e2e_http_err", filt(cond("email", "Eq", S("x" * 5000))))
        status, body, _ = p.request("/v1/query", big, jwt())
        assert status == 413 and body["error"]["code"] == "payload_too_large", (status, body)
        add = {"action": "Add", "table": "e2e_http_err", "cages": [payload(id=I(1), email=S("a"))]}
        p.query(add)
        e = p.query(add, expect=409)["error"]
        assert e["code"] == "23505" and e["detail"], e
        assert p.query(get("e2e_http_err"), path="/v1/nope", expect=404)["error"]
        status, body, headers = p.request("/v1/query", b"", jwt(), method="GET")
        assert status == 405 and "POST" in headers.get("Allow", ""), (status, headers)
    fresh_table("e2e_http_err", "SELECT 1")


@test
def statement_timeout_is_504():
    with admin_conn() as c:
        for t in ("e2e_http_big1", "e2e_http_big2", "e2e_http_big3"):
            c.execute("DROP TABLE IF EXISTS %s" % t)
            c.execute("CREATE TABLE %s AS SELECT g AS v FROM generate_series(1, 3000) g" % t)
    with Proxy(http_extra={"statement_timeout_ms": 200}) as p:
        cross = {"action": "Cnt", "table": "e2e_http_big1",
                 "joins": [{"table": "e2e_http_big2", "kind": "Cross", "on": []},
                           {"table": "e2e_http_big3", "kind": "Cross", "on": []}]}
        started = time.time()
        e = p.query(cross, expect=504)["error"]
        assert e["code"] == "57014", e
        assert time.time() - started < 10
        # The backend is fine afterwards.
        assert p.query({"action": "Cnt", "table": "e2e_http_big1"})["rows"][0]
    with admin_conn() as c:
        for t in ("e2e_http_big1", "e2e_http_big2", "e2e_http_big3"):
            c.execute("DROP TABLE %s" % t)


@test
def batch_transaction_is_atomic():
    fresh_table("e2e_http_batch", "CREATE TABLE e2e_http_batch (id int PRIMARY KEY)")
    with Proxy() as p:
        adds = [{"action": "Add", "table": "e2e_http_batch", "cages": [payload(id=I(i))]}
                for i in (1, 2, 1, 4, 5)]  # the 3rd duplicates the 1st
        status, body, _ = p.request("/v1/batch", {"queries": adds, "transaction": True}, jwt())
        assert status == 409 and body["index"] == 2 and body["error"]["code"] == "23505", body
        assert p.query({"action": "Cnt", "table": "e2e_http_batch"})["rows"][0] != {}
        assert list(p.query({"action": "Cnt", "table": "e2e_http_batch"})["rows"][0].values()) == [0]
        # Independent: the failing one alone fails.
        body = p.query({"queries": adds, "transaction": False}, path="/v1/batch")
        res = body["results"]
        assert [("error" in r) for r in res] == [False, False, True, False, False], res
        assert res[2]["error"]["code"] == "23505"
        r = p.query(get("e2e_http_batch", sort("id"), columns=["id"]), path="/v1/query?format=arrays")
        assert r["rows"] == [[1], [2], [4], [5]], r
        # A good transactional batch returns every result.
        body = p.query({"queries": [get("e2e_http_batch", sort("id"), columns=["id"]),
                                    {"action": "Cnt", "table": "e2e_http_batch"}]},
                       path="/v1/batch")
        assert len(body["results"]) == 2 and body["results"][0]["count"] == 4, body
    fresh_table("e2e_http_batch", "SELECT 1")


@test
def https_and_certificate_reload():
    import shutil
    import ssl
    d = tempfile.mkdtemp(prefix="qail-http-tls-")
    cert, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
    shutil.copy(ENV["QAIL_TEST_SERVER_CERT"], cert)
    shutil.copy(ENV["QAIL_TEST_SERVER_KEY"], key)
    body = json.dumps(get("pg_catalog.pg_class", columns=["relname"])).encode()
    with Proxy(extra_lines=["tls:", "  cert: " + cert, "  key: " + key]) as p:
        def https(conn=None, cafile=ENV["QAIL_TEST_CA"]):
            if conn is None:
                ctx = ssl.create_default_context(cafile=cafile)
                conn = http.client.HTTPSConnection("127.0.0.1", p.http_port, timeout=30,
                                                   context=ctx)
            conn.request("POST", "/v1/query?format=arrays", body,
                         {"Authorization": "Bearer " + jwt(), "Content-Type": "application/json"})
            r = conn.getresponse()
            data = json.loads(r.read())
            assert r.status == 200, (r.status, data)
            assert ["pg_class"] in data["rows"]
            return conn

        before = https()
        # Plain HTTP on the TLS listener gets no HTTP answer.
        with socket.create_connection(("127.0.0.1", p.http_port), timeout=10) as s:
            s.sendall(b"POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            try:
                answer = s.recv(100)
            except OSError:
                answer = b""
            assert not answer.startswith(b"HTTP/"), answer
        # New certificate files and SIGHUP: new connections get the new certificate...
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key + ".new", "-out", cert + ".new", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-days", "2"],
                       check=True, capture_output=True, timeout=60)
        os.replace(cert + ".new", cert)
        os.replace(key + ".new", key)
        p.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while True:
            try:
                https(cafile=cert).close()
                break
            except ssl.SSLCertVerificationError:
                assert time.time() < deadline, "the new certificate was not served within 10 s"
                time.sleep(0.05)
        try:
            https().close()
            raise AssertionError("a new connection still got the old certificate")
        except ssl.SSLCertVerificationError:
            pass
        # ...and a connection from before the reload carries on.
        https(before).close()


@test
def keep_alive_and_pipelined_requests():
    with Proxy() as p:
        body = json.dumps(get("pg_catalog.pg_class", columns=["relname"])).encode()
        req = (b"POST /v1/query?format=arrays HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Authorization: Bearer " + jwt().encode() + b"\r\nContent-Length: " +
               str(len(body)).encode() + b"\r\n\r\n" + body)
        with socket.create_connection(("127.0.0.1", p.http_port), timeout=30) as s:
            s.sendall(req * 3)  # three requests in one write
            data = b""
            deadline = time.time() + 30
            while data.count(b"HTTP/1.1 200") < 3 and time.time() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.count(b"HTTP/1.1 200") == 3, data[:500]
        conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=30)
        for _ in range(5):  # one connection, many requests
            conn.request("POST", "/v1/query", body, {"Authorization": "Bearer " + jwt()})
            r = conn.getresponse()
            assert r.status == 200, r.status
            r.read()
        conn.close()


@test
def thousand_concurrent_keepalive_connections():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    fresh_table("e2e_http_many", "CREATE TABLE e2e_http_many (id int PRIMARY KEY, v text)")
    with admin_conn() as c:
        c.execute("INSERT INTO e2e_http_many SELECT g, 'v' || g FROM generate_series(1, 100) g")
    pool_size = 4
    opts = app_role(["e2e_http_many"])
    opts["pool_size"] = pool_size
    role = opts["user"]
    with Proxy(db_opts=opts, workers=2) as p:
        token = jwt()
        conns = [http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=120)
                 for _ in range(1000)]
        for c in conns:
            c.connect()
        peak = [0]

        def watch():
            with admin_conn() as a:
                for _ in range(40):
                    n = a.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s "
                                  "AND application_name = 'qail-proxy'", (role,)).fetchone()[0]
                    peak[0] = max(peak[0], n)
                    time.sleep(0.1)

        def work(chunk):
            done = 0
            for rnd in range(3):
                for i, c in chunk:
                    q = get("e2e_http_many", filt(cond("id", "Eq", I(i % 100 + 1))), columns=["v"])
                    c.request("POST", "/v1/query", json.dumps(q), {"Authorization": "Bearer " + token})
                    r = c.getresponse()
                    data = json.loads(r.read())
                    assert r.status == 200, (r.status, data)
                    assert data["rows"] == [{"v": "v%d" % (i % 100 + 1)}], data
                    done += 1
            return done

        indexed = list(enumerate(conns))
        chunks = [indexed[k::50] for k in range(50)]
        with concurrent.futures.ThreadPoolExecutor(51) as ex:
            w = ex.submit(watch)
            total = sum(ex.map(work, chunks))
            w.result()
        assert total == 3000, total
        assert peak[0] <= pool_size, "Postgres saw %d connections (pool_size %d)" % (peak[0], pool_size)
        for c in conns:
            c.close()
    fresh_table("e2e_http_many", "SELECT 1")


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
