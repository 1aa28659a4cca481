"""Shared rig and final-state checker for the reliability suite.

Every scenario starts the real binaries through mlctest (mlc-sage-sim,
mlc devbroker, mlc-pipedrive-sim, mlc-extractor, mlc-loader), breaks
something, repairs it, lets the pipeline settle and then calls
Rig.check_final(): the one checker of what must hold in the end.

What check_final() asserts, against the sandboxes' own state:
- every live Sage customer (read through the Sage Web API of mlc-sage-sim)
  has exactly ONE live Pipedrive organization carrying its identity
  (Sage 300 Company + Sage 300 Customer ID custom fields);
- that organization has the LATEST Sage values, mapped the way the built-in
  default mapping maps them (schemas/mapping.default.json): name,
  address.value (address lines, city, state, zip, country joined by ", "),
  Payment Terms (terms description, else code), Credit Limit
  {value, currency}, Phone, Email, Contact Name, Customer Status;
- no other organization carries our identity (no duplicates, no strays);
- the foreign organizations (seeded before the run, not from Sage) are
  byte-identical to their snapshot (canonical JSON).
"""
import json
import os
import random
import shutil
import subprocess
import time
import urllib.parse

import mlctest
from mlctest import binary, http, http_json

TOKEN = "rel-token-7c1e9b44d2"
TOPIC = "sage300.customers.v1"
DLQ = "sage300.customers.dlq"
SAGE_AUTH = "Basic " + __import__("base64").b64encode(b"WEBAPI:WEBAPI").decode()
TEXT_BLANKS = " \t\r\n\v\f"

FOREIGN = [
    {"name": "Acme Foreign GmbH", "address": {"value": "Hauptstrasse 1, Zug"}},
    {"name": "Not From Sage Ltd", "custom_fields": {}},
    # a same-name trap is added at seed time (the name of a real Sage customer)
]


def seed():
    """The scenario seed: MLC_REL_SEED or a fresh one; always printed."""
    s = os.environ.get("MLC_REL_SEED")
    s = int(s) if s else random.SystemRandom().randrange(1, 1 << 31)
    print(f"\n[reliability] MLC_REL_SEED={s}", flush=True)
    return s


def canon(doc):
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(v):
    if v is None:
        return None
    if not isinstance(v, str):
        return v
    v = v.strip(TEXT_BLANKS)
    return v or None


