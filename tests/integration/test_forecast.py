"""The initial-load forecast against a real load over several budget days.

A Pipedrive sandbox with a short budget "day" (--day-length L) and a scaled
budget (--daily-budget B), N new customers extracted into the topic, then:

  mlc-loader drain --dry-run   prints the creates and tokens it would spend and
                               the days that takes; checked against the real
                               counts of the load below;
  mlc-loader drain             started just after a sandbox day begins; a
                               second after its first write, `mlc status
                               --json` gives the forecast (customers without
                               organization from the extractor's last full
                               scan less the loader's organizations, 5 tokens
                               each, the budget the loader saw net of the
                               reserve); its eta_days x L is checked against
                               the time the load really took, within 10 %.

The budget is sized so that the paced writes (growth: 39 requests per 2 s)
take nearly the whole sandbox day to spend its net budget: the forecast
counts whole budgets spread over the day. (With 16 s of writes in a 20 s day
it was 8.7 % and 9.7 % late in two runs: each day's idle tail between the
reserve and the reset is time the forecast does not know about.)
"""
import json
import math
import os
import re
import shutil
import sqlite3
import time
import urllib.request

import mlctest
from test_loader import TOKEN

DAY = 20          # seconds of a sandbox budget day
BUDGET = 2300     # tokens a sandbox day: net 1,840, ~19 s of paced creates (97.5 tokens/s)
RESERVE = 20
HEADROOM = 5      # MLC_LOAD_UPDATE_HEADROOM_PCT's default: creates stop above it
CUSTOMERS = 850   # 4,250 tokens of creates: ~2.3 net budgets


