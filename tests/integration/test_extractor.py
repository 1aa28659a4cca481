"""mlc-extractor end to end against mlc-sage-sim and `mlc devbroker`.

Every test starts its own simulator and broker on free ports, runs the real
mlc-extractor binary and reads the topic back with kcat: initial load,
incremental cycles (same-day edits, new customers, nothing for unchanged
ones), keyset paging while customers are inserted mid-scan, a crash between
delivery and commit, Sage faults, `missing` detection, schema validation with
python3-jsonschema, both password modes, no credential in logs or the state
database, nextLink refusal, bad records, `run` with SIGTERM and `mlc audit`.
"""
import base64
import collections
import http.client
import http.server
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.parse

import jsonschema

import mlctest
from mlctest import http_json

SCHEMAS = {f"sage300.customer-change.{v}": json.load(open(os.path.join(
    mlctest.SRCDIR, "schemas", f"customer-change.{v}.json"))) for v in ("v1", "v2")}
TOPIC = "sage300.customers.v1"
# the balance properties the extractor's $select asks for, as Sage sends them
# for a customer without open documents (hand-made records need them for v2)
NO_BALANCE = {"BalanceDueInCustomerCurrency": 0, "AmountPastDue": 0, "NumberOfOpenDocuments": 0,
              "DateOfLastInvoice": None, "DateOfLastReceipt": None}
TODAY = "2024-03-18"


