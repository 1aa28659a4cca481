"""mlc-loader match: customers linked to organizations that sales typed in
before the connector, decided from one listing of every organization, with
nothing written unless --apply, and then only the two ID fields of
unambiguous matches; the next drain adopts those instead of creating
duplicates."""
import json

import mlctest
from test_loader import LoaderCase, customer, event

CUSTS = [("SAMINC", str(1000 + i)) for i in range(6)]


class MatchExisting(LoaderCase):
    def seed(self):
        keys = self.field_keys()
        k_num, k_co = keys["Sage 300 Customer ID"], keys["Sage 300 Company"]
        self.seed_orgs([
            {"id": 501, "name": "Customer 0, Inc."},                  # spelled differently
            {"id": 502, "name": "CUSTOMER 1 LTD", "address": {"locality": "San Diego"}},
            {"id": 503, "name": "Customer 2", "address": {"postal_code": "92110"}},
            {"id": 504, "name": "Customer 2", "address": {"postal_code": "10001"}},
            {"id": 505, "name": "Customer 3", "address": {"postal_code": "92110"}},  # twins
            {"id": 506, "name": "Customer 3 Co", "address": {"postal_code": "92110"}},
            {"id": 507, "name": "Customer 4",                        # another customer's
             "custom_fields": {k_num: "9999", k_co: "SAMLTD"}},
            {"id": 508, "name": "Unrelated Bakery"},
        ])

    def match(self, *args):
        cp = self.loader("match", *args)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        return cp.stdout

    def test_match_then_apply_then_adopt(self):
        self.setup_fields()
        self.seed()
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(CUSTS)])
        before = {o["id"]: o for o in self.orgs()}
        patches = self.op_count("organizations.update")

        out = self.match()
        lines = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith("SAMINC:"))
        self.assertEqual(lines["SAMINC:1000"], 'matched 501 "Customer 0, Inc."')
        self.assertEqual(lines["SAMINC:1001"], 'matched 502 "CUSTOMER 1 LTD"')
        self.assertEqual(lines["SAMINC:1002"], 'matched 503 "Customer 2"')
        self.assertEqual(lines["SAMINC:1003"], "ambiguous 505,506")
        self.assertEqual(lines["SAMINC:1004"], "none")  # 507 carries other IDs
        self.assertEqual(lines["SAMINC:1005"], "none")
        self.assertIn("matched 3, ambiguous 1, none 2", out)
        self.assertIn("--apply would write the two ID fields on the 3 matched organization(s): "
                      "15 tokens", out)
        # without --apply nothing was written, and no offset committed
        self.assertEqual(self.op_count("organizations.update"), patches)
        self.assertEqual({o["id"]: o for o in self.orgs()}, before)

        doc = json.loads(self.match("--json"))
        self.assertEqual(doc["totals"]["matched"], 3)
        self.assertEqual(doc["totals"]["listing_tokens"], 10)
        self.assertEqual(doc["totals"]["apply_tokens"], 15)

        out = self.match("--apply")
        self.assertIn("linked 3 organization(s) (15 tokens)", out)
        self.assertEqual(self.op_count("organizations.update"), patches + 3)
        ours = self.ours()
        self.assertEqual({k: [o["id"] for o in v] for k, v in ours.items()},
                         {("SAMINC", "1000"): [501], ("SAMINC", "1001"): [502],
                          ("SAMINC", "1002"): [503], ("SAMLTD", "9999"): [507]})
        # the drain adopts the three and creates only the other three
        creates = self.op_count("organizations.create")
        self.drain()
        self.assertEqual(self.op_count("organizations.create"), creates + 3)
        ours = self.ours()
        for key in CUSTS:
            self.assertEqual(len(ours[key]), 1, key)
        self.assertEqual(ours[("SAMINC", "1000")][0]["id"], 501)
        adopted = self.audit("SELECT customer FROM event_audit WHERE outcome = 'adopted'")
        self.assertEqual(sorted(c for (c,) in adopted), ["1000", "1001", "1002"])
        # the ambiguous twins and the unrelated organization are untouched
        after = {o["id"]: o for o in self.orgs()}
        for oid in (504, 505, 506, 508):
            self.assertEqual(after[oid], before[oid], oid)
        # a second match finds every customer linked
        self.assertIn("matched 0, ambiguous 0, none 0; already linked 6", self.match())


if __name__ == "__main__":
    mlctest.main()