class Forecast(mlctest.TestCase):
    def test_forecast_meets_the_real_load(self):
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        sage = self.procs.start_server(
            [mlctest.binary("mlc-sage-sim"), "--port", "0", "--company", "SAMINC",
             "--customers", str(CUSTOMERS), "--page-size", "1000", "--seed", "7",
             "--today", "2024-03-18"], name="sage-sim")
        pd = self.procs.start_server(
            [mlctest.binary("mlc-pipedrive-sim"), "--token", TOKEN, "--plan", "growth",
             "--day-length", str(DAY), "--daily-budget", str(BUDGET)], name="pdsim")
        _, bootstrap = self.devbroker(partitions=3)
        ext_db = os.path.join(self.workdir, "extractor.db")
        ld_db = os.path.join(self.workdir, "loader.db")
        common = {"MLC_KAFKA_BROKERS": bootstrap, "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000"}
        cp = self.procs.run([mlctest.binary("mlc-extractor"), "once"], env=dict(
            common, MLC_SAGE_URL=sage.first_line, MLC_SAGE_COMPANIES="SAMINC",
            MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD="webapi", MLC_SAGE_PAGE_SIZE="1000",
            MLC_STATE_DB=ext_db), timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        ld_env = dict(common, MLC_PIPEDRIVE_URL=pd.first_line, MLC_PIPEDRIVE_TOKEN=TOKEN,
                      MLC_PIPEDRIVE_PLAN="growth", MLC_PIPEDRIVE_RESERVE_PCT=str(RESERVE),
                      MLC_PIPEDRIVE_PAUSE_PROBE="1", MLC_PIPEDRIVE_CONCURRENCY="4",
                      MLC_STATE_DB=ld_db, MLC_KAFKA_GROUP="forecast")

        # the custom fields first (a dry run creates none)
        cp = self.procs.run([mlctest.binary("mlc-loader"), "setup"], env=ld_env, timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        # the dry run: what it would do, before anything is written
        cp = self.procs.run([mlctest.binary("mlc-loader"), "drain", "--dry-run"], env=ld_env,
                            timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        m = re.search(r"dry run: (\d+) creates \((\d+) tokens\), (\d+) updates \((\d+) tokens\)",
                      cp.stdout)
        self.assertIsNotNone(m, cp.stdout[-2000:])
        dry_creates, dry_tokens = int(m.group(1)), int(m.group(2))
        print("".join(line + "\n" for line in cp.stdout.splitlines() if "dry run:" in line))
        m = re.search(r"dry run: daily budget (\d+), reserve (\d+) %, update headroom (\d+) %: "
                      r"(\d+) tokens a day for creates; ([\d.]+) days", cp.stdout)
        self.assertIsNotNone(m, cp.stdout[-2000:])
        net_creates = BUDGET * (100 - RESERVE - HEADROOM) // 100
        self.assertEqual(tuple(int(m.group(i)) for i in (1, 2, 3, 4)),
                         (BUDGET, RESERVE, HEADROOM, net_creates))
        self.assertAlmostEqual(float(m.group(5)), dry_tokens / net_creates, places=2)
        self.assertFalse(os.path.exists(ld_db) and os.path.getsize(ld_db) > 0
                         and self.created(ld_db), "the dry run wrote to the state file")

        # the load, started just after a sandbox day begins (days are
        # multiples of DAY since the epoch)
        boundary = (math.floor(time.time() / DAY) + 1) * DAY
        time.sleep(max(0.0, boundary + 0.2 - time.time()))
        start = time.time()
        port = mlctest.free_port()
        loader = self.procs.start([mlctest.binary("mlc-loader"), "drain"],
                                  env=dict(ld_env, MLC_METRICS_PORT=str(port)), name="loader")
        status = [mlctest.binary("mlc"), "status", "--extractor-db", ext_db, "--loader-db", ld_db,
                  "--json"]
        fc, t_fc, doc = None, None, None
        while time.time() < start + DAY:
            time.sleep(0.5)
            if not os.path.exists(ld_db) or not self.created(ld_db):
                continue
            cp = self.procs.run(status, env={"MLC_KAFKA_BROKERS": ""})
            self.assertEqual(cp.returncode, 0, cp.stderr)
            doc = json.loads(cp.stdout)
            if "eta_days" in doc.get("forecast", {}):
                fc, t_fc = doc["forecast"], time.time()
                break
        # as an operator reads it (docs/operations.md, Day to day, shows this output)
        text = self.procs.run(status[:-1], env={"MLC_KAFKA_BROKERS": ""}).stdout
        print("".join(line + "\n" for line in text.splitlines() if "loader" in line or
                      "initial load" in line or "forecast" in line or "budget" in line))
        self.assertIsNotNone(fc, f"no forecast within the first sandbox day: "
                             f"{doc and doc.get('forecast')}; {loader.stderr()[-2000:]}")
        # the loader's backlog and the extractor's count agree once the
        # backlog holds every customer still to create; the larger one counts
        self.assertEqual(fc["customers_without_org"],
                         max(fc.get("backlog_creates", 0), fc["extractor_unmapped"]), fc)
        self.assertIn(fc["source"], ("extractor", "backlog_creates"), fc)
        self.assertEqual((fc["daily_budget"], fc["reserve_pct"]), (BUDGET, RESERVE), fc)
        self.assertEqual(fc["tokens"], fc["customers_without_org"] * 5)
        self.assertGreater(fc["customers_without_org"], CUSTOMERS * 0.8, fc)
        # today's spending and the loader's own ETA as metrics
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        creates = re.search(r'^mlc_loader_tokens_today\{kind="creates"\} (\S+)$', metrics, re.M)
        self.assertIsNotNone(creates, metrics[-3000:])
        self.assertGreater(float(creates.group(1)), 0)
        self.assertRegex(metrics, r'(?m)^mlc_loader_tokens_today\{kind="field_setup"\} [1-9]')
        self.assertRegex(metrics, r"(?m)^mlc_loader_429_today \d")
        eta = re.search(r"^mlc_loader_initial_load_eta_days (\S+)$", metrics, re.M)
        self.assertIsNotNone(eta, metrics[-3000:])
        self.assertGreater(float(eta.group(1)), 0)
        rc = loader.wait(timeout=8 * DAY)
        took = time.time() - t_fc
        self.assertEqual(rc, 0, loader.stderr()[-3000:])
        predicted = fc["eta_days"] * DAY
        print(f"forecast {fc['eta_days']:.3f} days = {predicted:.1f} s at "
              f"{t_fc - start:.1f} s after the start; the load took {took:.1f} s more")
        self.assertLess(abs(predicted - took), 0.10 * took,
                        f"forecast {predicted:.1f} s, real {took:.1f} s")

        # the dry run's counts are the real ones
        con = sqlite3.connect(ld_db)
        created = con.execute("SELECT count(*) FROM event_audit WHERE outcome = 'created'"
                              ).fetchone()[0]
        create_tokens = con.execute("SELECT sum(tokens) FROM spend_hour WHERE kind = 'creates'"
                                    ).fetchone()[0]
        con.close()
        self.assertEqual((dry_creates, dry_tokens), (CUSTOMERS, CUSTOMERS * 5))
        self.assertEqual((created, create_tokens), (dry_creates, dry_tokens))

    @staticmethod
    def created(db):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute("SELECT count(*) FROM event_audit WHERE outcome = 'created'"
                               ).fetchone()[0]
        except sqlite3.Error:
            return 0
        finally:
            con.close()


if __name__ == "__main__":
    mlctest.main()
