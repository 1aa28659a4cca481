"""mlc-loader against mlc-pipedrive-sim and mlc devbroker: what the loader promises.

Events are built here exactly as docs/events.md defines them (canonical JSON,
content_hash, event_id) and produced with kcat; the final state is read from
the sandbox's /_sim/state and /_sim/stats, the audit from the loader's SQLite
file. Other loader test files import the helpers from this module.
"""
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import mlctest
from mlctest import binary, http_json, wait_for

TOKEN = "it-token-5f0c2a9d8e7b"
BODIES = {"MLC_LOG_LEVEL": "debug", "MLC_LOG_BODIES": "true"}  # what bodies() reads
TOPIC = "sage300.customers.v1"
DLQ = "sage300.customers.dlq"


def canon(v):
    """Canonical JSON as docs/events.md defines it."""
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-8"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canon(v[k])
                              for k in keys) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        s = "%.3f" % v
        return "0.000" if s == "-0.000" else s
    return json.dumps(v, ensure_ascii=False)


def customer(i, **over):
    c = {"name": f"Customer {i}", "address_line1": f"{i} Shoreline Drive", "city": "San Diego",
         "state": "CA", "postal_code": "92110", "country": "USA", "phone": "(619)555-0100",
         "email": f"ap{i}@example.com", "contact_name": "Ellen Martinez",
         "terms_code": "N30", "terms_description": "Net 30 days", "credit_limit": 25000.0,
         "currency": "USD", "status": "active", "on_hold": False}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def event(company, number, cust=None, op="upsert"):
    """(key, value) of a valid customer-change event."""
    h = hashlib.sha256((canon(cust) if op == "upsert" else "missing").encode()).hexdigest()
    eid = hashlib.sha256(f"{company}:{number}:{op}:{h}".encode()).hexdigest()[:32]
    ev = {"schema": "sage300.customer-change.v1", "event_id": eid, "op": op,
          "company": company, "customer_number": number, "content_hash": h,
          "emitted_at": "2026-11-28T07:40:13Z",
          "source": {"base_url": "https://erp/Sage300WebApi/v1.0/-/", "last_maintained": None,
                     "read_at": "2026-11-28T07:40:12Z"}}
    if op == "upsert":
        ev["customer"] = cust
    return f"{company}:{number}", canon(ev)


def event_v2(company, number, cust, credit):
    """(key, value) of a valid v2 upsert: customer plus its credit picture."""
    h = hashlib.sha256(canon({"credit": credit, "customer": cust}).encode()).hexdigest()
    eid = hashlib.sha256(f"{company}:{number}:upsert:{h}".encode()).hexdigest()[:32]
    ev = {"schema": "sage300.customer-change.v2", "event_id": eid, "op": "upsert",
          "company": company, "customer_number": number, "content_hash": h,
          "emitted_at": "2026-11-28T07:40:13Z", "customer": cust, "credit": credit,
          "source": {"base_url": "https://erp/Sage300WebApi/v1.0/-/", "last_maintained": None,
                     "read_at": "2026-11-28T07:40:12Z"}}
    return f"{company}:{number}", canon(ev)


def bodies(stderr):
    """(method, path, body) of every request body the loader logged at debug."""
    out = []
    for line in stderr.splitlines():
        i = line.find("pipedrive body: ")
        if i >= 0:
            method, path, body = line[i + 16:].split(" ", 2)
            out.append((method, path, json.JSONDecoder().raw_decode(body)[0]))
    return out


