#!/usr/bin/python3
"""Benchmark: mlc-extractor full scans against one curl process and a parse-and-hash floor.

Starts mlc-sage-sim (--customers N --page-size P); per round starts a fresh
`mlc devbroker` and measures, side by side and in an order that rotates from
round to round so that every side sees the same machine load:

  ext   `mlc-extractor once --full` (MLC_SAGE_PAGE_SIZE=P, fresh state db, fresh
        topic) under /usr/bin/time -v: a FIRST LOAD (every customer normalised,
        hashed, published, acknowledged by Kafka, committed with an audit row);
  rep   (with --repeat) a second `once --full` on the same db: every customer
        read, hashed and found unchanged (the daily full scan in steady state);
  curl  ONE curl process fetching the exact URLs the extractor requested (taken
        from the sandbox's request log) over one keep-alive connection
        (`curl -K` config file, bodies to /dev/null): the transfer alone;
  floor build/bench_parse_hash over the same URLs: one keep-alive libcurl
        handle, cJSON parse, sage_customer_normalize and mlc_event_content_hash
        per record, nothing else.

Prints one line per round, the extractor's state file size per customer, and a
summary of medians of the per-round ratios. Exit 1 when a target is missed:
first load <= 2.0x curl and <= 1.3x floor, unchanged full scan <= 1.5x curl.
Run it at two sizes to see whether peak RSS is flat in N.

usage: bench/bench_extractor.py [--build DIR] [--customers N] [--page-size P]
                                [--rounds R] [--repeat] [--keep-db DIR]
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def start_server(argv, logdir, name):
    out = open(os.path.join(logdir, name + ".out"), "wb")
    err = open(os.path.join(logdir, name + ".err"), "wb")
    p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        with open(out.name) as f:
            text = f.read()
        if "\n" in text:
            return p, text.split("\n", 1)[0].strip()
        if p.poll() is not None:
            raise SystemExit(f"{name} exited early")
        time.sleep(0.05)
    raise SystemExit(f"{name} did not start")


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def ctl(root, method, path):
    req = urllib.request.Request(root + path, method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def run_extractor(args, env, workdir, tag):
    log = os.path.join(workdir, f"time-{tag}.txt")
    t0 = time.monotonic()
    cp = subprocess.run(["/usr/bin/time", "-v", "-o", log, os.path.join(args.build, "mlc-extractor"),
                         "once", "--full"], env=env, capture_output=True, text=True, timeout=7200)
    wall = time.monotonic() - t0
    if cp.returncode != 0:
        raise SystemExit(f"extractor failed: {cp.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(log).read()).group(1))
    summary = [l for l in cp.stderr.splitlines() if " cycle " in l and " ok in " in l]
    return wall, rss_kb, summary[-1] if summary else ""


def run_curl(urls, workdir):
    cfg = os.path.join(workdir, "curl.cfg")
    with open(cfg, "w") as f:
        for u in urls:
            f.write(f'url = "{u}"\noutput = "/dev/null"\n')
    t0 = time.monotonic()
    subprocess.run(["curl", "-sS", "--fail", "-u", "WEBAPI:WEBAPI", "-H", "Accept: application/json",
                    "-H", "Content-Type: application/json", "-K", cfg], check=True, timeout=7200)
    return time.monotonic() - t0


def run_floor(args, urls, workdir):
    lst = os.path.join(workdir, "urls.txt")
    with open(lst, "w") as f:
        f.write("\n".join(urls) + "\n")
    t0 = time.monotonic()
    cp = subprocess.run([os.path.join(args.build, "bench_parse_hash"), lst], capture_output=True,
                        text=True, timeout=7200)
    wall = time.monotonic() - t0
    if cp.returncode != 0:
        raise SystemExit(f"bench_parse_hash failed: {cp.stderr[-2000:]}")
    return wall, cp.stdout.strip()


def db_bytes(path):
    return sum(os.path.getsize(p) for p in (path, path + "-wal", path + "-shm") if os.path.exists(p))


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--customers", type=int, default=100000)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", action="store_true")
    ap.add_argument("--keep-db", help="copy the last round's state file into this directory")
    args = ap.parse_args()
    if not shutil.which("curl"):
        raise SystemExit("curl is not installed")
    workdir = tempfile.mkdtemp(prefix="mlc-bench-extractor-", dir=os.environ.get("BENCH_TMP"))
    sim = broker = None
    try:
        t0 = time.monotonic()
        sim, base = start_server([os.path.join(args.build, "mlc-sage-sim"), "--port", "0",
                                  "--customers", str(args.customers), "--page-size",
                                  str(args.page_size), "--log-capacity", "100000"],
                                 workdir, "sim")
        print(f"sandbox: {args.customers} customers, page size {args.page_size}, "
              f"started in {time.monotonic() - t0:.1f} s")
        root = base.split("/Sage300WebApi/")[0]
        env = dict(os.environ, MLC_SAGE_URL=base, MLC_SAGE_COMPANIES="SAMINC", MLC_SAGE_USER="WEBAPI",
                   MLC_SAGE_PASSWORD="WEBAPI", MLC_SAGE_PAGE_SIZE=str(args.page_size))
        res = {k: [] for k in ("ext", "rep", "curl", "floor")}
        ratios = {k: [] for k in ("ext/curl", "ext/floor", "rep/curl", "floor/curl")}
        rss_max, db_size = 0, 0
        urls = None
        for r in range(args.rounds):
            broker, boot = start_server([os.path.join(args.build, "mlc"), "devbroker",
                                         "--partitions", "3"], workdir, f"broker{r}")
            env["MLC_KAFKA_BROKERS"] = boot
            db = os.path.join(workdir, f"ext-{r}.db")
            env["MLC_STATE_DB"] = db
            env["MLC_TOPIC"] = f"bench.r{r}"
            got = {}
            # The extractor's first load must precede its repeat; curl and the
            # floor take turns before, between and after them.
            orders = [["ext", "curl", "floor", "rep"], ["curl", "ext", "rep", "floor"],
                      ["floor", "ext", "curl", "rep"]]
            order = orders[r % len(orders)]
            if not args.repeat:
                order = [k for k in order if k != "rep"]
            for k in order:
                if k in ("curl", "floor") and urls is None:
                    # needs the URLs: run the first load first this round
                    continue
                if k == "ext":
                    ctl(root, "DELETE", "/_sim/requests")
                    got["ext"] = run_extractor(args, env, workdir, f"r{r}")
                    log = ctl(root, "GET", "/_sim/requests")["requests"]
                    urls = [root + e["target"] for e in log if "/AR/" in e["target"]]
                    db_size = db_bytes(db)
                elif k == "rep":
                    got["rep"] = run_extractor(args, env, workdir, f"r{r}b")
                elif k == "curl":
                    got["curl"] = run_curl(urls, workdir)
                elif k == "floor":
                    got["floor"] = run_floor(args, urls, workdir)
            for k in ("curl", "floor"):  # skipped above in the very first round
                if k not in got:
                    got[k] = run_curl(urls, workdir) if k == "curl" else run_floor(args, urls, workdir)
            stop(broker)
            broker = None
            ext_s, rss, summary = got["ext"]
            curl_s = got["curl"]
            floor_s, floor_line = got["floor"]
            res["ext"].append(ext_s)
            res["curl"].append(curl_s)
            res["floor"].append(floor_s)
            ratios["ext/curl"].append(ext_s / curl_s)
            ratios["ext/floor"].append(ext_s / floor_s)
            ratios["floor/curl"].append(floor_s / curl_s)
            rss_max = max(rss_max, rss)
            line = (f"round {r + 1} ({' '.join(order)}): first load {ext_s:.2f} s (peak RSS "
                    f"{rss / 1024:.1f} MB), curl {curl_s:.2f} s over {len(urls)} requests, floor "
                    f"{floor_s:.2f} s; first/curl {ext_s / curl_s:.2f}, first/floor "
                    f"{ext_s / floor_s:.2f}")
            if "rep" in got:
                rep_s, rss2, _ = got["rep"]
                rss_max = max(rss_max, rss2)
                res["rep"].append(rep_s)
                ratios["rep/curl"].append(rep_s / curl_s)
                line += f"; repeat {rep_s:.2f} s (RSS {rss2 / 1024:.1f} MB), repeat/curl {rep_s / curl_s:.2f}"
            print(line)
            print(f"  extractor: {summary.split('mlc-extractor: ', 1)[-1]}")
            print(f"  floor: {floor_line}")
            print(f"  state file after the first load: {db_size / 1e6:.1f} MB = "
                  f"{db_size / args.customers:.0f} bytes/customer"
                  + (f"; after the repeat: {db_bytes(db) / 1e6:.1f} MB" if "rep" in got else ""))
            sys.stdout.flush()
            if args.keep_db and r == args.rounds - 1:
                os.makedirs(args.keep_db, exist_ok=True)
                subprocess.run(["sqlite3", db, f".backup '{os.path.join(args.keep_db, 'extractor.db')}'"],
                               check=True)
            for p in (db, db + "-wal", db + "-shm"):
                if os.path.exists(p):
                    os.unlink(p)
        m = {k: med(v) for k, v in ratios.items()}
        ok = m["ext/curl"] <= 2.0 and m["ext/floor"] <= 1.3 and (not args.repeat or m["rep/curl"] <= 1.5)
        print(f"summary: {args.customers} customers, page size {args.page_size}, {args.rounds} rounds; "
              f"medians: first load {med(res['ext']):.2f} s, repeat {med(res['rep']):.2f} s, "
              f"curl {med(res['curl']):.2f} s, floor {med(res['floor']):.2f} s; ratios (median of "
              f"per-round): first/curl {m['ext/curl']:.2f}, first/floor {m['ext/floor']:.2f}, "
              f"repeat/curl {m['rep/curl']:.2f}, floor/curl {m['floor/curl']:.2f}; peak RSS "
              f"{rss_max / 1024:.1f} MB; state {db_size / args.customers:.0f} B/customer: "
              f"{'PASS' if ok else 'FAIL'} (targets: first <= 2.0x curl and <= 1.3x floor, "
              f"repeat <= 1.5x curl)")
        return 0 if ok else 1
    finally:
        for p in (broker, sim):
            if p is not None:
                stop(p)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
