#!/usr/bin/python3
"""Benchmark: freshness end to end, from an edit in Sage to the organization in Pipedrive.

Starts mlc-sage-sim (--customers N), mlc-pipedrive-sim (--plan growth: the
Growth plan's limits), `mlc devbroker`, then `mlc-extractor run` with
MLC_POLL_INTERVAL=P and `mlc-loader run` (MLC_PIPEDRIVE_PLAN=growth, pacing
on), as in production. After the initial load (every customer an
organization), it makes --edits edits at random moments (exponential gaps,
mean --gap seconds): each renames a different random customer (CustomerName gets a
unique marker) through the Sage sandbox's control API (PATCH
/_sim/companies/SAMINC/customers/<n>, stamped today). A watcher polls the
Pipedrive sandbox's GET /_sim/state every --watch seconds and notes when each
marker first shows in an organization's name. Latency = seen - edited.

Prints p50/p95/p99/max, the latency of the first and the last quarter of the
edits (a growing backlog shows as a rise), the edits not seen within
--timeout, the extractor's cycles and audit rows, and PASS when p99 <= P + 2 s
and every edit arrived.

--during-load: the edits are made while the initial load runs beside them on
a daily budget that does not fit it (mlc-pipedrive-sim --daily-budget B
--day-length 3600; loader MLC_PIPEDRIVE_RESERVE_PCT=20,
MLC_LOAD_UPDATE_HEADROOM_PCT=H). The edits start once --existing customers
have an organization and rename only customers that have one then (updates,
never creates); meanwhile the loader works its backlog of creates until the
budget falls to reserve + headroom, then the edits go on in the headroom.
Prints how many creates ran during the edits and whether the creates
stopped for the day before the last edit.

usage: bench/bench_freshness.py [--build DIR] [--customers N] [--poll P]
        [--edits E] [--gap G] [--watch W] [--timeout T]
        [--during-load [--budget B] [--existing K] [--headroom H]] [--quick]
"""
import argparse
import base64
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from benchproc import start, stop

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "bench-token-5f0c2a9d8e7b"


