"""The events mlc_event builds validate against schemas/customer-change.vN.json.

Runs the unit test binary test_event with MLC_TEST_EVENT_DIR set, so it dumps
every valid event it encodes, then checks each dump with a real JSON Schema
2020-12 validator (Debian's python3-jsonschema), recomputes content_hash and
event_id independently from docs/events.md, and checks that hand-written
invalid events are refused by the schema too. The golden events of
tests/fixtures/events/vN/ (which the C unit test decodes too) validate against
the schema of their version and only that one.
"""
import copy
import hashlib
import json
import os
import subprocess
import tempfile
import unittest

import jsonschema

import mlctest

SCHEMA_PATH = os.path.join(mlctest.SRCDIR, "schemas", "customer-change.v1.json")
SCHEMA_V2_PATH = os.path.join(mlctest.SRCDIR, "schemas", "customer-change.v2.json")
FIXTURES = os.path.join(mlctest.SRCDIR, "tests", "fixtures", "events")


def test_event_binary():
    for cand in (os.path.join(mlctest.BINDIR, "tests", "test_event"),
                 os.path.join(mlctest.BINDIR, "test_event")):
        if os.access(cand, os.X_OK):
            return cand
    raise mlctest.missing("test_event is not built")


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


class EventSchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(SCHEMA_PATH, encoding="utf-8") as f:
            cls.schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(cls.schema)
        cls.validator = jsonschema.Draft202012Validator(
            cls.schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        with open(SCHEMA_V2_PATH, encoding="utf-8") as f:
            schema2 = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema2)
        cls.validator2 = jsonschema.Draft202012Validator(
            schema2, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        cls.validators = {"sage300.customer-change.v1": cls.validator,
                          "sage300.customer-change.v2": cls.validator2}
        cls.tmp = tempfile.TemporaryDirectory(prefix="mlc-events-")
        env = dict(os.environ, MLC_TEST_EVENT_DIR=cls.tmp.name)
        res = subprocess.run([test_event_binary()], env=env, capture_output=True, text=True,
                             timeout=120)
        if res.returncode != 0:
            raise AssertionError("test_event failed:\n" + res.stdout + res.stderr)
        cls.raw = {}
        for name in sorted(os.listdir(cls.tmp.name)):
            with open(os.path.join(cls.tmp.name, name), "rb") as f:
                cls.raw[name] = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def events(self):
        return {n: json.loads(b.decode("utf-8")) for n, b in self.raw.items()}

    def test_fixture_produced_each_kind(self):
        self.assertEqual(set(self.raw),
                         {"upsert_full.json", "upsert_awkward.json", "missing.json",
                          "v2_upsert_full.json", "v2_upsert_nolimit.json", "v2_missing.json"})

    def test_generated_events_validate(self):
        for name, ev in self.events().items():
            with self.subTest(event=name):
                errors = [e.message for e in self.validators[ev["schema"]].iter_errors(ev)]
                self.assertEqual(errors, [])

    def golden(self):
        out = {}
        for version in ("v1", "v2"):
            d = os.path.join(FIXTURES, version)
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as f:
                    out[version + "/" + name] = f.read().rstrip(b"\n")
        return out

    def test_golden_events_validate_against_their_version_only(self):
        golden = self.golden()
        self.assertEqual(len([n for n in golden if n.startswith("v1/")]), 3)
        self.assertEqual(len([n for n in golden if n.startswith("v2/")]), 3)
        for name, raw in golden.items():
            with self.subTest(event=name):
                ev = json.loads(raw.decode("utf-8"))
                mine = self.validator if name.startswith("v1/") else self.validator2
                other = self.validator2 if name.startswith("v1/") else self.validator
                self.assertEqual([e.message for e in mine.iter_errors(ev)], [])
                self.assertFalse(other.is_valid(ev))
                self.check_canonical_and_hashes(raw, ev)
        # the golden events are what today's code builds, byte for byte
        for name in ("upsert_full", "upsert_awkward", "missing"):
            self.assertEqual(golden["v1/%s.json" % name], self.raw["%s.json" % name])
        for name in ("upsert_full", "upsert_nolimit", "missing"):
            self.assertEqual(golden["v2/%s.json" % name], self.raw["v2_%s.json" % name])

    def check_canonical_and_hashes(self, raw, ev):
        self.assertEqual(raw, canon(ev).encode("utf-8"))
        if ev["op"] != "upsert":
            body = "missing"
        elif ev["schema"].endswith(".v1"):
            body = canon(ev["customer"])
        else:
            body = canon({"customer": ev["customer"], "credit": ev["credit"]})
        h = hashlib.sha256(body.encode("utf-8")).hexdigest()
        self.assertEqual(ev["content_hash"], h)
        idsrc = "%s:%s:%s:%s" % (ev["company"], ev["customer_number"], ev["op"], h)
        self.assertEqual(ev["event_id"], hashlib.sha256(idsrc.encode("utf-8")).hexdigest()[:32])
        self.assertLessEqual(len(raw), 16384)
        if ev["op"] == "upsert" and ev["schema"].endswith(".v2"):
            limit = ev["customer"]["credit_limit"]
            if limit > 0:
                pct = max(-1e6, min(1e6, ev["credit"]["balance_due"] / limit * 100.0))
                self.assertEqual("%.3f" % ev["credit"]["credit_used_pct"], "%.3f" % pct)

    def test_wire_form_is_canonical_and_hashes_recompute(self):
        for name, ev in self.events().items():
            with self.subTest(event=name):
                self.check_canonical_and_hashes(self.raw[name], ev)

    def test_invalid_v2_events_are_refused(self):
        good = self.events()["v2_upsert_full.json"]
        nolimit = self.events()["v2_upsert_nolimit.json"]
        missing = self.events()["v2_missing.json"]

        def edit(base, fn):
            ev = copy.deepcopy(base)
            fn(ev)
            return ev

        def setcr(k, v):
            return lambda ev: ev["credit"].__setitem__(k, v)

        bad = {
            "upsert without credit": edit(good, lambda ev: ev.pop("credit")),
            "missing with credit": edit(missing, lambda ev: ev.__setitem__(
                "credit", good["credit"])),
            "balance as string": edit(good, setcr("balance_due", "12000.5")),
            "balance too large": edit(good, setcr("balance_due", 1e15)),
            "no past due": edit(good, lambda ev: ev["credit"].pop("amount_past_due")),
            "fractional open documents": edit(good, setcr("open_documents", 2.5)),
            "negative open documents": edit(good, setcr("open_documents", -1)),
            "too many open documents": edit(good, setcr("open_documents", 10000)),
            "pct out of range": edit(good, setcr("credit_used_pct", 1e6 + 1)),
            "pct missing with a limit": edit(good, lambda ev: ev["credit"].pop("credit_used_pct")),
            "pct with no limit": edit(nolimit, setcr("credit_used_pct", 0)),
            "null invoice date": edit(good, setcr("last_invoice_date", None)),
            "invoice date with time": edit(good, setcr("last_invoice_date",
                                                       "2026-11-20T00:00:00Z")),
            "unknown credit key": edit(good, setcr("on_hold", True)),
            "v1 name with credit": edit(good, lambda ev: ev.__setitem__(
                "schema", "sage300.customer-change.v1")),
            "unknown version": edit(good, lambda ev: ev.__setitem__(
                "schema", "sage300.customer-change.v3")),
        }
        for name, ev in bad.items():
            with self.subTest(case=name):
                self.assertFalse(self.validator2.is_valid(ev), name)
        for ev in (good, nolimit, missing):
            self.assertTrue(self.validator2.is_valid(ev))

    def test_invalid_events_are_refused(self):
        good = self.events()["upsert_full.json"]
        missing = self.events()["missing.json"]

        def edit(base, fn):
            ev = copy.deepcopy(base)
            fn(ev)
            return ev

        def setc(k, v):
            return lambda ev: ev["customer"].__setitem__(k, v)

        bad = {
            "credit limit as string": edit(good, setc("credit_limit", "25000")),
            "credit limit too large": edit(good, setc("credit_limit", 1e16)),
            "unknown op": edit(good, lambda ev: ev.__setitem__("op", "delete")),
            "unknown top-level key": edit(good, lambda ev: ev.__setitem__("foo", 1)),
            "unknown customer key": edit(good, setc("notes", "x")),
            "empty string": edit(good, setc("name", "")),
            "null string": edit(good, setc("city", None)),
            "oversize string": edit(good, setc("name", "x" * 1025)),
            "status not mapped": edit(good, setc("status", "Active")),
            "on_hold as Yes/No": edit(good, setc("on_hold", "No")),
            "date with time": edit(good, setc("inactive_date", "2024-03-18T00:00:00Z")),
            "impossible month": edit(good, setc("inactive_date", "2024-13-01")),
            "impossible day (format)": edit(good, setc("inactive_date", "2023-02-29")),
            "upsert without customer": edit(good, lambda ev: ev.pop("customer")),
            "missing with customer": edit(missing, lambda ev: ev.__setitem__(
                "customer", good["customer"])),
            "upper-case event_id": edit(good, lambda ev: ev.__setitem__(
                "event_id", ev["event_id"].upper())),
            "short content_hash": edit(good, lambda ev: ev.__setitem__("content_hash", "ab")),
            "wrong schema name": edit(good, lambda ev: ev.__setitem__(
                "schema", "sage300.customer-change.v2")),
            "company with colon": edit(good, lambda ev: ev.__setitem__("company", "SAM:INC")),
            "blank customer number": edit(good, lambda ev: ev.__setitem__(
                "customer_number", "   ")),
            "control char in number": edit(good, lambda ev: ev.__setitem__(
                "customer_number", "11\n00")),
            "local emitted_at": edit(good, lambda ev: ev.__setitem__(
                "emitted_at", "2026-11-28T07:40:13+01:00")),
            "no last_maintained": edit(good, lambda ev: ev["source"].pop("last_maintained")),
            "credentials in base_url": edit(good, lambda ev: ev["source"].__setitem__(
                "base_url", "https://user:pw@erp/Sage300WebApi/v1.0/-/")),
            "ftp base_url": edit(good, lambda ev: ev["source"].__setitem__(
                "base_url", "ftp://erp/")),
            "unknown source key": edit(good, lambda ev: ev["source"].__setitem__("x", 1)),
            "not an object": [good],
        }
        for name, ev in bad.items():
            with self.subTest(case=name):
                self.assertFalse(self.validator.is_valid(ev), name)
        # and the edits themselves are not what breaks validity: the base is valid
        self.assertTrue(self.validator.is_valid(good))
        self.assertTrue(self.validator.is_valid(missing))


if __name__ == "__main__":
    unittest.main(verbosity=2)
