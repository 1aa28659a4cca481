"""Processes of the benchmarks: start one with its output in a log
directory (a server prints its address on its first line), stop its whole
process group. Shared by bench_budget.py and bench_freshness.py."""
import os
import signal
import subprocess
import time


def start(argv, logdir, name, env=None, server=True):
    out = open(os.path.join(logdir, name + ".out"), "wb")
    err = open(os.path.join(logdir, name + ".err"), "wb")
    p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                         start_new_session=True)
    if not server:
        return p, None
    deadline = time.time() + 120
    while time.time() < deadline:
        with open(out.name) as f:
            text = f.read()
        if "\n" in text:
            return p, text.split("\n", 1)[0].strip()
        if p.poll() is not None:
            raise SystemExit(f"{name} exited early: {open(err.name).read()[-2000:]}")
        time.sleep(0.05)
    raise SystemExit(f"{name} did not start")


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        os.killpg(p.pid, sig)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