class PrefixProxy:
    """A reverse proxy on 127.0.0.1 publishing upstream under a path prefix, as
    IIS behind a corporate proxy: /sage/Sage300WebApi/... -> upstream/Sage300WebApi/...
    It records every path it forwarded and every @odata.nextLink it passed back."""

    def __init__(self, upstream_root, prefix="/sage"):
        up = urllib.parse.urlsplit(upstream_root)
        proxy = self
        self.prefix, self.paths, self.links, self.lock = prefix, [], [], threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.startswith(proxy.prefix + "/"):
                    self.send_error(404)
                    return
                path = self.path[len(proxy.prefix):]
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() in ("authorization", "content-type", "accept")}
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                try:
                    conn.request("GET", path, headers=hdrs)
                    r = conn.getresponse()
                    body = r.read()
                finally:
                    conn.close()
                with proxy.lock:
                    proxy.paths.append(path)
                    try:
                        link = json.loads(body).get("@odata.nextLink")
                    except (ValueError, AttributeError):
                        link = None
                    if link:
                        proxy.links.append(link)
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() in ("content-type", "www-authenticate", "retry-after"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}{prefix}/Sage300WebApi/v1.0/-/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Extractor(mlctest.TestCase):
    def start(self, customers=250, sim_page=100, top=100, sim_args=(), env=None):
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        argv = [mlctest.binary("mlc-sage-sim"), "--port", "0", "--company", "SAMINC",
                "--customers", str(customers), "--seed", "3", "--today", TODAY,
                "--page-size", str(sim_page), "--log-capacity", "5000", *sim_args]
        self.sim = self.procs.start_server(argv, name="sage-sim")
        self.base = self.sim.first_line
        self.root = self.base.split("/Sage300WebApi/")[0]
        self.broker, self.bootstrap = self.devbroker(partitions=3)
        self.db = os.path.join(self.workdir, "extractor.db")
        self.env = {
            "MLC_SAGE_URL": self.base,
            "MLC_SAGE_COMPANIES": "SAMINC",
            "MLC_SAGE_USER": "webapi",
            "MLC_SAGE_PASSWORD": "webapi",
            "MLC_SAGE_PAGE_SIZE": str(top),
            "MLC_KAFKA_BROKERS": self.bootstrap,
            "MLC_STATE_DB": self.db,
            "MLC_SAGE_RETRIES": "2",
            "MLC_SAGE_TIMEOUT": "10",
            "MLC_KAFKA_DELIVERY_TIMEOUT": "20",
        }
        self.env.update(env or {})

    # ---- helpers
    def ext(self, *args, env=None, timeout=120):
        full = dict(self.env)
        full.update(env or {})
        return self.procs.run([mlctest.binary("mlc-extractor"), *args], env=full, timeout=timeout)

    def ok(self, *args, env=None):
        cp = self.ext(*args, env=env)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        return cp

    def ctl(self, method, path, body=None):
        return http_json(method, self.root + path, body=body)

    def fault(self, **kw):
        status, _, doc = self.ctl("POST", "/_sim/faults", kw)
        self.assertEqual(status, 201, doc)

    def sage_keys(self, company="SAMINC"):
        status, _, doc = self.ctl("GET", f"/_sim/companies")
        self.assertEqual(status, 200, doc)
        keys, after = [], None
        hdrs = {"Authorization": "Basic " + base64.b64encode(b"WEBAPI:WEBAPI").decode(),
                "Content-Type": "application/json"}
        while True:
            q = "$select=CustomerNumber&$orderby=CustomerNumber&$top=100"
            if after is not None:
                q += "&$filter=" + urllib.parse.quote("CustomerNumber gt '%s'" % after.replace("'", "''"), safe="")
            status, _, doc = http_json("GET", f"{self.base}{company}/AR/ARCustomers?{q}", headers=hdrs)
            self.assertEqual(status, 200, doc)
            if not doc["value"]:
                return keys
            keys += [r["CustomerNumber"] for r in doc["value"]]
            after = keys[-1]

    def events(self):
        """Every message on the topic as (key, value dict), in no particular order."""
        cp = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", TOPIC, "-o", "beginning",
                             "-e", "-q", "-f", "%k\\t%s\\n"], capture_output=True, text=True,
                            timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        out = []
        for line in cp.stdout.splitlines():
            if not line:
                continue
            key, value = line.split("\t", 1)
            out.append((key, json.loads(value)))
        return out

    def query(self, sql, *args):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def max_date(self):
        """The largest DateLastMaintained in the simulator (what the watermark must become)."""
        hdrs = {"Authorization": "Basic " + base64.b64encode(b"WEBAPI:WEBAPI").decode(),
                "Content-Type": "application/json"}
        q = "$select=DateLastMaintained&$orderby=DateLastMaintained%20desc&$top=1"
        status, _, doc = http_json("GET", f"{self.base}SAMINC/AR/ARCustomers?{q}", headers=hdrs)
        self.assertEqual(status, 200, doc)
        return doc["value"][0]["DateLastMaintained"][:10]

    def watermark(self):
        rows = self.query("SELECT day FROM watermark WHERE company = 'SAMINC'")
        return rows[0][0] if rows else None

    def last_cycle(self):
        con = sqlite3.connect(self.db)
        con.row_factory = sqlite3.Row
        try:
            return dict(con.execute("SELECT * FROM cycle ORDER BY id DESC LIMIT 1").fetchone())
        finally:
            con.close()

    def validate(self, events):
        for key, ev in events:
            jsonschema.validate(ev, SCHEMAS[ev["schema"]], cls=jsonschema.Draft202012Validator)
            self.assertEqual(key, f"{ev['company']}:{ev['customer_number']}")

    def set_today(self, day):
        self.assertEqual(self.ctl("PUT", "/_sim/today", {"today": day})[0], 200)

    def patch(self, number, body):
        path = "/_sim/companies/SAMINC/customers/" + urllib.parse.quote(number, safe="")
        status, _, doc = self.ctl("PATCH", path, body)
        self.assertEqual(status, 200, doc)

    def add(self, number, name="New Customer"):
        status, _, doc = self.ctl("POST", "/_sim/companies/SAMINC/customers",
                                  {"CustomerNumber": number, "CustomerName": name, "Terms": "N30"})
        self.assertEqual(status, 201, doc)

    # ---- tests
    def test_initial_load_then_incremental_catches_same_day_edits(self):
        # $top 120 over a server page of 50: every window follows nextLinks.
        self.start(customers=250, sim_page=50, top=120)
        cp = self.ok("once")
        self.assertIn("published=250", cp.stderr)
        evs = self.events()
        self.validate(evs)
        keys = self.sage_keys()
        self.assertEqual(sorted(k for k, _ in evs), sorted(f"SAMINC:{k}" for k in keys))
        self.assertTrue(all(e["op"] == "upsert" for _, e in evs))
        self.assertTrue(any(e["customer"].get("terms_description") for _, e in evs))
        self.assertEqual(self.watermark(), self.max_date())
        self.assertEqual(self.query("SELECT count(*) FROM audit WHERE outcome = 'published'")[0][0], 250)
        # server page 50 < $top 120: every page carried a nextLink, none was
        # followed; each page was a keyset query after the last number read
        status, _, log = self.ctl("GET", "/_sim/requests")
        listed = [r["target"] for r in log["requests"]
                  if "/ARCustomers?" in r["target"] and "$top=120" in r["target"]]
        self.assertFalse(any("$skip=" in t for t in listed), listed)
        self.assertEqual(len(listed), 6, listed)  # 5 pages of 50, then the empty one
        self.assertEqual(sum("CustomerNumber%20gt%20" in t for t in listed), 5, listed)

        # nothing changed: nothing published, watermark kept
        cp = self.ok("once")
        self.assertIn("published=0", cp.stderr)
        self.assertEqual(len(self.events()), 250)
        cyc = self.last_cycle()
        self.assertEqual((cyc["result"], cyc["published"], cyc["kind"]), ("ok", 0, "incremental"))
        self.assertGreater(cyc["unchanged"], 0)
        # the cycle row counts them; no audit row each (the audit would grow
        # by every customer re-read, every poll interval)
        self.assertEqual(self.query("SELECT count(*) FROM audit WHERE cycle_id = ? AND "
                                    "outcome = 'unchanged'", cyc["id"]), [(0,)])

        # same-day edit + a new customer, both stamped with the watermark day
        self.set_today(self.watermark())
        self.patch(keys[10], {"CustomerName": "Renamed Today"})
        self.add("ZZ-NEW-1")
        cp = self.ok("once")
        self.assertIn("published=2", cp.stderr)
        evs = self.events()
        self.validate(evs)
        self.assertEqual(len(evs), 252)
        # partitions interleave in kcat's output, but one key's events keep their order
        counts = collections.Counter(k for k, _ in evs)
        self.assertEqual({k for k, n in counts.items() if n > 1}, {f"SAMINC:{keys[10]}"})
        self.assertEqual(counts["SAMINC:ZZ-NEW-1"], 1)
        latest = dict(evs)
        self.assertEqual(latest[f"SAMINC:{keys[10]}"]["customer"]["name"], "Renamed Today")
        self.assertTrue(latest["SAMINC:ZZ-NEW-1"]["customer"]["terms_description"])

        # --force publishes everything again; the next plain cycle nothing
        cp = self.ok("once", "--force")
        self.assertEqual(len(self.events()), 252 + self.last_cycle()["records"])
        # mlc audit prints the customer's rows
        cp = self.procs.run([mlctest.binary("mlc"), "audit", "--db", self.db, "--customer", keys[10], "--json"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        doc = json.loads(cp.stdout)
        outcomes = [r["outcome"] for r in doc["audit"]]
        # initial load, the same-day edit, --force (cycle 2 did not read it: older than the lookback)
        self.assertEqual(outcomes, ["published", "published", "published"])
        self.assertTrue(all(r["customer"] == keys[10] for r in doc["audit"]))
        cp = self.procs.run([mlctest.binary("mlc"), "audit", "--db", self.db, "--company", "SAMINC"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("== cycles", cp.stdout)
        self.assertIn("result=ok", cp.stdout)

    def test_keyset_paging_while_customers_are_inserted_mid_scan(self):
        self.start(customers=300, sim_page=100, top=100)
        keys = self.sage_keys()
        # every ARCustomers request takes 0.7 s, so the scan is slow enough to insert into
        self.fault(kind="delay", delay_ms=700, count=-1, path="*/ARCustomers")
        self.assertEqual(self.ctl("DELETE", "/_sim/requests")[0], 200)
        proc = self.procs.start([mlctest.binary("mlc-extractor"), "once"], env=self.env,
                                name="extractor")

        def first_page_served():
            _, _, log = self.ctl("GET", "/_sim/requests")
            # the second request has started (page 1 is read, whenever the log records it)
            return sum(1 for r in log["requests"] if "/ARCustomers?" in r["target"]) >= 2

        mlctest.wait_for(first_page_served, timeout=30, what="first page")
        before = "!" + "0" * 3  # sorts before every generated key: behind the keyset position
        self.assertLess(before, keys[0])
        self.add(before)
        self.add("~~LAST")     # ahead of the position: must be read by this very scan
        self.assertEqual(proc.wait(timeout=120), 0, proc.stderr()[-3000:])
        got = [k for k, _ in self.events()]
        self.assertEqual(len(got), len(set(got)), "a customer was published twice in one scan")
        self.assertEqual(set(got), {f"SAMINC:{k}" for k in keys + ["~~LAST"]})
        # the one inserted behind the position is caught by the next cycle
        self.ctl("DELETE", "/_sim/faults")
        cp = self.ok("once")
        self.assertIn("published=1", cp.stderr)
        self.assertEqual({k for k, _ in self.events()},
                         {f"SAMINC:{k}" for k in keys + ["~~LAST", before]})

    def test_crash_between_delivery_and_commit_loses_nothing(self):
        self.start(customers=250, sim_page=100, top=100)
        cp = self.ext("once", env={"MLC_TEST_CRASH_AFTER_DELIVERY": "2"})
        self.assertEqual(cp.returncode, 99, cp.stderr[-2000:])
        # page 1 committed, page 2 delivered but not committed (page 3 may be
        # queued too: two pages are in flight), no watermark
        self.assertEqual(self.query("SELECT count(*) FROM customer WHERE hash IS NOT NULL")[0][0], 100)
        self.assertIsNone(self.watermark())
        self.assertGreaterEqual(len(self.events()), 200)
        cp = self.ok("once")
        evs = self.events()
        keys = self.sage_keys()
        self.assertEqual({k for k, _ in evs}, {f"SAMINC:{k}" for k in keys})
        # at most the two pages in flight are sent twice
        self.assertLessEqual(len(evs), 250 + 150)
        self.assertEqual(self.query("SELECT count(*) FROM customer WHERE hash IS NOT NULL")[0][0], 250)
        self.assertEqual(self.watermark(), self.max_date())

    def test_kill9_at_random_then_rerun_loses_nothing(self):
        self.start(customers=300, sim_page=50, top=50)
        self.fault(kind="delay", delay_ms=150, count=-1, path="*/ARCustomers")
        for delay in (0.6, 1.3):
            proc = self.procs.start([mlctest.binary("mlc-extractor"), "once"], env=self.env,
                                    name="extractor")
            time.sleep(delay)
            proc.kill9()
        self.ctl("DELETE", "/_sim/faults")
        self.ok("once")
        self.assertEqual({k for k, _ in self.events()}, {f"SAMINC:{k}" for k in self.sage_keys()})

    def test_sage_faults_end_the_cycle_without_moving_the_watermark(self):
        self.start(customers=120, sim_page=50, top=50, env={"MLC_SAGE_RETRIES": "1", "MLC_SAGE_TIMEOUT": "2"})
        self.ok("once")
        wm = self.max_date()
        self.assertEqual(self.watermark(), wm)
        self.set_today("2024-03-19")
        status, _, doc = self.ctl("POST", "/_sim/companies/SAMINC/touch", {"count": 5, "set": {"City": "Zug"}})
        self.assertEqual(status, 200, doc)
        cases = [
            ({"kind": "status", "status": 500, "count": -1, "path": "*/ARCustomers"}, "HTTP 500"),
            ({"kind": "hang", "delay_ms": 4000, "count": -1, "path": "*/ARCustomers"}, "timed out"),
            ({"kind": "truncate", "count": -1, "path": "*/ARCustomers"}, "SAMINC"),
            ({"kind": "malformed", "count": -1, "path": "*/ARCustomers"}, "SAMINC"),
            # the second page fails: the first page's hashes stay committed
            ({"kind": "status", "status": 503, "count": -1, "after": 1, "path": "*/ARCustomers"}, "HTTP 503"),
        ]
        for fault, text in cases:
            with self.subTest(fault=fault["kind"]):
                self.ctl("DELETE", "/_sim/faults")
                self.fault(**fault)
                cp = self.ext("once")
                self.assertEqual(cp.returncode, 1, cp.stderr[-2000:])
                lines = [l for l in cp.stderr.splitlines() if l.startswith("mlc-extractor: ")]
                self.assertEqual(len(lines), 1, cp.stderr[-2000:])
                self.assertIn(text, lines[0])
                self.assertEqual(self.watermark(), wm)
                self.assertEqual(self.last_cycle()["result"], "failed")
        # a transient fault is retried and the cycle completes
        self.ctl("DELETE", "/_sim/faults")
        self.fault(kind="status", status=500, count=1, path="*/ARCustomers")
        cp = self.ok("once")
        self.assertIn("retry 1 of 1", cp.stderr)
        self.assertEqual(self.watermark(), "2024-03-19")
        touched = [k for k, e in self.events() if e["customer"].get("city") == "Zug"]
        self.assertEqual(len(set(touched)), 5)

    def test_missing_detection(self):
        self.start(customers=60, sim_page=100, top=25)
        self.ok("once")
        keys = self.sage_keys()
        gone = [keys[3], keys[40]]
        for k in gone:
            path = "/_sim/companies/SAMINC/customers/" + urllib.parse.quote(k, safe="")
            self.assertEqual(self.ctl("DELETE", path)[0], 200)
        cp = self.ok("once", "--full")
        self.assertIn("missing=2", cp.stderr)
        evs = self.events()
        self.validate(evs)
        missing = [(k, e) for k, e in evs if e["op"] == "missing"]
        self.assertEqual(sorted(k for k, _ in missing), sorted(f"SAMINC:{k}" for k in gone))
        self.assertTrue(all("customer" not in e for _, e in missing))
        # not re-emitted while still missing
        cp = self.ok("once", "--full")
        self.assertIn("missing=0", cp.stderr)
        self.assertEqual(len([1 for _, e in self.events() if e["op"] == "missing"]), 2)
        # a re-appearing customer is published again
        self.add(gone[0], name="Back Again")
        cp = self.ok("once")
        back = [e for k, e in self.events() if k == f"SAMINC:{gone[0]}"]
        self.assertEqual([e["op"] for e in back], ["upsert", "missing", "upsert"])
        self.assertEqual(back[-1]["customer"]["name"], "Back Again")
        self.assertEqual(self.query("SELECT count(*) FROM audit WHERE outcome = 'missing'")[0][0], 2)

    def failed_logins(self):
        status, _, doc = self.ctl("GET", "/_sim/counters")
        self.assertEqual(status, 200, doc)
        return doc["counters"].get("failed_logins", 0)

    def start_exact_sim(self, password, customers=5):
        """Replaces the simulator by one with a case-sensitive (2023+) password."""
        self.sim.stop()
        self.sim = self.procs.start_server(
            [mlctest.binary("mlc-sage-sim"), "--port", "0", "--customers", str(customers),
             "--today", TODAY, "--password", password, "--password-mode", "exact"],
            name="sage-sim-exact")
        self.base = self.env["MLC_SAGE_URL"] = self.sim.first_line
        self.root = self.base.split("/Sage300WebApi/")[0]
        self.env["MLC_SAGE_PASSWORD"] = password

    def recorded_form(self):
        rows = self.query("SELECT value FROM learned WHERE name = 'sage_password_case'")
        return rows[0][0] if rows else None

    def test_password_auto_legacy_server_costs_no_failed_login(self):
        # legacy: stored upper-case; the default (auto) sends "secret1" upper-cased first
        self.start(customers=5, sim_args=("--user", "webapi", "--password", "SECRET1",
                                          "--password-mode", "upper"),
                   env={"MLC_SAGE_PASSWORD": "secret1"})
        self.ok("once")
        self.ok("once")
        self.assertEqual(self.failed_logins(), 0)
        self.assertEqual(self.recorded_form(), "upper")
        self.assertEqual(len({k for k, _ in self.events()}), 5)

    def test_password_auto_complex_password_learns_exact_once(self):
        self.start(customers=5)
        self.start_exact_sim("Secret1!", customers=7)
        cp = self.ok("once")  # upper-cased first: 401, then as configured: synced
        self.assertEqual(self.failed_logins(), 1, cp.stderr)
        self.assertIn("trying it exactly as configured", cp.stderr)
        self.assertEqual(self.recorded_form(), "exact")
        self.assertEqual(len({k for k, _ in self.events()}), 7)
        self.assertIsNotNone(self.watermark())
        cp = self.ok("once")  # the recorded form first: no failed login
        self.assertEqual(self.failed_logins(), 1, cp.stderr)
        self.assertNotIn("password refused", cp.stderr)
        cp = self.ok("once", "--full")
        self.assertEqual(self.failed_logins(), 1, cp.stderr)
        # ping says which form worked and recommends pinning it
        cp = self.ok("ping")
        self.assertIn("ok   credentials", cp.stdout)
        self.assertIn("MLC_SAGE_PASSWORD_CASE=exact", cp.stdout)
        self.assertIn("exactly as configured", cp.stdout)
        self.assertEqual(self.failed_logins(), 2, cp.stdout)  # ping has no state: one try
        # the server goes back to the legacy rule: one 401 with the recorded
        # form, one switch, recorded again
        status, _, doc = self.ctl("PATCH", "/_sim/settings", {"password_mode": "upper"})
        self.assertEqual(status, 200, doc)
        self.ok("once")
        self.assertEqual(self.failed_logins(), 3)
        self.assertEqual(self.recorded_form(), "upper")

    def test_password_wrong_in_both_forms_fails_with_two_logins_at_most(self):
        self.start(customers=5)
        self.start_exact_sim("Secret1!")
        self.env["MLC_SAGE_PASSWORD"] = "Wrong1!"
        cp = self.ext("once")
        self.assertEqual(cp.returncode, 2, cp.stderr)
        line = [l for l in cp.stderr.splitlines() if l.startswith("mlc-extractor: ")]
        self.assertEqual(len(line), 1, cp.stderr)
        self.assertIn("401", line[0])
        self.assertIn("MLC_SAGE_PASSWORD_CASE", line[0])
        self.assertEqual(self.failed_logins(), 2)
        self.assertIsNone(self.recorded_form())
        # a password without lower-case letters has one form: one try only
        cp = self.ext("once", env={"MLC_SAGE_PASSWORD": "WRONG1!"})
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertNotIn("trying it", cp.stderr)
        self.assertEqual(self.failed_logins(), 3)

    def test_password_modes_and_uppercase_rule(self):
        # pinned modes keep their meaning: upper never sends the exact form
        self.start(customers=5)
        self.start_exact_sim("Secret1!")
        cp = self.ext("once", env={"MLC_SAGE_PASSWORD_CASE": "upper"})
        self.assertEqual(cp.returncode, 2, cp.stderr)
        line = [l for l in cp.stderr.splitlines() if l.startswith("mlc-extractor: ")]
        self.assertEqual(len(line), 1, cp.stderr)
        self.assertIn("401", line[0])
        self.assertIn("MLC_SAGE_PASSWORD_CASE", line[0])
        self.assertEqual(self.failed_logins(), 1)
        cp = self.ext("ping", env={"MLC_SAGE_PASSWORD_CASE": "upper"})
        self.assertEqual(cp.returncode, 2, cp.stdout + cp.stderr)
        self.assertIn("FAIL credentials", cp.stdout)
        self.assertIn("AllowWebApiAccessForAdmin", cp.stdout)
        self.assertIn("ok   kafka", cp.stdout)
        self.ok("once", env={"MLC_SAGE_PASSWORD_CASE": "exact"})
        cp = self.ok("ping", env={"MLC_SAGE_PASSWORD_CASE": "exact"})
        self.assertIn("ok   sage SAMINC", cp.stdout)
        self.assertIn("ok   credentials", cp.stdout)
        self.assertNotIn("password form", cp.stdout)  # pinned: nothing to recommend
        self.assertEqual(self.failed_logins(), 2)
        self.assertIsNone(self.recorded_form())  # pinned modes record nothing

    def test_admin_forbidden_names_the_right(self):
        self.start(customers=5, sim_args=("--user", "ADMIN", "--password", "ADMIN"),
                   env={"MLC_SAGE_USER": "admin", "MLC_SAGE_PASSWORD": "admin"})
        cp = self.ext("once")
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn("403", cp.stderr)
        self.assertIn("AllowWebApiAccessForAdmin", cp.stderr)

    def test_no_credential_in_logs_or_database(self):
        pw = "Sup3r-Secret-pw"
        self.start(customers=30, sim_args=("--password", pw, "--password-mode", "exact"),
                   env={"MLC_SAGE_PASSWORD": pw, "MLC_SAGE_PASSWORD_CASE": "exact",
                        "MLC_LOG_LEVEL": "debug", "MLC_SAGE_RETRIES": "1"})
        outs = []
        self.fault(kind="status", status=500, count=1, path="*/ARCustomers")
        outs.append(self.ok("once"))
        outs.append(self.ext("once", env={"MLC_SAGE_PASSWORD_CASE": "upper"}))  # 401
        self.assertEqual(outs[-1].returncode, 2)
        outs.append(self.ext("once", env={"MLC_SAGE_PASSWORD_CASE": "auto",
                                          "MLC_SAGE_PASSWORD": pw.lower()}))  # 401 twice
        self.assertEqual(outs[-1].returncode, 2)
        outs.append(self.ext("ping"))
        self.fault(kind="status", status=500, count=-1, path="*/ARCustomers")
        outs.append(self.ext("once", "--full"))
        forbidden = [pw, pw.upper(),
                     base64.b64encode(f"WEBAPI:{pw}".encode()).decode(),
                     base64.b64encode(f"WEBAPI:{pw.upper()}".encode()).decode(),
                     pw.lower(), base64.b64encode(f"WEBAPI:{pw.lower()}".encode()).decode()]
        for cp in outs:
            for s in forbidden:
                self.assertNotIn(s, cp.stderr + cp.stdout)
        for name in os.listdir(self.workdir):
            if name.startswith("extractor.db"):
                with open(os.path.join(self.workdir, name), "rb") as f:
                    raw = f.read()
                for s in forbidden:
                    self.assertNotIn(s.encode(), raw, name)
        self.assertGreater(os.path.getsize(self.db), 0)

    def test_nextlink_is_a_signal_never_followed(self):
        self.start(customers=10, env={"MLC_SAGE_NEXTLINK_REBASE": "false"})
        page = {"@odata.context": "x", "value": [],
                "@odata.nextLink": "http://evil.example/Sage300WebApi/v1.0/-/SAMLTD/AR/ARCustomers?$top=1&$skip=1"}
        page["value"] = [{"CustomerNumber": "!A", "CustomerName": "A", "Status": "Active", "OnHold": "No",
                          "CreditLimitCustomerCurrency": 0, **NO_BALANCE}]
        # a link naming another company: the page is refused, the cycle fails
        self.fault(kind="status", status=200, body=page, count=1, path="*/ARCustomers")
        cp = self.ext("once")
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn("names another resource", cp.stderr)
        self.assertNotIn("GET http://evil", cp.stderr)
        self.assertIsNone(self.watermark())
        # the removed setting is named once, with what replaced it, and the run goes on
        notes = [l for l in cp.stderr.splitlines() if "MLC_SAGE_NEXTLINK_REBASE" in l]
        self.assertEqual(len(notes), 1, cp.stderr)
        self.assertIn("was removed", notes[0])
        self.assertIn("keyset query on MLC_SAGE_URL", notes[0])
        # the same resource on another host: accepted as "more rows", never
        # requested; the scan goes on with its own keyset query on MLC_SAGE_URL
        page["@odata.nextLink"] = "http://evil.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers?$top=1&$skip=1"
        self.fault(kind="status", status=200, body=page, count=1, path="*/ARCustomers")
        self.ok("once")
        self.assertEqual({k for k, _ in self.events()},
                         {"SAMINC:!A"} | {f"SAMINC:{n}" for n in self.sage_keys()})
        # credentials in a link are refused
        page["@odata.nextLink"] = "http://u:p@127.0.0.1/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers?$skip=1"
        self.fault(kind="status", status=200, body=page, count=1, path="*/ARCustomers")
        cp = self.ext("once", "--full")
        self.assertEqual(cp.returncode, 2, cp.stderr)
        self.assertIn("credentials in its host", cp.stderr)

    def test_reverse_proxy_with_path_prefix_misses_nothing(self):
        # Sage behind a proxy: the server builds nextLinks on its internal name
        # without the proxy's prefix; server page size 100 (Sage's default)
        n = 1234
        self.start(customers=n, sim_page=100,
                   sim_args=("--public-base", "http://sage-iis01.internal:8080"))
        proxy = PrefixProxy(self.root)
        self.addCleanup(proxy.close)
        self.env["MLC_SAGE_URL"] = proxy.base
        del self.env["MLC_SAGE_PAGE_SIZE"]  # the default: 100
        keys = {f"SAMINC:{k}" for k in self.sage_keys()}
        self.assertEqual(len(keys), n)

        def sim_list_requests():
            status, _, doc = self.ctl("GET", "/_sim/counters")
            self.assertEqual(status, 200, doc)
            return sum(doc["routes"].get("ARCustomers.list", {}).values())

        before = sim_list_requests()
        self.ok("once")  # first cycle: every customer
        events = self.events()
        self.assertEqual(len(events), n)
        self.assertEqual({k for k, _ in events}, keys)
        self.validate(events)
        # 13 pages of at most 100, the last one short, then the empty one
        listed = [p for p in proxy.paths if "/ARCustomers?" in p]
        self.assertEqual(len(listed), 14, listed[-3:])
        self.assertEqual(proxy.links, [])  # $top = page size: the server sends none

        # $top above the server page size: every answer carries a nextLink on
        # the internal host; the extractor continues with its own query
        self.ok("once", "--full", "--force", env={"MLC_SAGE_PAGE_SIZE": "250"})
        self.assertGreater(len(proxy.links), 10)
        for link in proxy.links:
            self.assertTrue(link.startswith("http://sage-iis01.internal:8080/Sage300WebApi/"), link)
        per_key = collections.Counter(k for k, _ in self.events())
        self.assertEqual(set(per_key), keys)
        self.assertEqual(set(per_key.values()), {2})
        self.assertEqual(self.last_cycle()["kind"], "full")
        self.assertEqual(self.last_cycle()["result"], "ok")
        self.assertEqual(self.last_cycle()["records"], n)

        # incremental with nextLinks: touched customers arrive, all of them
        status, _, doc = self.ctl("POST", "/_sim/companies/SAMINC/touch",
                                  {"count": 321, "set": {"CustomerName": "Touched Via Proxy"}})
        self.assertEqual(status, 200, doc)
        touched = {f"SAMINC:{k}" for k in doc["touched"]}
        self.assertEqual(len(touched), 321)
        links_before = len(proxy.links)
        self.ok("once", env={"MLC_SAGE_PAGE_SIZE": "250"})
        self.assertEqual(self.last_cycle()["kind"], "incremental")
        self.assertEqual(self.last_cycle()["result"], "ok")
        got = {k for k, e in self.events()
               if e.get("customer", {}).get("name") == "Touched Via Proxy"}
        self.assertEqual(got, touched)
        self.assertGreater(len(proxy.links), links_before)
        # every request went to the configured URL (the proxy), none elsewhere
        self.assertEqual(sim_list_requests() - before,
                         len([p for p in proxy.paths if "/ARCustomers?" in p]))

    def test_bad_records_are_skipped_with_an_audit_row(self):
        self.start(customers=40)
        good = {"CustomerNumber": "!GOOD", "CustomerName": "Good", "Status": "Active", "OnHold": "No",
                "CreditLimitCustomerCurrency": 10, "DateLastMaintained": TODAY + "T00:00:00Z",
                **NO_BALANCE}
        page = {"@odata.context": "x", "value": [
            {"CustomerName": "no number", "Status": "Active"},
            {"CustomerNumber": "!BAD", "CustomerName": "Bad", "Status": "Active", "OnHold": "No",
             "CreditLimitCustomerCurrency": "lots"},
            good]}
        self.fault(kind="status", status=200, body=page, count=1, path="*/ARCustomers")
        cp = self.ok("once")
        self.assertIn("skipped=2", cp.stderr)
        self.assertIn("CreditLimitCustomerCurrency", cp.stderr)
        rows = self.query("SELECT customer, reason FROM audit WHERE outcome = 'skipped' ORDER BY id")
        self.assertEqual(len(rows), 2)
        self.assertIsNone(rows[0][0])
        self.assertEqual(rows[1][0], "!BAD")
        self.assertIn("CreditLimitCustomerCurrency", rows[1][1])
        keys = {k for k, _ in self.events()}
        self.assertIn("SAMINC:!GOOD", keys)
        self.assertNotIn("SAMINC:!BAD", keys)
        self.assertEqual(keys - {"SAMINC:!GOOD"}, {f"SAMINC:{k}" for k in self.sage_keys()})

    def test_run_loop_full_scan_first_and_sigterm(self):
        self.start(customers=50)
        env = dict(self.env, MLC_POLL_INTERVAL="1")
        proc = self.procs.start([mlctest.binary("mlc-extractor"), "run"], env=env, name="run")
        def ok_cycles():
            if not os.path.exists(self.db):  # sqlite3.connect would create it
                return 0
            try:
                return self.query("SELECT count(*) FROM cycle WHERE result = 'ok'")[0][0]
            except sqlite3.OperationalError:  # not created or not migrated yet
                return 0

        mlctest.wait_for(lambda: ok_cycles() >= 3, timeout=60, what="three cycles")
        proc.signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0, proc.stderr()[-2000:])
        kinds = [r[0] for r in self.query("SELECT kind FROM cycle ORDER BY id")]
        self.assertEqual(kinds[0], "full")
        self.assertEqual(set(kinds[1:]), {"incremental"})
        self.assertEqual(len(self.events()), 50)

    # ---- the AR credit picture (event v2, balance refresh)
    def post_document(self, number, **doc):
        path = "/_sim/companies/SAMINC/customers/" + urllib.parse.quote(number, safe="") + "/documents"
        status, _, rec = self.ctl("POST", path, doc)
        self.assertEqual(status, 200, rec)
        return rec

    def latest(self):
        """The last event of each key (what compaction keeps)."""
        return dict(self.events())

    def test_events_carry_the_credit_picture(self):
        self.start(customers=40)
        cp = self.ok("once")
        self.assertIn("published=40", cp.stderr)
        evs = self.events()
        self.validate(evs)
        self.assertTrue(all(e["schema"] == "sage300.customer-change.v2" for _, e in evs))
        # the credit object is what Sage has, read with the customer
        keys = self.sage_keys()
        status, _, rec = self.ctl("GET", "/_sim/companies/SAMINC/customers/" + urllib.parse.quote(keys[3], safe=""))
        ev = self.latest()[f"SAMINC:{keys[3]}"]
        self.assertEqual(ev["credit"]["balance_due"], rec["BalanceDueInCustomerCurrency"])
        self.assertEqual(ev["credit"]["amount_past_due"], rec["AmountPastDue"])
        self.assertEqual(ev["credit"]["open_documents"], rec["NumberOfOpenDocuments"])
        self.assertEqual("credit_used_pct" in ev["credit"], rec["CreditLimitCustomerCurrency"] > 0)
        # the $select asks for the balance properties
        status, _, log = self.ctl("GET", "/_sim/requests")
        listed = [r["target"] for r in log["requests"]
                  if "/ARCustomers?" in r["target"] and "$select=CustomerNumber," in r["target"]]
        self.assertTrue(listed)
        for prop in ("BalanceDueInCustomerCurrency", "AmountPastDue", "NumberOfOpenDocuments",
                     "DateOfLastInvoice", "DateOfLastReceipt"):
            self.assertTrue(all(prop in t for t in listed), prop)
        # the state file records what was delivered
        rows = self.query("SELECT count(*) FROM customer WHERE balance_hash IS NOT NULL "
                          "AND master_hash IS NOT NULL AND pub_balance IS NOT NULL")
        self.assertEqual(rows[0][0], 40)

    def test_balance_refresh_publishes_what_posting_changed(self):
        self.start(customers=30)
        # a customer with known numbers: limit 50,000, 10,000 due, nothing past due
        status, _, doc = self.ctl("POST", "/_sim/companies/SAMINC/customers?stamp=false",
                                  {"CustomerNumber": "CREDIT 1", "CustomerName": "Credit One",
                                   "CreditLimitCustomerCurrency": 50000,
                                   "BalanceDueInCustomerCurrency": 10000, "NumberOfOpenDocuments": 2,
                                   "DateLastMaintained": "2023-01-02T00:00:00Z"})
        self.assertEqual(status, 201, doc)
        self.ok("once")
        before = self.latest()
        self.assertEqual(len(before), 31)
        self.assertEqual(before["SAMINC:CREDIT 1"]["credit"]["balance_due"], 10000)
        self.assertEqual(before["SAMINC:CREDIT 1"]["credit"]["credit_used_pct"], 20)

        # an invoice above the threshold: incremental polling does not see it ...
        self.post_document("CREDIT 1", type="invoice", amount=2500, date="2024-03-15")
        cp = self.ok("once")
        self.assertIn("published=0", cp.stderr)
        # ... one balance refresh does, and publishes that customer alone
        n = len(self.events())
        cp = self.ok("once", "--balances")
        self.assertIn("published=1", cp.stderr)
        self.assertEqual(self.last_cycle()["kind"], "balance")
        evs = self.events()
        self.assertEqual(len(evs), n + 1)
        self.validate(evs[-1:])
        key, ev = [(k, e) for k, e in evs if k == "SAMINC:CREDIT 1"][-1]
        self.assertEqual(ev["credit"], {"balance_due": 12500, "amount_past_due": 0,
                                        "credit_used_pct": 25, "open_documents": 3,
                                        "last_invoice_date": "2024-03-15"})
        # a full snapshot: the customer object is there in full
        self.assertEqual(ev["customer"], before["SAMINC:CREDIT 1"]["customer"])
        self.assertEqual(ev["source"]["last_maintained"], "2023-01-02")
        # the refresh moved no watermark backwards and left the others alone
        self.assertEqual(self.watermark(), self.max_date())

        # unchanged balances: nothing published
        cp = self.ok("once", "--balances")
        self.assertIn("published=0", cp.stderr)
        self.assertEqual(len(self.events()), n + 1)

        # a small move (100 of 12,500 due, limit 50,000) is held back ...
        self.post_document("CREDIT 1", type="invoice", amount=100)
        cp = self.ok("once", "--balances")
        self.assertIn("published=0", cp.stderr)
        reasons = self.query("SELECT reason FROM audit WHERE customer = 'CREDIT 1' "
                             "AND outcome = 'unchanged' ORDER BY id DESC LIMIT 1")
        self.assertIn("MLC_BALANCE_MIN_CHANGE_PCT", reasons[0][0])
        # ... and small moves add up against the last PUBLISHED balance: 100 + 400 = 500 = 1 % of the limit
        self.post_document("CREDIT 1", type="invoice", amount=400)
        cp = self.ok("once", "--balances")
        self.assertIn("published=1", cp.stderr)
        self.assertEqual(self.latest()["SAMINC:CREDIT 1"]["credit"]["balance_due"], 13000)

        # past due going non-zero is published however small
        self.post_document("CREDIT 1", type="invoice", amount=1, past_due=True)
        cp = self.ok("once", "--balances")
        self.assertIn("published=1", cp.stderr)
        self.assertEqual(self.latest()["SAMINC:CREDIT 1"]["credit"]["amount_past_due"], 1)

        # a receipt: the last receipt date arrives with the next published move
        self.post_document("CREDIT 1", type="receipt", amount=13001, date="2024-03-17")
        cp = self.ok("once", "--balances")
        self.assertIn("published=1", cp.stderr)
        credit = self.latest()["SAMINC:CREDIT 1"]["credit"]
        self.assertEqual((credit["balance_due"], credit["amount_past_due"], credit["open_documents"],
                          credit["last_receipt_date"]), (0, 0, 0, "2024-03-17"))

        # MLC_BALANCE_MIN_CHANGE_PCT=0 does not lift the 1 %-of-limit rule ... but a
        # customer without a limit has every move published
        self.patch("CREDIT 1", {"CreditLimitCustomerCurrency": 0})  # master data: stamped
        cp = self.ok("once")
        self.assertIn("published=1", cp.stderr)
        self.assertNotIn("credit_used_pct", self.latest()["SAMINC:CREDIT 1"]["credit"])
        self.post_document("CREDIT 1", type="invoice", amount=0.5)
        cp = self.ok("once", "--balances")
        self.assertIn("published=1", cp.stderr)

    def test_event_version_pin_and_upgrade(self):
        self.start(customers=20)
        cp = self.ok("once", env={"MLC_EVENT_VERSION": "1"})
        self.assertIn("MLC_EVENT_VERSION=1", cp.stderr)
        evs = self.events()
        self.validate(evs)
        self.assertEqual({e["schema"] for _, e in evs}, {"sage300.customer-change.v1"})
        self.assertTrue(all("credit" not in e for _, e in evs))
        # pinned, a posting alone publishes nothing (v1 has no credit picture)
        key = self.sage_keys()[0]
        self.post_document(key, type="invoice", amount=99999)
        cp = self.ok("once", "--balances", env={"MLC_EVENT_VERSION": "1"})
        self.assertIn("published=0", cp.stderr)
        # pin removed: every customer is published once with its credit picture, then nothing
        cp = self.ok("once", "--balances")
        self.assertIn("published=20", cp.stderr)
        cp = self.ok("once", "--balances")
        self.assertIn("published=0", cp.stderr)
        latest = self.latest()
        self.validate(list(latest.items()))
        self.assertEqual({e["schema"] for e in latest.values()}, {"sage300.customer-change.v2"})
        cp = self.ext("once", env={"MLC_EVENT_VERSION": "3"})
        self.assertEqual(cp.returncode, 2)
        self.assertIn("MLC_EVENT_VERSION", cp.stderr)

    def test_run_loop_balance_schedule(self):
        self.start(customers=10)
        env = dict(self.env, MLC_POLL_INTERVAL="1", MLC_FULL_SCAN_INTERVAL="0",
                   MLC_SAGE_BALANCE_INTERVAL="2")
        proc = self.procs.start([mlctest.binary("mlc-extractor"), "run"], env=env, name="run")

        def kinds():
            if not os.path.exists(self.db):
                return []
            try:
                return [r[0] for r in self.query("SELECT kind FROM cycle WHERE result = 'ok' ORDER BY id")]
            except sqlite3.OperationalError:
                return []

        mlctest.wait_for(lambda: kinds().count("balance") >= 2 and "incremental" in kinds(),
                         timeout=60, what="two balance refreshes and an incremental cycle")
        proc.signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0, proc.stderr()[-2000:])
        k = kinds()
        self.assertEqual(k[0], "balance")  # never refreshed: due at once
        self.assertNotIn("full", k)

    def test_bad_usage_and_config_exit_2(self):
        self.start(customers=1)
        cp = self.ext("twice")
        self.assertEqual(cp.returncode, 2)
        cp = self.ext("once", env={"MLC_SAGE_COMPANIES": "BAD:CO"})
        self.assertEqual(cp.returncode, 2)
        self.assertEqual(len(cp.stderr.strip().splitlines()), 1, cp.stderr)


if __name__ == "__main__":
    mlctest.main()
