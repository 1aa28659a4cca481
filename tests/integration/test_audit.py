"""mlc audit filters on real state files from a short pipeline run: by
customer, company, outcome (event outcomes, cycle results, a call's HTTP
status) and time (--since/--until, ISO 8601 UTC, inclusive), in the sections
and in the merged cross-database history; bad times are refused."""
import datetime
import json
import os
import shutil
import sqlite3
import time

import mlctest
from test_loader import TOKEN


def utc(delta_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_s)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class AuditFilters(mlctest.TestCase):
    def setUp(self):
        super().setUp()
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        self.t0 = utc(-1)
        sage = self.procs.start_server(
            [mlctest.binary("mlc-sage-sim"), "--port", "0", "--company", "SAMINC",
             "--company", "SAMLTD", "--customers", "5", "--seed", "9", "--today", "2024-03-18"],
            name="sage-sim")
        self.sage_ctl = sage.first_line.split("/Sage300WebApi/")[0] + "/_sim"
        pd = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--token", TOKEN],
                                     name="pdsim")
        _, bootstrap = self.devbroker(partitions=3)
        self.ext_db = os.path.join(self.workdir, "extractor.db")
        self.ld_db = os.path.join(self.workdir, "loader.db")
        common = {"MLC_KAFKA_BROKERS": bootstrap, "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000"}
        self.ext_env = dict(common, MLC_SAGE_URL=sage.first_line,
                            MLC_SAGE_COMPANIES="SAMINC,SAMLTD", MLC_SAGE_USER="webapi",
                            MLC_SAGE_PASSWORD="webapi", MLC_STATE_DB=self.ext_db)
        self.ld_env = dict(common, MLC_PIPEDRIVE_URL=pd.first_line, MLC_PIPEDRIVE_TOKEN=TOKEN,
                           MLC_PIPEDRIVE_PLAN="ultimate", MLC_STATE_DB=self.ld_db)
        self.pipeline()

    def pipeline(self):
        cp = self.procs.run([mlctest.binary("mlc-extractor"), "once"], env=self.ext_env)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        cp = self.procs.run([mlctest.binary("mlc-loader"), "drain"], env=self.ld_env, timeout=300)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])

    def audit(self, *args, code=0):
        cp = self.procs.run([mlctest.binary("mlc"), "audit", *args])
        self.assertEqual(cp.returncode, code, cp.stderr)
        return json.loads(cp.stdout) if "--json" in args and code == 0 else cp

    def test_filters(self):
        ld = self.audit("--db", self.ld_db, "--json")
        # a SAMINC customer: the SAMLTD counts below must not depend on
        # which partition happened to be read first
        first = next(e for e in ld["events"] if e["company"] == "SAMINC")
        customer, company = first["customer"], first["company"]
        self.assertEqual(len(ld["events"]), 10)
        # rename one customer: a second pass gives one "updated"
        mlctest.http("PATCH", f"{self.sage_ctl}/companies/{company}/customers/{customer}",
                     {"CustomerName": "Audit Renamed"})
        time.sleep(1.1)  # times have whole seconds: keep the two passes apart
        mid = utc()
        time.sleep(1.1)
        self.pipeline()

        # outcome: loader events
        doc = self.audit("--db", self.ld_db, "--outcome", "updated", "--json")
        self.assertEqual([(e["company"], e["customer"]) for e in doc["events"]],
                         [(company, customer)])
        doc = self.audit("--db", self.ld_db, "--outcome", "created", "--json")
        self.assertEqual(len(doc["events"]), 10)
        self.assertTrue(all(e["outcome"] == "created" for e in doc["events"]))
        # outcome on calls is the HTTP status
        status = self.audit("--db", self.ld_db, "--json")["calls"][-1]["status"]
        doc = self.audit("--db", self.ld_db, "--outcome", str(status), "--json")
        self.assertTrue(doc["calls"])
        self.assertTrue(all(c["status"] == status for c in doc["calls"]))
        self.assertEqual(doc["events"], [])
        # extractor: outcome of the reads, result of the cycles, company
        doc = self.audit("--db", self.ext_db, "--outcome", "published", "--company", "SAMLTD",
                         "--json")
        self.assertEqual(len(doc["audit"]), 5)
        self.assertTrue(all(a["company"] == "SAMLTD" for a in doc["audit"]))
        self.assertEqual(doc["cycles"], [])  # no cycle has the result "published"
        doc = self.audit("--db", self.ext_db, "--outcome", "ok", "--company", "SAMLTD", "--json")
        self.assertEqual(len(doc["cycles"]), 2)
        # time: the second pass only, nothing in the future, everything since t0
        doc = self.audit("--db", self.ld_db, "--since", mid, "--json")
        self.assertEqual([e["outcome"] for e in doc["events"]], ["updated"])
        doc = self.audit("--db", self.ld_db, "--until", mid, "--json")
        self.assertEqual(len(doc["events"]), 10)
        doc = self.audit("--db", self.ld_db, "--since", utc(3600), "--json")
        self.assertEqual((doc["events"], doc["calls"]), ([], []))
        doc = self.audit("--db", self.ld_db, "--since", self.t0[:10], "--json")  # a bare date
        self.assertEqual(len(doc["events"]), 11)
        # history across both databases, filtered
        doc = self.audit("--db", self.ext_db, "--db", self.ld_db, "--customer", customer,
                         "--company", company, "--json")
        hist = doc["history"]
        self.assertEqual({(h["company"], h["customer"]) for h in hist}, {(company, customer)})
        self.assertEqual([h["at"] for h in hist], sorted(h["at"] for h in hist))
        events = [h["outcome"] for h in hist if h["what"].startswith("event ")]
        self.assertEqual(events, ["created", "updated"])
        doc = self.audit("--db", self.ext_db, "--db", self.ld_db, "--customer", customer,
                         "--company", company, "--since", mid, "--json")
        self.assertTrue(doc["history"])
        self.assertTrue(all(h["at"][:19] >= mid[:19] for h in doc["history"]))
        self.assertEqual([h["outcome"] for h in doc["history"] if h["what"].startswith("event ")],
                         ["updated"])
        doc = self.audit("--db", self.ext_db, "--db", self.ld_db, "--customer", customer,
                         "--company", company, "--outcome", "published", "--json")
        self.assertEqual([h["source"] for h in doc["history"]], ["extractor", "extractor"])
        # text form with a filter
        cp = self.audit("--db", self.ld_db, "--outcome", "updated")
        self.assertIn("outcome=updated", cp.stdout)
        self.assertNotIn("outcome=created", cp.stdout)
        # bad times are refused
        for bad in ("yesterday", "2024-13", "2024-03-18T10:00:00+02:00", "2024-03-18 10:00"):
            cp = self.audit("--db", self.ld_db, "--since", bad, code=2)
            self.assertIn("usage", cp.stderr)


    def age(self, db, table, n):
        """Moves the first n rows of table 200 days back; returns their ids."""
        with sqlite3.connect(db) as c:
            ids = [r[0] for r in c.execute(f"SELECT id FROM {table} ORDER BY id LIMIT {n}")]
            c.executemany(f"UPDATE {table} SET at = '2020-01-01T00:00:00Z' WHERE id = ?",
                          [(i,) for i in ids])
        return ids

    def count(self, db, table, ids=None):
        with sqlite3.connect(db) as c:
            if ids is None:
                return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            marks = ",".join("?" * len(ids))
            return c.execute(f"SELECT count(*) FROM {table} WHERE id IN ({marks})",
                             ids).fetchone()[0]

    def test_retention_prunes_old_rows_only(self):
        tables = ((self.ext_db, "audit"), (self.ld_db, "event_audit"), (self.ld_db, "call_audit"))
        # MLC_AUDIT_RETENTION_DAYS=0 keeps everything
        aged = {t: self.age(db, t, 3) for db, t in tables}
        before = {t: self.count(db, t) for db, t in tables}
        self.ext_env["MLC_AUDIT_RETENTION_DAYS"] = "0"
        self.ld_env["MLC_AUDIT_RETENTION_DAYS"] = "0"
        self.pipeline()
        for db, t in tables:
            self.assertEqual(self.count(db, t, aged[t]), 3, t)
        # the default (90 days) deletes the aged rows and nothing else
        del self.ext_env["MLC_AUDIT_RETENTION_DAYS"], self.ld_env["MLC_AUDIT_RETENTION_DAYS"]
        self.pipeline()
        for db, t in tables:
            self.assertEqual(self.count(db, t, aged[t]), 0, t)
            self.assertGreaterEqual(self.count(db, t), before[t] - 3, t)
        # the extractor still knows its last cycle per company
        cp = self.procs.run([mlctest.binary("mlc"), "status", "--extractor-db", self.ext_db,
                             "--loader-db", self.ld_db, "--json"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("SAMLTD", cp.stdout)


if __name__ == "__main__":
    mlctest.main()
