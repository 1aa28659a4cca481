#!/usr/bin/python3
"""Benchmark: `mlc status` and `mlc audit --customer` on state files of a million customers.

Creates the extractor's and the loader's state files with the real programs
(their schema migrations: each program opens its state file, then fails to
reach a Sage/Pipedrive/Kafka that is not there), fills them in SQL with rows
shaped like a real run's (sizes taken from bench/bench_loader.py and
bench/bench_extractor.py runs: docs/benchmarks.md), then times each command
--runs times and prints the median:

  extractor: N customers; per day one full scan (N audit rows, one cycle) and
             an incremental cycle every --poll seconds; --days days.
  loader:    N id-map rows (a ~700-byte applied body each), the first load
             (N 'created' events and N POST calls), then --changes events per
             day ('updated' and a PATCH each) and a few dead letters; --days days.

  mlc status --extractor-db E --loader-db L --json   (MLC_KAFKA_BROKERS empty:
             the Kafka part is a network call and not measured here)
  mlc audit --db E --db L --customer C [--json]      (a customer in the middle)
  mlc audit --db L --customer C

usage: bench/bench_state_queries.py [--build DIR] [--dir DIR] [--customers N]
        [--days D] [--changes C] [--poll S] [--runs R] [--load-hours H] [--keep]
Exit 1 when a median is 100 ms or more.
"""
import argparse
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

PAYLOAD = ('{"address":{"value":"123 Main Street, Springfield, IL 62701, US","street_number":"123",'
           '"route":"Main Street","locality":"Springfield","admin_area_level_1":"IL",'
           '"postal_code":"62701","country":"US"},"name":"Customer %06d Incorporated",'
           '"owner_id":1,"visible_to":3,"label_ids":[],"custom_fields":{'
           '"0123456789abcdef0123456789abcdef01234567":"%06d",'
           '"1123456789abcdef0123456789abcdef01234567":"SAMINC",'
           '"2123456789abcdef0123456789abcdef01234567":7,'
           '"3123456789abcdef0123456789abcdef01234567":"2024-03-18",'
           '"4123456789abcdef0123456789abcdef01234567":{"value":25000,"currency":"USD"},'
           '"5123456789abcdef0123456789abcdef01234567":"Net 30 days",'
           '"6123456789abcdef0123456789abcdef01234567":"+1 555 0100",'
           '"7123456789abcdef0123456789abcdef01234567":"jane.doe@example.com"}}')


def dead_addr():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def make_empty(build, ext_db, ld_db):
    dead = dead_addr()
    env = dict(os.environ, MLC_STATE_DB=ext_db, MLC_SAGE_URL=f"http://{dead}/Sage300WebApi/v1.0/-/",
               MLC_SAGE_COMPANIES="SAMINC", MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD="webapi",
               MLC_SAGE_RETRIES="0", MLC_KAFKA_BROKERS=dead)
    subprocess.run([os.path.join(build, "mlc-extractor"), "once"], env=env, capture_output=True,
                   timeout=120)
    env = dict(os.environ, MLC_STATE_DB=ld_db, MLC_PIPEDRIVE_URL=f"http://{dead}",
               MLC_PIPEDRIVE_TOKEN="0123456789abcdef0123456789abcdef01234567", MLC_KAFKA_BROKERS=dead)
    subprocess.run([os.path.join(build, "mlc-loader"), "drain"], env=env, capture_output=True,
                   timeout=120)


SEQ = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {count}) "


