#!/usr/bin/python3
"""Benchmark: mlc-extractor full scan vs a plain curl loop over the same pages.

Starts mlc-sage-sim (--customers N --page-size P) and `mlc devbroker`, runs
`mlc-extractor once --full` (MLC_SAGE_PAGE_SIZE=P, fresh state db) under
/usr/bin/time -v, takes the exact URLs it requested from the simulator's
request log, then downloads the same URLs (same $select/$filter/keyset) with
a plain `curl` loop in bash. Rounds alternate so both see the same machine
load. Prints one line per run and a summary; exit 1 when a target is missed
(extractor <= 1.2x curl time, peak RSS < 50 MB).

Each extractor run is a first load (every customer published, fresh db and
fresh topic); `--repeat` adds a second full scan on the same db (every
customer unchanged) per round.

usage: bench/bench_extractor.py [--build DIR] [--customers N] [--page-size P]
                                [--rounds R] [--repeat]
"""
import argparse
import json
import os
import re
import shutil
import signal
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
    deadline = time.time() + 60
    while time.time() < deadline:
        with open(out.name) as f:
            text = f.read()
        if "\n" in text:
            return p, text.split("\n", 1)[0].strip()
        if p.poll() is not None:
            raise SystemExit(f"{name} exited early")
        time.sleep(0.05)
    raise SystemExit(f"{name} did not start")


def ctl(root, method, path):
    req = urllib.request.Request(root + path, method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def run_extractor(args, env, workdir, tag):
    log = os.path.join(workdir, f"time-{tag}.txt")
    t0 = time.monotonic()
    cp = subprocess.run(["/usr/bin/time", "-v", "-o", log, os.path.join(args.build, "mlc-extractor"),
                         "once", "--full"], env=env, capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - t0
    if cp.returncode != 0:
        raise SystemExit(f"extractor failed: {cp.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(log).read()).group(1))
    summary = [l for l in cp.stderr.splitlines() if " cycle " in l and " ok in " in l]
    return wall, rss_kb, summary[-1] if summary else ""


def run_curl(urls, workdir):
    listfile = os.path.join(workdir, "urls.txt")
    with open(listfile, "w") as f:
        f.write("\n".join(urls) + "\n")
    script = ('while IFS= read -r u; do curl -sS --fail -o /dev/null -u WEBAPI:WEBAPI '
              '-H "Accept: application/json" -H "Content-Type: application/json" "$u" || exit 1; '
              f'done < {listfile}')
    t0 = time.monotonic()
    subprocess.run(["bash", "-c", script], check=True, timeout=1800)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--customers", type=int, default=100000)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", action="store_true")
    args = ap.parse_args()
    if not shutil.which("curl"):
        raise SystemExit("curl is not installed")
    workdir = tempfile.mkdtemp(prefix="mlc-bench-extractor-")
    procs = []
    try:
        sim, base = start_server([os.path.join(args.build, "mlc-sage-sim"), "--port", "0",
                                  "--customers", str(args.customers), "--page-size",
                                  str(args.page_size), "--log-capacity", "10000"],
                                 workdir, "sim")
        procs.append(sim)
        broker, boot = start_server([os.path.join(args.build, "mlc"), "devbroker", "--partitions", "3"],
                                    workdir, "broker")
        procs.append(broker)
        root = base.split("/Sage300WebApi/")[0]
        env = dict(os.environ, MLC_SAGE_URL=base, MLC_SAGE_COMPANIES="SAMINC", MLC_SAGE_USER="WEBAPI",
                   MLC_SAGE_PASSWORD="WEBAPI", MLC_SAGE_PAGE_SIZE=str(args.page_size),
                   MLC_KAFKA_BROKERS=boot)
        ratios, rss_max = [], 0
        for r in range(args.rounds):
            db = os.path.join(workdir, f"ext-{r}.db")
            env["MLC_STATE_DB"] = db
            env["MLC_TOPIC"] = f"bench.r{r}"
            ctl(root, "DELETE", "/_sim/requests")
            ext_s, rss, summary = run_extractor(args, env, workdir, f"r{r}")
            log = ctl(root, "GET", "/_sim/requests")["requests"]
            urls = [root + e["target"] for e in log if "/AR/" in e["target"]]
            curl_s = run_curl(urls, workdir)
            ratio = ext_s / curl_s
            ratios.append(ratio)
            rss_max = max(rss_max, rss)
            print(f"round {r + 1}: extractor {ext_s:.2f} s (peak RSS {rss / 1024:.1f} MB), "
                  f"curl loop {curl_s:.2f} s over {len(urls)} requests, ratio {ratio:.2f}")
            print(f"  {summary.split('mlc-extractor: ', 1)[-1]}")
            if args.repeat:
                ext2, rss2, summary2 = run_extractor(args, env, workdir, f"r{r}b")
                rss_max = max(rss_max, rss2)
                print(f"  repeat full scan (all unchanged): {ext2:.2f} s, peak RSS {rss2 / 1024:.1f} MB, "
                      f"ratio {ext2 / curl_s:.2f}")
        best, worst = min(ratios), max(ratios)
        med = sorted(ratios)[len(ratios) // 2]
        ok = med <= 1.2 and rss_max < 50 * 1024
        print(f"summary: {args.customers} customers, page size {args.page_size}: ratio median "
              f"{med:.2f} (min {best:.2f}, max {worst:.2f}), peak RSS {rss_max / 1024:.1f} MB: "
              f"{'PASS' if ok else 'FAIL'} (targets: ratio <= 1.2, RSS < 50 MB)")
        return 0 if ok else 1
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
