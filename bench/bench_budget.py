#!/usr/bin/python3
"""Benchmark: is every daily-budget token used during a multi-day initial load?

Starts mlc-sage-sim (--customers N), mlc-pipedrive-sim with the Growth plan's
burst (40 requests per 2 s) but a short budget "day" (--day-length L) and a
daily budget B small enough that the budget, not the burst, binds (at 20
requests/s a day of L seconds would allow 100 x L tokens of creates), `mlc
devbroker`, `mlc-extractor run` and, once the extractor has published every
customer, `mlc-loader run` at the start of a sandbox day, with
MLC_PIPEDRIVE_PLAN=growth, MLC_PIPEDRIVE_RESERVE_PCT=R (the loader pauses when
less than R % of the day's budget is left) and MLC_PIPEDRIVE_PAUSE_PROBE=P
(while paused, a 2-token GET /v1/users/me every P seconds reads the budget
headers: that is how it learns the day reset, the loader's own reset clock
being a 24-hour one).

Counts come from two independent places:
  - the Pipedrive sandbox: GET /_sim/stats polled every 0.25 s (tokens and
    count per operation, 429s by kind, the company's tokens_spent_today); the
    last poll of each sandbox day gives that day's figures (the loader is
    paused around every reset, so nothing is in flight at the boundary);
  - the loader's audit trail: call_audit in its state file (send time in
    milliseconds, method, path, status, tokens), bucketed by sandbox day.
The two must agree on the useful tokens per day; the report prints both.

Per sandbox day: useful tokens (organization creates and updates answered
2xx) / (B - reserve), the other tokens (field set-up, list, budget probes),
tokens spent into the reserve, daily and burst 429s, when the loader resumed
after the reset. Targets: useful / (B - reserve) >= 95 % on every day the
budget bound and the backlog lasted to the end of the day (checked as useful
/ (B - reserve - that day's one-time set-up): the field set-up and the cold
id map's list scan cost 100 tokens at any B); 0 daily 429s; 0 burst 429s;
the last create no later than one sandbox day after the forecast
   N x 5 / (B x (1 - R/100))  days   (backlog x create cost / net daily budget).
A second forecast walks the days at the paced rate (forecast_eta).

Exit 1 when a target is missed. --quick: 30-s days, B = 1500, N = 760
(about 3.2 days: under 3 minutes in all).

usage: bench/bench_budget.py [--quick] [--build DIR] [--customers N]
        [--day-length L] [--daily-budget B] [--reserve-pct R] [--probe P]
        [--concurrency C] [--keep]
"""
import argparse
import datetime
import json
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.request

from benchproc import start, stop

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "bench-token-9b1e4f7a2c6d"
CREATE_COST = 5
USEFUL_OPS = ("organizations.create", "organizations.update")


