#!/usr/bin/env python3
"""Loader benchmarks (throughput, pacing, initial-load tokens), against mlc-pipedrive-sim and mlc devbroker.

  bench_loader.py throughput [--events N] [--concurrency C]
      (a) limits off (sandbox --no-limits, MLC_PIPEDRIVE_PACING=false): upserts
      per second of `mlc-loader drain` over N new customers (POSTs), timed
      from the first create to the end of the drain (start-up excluded).
  bench_loader.py paced [--seconds S]
      (b) Growth limits (40 requests / 2 s) with pacing on: requests per second
      over S seconds of steady state against the 20/s permitted, and the 429
      count (must be 0).
  bench_loader.py tokens [--customers N] [--existing M] [--preexisting K]
      (c) tokens of an initial load of N customers into a Pipedrive holding M
      organizations, K of them created for these customers by an earlier run
      whose state file was lost (half edited since), against a naive search-then-write strategy (one
      20-token search per customer, then a 5-token create or update) computed
      on the same data; the bound is 5*N + 10*ceil(M/500) + field set-up.

Build first (RelWithDebInfo): cmake -S . -B build && cmake --build build -j2.
Prints one result line per run; exit 1 when a target is missed.
"""
import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
os.environ.setdefault("MLC_TEST_SRCDIR", SRC)
os.environ.setdefault("MLC_TEST_BINDIR", os.path.join(SRC, "build"))

import mlctest  # noqa: E402
from mlctest import http_json  # noqa: E402
from test_loader import TOKEN, customer, event  # noqa: E402


class Env:
    def __init__(self, sim_args, partitions=3):
        self.dir = tempfile.mkdtemp(prefix="mlc-bench-loader-")
        self.procs = mlctest.Procs(self.dir)
        self.sim = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--token",
                                            TOKEN, *sim_args], name="pdsim")
        self.url = self.sim.first_line
        broker = self.procs.start_server([mlctest.binary("mlc"), "devbroker", "--partitions",
                                          str(partitions)], name="devbroker")
        self.bootstrap = broker.first_line
        self.env = {"MLC_KAFKA_BROKERS": self.bootstrap, "MLC_KAFKA_GROUP": "bench",
                    "MLC_PIPEDRIVE_URL": self.url, "MLC_PIPEDRIVE_TOKEN": TOKEN,
                    "MLC_STATE_DB": os.path.join(os.environ.get("BENCH_STATE_DIR", self.dir),
                                                 f"loader-{os.getpid()}.db"),
                    "MLC_LOG_LEVEL": "warn"}

    def produce(self, events):
        data = "".join(f"{k}\t{v}\n" for k, v in events).encode()
        subprocess.run(["kcat", "-b", self.bootstrap, "-P", "-t", "sage300.customers.v1", "-K",
                        "\t", "-z", "none"], input=data, check=True, timeout=300)

    def stats(self):
        return http_json("GET", self.url + "/_sim/stats")[2]

    def state(self):
        return http_json("GET", self.url + "/_sim/state")[2]

    def loader(self, *args, env=None, wait=True):
        full = dict(self.env)
        full.update(env or {})
        p = self.procs.start([mlctest.binary("mlc-loader"), *args], env=full, name="loader")
        if wait:
            p.wait(timeout=3600)
        return p

    def close(self):
        self.procs.stop_all()
        subprocess.run(["rm", "-rf", self.dir])


def count(stats, op):
    return stats["operations"].get(op, {}).get("count", 0)


def throughput(a):
    e = Env(["--no-limits", "--daily-budget", "1000000000"])
    try:
        e.produce([event("SAMINC", str(100000 + i), customer(i)) for i in range(a.events)])
        env = {"MLC_PIPEDRIVE_PACING": "false", "MLC_PIPEDRIVE_CONCURRENCY": str(a.concurrency)}
        p = e.loader("drain", env=env, wait=False)
        while p.alive() and count(e.stats(), "organizations.create") == 0:
            time.sleep(0.005)
        t_first = time.monotonic()
        p.wait(3600)  # no polling from here on: the sandbox serves only the loader
        t_end = time.monotonic()
        if p.popen.returncode != 0:
            print(p.stderr()[-3000:], file=sys.stderr)
            return 1
        created = count(e.stats(), "organizations.create")
        rate = created / (t_end - t_first)
        ok = created == a.events and rate >= 2000
        print(f"throughput: {created} creates in {t_end - t_first:.2f} s = {rate:.0f} upserts/s "
              f"(concurrency {a.concurrency}; target >= 2000) {'OK' if ok else 'MISSED'}")
        return 0 if ok else 1
    finally:
        e.close()


