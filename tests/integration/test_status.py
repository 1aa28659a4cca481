"""mlc status against real state files from a short pipeline run (sage-sim ->
extractor -> dev broker -> loader -> pipedrive-sim): watermarks and last
cycles, committed offsets and lag (lag appears when events are published and
not yet loaded), the last seen budget, outcomes and DLQ count, as text and
--json; missing files and unreachable brokers are reported, not fatal."""
import json
import os
import shutil
import sqlite3
import subprocess
import time

import mlctest
from test_loader import TOKEN


class Status(mlctest.TestCase):
    def render(self, page):
        """The DOM headless Chromium builds from page (Debian's chromium)."""
        browser = shutil.which("chromium")
        if not browser:
            raise mlctest.missing("chromium is not installed")
        profile = os.path.join(self.workdir, "chromium")
        cp = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                             "--disable-quic", "--no-first-run", "--disable-background-networking",
                             "--disable-component-update", "--disable-sync",
                             f"--user-data-dir={profile}", "--dump-dom", "file://" + page],
                            capture_output=True, text=True, timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr[-2000:])
        return cp.stdout

    def test_status_of_a_real_pipeline(self):
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        sage = self.procs.start_server(
            [mlctest.binary("mlc-sage-sim"), "--port", "0", "--company", "SAMINC",
             "--company", "SAMLTD", "--customers", "6", "--seed", "5", "--today", "2024-03-18"],
            name="sage-sim")
        pd = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--token", TOKEN],
                                     name="pdsim")
        _, bootstrap = self.devbroker(partitions=3)
        ext_db = os.path.join(self.workdir, "extractor.db")
        ld_db = os.path.join(self.workdir, "loader.db")
        common = {"MLC_KAFKA_BROKERS": bootstrap, "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000"}
        ext_env = dict(common, MLC_SAGE_URL=sage.first_line, MLC_SAGE_COMPANIES="SAMINC,SAMLTD",
                       MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD="webapi", MLC_STATE_DB=ext_db)
        cp = self.procs.run([mlctest.binary("mlc-extractor"), "once"], env=ext_env)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        cp = self.procs.run([mlctest.binary("mlc-loader"), "drain"], env=dict(
            common, MLC_PIPEDRIVE_URL=pd.first_line, MLC_PIPEDRIVE_TOKEN=TOKEN,
            MLC_PIPEDRIVE_PLAN="growth", MLC_STATE_DB=ld_db), timeout=300)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        # 12 more events that no loader has consumed yet: lag 12
        cp = self.procs.run([mlctest.binary("mlc-extractor"), "once", "--full", "--force"], env=ext_env)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])

        status = [mlctest.binary("mlc"), "status", "--extractor-db", ext_db, "--loader-db", ld_db]
        cp = self.procs.run(status + ["--json"], env=common)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        doc = json.loads(cp.stdout)
        con = sqlite3.connect(ext_db)
        marks = dict(con.execute("SELECT company, day FROM watermark"))
        con.close()
        comps = doc["extractor"]["companies"]
        self.assertEqual([c["company"] for c in comps], ["SAMINC", "SAMLTD"])
        for c in comps:
            self.assertEqual(c["watermark"], marks[c["company"]])
            self.assertEqual(c["result"], "ok")
            self.assertEqual(c["published"], 6)  # the forced cycle
        k = doc["kafka"]
        self.assertNotIn("error", k)
        self.assertEqual(len(k["partitions"]), 3)
        self.assertEqual(sum(p["committed"] for p in k["partitions"]), 12)
        self.assertEqual(sum(p["high"] for p in k["partitions"]), 24)
        self.assertEqual(sum(p["lag"] for p in k["partitions"]), 12)
        ld = doc["loader"]
        self.assertEqual({o["outcome"]: o["count"] for o in ld["outcomes_24h"]}, {"created": 12})
        self.assertEqual(ld["dlq"][0]["dlq"], 0)
        self.assertEqual(ld["idmap"][0]["organizations"], 12)
        meta = {m["key"]: m["value"] for m in ld["meta"]}
        _, _, stats = mlctest.http_json("GET", pd.first_line + "/_sim/stats")
        budget = stats["companies"][0]["daily_budget"] - stats["companies"][0]["tokens_spent_today"]
        self.assertEqual(int(meta["daily_remaining"]), budget)
        self.assertIn("burst_remaining", meta)
        self.assertGreater(ld["calls_24h"][0]["calls"], 12)
        self.assertNotIn(TOKEN, cp.stdout)
        # what the budget went on, by kind: 12 creates at 5 tokens, the field
        # set-up, the cold-map scan; every token the sandbox charged is counted
        days = ld["spending_7d"]
        self.assertEqual(len(days), 1, days)
        day = days[0]
        self.assertEqual(day["creates"], 60)
        self.assertEqual(day["updates"], 0)
        self.assertGreaterEqual(day["scans"], 10)
        self.assertGreater(day["field_setup"], 0)
        self.assertEqual(day["total"], stats["tokens_spent"])
        self.assertEqual(day["total"], sum(day[k] for k in
                                           ("creates", "updates", "scans", "field_setup",
                                            "probes")))
        self.assertEqual(day["other"], 0)
        self.assertEqual(day["status_429"], 0)
        self.summaries_agree(ld_db, common)

        # the forecast: the loader recorded the budget it saw, the reserve and
        # its lag (0: drained); 12 customers in the last full scans, 12 mapped
        self.assertEqual(int(meta["daily_budget"]), stats["companies"][0]["daily_budget"])
        self.assertEqual(meta["reserve_pct"], "20")
        self.assertEqual(meta["lag"], "0")
        fc = doc["forecast"]
        # (the loader's backlog is empty too; the larger count, 0, is taken)
        self.assertEqual((fc["customers_without_org"], fc["tokens"], fc["eta_days"]), (0, 0, 0), fc)
        self.assertEqual(meta["backlog_creates"], "0")
        # creates may spend the budget less the reserve (20 %) and the update headroom (5 %)
        self.assertEqual(meta["headroom_pct"], "5")
        self.assertEqual(fc["net_daily"], stats["companies"][0]["daily_budget"] * 0.75)
        # a loader that records its backlog of creates: that count, when larger
        con = sqlite3.connect(ld_db)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('backlog_creates', '1000')")
        con.commit()
        con.close()
        cp = self.procs.run(status + ["--json"], env=common)
        fc = json.loads(cp.stdout)["forecast"]
        self.assertEqual((fc["source"], fc["customers_without_org"], fc["tokens"]),
                         ("backlog_creates", 1000, 5000), fc)
        self.assertAlmostEqual(fc["eta_days"], 5000 / fc["net_daily"])
        cp = self.procs.run(status, env=common)
        self.assertIn("initial load: 1000 customers without organization (backlog_creates), "
                      "5000 tokens", cp.stdout)
        self.assertRegex(cp.stdout, r"forecast: daily budget \d+ - reserve 20 % - update headroom "
                         r"5 % = \d+ tokens a day for creates: \d+\.\d\d days, done about "
                         r"\d{4}-\d\d-\d\d")

        cp = self.procs.run(status, env=common)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"SAMINC +watermark=" + marks["SAMINC"] + " last=full ok")
        self.assertIn("outcomes (24 h): created=12", cp.stdout)
        self.assertIn(f"pipedrive daily budget left (last seen): {budget} tokens", cp.stdout)
        self.assertIn("dlq: 0", cp.stdout)
        self.assertRegex(cp.stdout, r"tokens by day +creates +updates")
        self.assertRegex(cp.stdout, day["day"] + r" +60 +0 ")
        self.assertRegex(cp.stdout, r"partition 0 +committed=\d+ high=\d+ lag=\d+")

        # the same facts as one self-contained page, as a browser shows it
        page = os.path.join(self.workdir, "status.html")
        cp = self.procs.run(status + ["--html", page], env=common)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        with open(page, encoding="utf-8") as f:
            html = f.read()
        self.assertNotRegex(html, r"(?i)<script|<link|<img|<iframe|url\(|src=|href=")
        dom = self.render(page)
        self.assertRegex(dom, r'<td class="n" id="orgs">12</td>')
        self.assertRegex(dom, r'<b id="lag">12</b>')
        self.assertRegex(dom, r'<td class="n" id="dlq">0</td>')
        self.assertRegex(dom, r"<tr><td>" + day["day"] + r'</td><td class="n">60</td>'
                         r'<td class="n">0</td>')
        self.assertRegex(dom, r"<td>SAMINC</td><td>" + marks["SAMINC"])
        self.assertRegex(dom, r'<td class="n" id="eta_days">\d+\.\d\d</td>')
        self.assertEqual(dom.count("<rect "), sum(1 for k in ("creates", "updates", "scans",
                                                              "field_setup", "probes")
                                                  if day[k] > 0))
        self.assertNotIn(TOKEN, html)

        # missing files and brokers that do not answer: reported, exit 0, quickly
        start = time.monotonic()
        cp = self.procs.run([mlctest.binary("mlc"), "status", "--extractor-db",
                             os.path.join(self.workdir, "nope.db"), "--loader-db", ld_db,
                             "--json"], env={"MLC_KAFKA_BROKERS": f"127.0.0.1:{mlctest.free_port()}"})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertLess(time.monotonic() - start, 30)
        doc = json.loads(cp.stdout)
        self.assertEqual(doc["extractor"]["error"], "missing")
        self.assertIn("unreachable", doc["kafka"]["error"])
        self.assertIn("outcomes_24h", doc["loader"])
        cp = self.procs.run([mlctest.binary("mlc"), "status", "--bogus"])
        self.assertEqual(cp.returncode, 2)

        # a weakened setting shows until a start without it
        self.assertEqual(self.insecure(status, common), ([], ""))
        cp = self.procs.run([mlctest.binary("mlc-extractor"), "once"],
                            env=dict(ext_env, MLC_SAGE_INSECURE="true"))
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assertEqual(self.insecure(status, common),
                         ([{"settings": "MLC_SAGE_INSECURE"}],
                          "  INSECURE since the last start: MLC_SAGE_INSECURE "
                          "(docs/operations.md, Security model)"))
        cp = self.procs.run([mlctest.binary("mlc-extractor"), "once"], env=ext_env)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assertEqual(self.insecure(status, common), ([], ""))

    def summaries_agree(self, ld_db, env):
        """spend_hour and outcome_hour hold what the audit rows say, and the
        schema migration's backfill from those rows gives the same summary
        as the loader kept while it ran."""
        def summary(db):
            con = sqlite3.connect(db)
            out = (con.execute("SELECT kind, sum(tokens), sum(calls), sum(status_429) FROM "
                               "spend_hour GROUP BY kind ORDER BY kind").fetchall(),
                   con.execute("SELECT outcome, sum(count) FROM outcome_hour GROUP BY outcome "
                               "ORDER BY outcome").fetchall(),
                   con.execute("SELECT count(*), sum(tokens) FROM call_audit").fetchone(),
                   con.execute("SELECT outcome, count(*) FROM event_audit GROUP BY outcome "
                               "ORDER BY outcome").fetchall())
            con.close()
            return out
        kept = summary(ld_db)
        spend, outcomes, calls, events = kept
        self.assertEqual((sum(r[2] for r in spend), sum(r[1] for r in spend)), calls)
        self.assertEqual(outcomes, events)
        self.assertEqual({r[0] for r in spend} - {"creates", "scans", "field_setup", "probes"},
                         set(), spend)
        old = os.path.join(self.workdir, "loader-v2.db")
        con = sqlite3.connect(ld_db)
        con.execute("VACUUM INTO ?", (old,))
        con.close()
        con = sqlite3.connect(old)
        con.executescript("DROP TABLE spend_hour; DROP TABLE outcome_hour; DROP TABLE backlog; "
                          "PRAGMA user_version = 2;")
        con.close()
        # a status of this release on a file the old loader wrote: one clear line
        cp = self.procs.run([mlctest.binary("mlc"), "status", "--json", "--loader-db", old,
                             "--extractor-db", os.path.join(self.workdir, "none.db")],
                            env={"MLC_KAFKA_BROKERS": f"127.0.0.1:{mlctest.free_port()}"})
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("written by an older mlc-loader", json.loads(cp.stdout)["loader"]["error"])
        # the loader migrates its state file, then stops at the missing event
        # key before any call
        dead = f"127.0.0.1:{mlctest.free_port()}"
        cp = self.procs.run([mlctest.binary("mlc-loader"), "drain"], timeout=120, env={
            "MLC_STATE_DB": old, "MLC_PIPEDRIVE_URL": f"http://{dead}",
            "MLC_PIPEDRIVE_TOKEN": TOKEN, "MLC_KAFKA_BROKERS": dead,
            "MLC_EVENT_KEY_FILE": os.path.join(self.workdir, "no-such-key")})
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("no-such-key", cp.stderr)
        self.assertEqual(summary(old), kept)

    def insecure(self, status, env):
        cp = self.procs.run(status + ["--json"], env=env)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        listed = json.loads(cp.stdout)["extractor"]["insecure"]
        cp = self.procs.run(status, env=env)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return listed, "".join(line for line in cp.stdout.splitlines() if "INSECURE" in line)


if __name__ == "__main__":
    mlctest.main()
