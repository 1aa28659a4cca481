"""Sage 300 -> Kafka -> Pipedrive end to end: mlc-sage-sim, mlc-extractor,
mlc devbroker, mlc-loader, mlc-pipedrive-sim; then `mlc audit` with both
state files shows one customer's history from the Sage read to the Pipedrive
write in time order."""
import json
import os
import shutil
import sqlite3

import mlctest
from mlctest import http_json
from test_loader import TOKEN


class EndToEnd(mlctest.TestCase):
    def test_sage_to_pipedrive_and_audit_history(self):
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        sage = self.procs.start_server(
            [mlctest.binary("mlc-sage-sim"), "--port", "0", "--company", "SAMINC",
             "--customers", "25", "--seed", "3", "--today", "2024-03-18"], name="sage-sim")
        pd = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--token", TOKEN],
                                     name="pdsim")
        _, bootstrap = self.devbroker(partitions=3)
        ext_db = os.path.join(self.workdir, "extractor.db")
        ld_db = os.path.join(self.workdir, "loader.db")
        common = {"MLC_KAFKA_BROKERS": bootstrap, "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000"}
        cp = self.procs.run([mlctest.binary("mlc-extractor"), "once"], env=dict(
            common, MLC_SAGE_URL=sage.first_line, MLC_SAGE_COMPANIES="SAMINC",
            MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD="webapi", MLC_STATE_DB=ext_db))
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        cp = self.procs.run([mlctest.binary("mlc-loader"), "drain"], env=dict(
            common, MLC_PIPEDRIVE_URL=pd.first_line, MLC_PIPEDRIVE_TOKEN=TOKEN,
            MLC_PIPEDRIVE_PLAN="ultimate", MLC_STATE_DB=ld_db), timeout=300)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        con = sqlite3.connect(ld_db)
        created = con.execute("SELECT count(*) FROM event_audit WHERE outcome = 'created'")
        self.assertEqual(created.fetchone()[0], 25)
        customer = con.execute("SELECT customer FROM event_audit ORDER BY id LIMIT 1").fetchone()[0]
        con.close()

        cp = self.procs.run([mlctest.binary("mlc"), "audit", "--db", ext_db, "--db", ld_db,
                             "--customer", customer, "--json"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        doc = json.loads(cp.stdout)
        self.assertEqual([d["kind"] for d in doc["databases"]], ["extractor", "loader"])
        hist = doc["history"]
        self.assertEqual({h["customer"] for h in hist}, {customer})
        sources = [h["source"] for h in hist]
        self.assertEqual(sources[0], "extractor")  # the Sage read comes first
        self.assertIn("loader", sources)
        whats = [h["what"] for h in hist]
        self.assertTrue(any(w.startswith("pipedrive POST /api/v2/organizations") for w in whats),
                        whats)
        self.assertEqual([h["outcome"] for h in hist if h["what"].startswith("event ")],
                         ["created"])
        self.assertEqual([h["at"] for h in hist], sorted(h["at"] for h in hist))
        # text form
        cp = self.procs.run([mlctest.binary("mlc"), "audit", "--db", ext_db, "--db", ld_db,
                             "--customer", customer])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("== history", cp.stdout)
        self.assertIn("source=extractor what=\"sage read\"", cp.stdout)
        self.assertIn("outcome=created", cp.stdout)
        # the loader database alone
        cp = self.procs.run([mlctest.binary("mlc"), "audit", "--db", ld_db, "--json"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        doc = json.loads(cp.stdout)
        self.assertEqual(doc["kind"], "loader")
        self.assertEqual(len(doc["idmap"]), 25)
        self.assertEqual(len(doc["events"]), 25)
        self.assertNotIn(TOKEN, cp.stdout)


    def test_posted_invoice_reaches_pipedrive_after_one_balance_refresh(self):
        """The credit picture end to end: an invoice posted in Sage (which
        does not move DateLastMaintained) changes the balance fields of that
        one organization after one `once --balances`; an unchanged balance
        costs no organization write."""
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        sage = self.procs.start_server(
            [mlctest.binary("mlc-sage-sim"), "--port", "0", "--company", "SAMINC",
             "--customers", "25", "--seed", "3", "--today", "2024-03-18"], name="sage-sim")
        pd = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--token", TOKEN],
                                     name="pdsim")
        _, bootstrap = self.devbroker(partitions=3)
        root = sage.first_line.split("/Sage300WebApi/")[0]
        status, _, doc = http_json("POST", root + "/_sim/companies/SAMINC/customers?stamp=false",
                                   {"CustomerNumber": "CREDIT 1", "CustomerName": "Credit One",
                                    "CurrencyCode": "USD", "CreditLimitCustomerCurrency": 50000,
                                    "BalanceDueInCustomerCurrency": 10000,
                                    "NumberOfOpenDocuments": 2,
                                    "DateLastMaintained": "2023-01-02T00:00:00Z"})
        self.assertEqual(status, 201, doc)
        common = {"MLC_KAFKA_BROKERS": bootstrap, "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000"}
        ext_env = dict(common, MLC_SAGE_URL=sage.first_line, MLC_SAGE_COMPANIES="SAMINC",
                       MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD="webapi",
                       MLC_STATE_DB=os.path.join(self.workdir, "extractor.db"))
        ld_env = dict(common, MLC_PIPEDRIVE_URL=pd.first_line, MLC_PIPEDRIVE_TOKEN=TOKEN,
                      MLC_PIPEDRIVE_PLAN="ultimate",
                      MLC_STATE_DB=os.path.join(self.workdir, "loader.db"))

        def extract(*args):
            cp = self.procs.run([mlctest.binary("mlc-extractor"), "once", *args], env=ext_env)
            self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
            return cp

        def load():
            cp = self.procs.run([mlctest.binary("mlc-loader"), "drain"], env=ld_env, timeout=300)
            self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])

        def orgs():
            comp = http_json("GET", pd.first_line + "/_sim/state")[2]["companies"][0]
            keys = {f["name"]: f["key"] for f in comp["fields"]}
            return keys, {o["custom_fields"][keys["Sage 300 Customer ID"]]: o
                          for o in comp["organizations"]}

        def org_writes():
            ops = http_json("GET", pd.first_line + "/_sim/stats")[2]["operations"]
            return {k: v["count"] for k, v in ops.items()
                    if k in ("organizations.create", "organizations.update") and v["count"]}

        extract()
        load()
        keys, before = orgs()
        # every generated customer but those Pipedrive refuses (an address over
        # its 255 characters goes to the DLQ; not this test's concern)
        self.assertIn("CREDIT 1", before)
        self.assertGreaterEqual(len(before), 20)
        cf = before["CREDIT 1"]["custom_fields"]
        self.assertEqual(cf[keys["Balance Due"]], {"value": 10000, "currency": "USD"})
        self.assertEqual(cf[keys["Credit Used %"]], 20)

        # the invoice: one balance refresh, one organization changed
        http_json("DELETE", pd.first_line + "/_sim/stats")
        status, _, doc = http_json("POST", root + "/_sim/companies/SAMINC/customers/CREDIT%201/documents",
                                   {"type": "invoice", "amount": 2500, "date": "2024-03-15"})
        self.assertEqual(status, 200, doc)
        self.assertIn("published=1", extract("--balances").stderr)
        load()
        _, after = orgs()
        cf = after["CREDIT 1"]["custom_fields"]
        self.assertEqual(cf[keys["Balance Due"]], {"value": 12500, "currency": "USD"})
        self.assertEqual(cf[keys["Credit Used %"]], 25)
        self.assertEqual(cf[keys["Open Documents"]], 3)
        self.assertEqual(cf[keys["Last Invoice Date"]], "2024-03-15")
        self.assertEqual(after["CREDIT 1"]["name"], "Credit One")
        self.assertEqual(org_writes(), {"organizations.update": 1})
        self.assertEqual({n: o for n, o in after.items() if n != "CREDIT 1"},
                         {n: o for n, o in before.items() if n != "CREDIT 1"})

        # an unchanged balance: nothing published, no organization written
        http_json("DELETE", pd.first_line + "/_sim/stats")
        self.assertIn("published=0", extract("--balances").stderr)
        load()
        self.assertEqual(org_writes(), {})
        self.assertEqual(orgs()[1], after)


if __name__ == "__main__":
    mlctest.main()
