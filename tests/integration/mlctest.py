"""Helpers for integration tests: run the real binaries, clean up after them.

Every process started through Procs is killed (SIGTERM, then SIGKILL) when
the test ends, even when it fails. Servers are started on port 0 and print
their address as the first line of stdout, which start_server() returns.

Environment (set by ctest): MLC_TEST_SRCDIR, MLC_TEST_BINDIR.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

SRCDIR = os.environ.get("MLC_TEST_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BINDIR = os.path.abspath(os.environ.get("MLC_TEST_BINDIR", os.path.join(SRCDIR, "build")))
DATA = os.path.join(SRCDIR, "tests", "data")  # third-party documents (tests/data/README.md)


def missing(what):
    """What a test raises when something scripts/setup provides is absent: a
    failure, never a skip, so a broken machine cannot pass the suite."""
    return AssertionError(f"{what} (scripts/setup installs and builds it)")


def binary(name):
    """Absolute path of a built program (mlc, mlc-extractor, mlc-sage-sim, ...)."""
    path = os.path.join(BINDIR, name)
    if not os.access(path, os.X_OK):
        raise missing(f"{name} is not built in {BINDIR}")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, popen, name, out_path, err_path):
        self.popen = popen
        self.name = name
        self.out_path = out_path
        self.err_path = err_path
        self.first_line = None

    @property
    def pid(self):
        return self.popen.pid

    def stdout(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def wait(self, timeout=60):
        return self.popen.wait(timeout=timeout)

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, timeout=10):
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill9(self):
        if self.alive():
            self.popen.kill()
            self.popen.wait()


class Procs:
    """Starts processes in a per-test directory and stops them all at the end."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        self.count = 0

    def start(self, args, env=None, name=None, cwd=None):
        self.count += 1
        name = name or os.path.basename(args[0])
        out = os.path.join(self.workdir, f"{self.count:02d}-{name}.out")
        err = os.path.join(self.workdir, f"{self.count:02d}-{name}.err")
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(out, "wb") as fo, open(err, "wb") as fe:
            p = subprocess.Popen(args, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                                 env=full_env, cwd=cwd or self.workdir,
                                 start_new_session=True)
        proc = Proc(p, name, out, err)
        self.procs.append(proc)
        return proc

    def start_server(self, args, env=None, name=None, timeout=15):
        """Starts a server that prints its address on its first stdout line."""
        proc = self.start(args, env=env, name=name)
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = proc.stdout()
            if "\n" in text:
                proc.first_line = text.split("\n", 1)[0].strip()
                return proc
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited early: {proc.stderr()[-2000:]}")
            time.sleep(0.02)
        raise AssertionError(f"{proc.name} printed no address in {timeout}s: {proc.stderr()}")

    def run(self, args, env=None, timeout=120, check=False):
        """Runs a program to completion; returns CompletedProcess (text)."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        cp = subprocess.run(args, env=full_env, cwd=self.workdir, capture_output=True,
                            text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(f"{args} exited {cp.returncode}: {cp.stderr[-3000:]}")
        return cp

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                p.stop(timeout=5)
            except Exception:
                p.kill9()


class TestCase(unittest.TestCase):
    """unittest.TestCase with self.procs and self.workdir, cleaned up afterwards."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix=f"mlc-{self.id().rsplit('.', 1)[-1]}-")
        self.procs = Procs(self.workdir)
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        self.procs.stop_all()
        failed = any(err for _, err in getattr(self._outcome, "errors", []) if err) \
            if hasattr(self, "_outcome") else False
        if os.environ.get("MLC_TEST_KEEP") or failed:
            print(f"\n[kept {self.workdir}]")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def devbroker(self, partitions=3, extra=()):
        """Starts `mlc devbroker`; returns (proc, bootstrap address)."""
        p = self.procs.start_server([binary("mlc"), "devbroker", "--partitions",
                                     str(partitions), *extra], name="devbroker")
        return p, p.first_line


def http(method, url, body=None, headers=None, timeout=30):
    """Plain HTTP call; returns (status, headers dict (lower-case), body bytes)."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def http_json(method, url, body=None, headers=None, timeout=30):
    status, hdrs, raw = http(method, url, body, headers, timeout)
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    return status, hdrs, doc


def wait_for(predicate, timeout=30, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def main():
    unittest.main(verbosity=2)