def req(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(url, data=data, method=method,
                               headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r, timeout=60) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def org_names(pd_root):
    doc = req("GET", pd_root + "/_sim/state")
    return [o.get("name") or "" for c in doc["companies"] for o in c["organizations"]
            if not o.get("is_deleted")]


def with_org(pd_root):
    """Customer numbers that have an organization now."""
    doc = req("GET", pd_root + "/_sim/state")
    comp = doc["companies"][0]
    keys = {f["name"]: f["key"] for f in comp.get("fields", []) if not f.get("is_deleted")}
    kn = keys.get("Sage 300 Customer ID")
    return [o["custom_fields"][kn] for o in comp["organizations"]
            if not o.get("is_deleted") and kn and (o.get("custom_fields") or {}).get(kn)]


def creates(pd_root):
    st = req("GET", pd_root + "/_sim/stats")
    return st["operations"].get("organizations.create", {}).get("count", 0)


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


class Watcher:
    """Polls the Pipedrive sandbox and notes when each marker first shows."""

    def __init__(self, pd_root, every):
        self.pd_root, self.every = pd_root, every
        self.edited, self.seen, self.polls = {}, {}, 0
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                names = org_names(self.pd_root)
            except Exception:
                time.sleep(self.every)
                continue
            self.polls += 1
            pending = [m for m in list(self.edited) if m not in self.seen]
            if pending:
                blob = "\n".join(names)
                for m in pending:
                    if m in blob:
                        self.seen[m] = now
            time.sleep(max(0.0, self.every - (time.monotonic() - now)))


def during_load(args, rnd, pd_root, sage_root, ld_db, work, t0):
    """Edits customers that have an organization while the initial load of
    the others runs on a limited budget; prints the update freshness."""
    print(f"during-load: {args.customers} customers, sandbox budget {args.budget} tokens a day, "
          f"reserve 20 %, headroom {args.headroom} %; {args.existing} organizations after "
          f"{time.monotonic() - t0:.1f} s, edits start")
    sys.stdout.flush()
    w = Watcher(pd_root, args.watch)
    c0 = creates(pd_root)
    picked = set()  # distinct customers: a second edit could hide the first marker
    for i in range(args.edits):
        time.sleep(rnd.expovariate(1.0 / args.gap))
        num = rnd.choice(sorted(set(with_org(pd_root)) - picked))
        picked.add(num)
        marker = f"FRESH{i:05d}X"
        path = f"/_sim/companies/SAMINC/customers/{urllib.parse.quote(num, safe='')}"
        t = time.monotonic()
        req("PATCH", sage_root + path, {"CustomerName": f"Edited {marker}"})
        w.edited[marker] = t
    c_edits = creates(pd_root) - c0
    deadline = time.monotonic() + args.timeout
    while len(w.seen) < len(w.edited) and time.monotonic() < deadline:
        time.sleep(0.5)
    w.stop.set()
    w.th.join(10)
    lat = [w.seen[m] - w.edited[m] for m in w.edited if m in w.seen]
    lost = [m for m in w.edited if m not in w.seen]
    with open(os.path.join(work, "loader.err"), errors="replace") as f:
        log = f.read()
    stopped = "creates stopped for the day" in log
    paused = "consumption paused" in log
    con = sqlite3.connect(f"file:{ld_db}?mode=ro", uri=True)
    row = con.execute("SELECT value FROM meta WHERE key = 'backlog_creates'").fetchone()
    con.close()
    print(f"edits: {len(w.edited)} (mean gap {args.gap} s), seen: {len(lat)}, not seen within "
          f"{args.timeout:.0f} s: {len(lost)}; creates during the edits: {c_edits}; creates "
          f"stopped for the day: {'yes' if stopped else 'no'}; consumption paused at the "
          f"reserve: {'yes' if paused else 'no'}; backlog left: {row[0] if row else '?'}")
    if lat:
        print(f"update latency edit -> organization (s): p50 {pct(lat, 50):.2f}, "
              f"p95 {pct(lat, 95):.2f}, p99 {pct(lat, 99):.2f}, max {max(lat):.2f}, "
              f"min {min(lat):.2f}")
    ok = bool(lat) and not lost and pct(lat, 99) <= args.poll + 2 and c_edits > 0
    print(f"summary: poll P = {args.poll:.0f} s, p99 {pct(lat, 99) if lat else float('nan'):.2f} s "
          f"(target <= P + 2 = {args.poll + 2:.0f} s while the headroom lasts), lost {len(lost)}, "
          f"initial load running beside: {'yes' if c_edits > 0 else 'NO'}: "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--customers", type=int, default=500)
    ap.add_argument("--poll", type=float, default=5)
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--gap", type=float, default=1.5, help="mean seconds between edits")
    ap.add_argument("--watch", type=float, default=0.1, help="Pipedrive sandbox poll, seconds")
    ap.add_argument("--timeout", type=float, default=120, help="an edit not seen by then is lost")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--during-load", action="store_true",
                    help="edit while a budget-limited initial load runs beside")
    ap.add_argument("--budget", type=int, default=8000, help="sandbox daily budget (during-load)")
    ap.add_argument("--existing", type=int, default=100,
                    help="organizations to wait for before the edits (during-load)")
    ap.add_argument("--headroom", type=int, default=5, help="MLC_LOAD_UPDATE_HEADROOM_PCT")
    ap.add_argument("--quick", action="store_true",
                    help="during-load, 2000 customers, 70 edits 1 s apart (a few minutes)")
    args = ap.parse_args()
    if args.quick:
        args.during_load = True
        args.customers, args.edits, args.gap, args.budget = 2000, 70, 1.0, 8000
    rnd = random.Random(args.seed)
    b = lambda n: os.path.join(args.build, n)  # noqa: E731
    work = tempfile.mkdtemp(prefix="mlc-bench-fresh-")
    procs = []
    try:
        sage, sage_url = start([b("mlc-sage-sim"), "--port", "0", "--customers", str(args.customers),
                                "--page-size", "1000"], work, "sage")
        procs.append(sage)
        pd_args = ["--daily-budget", str(args.budget), "--day-length", "3600"] \
            if args.during_load else []
        pd, pd_url = start([b("mlc-pipedrive-sim"), "--port", "0", "--token", TOKEN, "--plan",
                            "growth", *pd_args], work, "pd")
        procs.append(pd)
        broker, boot = start([b("mlc"), "devbroker", "--partitions", "3"], work, "broker")
        procs.append(broker)
        sage_root = sage_url.split("/Sage300WebApi/")[0]
        pd_root = pd_url.rstrip("/")
        ext_db, ld_db = os.path.join(work, "extractor.db"), os.path.join(work, "loader.db")
        common = dict(os.environ, MLC_KAFKA_BROKERS=boot, MLC_LOG_LEVEL="info")
        ext_env = dict(common, MLC_SAGE_URL=sage_url, MLC_SAGE_COMPANIES="SAMINC",
                       MLC_SAGE_USER="WEBAPI", MLC_SAGE_PASSWORD="WEBAPI",
                       MLC_SAGE_PAGE_SIZE="1000", MLC_POLL_INTERVAL=str(int(args.poll)),
                       MLC_STATE_DB=ext_db)
        ld_env = dict(common, MLC_PIPEDRIVE_URL=pd_url, MLC_PIPEDRIVE_TOKEN=TOKEN,
                      MLC_PIPEDRIVE_PLAN="growth", MLC_STATE_DB=ld_db, MLC_KAFKA_GROUP="fresh")
        if args.during_load:
            ld_env.update(MLC_PIPEDRIVE_RESERVE_PCT="20", MLC_PIPEDRIVE_PAUSE_PROBE="5",
                          MLC_LOAD_UPDATE_HEADROOM_PCT=str(args.headroom))
        ext, _ = start([b("mlc-extractor"), "run"], work, "extractor", env=ext_env, server=False)
        procs.append(ext)
        ld, _ = start([b("mlc-loader"), "run"], work, "loader", env=ld_env, server=False)
        procs.append(ld)
        t0 = time.monotonic()
        want = args.existing if args.during_load else args.customers
        while len(org_names(pd_root)) < want:
            if ext.poll() is not None or ld.poll() is not None:
                raise SystemExit("a worker exited during the initial load")
            if time.monotonic() - t0 > 1800:
                raise SystemExit("initial load did not finish in 30 min")
            time.sleep(1 if not args.during_load else 0.2)
        if args.during_load:
            return during_load(args, rnd, pd_root, sage_root, ld_db, work, t0)
        print(f"initial load of {args.customers} customers: {time.monotonic() - t0:.1f} s "
              f"(Growth: 20 requests/s)")
        sys.stdout.flush()
        numbers = []
        url = sage_url + "SAMINC/AR/ARCustomers?$select=CustomerNumber&$orderby=CustomerNumber"
        auth = "Basic " + base64.b64encode(b"WEBAPI:WEBAPI").decode()
        while url:
            r = urllib.request.Request(url, headers={"Authorization": auth,
                                                     "Accept": "application/json",
                                                     "Content-Type": "application/json"})
            with urllib.request.urlopen(r, timeout=60) as resp:
                doc = json.loads(resp.read())
            numbers += [v["CustomerNumber"] for v in doc["value"]]
            url = doc.get("@odata.nextLink")
        edited, seen = {}, {}
        stop_watch = threading.Event()
        watch_polls = [0]

        def watcher():
            while not stop_watch.is_set():
                now = time.monotonic()
                try:
                    names = org_names(pd_root)
                except Exception:
                    time.sleep(args.watch)
                    continue
                watch_polls[0] += 1
                pending = [m for m in list(edited) if m not in seen]
                if pending:
                    blob = "\n".join(names)
                    for m in pending:
                        if m in blob:
                            seen[m] = now
                time.sleep(max(0.0, args.watch - (time.monotonic() - now)))

        th = threading.Thread(target=watcher, daemon=True)
        th.start()
        # let a cycle or two pass so that edits start at random phases of the poll
        time.sleep(args.poll * 2)
        # distinct customers: a second edit of the same one could hide the first marker
        picks = rnd.sample(numbers, min(args.edits, len(numbers)))
        for i, num in enumerate(picks):
            time.sleep(rnd.expovariate(1.0 / args.gap))
            marker = f"FRESH{i:05d}X"
            path = f"/_sim/companies/SAMINC/customers/{urllib.parse.quote(num, safe='')}"
            t = time.monotonic()
            req("PATCH", sage_root + path, {"CustomerName": f"Edited {marker}"})
            edited[marker] = t
        deadline = time.monotonic() + args.timeout
        while len(seen) < len(edited) and time.monotonic() < deadline:
            time.sleep(0.5)
        stop_watch.set()
        th.join(10)
        lat = [seen[m] - edited[m] for m in edited if m in seen]
        lost = [m for m in edited if m not in seen]
        order = list(edited)
        q = max(1, len(order) // 4)
        first = [seen[m] - edited[m] for m in order[:q] if m in seen]
        last = [seen[m] - edited[m] for m in order[-q:] if m in seen]
        con = sqlite3.connect(f"file:{ext_db}?mode=ro", uri=True)
        cyc = con.execute("SELECT count(*), sum(records), avg(duration_ms), max(duration_ms) FROM cycle "
                          "WHERE kind = 'incremental' AND result = 'ok'").fetchone()
        audit_rows = con.execute("SELECT count(*) FROM audit").fetchone()[0]
        con.close()
        print(f"edits: {len(edited)} (mean gap {args.gap} s), seen: {len(lat)}, not seen within "
              f"{args.timeout:.0f} s: {len(lost)}; watcher polls: {watch_polls[0]} "
              f"(every {args.watch} s)")
        if lat:
            print(f"latency edit -> organization (s): p50 {pct(lat, 50):.2f}, p95 {pct(lat, 95):.2f}, "
                  f"p99 {pct(lat, 99):.2f}, max {max(lat):.2f}, min {min(lat):.2f}; first quarter "
                  f"p50 {pct(first, 50):.2f}, last quarter p50 {pct(last, 50):.2f}")
        print(f"extractor: {cyc[0]} incremental cycles ok, {cyc[1]} records read "
              f"({(cyc[1] or 0) / max(cyc[0], 1):.0f} per cycle), duration avg {cyc[2] or 0:.0f} ms, "
              f"max {cyc[3] or 0} ms; audit rows {audit_rows}")
        ok = bool(lat) and not lost and pct(lat, 99) <= args.poll + 2
        print(f"summary: poll P = {args.poll:.0f} s, p99 {pct(lat, 99) if lat else float('nan'):.2f} s "
              f"(target <= P + 2 = {args.poll + 2:.0f} s), lost {len(lost)}: "
              f"{'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    finally:
        for p in reversed(procs):
            stop(p)
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
