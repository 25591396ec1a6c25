"""Shared by the end-to-end suites: the harness environment, free ports, and a
qail-proxy process started from a generated config (bounded waits only)."""
import os
import signal
import socket
import subprocess
import sys
import time


def load_env():
    env = {}
    with open(os.environ["QAIL_PG_ENV"]) as f:
        for line in f:
            line = line.strip()
            if line and "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


def free_port():
    return free_ports(1)[0]


def free_ports(n):
    """`n` distinct free ports: held open together while they are picked (one at a time,
    the kernel may hand out the same port twice)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class ProxyProcess:
    """Writes `lines` as the config in `directory`, starts `binary` on it and waits (15 s
    at most) until `wait_port` accepts connections."""

    def __init__(self, binary, directory, lines, wait_port):
        self.dir = directory
        self.config_path = os.path.join(directory, "qail-proxy.yaml")
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log_path = os.path.join(directory, "proxy.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "--config", self.config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("qail-proxy exited at start:\n" + self.read_log())
            try:
                with socket.create_connection(("127.0.0.1", wait_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("qail-proxy did not start listening on %d:\n%s" %
                             (wait_port, self.read_log()))

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGINT, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("qail-proxy did not stop within %ds" % timeout)
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        code = self.stop()
        if exc[0] is not None:
            sys.stderr.write("--- proxy log ---\n" + self.read_log()[-4000:] + "\n")
        elif code != 0:  # a crash, or a sanitizer's report, on the way out included
            raise AssertionError("qail-proxy exited with %s:\n%s" % (code, self.read_log()[-4000:]))
        return False



class OwnPostgres:
    """A PostgreSQL 15 server of the test's own (tests/harness/own-pg), for what the
    shared harness servers must not suffer, e.g. a restart. Trust authentication for
    user postgres on 127.0.0.1:`port`."""

    SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "own-pg")

    def __init__(self):
        import tempfile
        self.dir = tempfile.mktemp(prefix="qail-own-pg-")
        out = subprocess.run([self.SCRIPT, "up", self.dir], check=True, timeout=180,
                             capture_output=True, text=True)
        self.port = int(out.stdout.strip().splitlines()[-1])

    def restart(self):
        """A fast shutdown (every backend terminated) and a start on the same port."""
        subprocess.run([self.SCRIPT, "restart", self.dir], check=True, timeout=180)

    def shutdown(self):
        """A fast shutdown; start() brings it back on the same port."""
        subprocess.run([self.SCRIPT, "stop", self.dir], check=True, timeout=180)

    def start(self):
        subprocess.run([self.SCRIPT, "start", self.dir], check=True, timeout=180)

    def stop(self):
        subprocess.run([self.SCRIPT, "down", self.dir], check=False, timeout=180)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
