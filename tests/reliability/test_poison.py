"""Reliability: a poisoned topic.

WHAT IT BREAKS: before (and between) real events, the customer topic gets
invalid JSON, valid JSON that violates the event schema, an oversized value
(a well-formed event over the 16 KiB limit) and invalid UTF-8.
WHAT MUST HOLD: each poison lands in the DLQ exactly once, with its original
key and a reason (mlc.error.class + mlc.error headers); the real events flow
on: exactly one organization per customer with its latest values, foreign
organizations untouched, nothing lost."""
import json

import relcheck
from relcheck import TOPIC

BIG = "x" * 1000
REASON = {"poison:invalid-json": "mlc.error=event: invalid json",
          "poison:schema": "is required",
          "poison:oversized": "more than 16384",
          "poison:bad-utf8": "not valid utf-8"}


def poisons():
    schema_bad = {"schema": "sage300.customer-change.v1", "event_id": "0" * 32, "op": "upsert",
                  "company": "SAMINC", "customer_number": "P2", "content_hash": "zz"}
    oversized = dict(schema_bad, customer_number="P3", content_hash="a" * 64,
                     emitted_at="2026-11-28T07:40:13Z",
                     source={"base_url": "http://x/", "last_maintained": None,
                             "read_at": "2026-11-28T07:40:12Z"},
                     customer={"name": "Big", "credit_limit": 1.0, "status": "active",
                               "on_hold": False, **{f"address_line{i}": BIG for i in (1, 2, 3, 4)},
                               "email": BIG * 1, "contact_name": BIG, "fax": BIG,
                               "website": BIG, "short_name": BIG, "city": BIG, "country": BIG,
                               "phone": BIG, "contact_email": BIG, "contact_phone": BIG,
                               "group": BIG, "terms_description": BIG, "state": BIG,
                               "postal_code": BIG})
    return {
        "poison:invalid-json": b'{"schema": "sage300.customer-change.v1", "op": ',
        "poison:schema": json.dumps(schema_bad).encode(),
        "poison:oversized": json.dumps(oversized).encode(),
        "poison:bad-utf8": b'{"schema":"sage300.customer-change.v1","company":"SAMINC",'
                           b'"customer_number":"\xff\xfe\xc3(","op":"upsert"}',
    }


class Poison(relcheck.Rig):
    def test_poison_goes_to_dlq_rest_flows(self):
        p = poisons()
        self.assertGreater(len(p["poison:oversized"]), 16384)
        items = list(p.items())
        self.produce(b"".join(k.encode() + b"\t" + v + b"\n" for k, v in items[:2]))
        self.extract_ok()
        self.produce(b"".join(k.encode() + b"\t" + v + b"\n" for k, v in items[2:]))
        self.sage_edit_random(5, "afterpoison")
        self.extract_ok()
        self.drain_ok()
        dlq = self.read_topic(relcheck.DLQ).decode("utf-8", "replace").splitlines()
        by_key = {}
        for line in dlq:
            parts = line.split("\t", 2)
            if len(parts) == 3:
                by_key.setdefault(parts[1], []).append(parts[0])
        for key in p:
            self.assertEqual(len(by_key.get(key, [])), 1, f"{key}: {dlq}")
            hdrs = by_key[key][0]
            self.assertIn("mlc.error.class=", hdrs)
            self.assertIn("mlc.error.class=invalid_event", hdrs)
            self.assertIn(REASON[key], hdrs)
            print(f"[poison] {key}: {hdrs[:300]}")
        self.assertEqual(set(by_key), set(p), dlq)  # nothing else was dead-lettered
        self.check_final()


if __name__ == "__main__":
    relcheck.mlctest.main()