def req(method, url):
    r = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(r, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def flat(stats):
    """The cumulative counters of one /_sim/stats answer."""
    ops = stats["operations"]
    r = stats["rate_limited_429"]
    return {
        "useful": sum(ops[o]["tokens"] for o in USEFUL_OPS),
        "creates": ops["organizations.create"]["count"],
        "updates": ops["organizations.update"]["count"],
        "probe": ops["users.me"]["tokens"],
        "probes": ops["users.me"]["count"],
        "total": stats["tokens_spent"],
        "today": stats["companies"][0]["tokens_spent_today"],
        "burst429": r["burst"] + r["search"],
        "daily429": r["daily"],
        "requests": sum(o["count"] for o in ops.values()),
    }


def parse_at(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


AUDIT_ZERO = {"useful": 0, "other": 0, "probe": 0, "setup": 0, "total": 0, "creates": 0, "ok": 0, "s429": 0,
              "first_write": None, "last_write": None, "writes": 0}


def audit_by_day(ld_db, day_len):
    """Per sandbox day, from the loader's call_audit."""
    con = sqlite3.connect(f"file:{ld_db}?mode=ro", uri=True)
    rows = con.execute("SELECT at, method, path, status, tokens FROM call_audit").fetchall()
    con.close()
    days = {}
    for at, method, path, status, tokens in rows:
        d = days.setdefault(int(parse_at(at) // day_len),
                            dict(AUDIT_ZERO))
        t = parse_at(at)
        if status == 429:
            d["s429"] += 1
            continue
        if not 200 <= status < 300:
            continue
        d["ok"] += 1
        d["total"] += tokens
        if path.startswith("/v1/users/me"):
            d["probe"] += tokens
        if path.startswith("/api/v2/organizationFields") or (
                method == "GET" and path.startswith("/api/v2/organizations?")):
            d["setup"] += tokens  # field set-up, the cold id map's list scan
        if method == "POST" and path.startswith("/api/v2/organizations") and \
                not path.startswith("/api/v2/organizationFields"):
            d["creates"] += 1
        is_write = (path.startswith("/api/v2/organizations") and method in ("POST", "PATCH")
                    and not path.startswith("/api/v2/organizationFields"))
        if is_write:
            d["useful"] += tokens
            d["writes"] += 1
            if d["first_write"] is None or t < d["first_write"]:
                d["first_write"] = t
            if d["last_write"] is None or t > d["last_write"]:
                d["last_write"] = t
        else:
            d["other"] += tokens
    return days, len(rows)


def wait_extractor(ext_db, n, ext, timeout=600):
    """Until the extractor's first cycle has published every customer."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if ext.poll() is not None:
            raise SystemExit("the extractor exited before its first cycle")
        try:
            con = sqlite3.connect(f"file:{ext_db}?mode=ro", uri=True, timeout=5)
            row = con.execute("SELECT count(*) FROM cycle WHERE result = 'ok'").fetchone()
            con.close()
            if row[0] >= 1:
                return time.monotonic() - t0
        except sqlite3.Error:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the extractor did not finish its first cycle of {n} customers")


def forecast_eta(work_tokens, remaining_today, daily_limit, reserve_pct, to_reset, day_len,
                 rate, probe, cost=CREATE_COST):
    """Seconds from now until the last of work_tokens' writes is sent.

    work_tokens: tokens still to spend (backlog x cost); remaining_today: the
    budget left today as the headers last said; to_reset: seconds to the next
    reset; rate: writes per second while not paused (the paced burst, (limit
    - margin) / window); probe: MLC_PIPEDRIVE_PAUSE_PROBE (on average half of
    it passes between a reset and the probe that ends the pause). Each day
    the loader writes until the reserve or the day's end, whichever first.
    """
    reserve = daily_limit * reserve_pct / 100.0
    usable = max(0.0, remaining_today - reserve)
    t, day_end = 0.0, to_reset
    while True:
        can = min(usable, max(0.0, day_end - t) * rate * cost)
        if work_tokens <= can:
            return t + work_tokens / cost / rate
        work_tokens -= math.floor(can / cost) * cost
        t = day_end + probe / 2.0
        day_end += day_len
        usable = daily_limit - reserve


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--quick", action="store_true", help="30-s days, B 1500, N 760 (< 3 min)")
    ap.add_argument("--customers", type=int)
    ap.add_argument("--day-length", type=int, help="sandbox day in seconds (default 120)")
    ap.add_argument("--daily-budget", type=int, help="tokens per sandbox day (default 6000)")
    ap.add_argument("--reserve-pct", type=int, default=20)
    ap.add_argument("--probe", type=int, help="MLC_PIPEDRIVE_PAUSE_PROBE seconds (default 5)")
    ap.add_argument("--concurrency", type=int, default=4, help="MLC_PIPEDRIVE_CONCURRENCY")
    ap.add_argument("--phase", type=float, default=0.0,
                    help="start the loader this fraction into a sandbox day (default 0)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    q = args.quick
    n = args.customers or (760 if q else 3000)
    day_len = args.day_length or (30 if q else 120)
    budget = args.daily_budget or (1500 if q else 6000)
    probe = args.probe or (2 if q else 5)
    reserve = budget * args.reserve_pct / 100.0
    net = budget - reserve
    forecast_days = n * CREATE_COST / net
    burst_tokens = 20 * CREATE_COST * day_len  # creates at the Growth burst, one day
    b = lambda name: os.path.join(args.build, name)  # noqa: E731
    work = tempfile.mkdtemp(prefix="mlc-bench-budget-")
    procs = []
    load0 = os.getloadavg()
    print(f"customers {n}, sandbox day {day_len} s, daily budget {budget} tokens (the Growth "
          f"burst would allow ~{burst_tokens} of creates), reserve {args.reserve_pct} % = "
          f"{reserve:.0f}, net {net:.0f}/day, pause probe {probe} s, concurrency "
          f"{args.concurrency}; load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    # the loader starts --phase into a fresh sandbox day
    eta = forecast_eta(n * CREATE_COST, budget, budget, args.reserve_pct,
                       (1 - args.phase) * day_len, day_len, 19.5, probe)
    print(f"forecast: {n} x {CREATE_COST} / {net:.0f} = {forecast_days:.3f} sandbox days "
          f"({forecast_days * day_len:.0f} s); by day and rate (19.5 writes/s, probe {probe} s, "
          f"no set-up): {eta / day_len:.3f} days ({eta:.1f} s)")
    sys.stdout.flush()
    snaps = []  # (wall time, flat stats)
    stop_poll = threading.Event()
    try:
        sage, sage_url = start([b("mlc-sage-sim"), "--port", "0", "--customers", str(n),
                                "--page-size", "1000"], work, "sage")
        procs.append(sage)
        pd, pd_url = start([b("mlc-pipedrive-sim"), "--port", "0", "--token", TOKEN, "--plan",
                            "growth", "--day-length", str(day_len), "--daily-budget",
                            str(budget)], work, "pd")
        procs.append(pd)
        broker, boot = start([b("mlc"), "devbroker", "--partitions", "3"], work, "broker")
        procs.append(broker)
        pd_root = pd_url.rstrip("/")
        ext_db, ld_db = os.path.join(work, "extractor.db"), os.path.join(work, "loader.db")
        common = dict(os.environ, MLC_KAFKA_BROKERS=boot, MLC_LOG_LEVEL="info")
        ext_env = dict(common, MLC_SAGE_URL=sage_url, MLC_SAGE_COMPANIES="SAMINC",
                       MLC_SAGE_USER="WEBAPI", MLC_SAGE_PASSWORD="WEBAPI",
                       MLC_SAGE_PAGE_SIZE="1000", MLC_POLL_INTERVAL="30",
                       MLC_STATE_DB=ext_db)
        ld_env = dict(common, MLC_PIPEDRIVE_URL=pd_url, MLC_PIPEDRIVE_TOKEN=TOKEN,
                      MLC_PIPEDRIVE_PLAN="growth", MLC_PIPEDRIVE_RESERVE_PCT=str(args.reserve_pct),
                      MLC_PIPEDRIVE_PAUSE_PROBE=str(probe),
                      MLC_PIPEDRIVE_CONCURRENCY=str(args.concurrency),
                      MLC_STATE_DB=ld_db, MLC_KAFKA_GROUP="budget")
        ext, _ = start([b("mlc-extractor"), "run"], work, "extractor", env=ext_env, server=False)
        procs.append(ext)
        t_ext = wait_extractor(ext_db, n, ext)
        print(f"extractor: first cycle done in {t_ext:.1f} s (run mode, poll 30 s, keeps running)")

        # start the loader 0.3 s (plus --phase) into a sandbox day (the sandbox's days are
        # multiples of L since the epoch; its seconds_to_reset says so too)
        st = req("GET", pd_root + "/_sim/stats")
        now = time.time()
        boundary = (math.floor(now / day_len) + 1) * day_len
        if abs((boundary - now) - st["limits"]["seconds_to_reset"]) > 1.5:
            raise SystemExit(f"sandbox day clock disagrees: {boundary - now:.1f} s to the reset "
                             f"here, {st['limits']['seconds_to_reset']} s in /_sim/stats")
        req("DELETE", pd_root + "/_sim/stats")
        time.sleep(max(0.0, boundary + 0.3 + args.phase * day_len - time.time()))

        def poller():
            while not stop_poll.is_set():
                t0 = time.time()
                try:
                    s = req("GET", pd_root + "/_sim/stats")
                    t1 = time.time()
                    snaps.append(((t0 + t1) / 2, flat(s)))
                except Exception:  # noqa: BLE001 - a missed poll is harmless
                    pass
                # poll just before each reset too: that poll closes the day
                nxt = t0 + 0.25
                end = (math.floor(t0 / day_len) + 1) * day_len - 0.03
                if t0 < end < nxt + 0.1:
                    nxt = end
                time.sleep(max(0.0, nxt - time.time()))

        t_start = time.time()
        start_day = int(t_start // day_len)
        ld, _ = start([b("mlc-loader"), "run"], work, "loader", env=ld_env, server=False)
        procs.append(ld)
        th = threading.Thread(target=poller, daemon=True)
        th.start()
        limit = t_start + (forecast_days + 3) * day_len + 60
        while True:
            if ld.poll() is not None:
                raise SystemExit(f"the loader exited ({ld.returncode}): "
                                 f"{open(os.path.join(work, 'loader.err')).read()[-2000:]}")
            if snaps and snaps[-1][1]["creates"] >= n:  # sandbox: every create answered
                break
            if time.time() > limit:
                print("TIMEOUT: the initial load did not finish by forecast + 3 days")
                break
            time.sleep(0.25)
        # let the end of the day show (probes, anything sent after the last create)
        time.sleep(2)
        stop_poll.set()
        th.join(5)
        stop(ld)
        stop(ext)
        load1 = os.getloadavg()

        # ---- per sandbox day, from the sandbox's counters ----
        # sandbox: the day's last poll (30 ms before its reset) closes it;
        # (its tokens_spent_today is not used: /_sim/stats shows the old
        # day's value until the first API request after a reset)
        last_of_day = {}
        for t, s in snaps:
            last_of_day[int(t // day_len)] = s
        days = sorted(d for d in last_of_day if d >= start_day)
        audit, n_calls = audit_by_day(ld_db, day_len)
        con = sqlite3.connect(f"file:{ld_db}?mode=ro", uri=True)
        created = con.execute("SELECT count(*) FROM event_audit WHERE outcome = 'created'"
                              ).fetchone()[0]
        con.close()
        prev = dict.fromkeys(snaps[0][1], 0)
        done_creates = 0
        rows, ok_eff, eff_days, n_agree, sum_audit = [], True, 0, 0, 0
        print()
        print("| day | creates | useful tokens | useful ÷ (B − reserve) | useful ÷ (B − reserve − set-up) "
              "| other tokens: set-up, probes "
              "| spent: audit / sandbox | into reserve | daily 429 | burst 429 "
              "| first write after reset | writes while writing |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for d in days:
            s = last_of_day[d]
            delta = {k: s[k] - prev[k] for k in s}
            spent_sim = delta["total"]
            prev = s
            a = audit.get(d, dict(AUDIT_ZERO))
            done_creates += a["creates"]
            eff = a["useful"] / net
            eff_work = a["useful"] / (net - a["setup"])  # the one-time set-up is work too
            n_agree += a["total"] == spent_sim
            sum_audit += a["total"]
            backlog_left = done_creates < n
            # the budget, not the clock, ended the day's writing: the writes
            # stopped well before the reset with customers still waiting (the
            # loader stops creates at reserve + update headroom, without a
            # pause, so "spent >= net" no longer tells it)
            budget_bound = spent_sim >= net or (
                a["last_write"] is not None
                and (d + 1) * day_len - a["last_write"] > 0.1 * day_len)
            mark = ""
            if not backlog_left:
                mark = " (backlog exhausted)"
            elif not budget_bound:
                mark = " (rate-bound: the day ended first)"
            if backlog_left and budget_bound:
                eff_days += 1
                ok_eff = ok_eff and eff_work >= 0.95
            resume, rate = "", ""
            if a["first_write"] is not None:
                resume = f"{a['first_write'] - d * day_len:.1f} s"
                span = a["last_write"] - a["first_write"]
                if a["writes"] > 1 and span > 0:
                    rate = (f"{(a['writes'] - 1) / span:.1f}/s for {span:.1f} s "
                            f"({span / day_len * 100:.0f} % of the day)")
            rows.append((d - start_day + 1, a, spent_sim, eff))
            print(f"| {d - start_day + 1}{mark} | {a['creates']} | {a['useful']} | "
                  f"{eff * 100:.1f} % | {eff_work * 100:.1f} % | {a['total'] - a['useful']}: "
                  f"{a['setup']}, {a['probe']} | "
                  f"{a['total']} / {spent_sim} | {max(0, spent_sim - net):.0f} | "
                  f"{delta['daily429']} | {delta['burst429']} | {resume} | {rate} |")
        firsts = [(a["first_write"], d) for d, a in audit.items() if a["first_write"] is not None]
        t_first, d_first = min(firsts) if firsts else (t_start, start_day)
        spent_before = audit.get(d_first, AUDIT_ZERO)["total"] - \
            audit.get(d_first, AUDIT_ZERO)["useful"]  # the set-up, before the first write
        eta1 = forecast_eta(n * CREATE_COST, budget - spent_before, budget, args.reserve_pct,
                            (d_first + 1) * day_len - t_first, day_len, 19.5, probe)
        ends = [a["last_write"] for a in audit.values() if a["last_write"] is not None]
        t_done = max(ends) if ends and done_creates >= n else None
        tot = snaps[-1][1]
        actual_days = (t_done - t_start) / day_len if t_done else float("inf")
        print()
        print(f"loader calls audited: {n_calls}; organizations created (event_audit): {created}; "
              f"sandbox: {tot['creates']} creates, {tot['updates']} updates, "
              f"{tot['total']} tokens, {tot['probes']} budget probes ({tot['probe']} tokens)")
        print(f"finished: {actual_days:.3f} sandbox days after the loader started "
              f"({(t_done or 0) - t_start:.1f} s); forecast {forecast_days:.3f} days; "
              f"late by {actual_days - forecast_days:+.3f} days; by day and rate "
              f"{eta / day_len:.3f} days, late by {actual_days - eta / day_len:+.3f}; by day and "
              f"rate from the first write ({t_first - t_start:.1f} s after the start): "
              f"{(t_first - t_start + eta1) / day_len:.3f} days, late by "
              f"{(t_done or 0) - t_first - eta1:+.1f} s")
        print(f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after "
              f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
        daily429 = tot["daily429"]
        burst429 = tot["burst429"]
        ok_time = actual_days <= forecast_days + 1
        ok = (ok_eff and daily429 == 0 and burst429 == 0 and ok_time and created >= n
              and sum_audit == tot["total"])
        print(f"summary: useful/(net - set-up) >= 95 % on {eff_days} budget-bound days: "
              f"{'met' if ok_eff else 'MISSED'}; daily 429s {daily429}: "
              f"{'met' if daily429 == 0 else 'MISSED'}; burst 429s {burst429}: "
              f"{'met' if burst429 == 0 else 'MISSED'}; finish within 1 day of the forecast: "
              f"{'met' if ok_time else 'MISSED'}; tokens, audit = sandbox: on {n_agree} of "
              f"{len(rows)} days, in all {sum_audit} = {tot['total']} "
              f"{'yes' if sum_audit == tot['total'] else 'NO'}: {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    finally:
        stop_poll.set()
        for p in reversed(procs):
            stop(p)
        if args.keep or os.environ.get("BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