class LoaderCase(mlctest.TestCase):
    """A sandbox, a dev broker and helpers to run mlc-loader against them."""

    partitions = 3
    sim_args = ()

    def setUp(self):
        super().setUp()
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        self.loader_bin = binary("mlc-loader")
        self.sim = self.procs.start_server([binary("mlc-pipedrive-sim"), "--token", TOKEN,
                                            *self.sim_args], name="pdsim")
        self.url = self.sim.first_line
        self.broker, self.bootstrap = self.devbroker(partitions=self.partitions)
        self.db = os.path.join(self.workdir, "loader.db")
        self.env = {"MLC_KAFKA_BROKERS": self.bootstrap, "MLC_KAFKA_GROUP": "it-loader",
                    "MLC_PIPEDRIVE_URL": self.url, "MLC_PIPEDRIVE_TOKEN": TOKEN,
                    "MLC_STATE_DB": self.db, "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000",
                    "MLC_LOG_LEVEL": "info", "MLC_PIPEDRIVE_PLAN": "ultimate"}

    # -- kafka
    def produce(self, events, topic=TOPIC, headers=()):
        lines = "".join(f"{k}\t{v}\n" for k, v in events)
        args = ["kcat", "-b", self.bootstrap, "-P", "-t", topic, "-K", "\t", "-z", "none"]
        for h in headers:
            args += ["-H", h]
        cp = subprocess.run(args, input=lines.encode(), capture_output=True, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def read_topic(self, topic):
        cp = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-o", "beginning",
                             "-e", "-q", "-J"], capture_output=True, text=True, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return [json.loads(line) for line in cp.stdout.splitlines() if line.strip()]

    # -- loader
    def loader(self, *args, env=None, timeout=180):
        full = dict(self.env)
        full.update(env or {})
        return self.procs.run([self.loader_bin, *args], env=full, timeout=timeout)

    def drain(self, *args, env=None, ok=True):
        cp = self.loader("drain", *args, env=env)
        if ok:
            self.assertEqual(cp.returncode, 0, cp.stderr[-4000:])
        return cp

    def start_loader(self, *args, env=None, name="loader"):
        full = dict(self.env)
        full.update(env or {})
        return self.procs.start([self.loader_bin, *args], env=full, name=name)

    # -- sandbox
    def state(self):
        status, _, doc = http_json("GET", self.url + "/_sim/state")
        self.assertEqual(status, 200)
        return doc

    def put_state(self, doc):
        status, _, body = http_json("PUT", self.url + "/_sim/state", doc)
        self.assertEqual(status, 200, body)

    def stats(self):
        return http_json("GET", self.url + "/_sim/stats")[2]

    def field_keys(self):
        comp = self.state()["companies"][0]
        return {f["name"]: f["key"] for f in comp["fields"] if not f.get("is_deleted")}

    def orgs(self, deleted=False):
        comp = self.state()["companies"][0]
        return [o for o in comp["organizations"] if deleted or not o.get("is_deleted")]

    def ours(self):
        """{(company, number): [orgs]} of organizations carrying both IDs."""
        keys = self.field_keys()
        kn, kc = keys.get("Sage 300 Customer ID"), keys.get("Sage 300 Company")
        out = {}
        for o in self.orgs():
            cf = o.get("custom_fields") or {}
            if kn in cf and kc in cf and cf[kn] is not None and cf[kc] is not None:
                out.setdefault((cf[kc], cf[kn]), []).append(o)
        return out

    def op_count(self, op):
        return self.stats()["operations"].get(op, {}).get("count", 0)

    def fault(self, **f):
        status, _, body = http_json("POST", self.url + "/_sim/faults", f)
        self.assertIn(status, (200, 201), body)

    def setup_fields(self):
        cp = self.loader("setup")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return cp

    def seed_orgs(self, orgs):
        """Adds organizations (v2 objects) to the sandbox's company."""
        doc = self.state()
        comp = doc["companies"][0]
        next_id = max([o["id"] for o in comp["organizations"]] + [0]) + 1
        for o in orgs:
            o = dict(o)
            o.setdefault("id", next_id)
            next_id = max(next_id, o["id"]) + 1
            o.setdefault("add_time", "2026-01-01T00:00:00Z")
            o.setdefault("update_time", "2026-01-01T00:00:00Z")
            o.setdefault("is_deleted", False)
            o.setdefault("visible_to", 3)
            o.setdefault("owner_id", comp["user"]["id"])
            comp["organizations"].append(o)
        self.put_state(doc)

    def audit(self, sql, *args):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def assert_one_each(self, customers):
        ours = self.ours()
        for key in customers:
            self.assertEqual(len(ours.get(key, [])), 1, f"{key}: {ours.get(key)}")
        self.assertEqual(len(ours), len(customers), sorted(ours))