class Rig(mlctest.TestCase):
    """The whole pipeline on free ports, small data, short timeouts."""

    companies = ("SAMINC", "SAMLTD")
    customers = 30
    partitions = 3
    pd_args = ("--no-limits",)
    sage_args = ()
    today = "2024-03-18"

    def setUp(self):
        super().setUp()
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        self.rng = random.Random(seed())
        self.start_sage()
        self.start_pd()
        self.broker, self.bootstrap = self.devbroker(partitions=self.partitions)
        self.ext_db = os.path.join(self.workdir, "extractor.db")
        self.ld_db = os.path.join(self.workdir, "loader.db")
        self.common = {"MLC_KAFKA_BROKERS": self.bootstrap,
                       "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000", "MLC_LOG_LEVEL": "info"}
        self.ext_env = dict(self.common, MLC_SAGE_URL=self.sage_url,
                            MLC_SAGE_COMPANIES=",".join(self.companies),
                            MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD="webapi",
                            MLC_STATE_DB=self.ext_db, MLC_SAGE_TIMEOUT="5",
                            MLC_SAGE_PAGE_SIZE="10")
        self.ld_env = dict(self.common, MLC_KAFKA_GROUP="rel-loader",
                           MLC_PIPEDRIVE_URL=self.pd_url, MLC_PIPEDRIVE_TOKEN=TOKEN,
                           MLC_STATE_DB=self.ld_db, MLC_PIPEDRIVE_PLAN="ultimate",
                           MLC_PIPEDRIVE_TIMEOUT="5000")
        self.setup_fields()
        self.seed_foreign()

    # -- processes
    def start_sage(self):
        args = [binary("mlc-sage-sim"), "--port", "0", "--customers", str(self.customers),
                "--seed", "11", "--today", self.today, *self.sage_args]
        for c in self.companies:
            args += ["--company", c]
        self.sage = self.procs.start_server(args, name="sage-sim")
        self.sage_url = self.sage.first_line
        p = urllib.parse.urlsplit(self.sage_url)
        self.sage_root = f"{p.scheme}://{p.netloc}"

    def start_pd(self):
        self.pd = self.procs.start_server([binary("mlc-pipedrive-sim"), "--token", TOKEN,
                                           *self.pd_args], name="pdsim")
        self.pd_url = self.pd.first_line

    def extractor(self, *args, env=None, timeout=180):
        return self.procs.run([binary("mlc-extractor"), *(args or ("once",))],
                              env=dict(self.ext_env, **(env or {})), timeout=timeout)

    def loader(self, *args, env=None, timeout=240):
        return self.procs.run([binary("mlc-loader"), *(args or ("drain",))],
                              env=dict(self.ld_env, **(env or {})), timeout=timeout)

    def start_extractor(self, *args, env=None):
        return self.procs.start([binary("mlc-extractor"), *(args or ("once",))],
                                env=dict(self.ext_env, **(env or {})), name="extractor")

    def start_loader(self, *args, env=None):
        return self.procs.start([binary("mlc-loader"), *(args or ("drain",))],
                                env=dict(self.ld_env, **(env or {})), name="loader")

    def extract_ok(self, *args, env=None):
        cp = self.extractor(*args, env=env)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        return cp

    def drain_ok(self, env=None):
        cp = self.loader("drain", env=env)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        return cp

    def settle(self, tries=4):
        """Runs extractor once + loader drain until both succeed (repair phase)."""
        last = None
        for _ in range(tries):
            e = self.extractor()
            d = self.loader("drain") if e.returncode == 0 else None
            if e.returncode == 0 and d.returncode == 0:
                return
            last = (e.stderr if e.returncode else d.stderr)[-3000:]
            time.sleep(1)
        self.fail(f"pipeline did not settle: {last}")

    def setup_fields(self):
        cp = self.loader("setup")
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])

    # -- Pipedrive sandbox
    def pd_state(self):
        status, _, doc = http_json("GET", self.pd_url + "/_sim/state")
        self.assertEqual(status, 200)
        return doc["companies"][0]

    def pd_stats(self):
        return http_json("GET", self.pd_url + "/_sim/stats")[2]

    def pd_fault(self, **f):
        status, _, body = http_json("POST", self.pd_url + "/_sim/faults", f)
        self.assertIn(status, (200, 201), body)

    def pd_clear_faults(self):
        http("DELETE", self.pd_url + "/_sim/faults")

    def seed_foreign(self):
        """Adds organizations that did not come from Sage and snapshots them."""
        full = {"companies": [self.pd_state()]}
        comp = full["companies"][0]
        keys = {f["name"]: f["key"] for f in comp["fields"] if not f.get("is_deleted")}
        first = self.sage_customers()[0]
        orgs = [dict(o) for o in FOREIGN]
        # same name and a foreign "Sage 300 Company" value, but no customer ID
        orgs.append({"name": first["name"], "custom_fields": {
            keys["Sage 300 Company"]: first["company"]}})
        nid = max([o["id"] for o in comp["organizations"]] + [1000]) + 1
        for o in orgs:
            o.update(id=nid, add_time="2026-01-01T00:00:00Z",
                     update_time="2026-01-01T00:00:00Z", is_deleted=False, visible_to=3,
                     owner_id=comp["user"]["id"])
            nid += 1
            comp["organizations"].append(o)
        status, _, body = http_json("PUT", self.pd_url + "/_sim/state", full)
        self.assertEqual(status, 200, body)
        ids = {o["id"] for o in orgs}
        self.foreign = {o["id"]: canon(o) for o in self.pd_state()["organizations"]
                        if o["id"] in ids}
        self.assertEqual(len(self.foreign), len(orgs))

    # -- Sage sandbox
    def sage_get(self, url):
        status, _, raw = http("GET", url, headers={"Authorization": SAGE_AUTH,
                                                   "Content-Type": "application/json",
                                                   "Accept": "application/json"})
        self.assertEqual(status, 200, raw[:300])
        return json.loads(raw)

    def sage_fault(self, **f):
        status, _, body = http_json("POST", self.sage_root + "/_sim/faults", f)
        self.assertIn(status, (200, 201), body)

    def sage_clear_faults(self):
        http("DELETE", self.sage_root + "/_sim/faults")

    def sage_settings(self, **s):
        status, _, body = http_json("PATCH", self.sage_root + "/_sim/settings", s)
        self.assertEqual(status, 200, body)

    def sage_touch(self, company, count, **props):
        status, _, body = http_json("POST", self.sage_root + f"/_sim/companies/{company}/touch",
                                    {"count": count, "set": props} if props else
                                    {"count": count})
        self.assertIn(status, (200, 201), body)

    def sage_patch(self, company, number, props):
        status, _, body = http_json(
            "PATCH", self.sage_root + f"/_sim/companies/{company}/customers/"
            + urllib.parse.quote(number, safe=""), props)
        self.assertEqual(status, 200, body)

    def sage_edit_random(self, n, tag):
        """Edits n random customers (name, city, phone); returns their keys."""
        custs = self.sage_customers()
        picked = self.rng.sample(custs, min(n, len(custs)))
        for c in picked:
            self.sage_patch(c["company"], c["number"], {
                "CustomerName": f"{c['number'].strip()} {tag}",
                "City": self.rng.choice(["Zug", "Basel", "Lyon", "Oslo"]),
                "PhoneNumber": f"(555){self.rng.randrange(1000000, 9999999)}"})
        return [(c["company"], c["number"]) for c in picked]

    def sage_customers(self):
        """Every customer of every company, mapped like the default mapping."""
        out = []
        for co in self.companies:
            terms = {}
            for t in self.sage_get(self.sage_url + f"{co}/AR/ARTerms")["value"]:
                terms[t["TermsCode"]] = _text(t.get("Description"))
            url = self.sage_url + f"{co}/AR/ARCustomers?$orderby=CustomerNumber"
            while url:
                page = self.sage_get(url)
                for r in page["value"]:
                    out.append(self.map_customer(co, r, terms))
                url = page.get("@odata.nextLink")
        return out

    @staticmethod
    def map_customer(company, r, terms):
        t = {k: _text(r.get(k)) for k in (
            "CustomerName", "AddressLine1", "AddressLine2", "AddressLine3", "AddressLine4",
            "City", "StateProvince", "ZipPostalCode", "Country", "PhoneNumber", "Email",
            "ContactName", "Terms", "CurrencyCode")}
        addr = ", ".join(v for v in (t["AddressLine1"], t["AddressLine2"], t["AddressLine3"],
                                     t["AddressLine4"], t["City"], t["StateProvince"],
                                     t["ZipPostalCode"], t["Country"]) if v)
        on_hold = r.get("OnHold")
        on_hold = on_hold is True or (isinstance(on_hold, str) and on_hold.lower() == "yes")
        status = "On hold" if on_hold else (
            "Active" if str(r.get("Status")).lower() == "active" else "Inactive")
        credit = None
        if t["CurrencyCode"] and r.get("CreditLimitCustomerCurrency") is not None:
            credit = (float(r["CreditLimitCustomerCurrency"]), t["CurrencyCode"])
        return {"company": company, "number": r["CustomerNumber"], "name": t["CustomerName"],
                "address": addr or None,
                "Payment Terms": terms.get(r.get("Terms")) or t["Terms"],
                "Credit Limit": credit, "Phone": t["PhoneNumber"], "Email": t["Email"],
                "Contact Name": t["ContactName"], "Customer Status": status}

    # -- the checker
    def check_final(self, expect_missing=()):
        """Asserts the final Pipedrive state (see the module docstring).

        expect_missing: (company, number) pairs deleted from Sage whose
        organization must remain, marked "Missing in Sage 300"."""
        comp = self.pd_state()
        fields = {f["name"]: f for f in comp["fields"] if not f.get("is_deleted")}
        kn, kc = fields["Sage 300 Customer ID"]["key"], fields["Sage 300 Company"]["key"]
        status_opts = {o["id"]: o["label"] for o in fields["Customer Status"]["options"]}
        live = [o for o in comp["organizations"] if not o.get("is_deleted")]
        ours = {}
        for o in live:
            cf = o.get("custom_fields") or {}
            if cf.get(kn) is not None and cf.get(kc) is not None:
                ours.setdefault((cf[kc], cf[kn]), []).append(o)
        problems = []
        custs = self.sage_customers()
        want = {(c["company"], c["number"]) for c in custs} | set(expect_missing)
        for key, orgs in ours.items():
            if len(orgs) != 1:
                problems.append(f"{key}: {len(orgs)} organizations {[o['id'] for o in orgs]}")
            if key not in want:
                problems.append(f"{key}: organization for a customer Sage does not have")
        for c in custs:
            key = (c["company"], c["number"])
            orgs = ours.get(key)
            if not orgs:
                problems.append(f"{key}: no organization (lost)")
                continue
            o = orgs[-1]
            cf = o.get("custom_fields") or {}
            got = {"name": o.get("name"),
                   "address": (o.get("address") or {}).get("value"),
                   "Customer Status": status_opts.get(cf.get(fields["Customer Status"]["key"]))}
            for name in ("Payment Terms", "Phone", "Email", "Contact Name"):
                got[name] = cf.get(fields[name]["key"])
            m = cf.get(fields["Credit Limit"]["key"])
            got["Credit Limit"] = (float(m["value"]), m["currency"]) if m else None
            for k, v in got.items():
                if v != c[k]:
                    problems.append(f"{key}: {k} is {v!r}, Sage has {c[k]!r}")
        for key in expect_missing:
            orgs = ours.get(key) or []
            if len(orgs) == 1:
                cf = orgs[0].get("custom_fields") or {}
                st = status_opts.get(cf.get(fields["Customer Status"]["key"]))
                if st != "Missing in Sage 300":
                    problems.append(f"{key}: status {st!r}, want Missing in Sage 300")
        byid = {o["id"]: o for o in comp["organizations"]}
        for fid, snap in self.foreign.items():
            if fid not in byid or canon(byid[fid]) != snap:
                problems.append(f"foreign organization {fid} changed: {byid.get(fid)}")
        if problems:
            print("\n".join(problems), flush=True)
            print(self.loader_history(problems[0]), flush=True)
        self.assertEqual(problems, [], "\n".join(problems[:40]))
        print(f"[relcheck] {len(custs)} customers, {len(self.foreign)} foreign: ok", flush=True)
        return len(custs)

    def loader_history(self, problem):
        """The loader's audit of the customer a problem line names (replay aid)."""
        import sqlite3
        try:
            key = eval(problem.split(": ", 1)[0], {})  # "('CO', 'NUM')"
            con = sqlite3.connect(self.ld_db)
            con.row_factory = sqlite3.Row
            rows = []
            for t in ("event_audit", "pd_call_audit", "call_audit"):
                try:
                    rows += [f"{t}: {dict(r)}" for r in con.execute(
                        f"SELECT * FROM {t} WHERE customer = ?", (key[1],))]
                except sqlite3.Error:
                    pass
            con.close()
            return "loader audit of %r:\n  %s" % (key, "\n  ".join(rows))
        except Exception as e:  # diagnostics only
            return f"(no loader audit: {e})"

    # -- Kafka
    def read_topic(self, topic):
        cp = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-o", "beginning",
                             "-e", "-q", "-f", "%h\t%k\t%s\n"], capture_output=True,
                            timeout=60)
        if cp.returncode != 0 and b"nknown topic" in cp.stderr:
            return b""
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return cp.stdout

    def produce(self, lines, topic=TOPIC):
        cp = subprocess.run(["kcat", "-b", self.bootstrap, "-P", "-t", topic, "-K", "\t",
                             "-z", "none"], input=lines, capture_output=True, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