def paced(a):
    e = Env(["--plan", "growth", *os.environ.get("BENCH_SIM_ARGS", "").split()])
    try:
        n = int(a.seconds * 20 * 1.3) + 200
        e.produce([event("SAMINC", str(100000 + i), customer(i)) for i in range(n)])
        p = e.loader("run", env={"MLC_PIPEDRIVE_PLAN": "growth"}, wait=False)
        while count(e.stats(), "organizations.create") == 0:
            time.sleep(0.05)
        time.sleep(2)  # past the start-up (fields, scan): steady state
        s0, t0 = e.stats(), time.monotonic()
        time.sleep(a.seconds)
        s1, t1 = e.stats(), time.monotonic()
        p.signal(signal.SIGTERM)
        p.wait(60)
        reqs = sum(v["count"] for v in s1["operations"].values()) - \
            sum(v["count"] for v in s0["operations"].values())
        rate = reqs / (t1 - t0)
        n429 = s1["rate_limited_429"]["total"]
        pct = 100.0 * rate / 20.0
        ok = pct >= 95.0 and n429 == 0
        print(f"paced: {reqs} requests in {t1 - t0:.1f} s = {rate:.2f}/s = {pct:.1f}% of the "
              f"permitted 20/s; 429s: {n429} (target >= 95%, 0) {'OK' if ok else 'MISSED'}")
        return 0 if ok else 1
    finally:
        e.close()


def tokens(a):
    e = Env(["--no-limits", "--daily-budget", "1000000000"])
    try:
        n, m, k = a.customers, a.existing, a.preexisting
        # M - K foreign organizations (no Sage IDs) ...
        doc = e.state()
        comp = doc["companies"][0]
        comp["organizations"] = [
            {"id": i + 1, "name": f"Foreign {i}", "owner_id": comp["user"]["id"],
             "add_time": "2026-01-01T00:00:00Z", "update_time": "2026-01-01T00:00:00Z",
             "is_deleted": False, "visible_to": 3, "custom_fields": {}} for i in range(m - k)]
        http_json("PUT", e.url + "/_sim/state", doc)
        # ... and K customers loaded by an earlier run whose state file is lost;
        # half of them were edited in Pipedrive since (stale values)
        custs = [event("SAMINC", str(100000 + i), customer(i)) for i in range(n)]
        e.produce(custs[:k])
        p = e.loader("drain", env={"MLC_PIPEDRIVE_PACING": "false"})
        if p.popen.returncode != 0:
            print(p.stderr()[-3000:], file=sys.stderr)
            return 1
        doc = e.state()
        comp = doc["companies"][0]
        kp = [f["key"] for f in comp["fields"] if f["name"] == "Phone"][0]
        ours = [o for o in comp["organizations"] if o["custom_fields"].get(kp)]
        for o in ours[::2]:
            o["custom_fields"][kp] = "stale"
        http_json("PUT", e.url + "/_sim/state", doc)
        os.unlink(e.env["MLC_STATE_DB"])
        http_json("DELETE", e.url + "/_sim/stats")
        # the initial load of N customers (the K among them replayed)
        e.produce(custs)
        p = e.loader("drain", env={"MLC_PIPEDRIVE_PACING": "false"})
        if p.popen.returncode != 0:
            print(p.stderr()[-3000:], file=sys.stderr)
            return 1
        st = e.stats()
        ops = {op: v for op, v in st["operations"].items() if v["count"]}
        fields = sum(v["tokens"] for op, v in ops.items() if op.startswith("organizationFields"))
        spent = st["tokens_spent"]
        bound = 5 * n + 10 * math.ceil(m / 500) + fields
        # naive: a 20-token search per customer, then a 5-token create or
        # update (it cannot tell unchanged values without reading them)
        naive = 25 * n + fields
        stale = len(ours[::2])
        ok = spent <= bound and ops["organizations.create"]["count"] == n - k and \
            ops.get("organizations.update", {}).get("count", 0) == stale
        print(f"tokens: N={n} M={m} (K={k} carry Sage IDs, {stale} stale): loader {spent} "
              f"tokens (fields {fields}, ops "
              f"{json.dumps({op: v['count'] for op, v in ops.items()})}), bound {bound}, "
              f"naive {naive} ({100.0 * spent / naive:.0f}% of naive) "
              f"{'OK' if ok else 'MISSED'}")
        return 0 if ok else 1
    finally:
        e.close()


def main():
    # SIGTERM/SIGINT unwind through the finally blocks, which stop every process
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--events", type=int, default=20000)
    t.add_argument("--concurrency", type=int, default=16)
    p = sub.add_parser("paced")
    p.add_argument("--seconds", type=float, default=120)
    k = sub.add_parser("tokens")
    k.add_argument("--customers", type=int, default=2000)
    k.add_argument("--existing", type=int, default=5000)
    k.add_argument("--preexisting", type=int, default=200)
    a = ap.parse_args()
    return {"throughput": throughput, "paced": paced, "tokens": tokens}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