class LoaderBasics(LoaderCase):
    def test_create_update_unchanged_missing(self):
        evs = [event("SAMINC", str(1000 + i), customer(i)) for i in range(6)]
        self.produce(evs)
        cp = self.drain()
        self.assert_one_each({("SAMINC", str(1000 + i)) for i in range(6)})
        keys = self.field_keys()
        for name in ("Sage 300 Customer ID", "Sage 300 Company", "Payment Terms", "Credit Limit",
                     "Phone", "Email", "Contact Name", "Customer Status"):
            self.assertIn(name, keys)
        org = self.ours()[("SAMINC", "1003")][0]
        self.assertEqual(org["name"], "Customer 3")
        self.assertEqual(org["address"]["locality"], "San Diego")
        self.assertEqual(org["custom_fields"][keys["Credit Limit"]],
                         {"value": 25000, "currency": "USD"})
        rows = self.audit("SELECT outcome, count(*) FROM event_audit GROUP BY outcome")
        self.assertEqual(dict(rows), {"created": 6})
        self.assertNotIn(TOKEN, cp.stderr)

        # the same events again (a replay) cost no call at all
        http_json("DELETE", self.url + "/_sim/stats")
        self.produce(evs)
        self.drain()
        st = self.stats()
        self.assertEqual(st["tokens_spent"], 10 + 10,  # field list + updated_since scan
                         json.dumps(st)[:2000])
        rows = self.audit("SELECT outcome, count(*) FROM event_audit GROUP BY outcome")
        self.assertEqual(dict(rows), {"created": 6, "unchanged": 6})

        # an update sends only what changed
        self.produce([event("SAMINC", "1002", customer(2, phone="(619)555-9999"))])
        cp = self.drain(env=BODIES)
        patches = [b for m, p, b in bodies(cp.stderr) if m == "PATCH"]
        self.assertEqual(len(patches), 1, cp.stderr[-3000:])
        self.assertEqual(patches[0], {"custom_fields": {keys["Phone"]: "(619)555-9999"}})
        org = self.ours()[("SAMINC", "1002")][0]
        self.assertEqual(org["custom_fields"][keys["Phone"]], "(619)555-9999")

        # missing sets Customer Status only
        self.produce([event("SAMINC", "1004", op="missing")])
        self.drain()
        org = self.ours()[("SAMINC", "1004")][0]
        opts = {o["label"]: o["id"] for f in self.state()["companies"][0]["fields"]
                if f["name"] == "Customer Status" for o in f["options"]}
        self.assertEqual(org["custom_fields"][keys["Customer Status"]],
                         opts["Missing in Sage 300"])
        self.assertEqual(org["name"], "Customer 4")
        self.assert_one_each({("SAMINC", str(1000 + i)) for i in range(6)})

    def test_adoption_foreign_and_lost_state_file(self):
        self.setup_fields()
        keys = self.field_keys()
        kn, kc, kp = keys["Sage 300 Customer ID"], keys["Sage 300 Company"], keys["Phone"]
        foreign = [{"id": 501, "name": "Customer 2", "custom_fields": {}},  # same name, no IDs
                   {"id": 502, "name": "Half ours", "custom_fields": {kn: "1002"}},  # one ID
                   {"id": 503, "name": "Other company",
                    "custom_fields": {kn: "1003", kc: "SAMLTD"}}]
        pre = {"name": "Customer 1 (old name)", "custom_fields": {kn: "1001", kc: "SAMINC",
                                                                  kp: "(000)000-0000"}}
        self.seed_orgs(foreign + [pre])
        before = {o["id"]: o for o in self.orgs()}
        pre_id = [o["id"] for o in self.orgs() if o["name"] == "Customer 1 (old name)"][0]

        custs = {("SAMINC", str(1000 + i)): customer(i) for i in range(5)}
        self.produce([event(c, n, v) for (c, n), v in custs.items()])
        cp = self.drain(env=BODIES)
        ours = self.ours()
        # the pre-existing organization was adopted, not duplicated
        self.assertEqual([o["id"] for o in ours[("SAMINC", "1001")]], [pre_id])
        adopted = ours[("SAMINC", "1001")][0]
        self.assertEqual(adopted["name"], "Customer 1")
        self.assertEqual(adopted["custom_fields"][kp], "(619)555-0100")
        patch = [b for m, p, b in bodies(cp.stderr) if m == "PATCH"]
        self.assertEqual(len(patch), 1)
        self.assertNotIn(kn, patch[0].get("custom_fields", {}))  # only what differed
        self.assertEqual(self.audit("SELECT outcome FROM event_audit WHERE customer = '1001'"),
                         [("adopted",)])
        # foreign organizations are untouched, byte for byte
        after = {o["id"]: o for o in self.orgs()}
        for f in foreign:
            self.assertEqual(after[f["id"]], before[f["id"]])
        # the cold map cost one list page, not a search per customer
        self.assertEqual(self.op_count("organizations.search"), 0)
        self.assertEqual(self.op_count("itemSearch.field") if "itemSearch.field" in
                         self.stats()["operations"] else 0, 0)
        self.assertEqual(self.op_count("organizations.list"), 1)
        self.assertEqual(self.op_count("organizations.create"), 4)

        # the state file is lost: a replay with changes adopts, never duplicates
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)
        http_json("DELETE", self.url + "/_sim/stats")
        custs[("SAMINC", "1004")] = customer(4, email="new@example.com")
        self.produce([event(c, n, v) for (c, n), v in custs.items()])
        cp = self.drain(env=BODIES)
        if os.environ.get("DEBUG_BODIES"):
            print([b for b in bodies(cp.stderr)], file=sys.stderr)
        st = self.stats()
        self.assertEqual(self.op_count("organizations.create"), 0, st)
        self.assertEqual(self.op_count("organizations.update"), 1, st)  # only the changed one
        self.assertEqual(self.op_count("organizations.list"), 1, st)
        self.assert_one_each(set(custs) | {("SAMLTD", "1003")})
        after2 = {o["id"]: o for o in self.orgs()}
        for f in foreign:
            self.assertEqual(after2[f["id"]], before[f["id"]])
        rows = dict(self.audit("SELECT outcome, count(*) FROM event_audit GROUP BY outcome"))
        self.assertEqual(rows, {"adopted": 5})

    def test_duplicate_ids_change_nothing(self):
        self.setup_fields()
        keys = self.field_keys()
        kn, kc = keys["Sage 300 Customer ID"], keys["Sage 300 Company"]
        self.seed_orgs([{"name": "Dup A", "custom_fields": {kn: "1000", kc: "SAMINC"}},
                        {"name": "Dup B", "custom_fields": {kn: "1000", kc: "SAMINC"}}])
        before = self.orgs()
        self.produce([event("SAMINC", "1000", customer(0))])
        self.drain()
        self.assertEqual(self.orgs(), before)
        self.assertEqual(self.audit("SELECT outcome FROM event_audit"), [("duplicate",)])
        ids = sorted(o["id"] for o in before if o["name"].startswith("Dup"))
        status = self.status()["loader"]["duplicates"]
        self.assertEqual([(d["company"], d["customer"], json.loads(d["ids"])) for d in status],
                         [("SAMINC", "1000", ids)])

    def test_duplicates_merged_in_pipedrive_sync_again(self):
        """An operator deletes one of two organizations carrying a customer's
        IDs: the customer's next event finds one by its IDs (a lookup, not a
        state reset), and syncs it."""
        self.test_duplicate_ids_change_nothing()
        dup_a, dup_b = sorted(o["id"] for o in self.orgs() if o["name"].startswith("Dup"))
        status, _, _ = http_json("DELETE", f"{self.url}/api/v2/organizations/{dup_b}",
                                 headers={"x-api-token": TOKEN})
        self.assertEqual(status, 200)
        self.produce([event("SAMINC", "1000", customer(0, phone="(619)555-7777"))])
        cp = self.drain()
        self.assertIn("carries its IDs again", cp.stderr)
        self.assert_one_each({("SAMINC", "1000")})
        org = self.ours()[("SAMINC", "1000")][0]
        self.assertEqual(org["id"], dup_a)
        self.assertEqual(org["custom_fields"][self.field_keys()["Phone"]], "(619)555-7777")
        self.assertEqual(self.audit("SELECT outcome FROM event_audit ORDER BY id"),
                         [("duplicate",), ("adopted",)])
        self.assertEqual(self.status()["loader"]["duplicates"], [])

    def status(self):
        cp = self.procs.run([binary("mlc"), "status", "--json", "--loader-db", self.db,
                             "--extractor-db", os.path.join(self.workdir, "none.db")],
                            env=self.env, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return json.loads(cp.stdout)

    def test_deleted_in_crm_skip_and_recreate(self):
        self.produce([event("SAMINC", "1000", customer(0)), event("SAMINC", "1001", customer(1))])
        self.drain()
        ids = {k: v[0]["id"] for k, v in self.ours().items()}
        for oid in ids.values():
            status, _, _ = http_json("DELETE", f"{self.url}/api/v2/organizations/{oid}",
                                     headers={"x-api-token": TOKEN})
            self.assertEqual(status, 200)
        self.produce([event("SAMINC", "1000", customer(0, phone="1")),
                      event("SAMINC", "1001", customer(1, phone="1"))])
        self.drain()
        self.assertEqual(self.ours(), {})  # left deleted, nothing recreated
        rows = self.audit("SELECT customer, outcome FROM event_audit WHERE outcome <> 'created' "
                          "ORDER BY customer")
        self.assertEqual(rows, [("1000", "deleted_in_crm"), ("1001", "deleted_in_crm")])
        # a later event stays skipped without a call
        http_json("DELETE", self.url + "/_sim/stats")
        self.produce([event("SAMINC", "1000", customer(0, phone="2"))])
        self.drain()
        self.assertEqual(self.op_count("organizations.update"), 0)
        # recreate: one new organization, the deleted one stays deleted
        self.produce([event("SAMINC", "1001", customer(1, phone="3"))])
        self.drain(env={"MLC_ON_CRM_DELETED": "recreate"})
        ours = self.ours()
        self.assertEqual(list(ours), [("SAMINC", "1001")])
        self.assertNotEqual(ours[("SAMINC", "1001")][0]["id"], ids[("SAMINC", "1001")])
        self.assertEqual(len(self.orgs(deleted=True)), 3)

    def test_dead_letters(self):
        self.produce([("SAMINC:1", "this is not json")], headers=["trace=abc"])
        long_phone = "5" * 300  # valid event, refused by Pipedrive (phone <= 255): a 400
        self.produce([event("SAMINC", "1000", customer(0, phone=long_phone)),
                      event("SAMINC", "1001", customer(1))])
        cp = self.drain()
        self.assert_one_each({("SAMINC", "1001")})
        dl = self.read_topic(DLQ)
        self.assertEqual(len(dl), 2, dl)
        by_key = {m["key"]: m for m in dl}
        bad = by_key["SAMINC:1"]
        self.assertEqual(bad["payload"], "this is not json")
        hdrs = dict(zip(bad["headers"][0::2], bad["headers"][1::2]))
        self.assertEqual(hdrs["trace"], "abc")
        self.assertEqual(hdrs["mlc.original.topic"], TOPIC)
        self.assertEqual(int(hdrs["mlc.original.partition"]), bad_part(self, "SAMINC:1"))
        self.assertEqual(hdrs["mlc.error.class"], "invalid_event")
        self.assertIn("event", hdrs["mlc.error"])
        self.assertIn("mlc.original.offset", hdrs)
        self.assertIn("mlc.failed.at", hdrs)
        v400 = by_key["SAMINC:1000"]
        hdrs = dict(zip(v400["headers"][0::2], v400["headers"][1::2]))
        self.assertEqual(hdrs["mlc.error.class"], "validation")
        self.assertIn("400", hdrs["mlc.error"])
        rows = dict(self.audit("SELECT outcome, count(*) FROM event_audit GROUP BY outcome"))
        self.assertEqual(rows, {"dlq": 2, "created": 1})
        self.assertIn("dead-letter", cp.stderr)

    def test_credit_picture_of_v2_and_v1_events(self):
        credit = {"balance_due": 12000.5, "amount_past_due": 1500, "credit_used_pct": 48.002,
                  "open_documents": 3, "last_invoice_date": "2026-11-20"}
        self.produce([event_v2("SAMINC", "1000", customer(0), credit),
                      event_v2("SAMINC", "1001", customer(1), dict(credit, balance_due=10))])
        self.drain()
        keys = self.field_keys()
        org = self.ours()[("SAMINC", "1000")][0]
        cf = org["custom_fields"]
        self.assertEqual(cf[keys["Balance Due"]], {"value": 12000.5, "currency": "USD"})
        self.assertEqual(cf[keys["Amount Past Due"]], {"value": 1500, "currency": "USD"})
        self.assertEqual(cf[keys["Credit Used %"]], 48.002)
        self.assertEqual(cf[keys["Open Documents"]], 3)
        self.assertEqual(cf[keys["Last Invoice Date"]], "2026-11-20")
        self.assertIsNone(cf.get(keys["Last Receipt Date"]))
        types = {f["name"]: f["field_type"] for f in self.state()["companies"][0]["fields"]}
        self.assertEqual([types[n] for n in ("Balance Due", "Amount Past Due", "Credit Used %",
                                             "Open Documents", "Last Invoice Date",
                                             "Last Receipt Date")],
                         ["monetary", "monetary", "double", "double", "date", "date"])

        # a balance change: one PATCH of the changed credit fields of that organization
        http_json("DELETE", self.url + "/_sim/stats")
        moved = dict(credit, balance_due=15000, credit_used_pct=60, open_documents=4,
                     last_receipt_date="2026-11-25")
        self.produce([event_v2("SAMINC", "1000", customer(0), moved)])
        cp = self.drain(env=BODIES)
        patches = [(p, b) for m, p, b in bodies(cp.stderr) if m == "PATCH"]
        org_id = self.ours()[("SAMINC", "1000")][0]["id"]
        self.assertEqual(len(patches), 1, cp.stderr[-3000:])
        self.assertTrue(patches[0][0].endswith(f"/organizations/{org_id}"), patches)
        self.assertEqual(patches[0][1], {"custom_fields": {
            keys["Balance Due"]: {"value": 15000, "currency": "USD"},
            keys["Credit Used %"]: 60, keys["Open Documents"]: 4,
            keys["Last Receipt Date"]: "2026-11-25"}})

        # a v1 event (an old one still on the topic): master data applied,
        # credit fields absent, not cleared (ADR 0008 decision 4)
        self.produce([event("SAMINC", "1000", customer(0, name="Renamed by v1"))])
        cp = self.drain(env=BODIES)
        patches = [b for m, p, b in bodies(cp.stderr) if m == "PATCH"]
        self.assertEqual(patches, [{"name": "Renamed by v1"}], cp.stderr[-3000:])
        cf = self.ours()[("SAMINC", "1000")][0]["custom_fields"]
        self.assertEqual(cf[keys["Balance Due"]], {"value": 15000, "currency": "USD"})
        self.assertEqual(cf[keys["Last Receipt Date"]], "2026-11-25")
        # a customer first seen through a v1 event is created without credit fields
        self.produce([event("SAMINC", "1002", customer(2))])
        self.drain()
        cf = self.ours()[("SAMINC", "1002")][0]["custom_fields"]
        self.assertIsNone(cf.get(keys["Balance Due"]))
        self.assertEqual(cf[keys["Credit Limit"]], {"value": 25000, "currency": "USD"})

    def test_unknown_event_version_is_dead_lettered_as_unsupported(self):
        key, value = event_v2("SAMINC", "1000", customer(0),
                              {"balance_due": 1, "amount_past_due": 0, "open_documents": 1,
                               "credit_used_pct": 0.004})
        self.produce([(key, value.replace("customer-change.v2", "customer-change.v3")),
                      event("SAMINC", "1001", customer(1))])
        self.drain()
        self.assert_one_each({("SAMINC", "1001")})
        dl = self.read_topic(DLQ)
        self.assertEqual(len(dl), 1, dl)
        hdrs = dict(zip(dl[0]["headers"][0::2], dl[0]["headers"][1::2]))
        self.assertEqual(hdrs["mlc.error.class"], "unsupported_version")
        self.assertIn('unsupported version "sage300.customer-change.v3"', hdrs["mlc.error"])

    def test_5xx_and_timeouts_retry_without_loss(self):
        self.fault(kind="status", status=503, count=3, method="POST",
                   path="/api/v2/organizations")
        self.fault(kind="status", status=502, count=2, method="PATCH")
        custs = [("SAMINC", str(1000 + i)) for i in range(5)]
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        self.drain()
        self.assert_one_each(set(custs))
        self.produce([event(c, n, customer(i, phone="2")) for i, (c, n) in enumerate(custs)])
        self.drain()
        keys = self.field_keys()
        for k, v in self.ours().items():
            self.assertEqual(v[0]["custom_fields"][keys["Phone"]], "2")
        rows = dict(self.audit("SELECT outcome, count(*) FROM event_audit GROUP BY outcome"))
        self.assertEqual(rows, {"created": 5, "updated": 5})
        statuses = [r[0] for r in self.audit("SELECT status FROM call_audit")]
        self.assertEqual(statuses.count(503), 3)
        self.assertEqual(statuses.count(502), 2)

    def test_lost_post_answer_is_looked_up_not_repeated(self):
        # the POST is applied but the answer never arrives (connection reset
        # after the handler ran is not injectable; a hang past the timeout is)
        self.fault(kind="hang", delay_ms=4000, count=1, method="POST",
                   path="/api/v2/organizations")
        self.produce([event("SAMINC", "1000", customer(0))])
        self.drain(env={"MLC_PIPEDRIVE_TIMEOUT": "1500"})
        self.assert_one_each({("SAMINC", "1000")})


def bad_part(case, key):
    for m in case.read_topic(TOPIC):
        if m["key"] == key:
            return m["partition"]
    return -1


if __name__ == "__main__":
    mlctest.main()
