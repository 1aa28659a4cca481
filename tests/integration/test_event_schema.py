"""The events mlc_event builds validate against schemas/customer-change.v1.json.

Runs the unit test binary test_event with MLC_TEST_EVENT_DIR set, so it dumps
every valid event it encodes, then checks each dump with a real JSON Schema
2020-12 validator (Debian's python3-jsonschema), recomputes content_hash and
event_id independently from docs/events.md, and checks that hand-written
invalid events are refused by the schema too.
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
                         {"upsert_full.json", "upsert_awkward.json", "missing.json"})

    def test_generated_events_validate(self):
        for name, ev in self.events().items():
            with self.subTest(event=name):
                errors = [e.message for e in self.validator.iter_errors(ev)]
                self.assertEqual(errors, [])

    def test_wire_form_is_canonical_and_hashes_recompute(self):
        for name, ev in self.events().items():
            with self.subTest(event=name):
                self.assertEqual(self.raw[name], canon(ev).encode("utf-8"))
                body = canon(ev["customer"]) if ev["op"] == "upsert" else "missing"
                h = hashlib.sha256(body.encode("utf-8")).hexdigest()
                self.assertEqual(ev["content_hash"], h)
                idsrc = "%s:%s:%s:%s" % (ev["company"], ev["customer_number"], ev["op"], h)
                self.assertEqual(ev["event_id"],
                                 hashlib.sha256(idsrc.encode("utf-8")).hexdigest()[:32])
                self.assertLessEqual(len(self.raw[name]), 16384)

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