def fill_extractor(db, n, days, poll):
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("DELETE FROM audit")
    con.execute("DELETE FROM cycle")
    con.execute("DELETE FROM customer")
    con.execute("DELETE FROM watermark")
    start = time.time() - days * 86400
    con.execute(SEQ.format(count=n) +
                "INSERT INTO customer (company, number, hash, last_maintained, seen_scan, missing, "
                "updated_at) SELECT 'SAMINC', printf('%06d', i), lower(hex(randomblob(32))), "
                "'2024-03-18', ?1, 0, strftime('%Y-%m-%dT%H:%M:%SZ', ?2, 'unixepoch') FROM n",
                (days, time.time()))
    per_day = max(1, 86400 // poll)
    cid = 0
    for d in range(days):
        t0 = start + d * 86400
        # the day's full scan, then its incremental cycles
        cid += 1
        full = cid
        con.execute("INSERT INTO cycle (id, company, kind, started_at, finished_at, finished_epoch, "
                    "pages, records, published, unchanged, duration_ms, result, watermark_before, "
                    "watermark_after) VALUES (?1, 'SAMINC', 'full', strftime('%Y-%m-%dT%H:%M:%SZ', "
                    "?2, 'unixepoch'), strftime('%Y-%m-%dT%H:%M:%SZ', ?2 + 60, 'unixepoch'), ?2 + 60, "
                    "?3, ?4, 0, ?4, 60000, 'ok', '2024-03-18', '2024-03-18')",
                    (full, t0, n // 1000 + 1, n))
        con.execute(SEQ.format(count=per_day - 1) +
                    "INSERT INTO cycle (id, company, kind, started_at, finished_at, finished_epoch, "
                    "pages, records, published, unchanged, duration_ms, result, watermark_before, "
                    "watermark_after) SELECT ?1 + i, 'SAMINC', 'incremental', "
                    "strftime('%Y-%m-%dT%H:%M:%SZ', ?2 + (i + 1) * ?3, 'unixepoch'), "
                    "strftime('%Y-%m-%dT%H:%M:%SZ', ?2 + (i + 1) * ?3, 'unixepoch'), ?2 + (i + 1) * ?3, "
                    "1, 0, 0, 0, 40, 'ok', '2024-03-18', '2024-03-18' FROM n",
                    (cid + 1, t0, poll))
        cid += per_day - 1
        con.execute(SEQ.format(count=n) +
                    "INSERT INTO audit (cycle_id, company, customer, hash, outcome, reason, at) "
                    "SELECT ?1, 'SAMINC', printf('%06d', i), lower(hex(randomblob(32))), "
                    "CASE WHEN ?3 = 0 THEN 'published' ELSE 'unchanged' END, NULL, "
                    "strftime('%Y-%m-%dT%H:%M:%SZ', ?2 + i * 60.0 / ?4, 'unixepoch') FROM n",
                    (full, t0, d, n))
        con.commit()
    con.execute("INSERT INTO watermark VALUES ('SAMINC', '2024-03-18', "
                "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def fill_loader(db, n, days, changes, load_hours=None):
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    for t in ("idmap", "event_audit", "call_audit"):
        con.execute(f"DELETE FROM {t}")
    start = time.time() - days * 86400
    load = time.time() - load_hours * 3600 if load_hours is not None else start
    con.execute(SEQ.format(count=n) +
                "INSERT INTO idmap (company, customer, org_id, state, hash, payload, remote, "
                "create_pending_ms, updated_ms) SELECT 'SAMINC', printf('%06d', i), i + 1, 'active', "
                "lower(hex(randomblob(32))), printf(?1, i, i), 0, 0, ?2 * 1000 FROM n",
                (PAYLOAD, int(start)))
    # the first load: one event and one POST per customer, over the first hours
    con.execute(SEQ.format(count=n) +
                "INSERT INTO event_audit (at, topic, partition, offset, company, customer, event_id, "
                "outcome, org_id, reason) SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1 + i / 20.0, "
                "'unixepoch'), 'sage300.customers.v1', i % 3, i / 3, 'SAMINC', printf('%06d', i), "
                "lower(hex(randomblob(16))), 'created', i + 1, NULL FROM n", (load,))
    con.execute(SEQ.format(count=n) +
                "INSERT INTO call_audit (at, method, path, status, tokens, duration_ms, company, "
                "customer) SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1 + i / 20.0, 'unixepoch'), "
                "'POST', '/api/v2/organizations', 200, 5, 40, 'SAMINC', printf('%06d', i) FROM n",
                (load,))
    con.commit()
    for d in range(days):
        t0 = start + d * 86400
        args = (t0, changes, n, d)
        con.execute(SEQ.format(count=changes) +
                    "INSERT INTO event_audit (at, topic, partition, offset, company, customer, "
                    "event_id, outcome, org_id, reason) SELECT strftime('%Y-%m-%dT%H:%M:%fZ', "
                    "?1 + 86400.0 * i / ?2, 'unixepoch'), 'sage300.customers.v1', i % 3, "
                    "?3 + ?4 * ?2 + i, 'SAMINC', printf('%06d', abs(random()) % ?3), "
                    "lower(hex(randomblob(16))), CASE WHEN i % 5000 = 4999 THEN 'dlq' ELSE "
                    "'updated' END, NULL, CASE WHEN i % 5000 = 4999 THEN 'mapping: no name' END "
                    "FROM n", args)
        con.execute(SEQ.format(count=changes) +
                    "INSERT INTO call_audit (at, method, path, status, tokens, duration_ms, company, "
                    "customer) SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1 + 86400.0 * i / ?2, "
                    "'unixepoch'), 'PATCH', '/api/v2/organizations/' || (abs(random()) % ?3 + 1), "
                    "200, 5, 40, 'SAMINC', printf('%06d', abs(random()) % ?3) FROM n "
                    "WHERE ?4 >= 0", args)
        con.commit()
    # the hourly summaries the loader keeps with the audit rows (as its
    # schema migration backfills them)
    if con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'spend_hour'").fetchone()[0]:
        con.execute("DELETE FROM spend_hour")
        con.execute("DELETE FROM outcome_hour")
        con.execute("INSERT INTO spend_hour (hour, kind, tokens, calls, status_429, status_5xx) "
                    "SELECT substr(at, 1, 13), CASE method WHEN 'POST' THEN 'creates' "
                    "ELSE 'updates' END, sum(tokens), count(*), sum(status = 429), "
                    "sum(status >= 500) FROM call_audit GROUP BY 1, 2")
        con.execute("INSERT INTO outcome_hour (hour, outcome, count) SELECT substr(at, 1, 13), "
                    "outcome, count(*) FROM event_audit GROUP BY 1, 2")
    con.execute("INSERT OR REPLACE INTO meta VALUES ('last_scan_ms', ?1)", (str(int(start * 1000)),))
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def timed(argv, env, runs):
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        cp = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        times.append(time.monotonic() - t0)
        if cp.returncode != 0:
            raise SystemExit(f"{' '.join(argv)}: exit {cp.returncode}: {cp.stderr[-1000:]}")
    return statistics.median(times), min(times), max(times), len(cp.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--dir", help="where the state files go (default: a temporary directory)")
    ap.add_argument("--customers", type=int, default=1000000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--changes", type=int, default=20000, help="changed customers per day")
    ap.add_argument("--poll", type=int, default=5, help="extractor poll interval, seconds")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--load-hours", type=float,
                    help="the first load started this many hours ago (default: --days ago); "
                    "e.g. 14: its million events and calls fall in status's last 24 h")
    ap.add_argument("--keep", action="store_true", help="reuse filled files found in --dir")
    args = ap.parse_args()
    d = args.dir or tempfile.mkdtemp(prefix="mlc-bench-state-")
    os.makedirs(d, exist_ok=True)
    ext_db, ld_db = os.path.join(d, "extractor.db"), os.path.join(d, "loader.db")
    try:
        if not (args.keep and os.path.exists(ext_db) and os.path.exists(ld_db)):
            for p in (ext_db, ld_db):
                for s in ("", "-wal", "-shm"):
                    if os.path.exists(p + s):
                        os.unlink(p + s)
            make_empty(args.build, ext_db, ld_db)
            t0 = time.monotonic()
            fill_extractor(ext_db, args.customers, args.days, args.poll)
            fill_loader(ld_db, args.customers, args.days, args.changes, args.load_hours)
            print(f"filled in {time.monotonic() - t0:.0f} s")
        for db in (ext_db, ld_db):
            con = sqlite3.connect(db)
            counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for (t,) in
                      con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            con.close()
            print(f"{os.path.basename(db)}: {os.path.getsize(db) / 1e6:.0f} MB, rows {counts}")
        env = dict(os.environ, MLC_KAFKA_BROKERS="")
        mlc = os.path.join(args.build, "mlc")
        cust = f"{args.customers // 2:06d}"
        cmds = [("mlc status --json (extractor + loader files)",
                 [mlc, "status", "--extractor-db", ext_db, "--loader-db", ld_db, "--json"]),
                ("mlc status --extractor-db only", [mlc, "status", "--extractor-db", ext_db, "--json"]),
                ("mlc status --loader-db only", [mlc, "status", "--loader-db", ld_db, "--json"]),
                (f"mlc audit --db loader.db --customer {cust}",
                 [mlc, "audit", "--db", ld_db, "--customer", cust]),
                (f"mlc audit --db extractor.db --customer {cust}",
                 [mlc, "audit", "--db", ext_db, "--customer", cust]),
                (f"mlc audit --db extractor.db --db loader.db --customer {cust}",
                 [mlc, "audit", "--db", ext_db, "--db", ld_db, "--customer", cust])]
        ok = True
        for label, argv in cmds:
            med, lo, hi, out = timed(argv, env, args.runs)
            ok = ok and med < 0.1
            print(f"{label}: median {med * 1000:.0f} ms (min {lo * 1000:.0f}, max {hi * 1000:.0f}; "
                  f"{args.runs} runs, {out} bytes of output) {'OK' if med < 0.1 else 'SLOW'}")
            sys.stdout.flush()
        return 0 if ok else 1
    finally:
        if not args.dir:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
