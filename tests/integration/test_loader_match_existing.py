"""MLC_MATCH_EXISTING=name: the loader itself matches a customer it meets
for the first time against the organizations typed in by hand (no ID
fields), with the rules of `mlc-loader match`, and adopts a single match
instead of creating a duplicate. Ambiguous names, organizations carrying
another customer's IDs, one organization two customers match and unrelated
organizations are never written. Off (the default) creates as before. The
listing is a cache: an organization that took IDs since it was listed is
read again before adoption and left alone."""
import json

import mlctest
from mlctest import http_json, wait_for
from test_loader import TOKEN, LoaderCase, customer, event

MATCH = {"MLC_MATCH_EXISTING": "name"}
CUSTS = {("SAMINC", "1000"): customer(0), ("SAMINC", "1001"): customer(1),
         ("SAMINC", "1002"): customer(2), ("SAMINC", "1003"): customer(3),
         ("SAMINC", "1004"): customer(4),
         ("SAMINC", "1005"): customer(5, name="Twin Traders"),
         ("SAMLTD", "2005"): customer(5, name="Twin Traders Inc")}
UNTOUCHED = (603, 604, 605, 606, 607)


class MatchInsideTheLoader(LoaderCase):
    partitions = 1  # every customer of the drain in one round

    def seed(self):
        keys = self.field_keys()
        kn, kc = keys["Sage 300 Customer ID"], keys["Sage 300 Company"]
        self.seed_orgs([
            {"id": 601, "name": "customer 0, inc."},        # case, legal suffix
            {"id": 602, "name": "CUSTOMER  1 L.T.D."},      # blanks, dotted suffix
            {"id": 603, "name": "Customer 2"},              # an ambiguous pair
            {"id": 604, "name": "Customer 2 GmbH"},
            {"id": 605, "name": "Unrelated Bakery"},
            {"id": 606, "name": "Customer 3",               # another customer's
             "custom_fields": {kn: "9999", kc: "SAMLTD"}},
            {"id": 607, "name": "Twin Traders"},            # two customers match it
        ])
        return {o["id"]: o for o in self.orgs()}

    def test_adopts_single_matches_and_creates_the_rest(self):
        self.setup_fields()
        before = self.seed()
        self.produce([event(c, n, v) for (c, n), v in CUSTS.items()])
        cp = self.drain(env=MATCH)
        ours = self.ours()
        self.assertEqual([o["id"] for o in ours[("SAMINC", "1000")]], [601])
        self.assertEqual([o["id"] for o in ours[("SAMINC", "1001")]], [602])
        self.assert_one_each(set(CUSTS) | {("SAMLTD", "9999")})  # 0 duplicates
        for key in (("SAMINC", "1002"), ("SAMINC", "1003"), ("SAMINC", "1005"),
                    ("SAMLTD", "2005")):
            self.assertNotIn(ours[key][0]["id"], before, key)
        after = {o["id"]: o for o in self.orgs()}
        for oid in UNTOUCHED:
            self.assertEqual(after[oid], before[oid], oid)
        # adopted with the usual diff: Sage's values and the two IDs
        self.assertEqual(after[601]["name"], "Customer 0")
        rows = dict(self.audit("SELECT customer, outcome FROM event_audit"))
        self.assertEqual(rows, {"1000": "adopted", "1001": "adopted", "1002": "created",
                                "1003": "created", "1004": "created", "1005": "created",
                                "2005": "created"})
        reasons = self.audit("SELECT reason FROM event_audit WHERE outcome = 'adopted'")
        self.assertEqual({r for (r,) in reasons}, {"matched by name; it carried no IDs"})
        # the cold map's full scan was the listing: one page; a GET per match
        st = self.stats()["operations"]
        self.assertEqual(st["organizations.list"]["count"], 1, json.dumps(st))
        self.assertEqual(st["organizations.get"]["count"], 3, json.dumps(st))
        self.assertIn("matched by another customer too", cp.stderr)

        # a warm replica lists again (its listing is older than MLC_MATCH_MAX_AGE,
        # here: it has none) and adopts an organization typed in since
        self.seed_orgs([{"id": 900, "name": "Customer 10 LLC"}])
        self.produce([event("SAMINC", "1010", customer(10))])
        self.drain(env=MATCH)
        self.assertEqual([o["id"] for o in self.ours()[("SAMINC", "1010")]], [900])
        st = self.stats()["operations"]
        # updated_since refresh on assignment + the full listing
        self.assertEqual(st["organizations.list"]["count"], 3, json.dumps(st))

    def test_off_by_default_creates(self):
        self.setup_fields()
        before = self.seed()
        self.produce([event(c, n, v) for (c, n), v in CUSTS.items()])
        self.drain()
        self.assert_one_each(set(CUSTS) | {("SAMLTD", "9999")})
        after = {o["id"]: o for o in self.orgs()}
        for oid in before:
            self.assertEqual(after[oid], before[oid], oid)
        self.assertEqual(dict(self.audit("SELECT outcome, count(*) FROM event_audit "
                                         "GROUP BY outcome")), {"created": len(CUSTS)})
        self.assertEqual(self.op_count("organizations.get"), 0)

    def test_listing_is_a_cache_checked_before_adoption(self):
        self.setup_fields()
        keys = self.field_keys()
        self.seed_orgs([{"id": 920, "name": "Customer 20"}])
        p = self.start_loader("run", env=MATCH)
        self.produce([event("SAMINC", "1004", customer(4))])  # lists 920 without IDs
        wait_for(lambda: self.audit("SELECT outcome FROM event_audit") or not p.alive(),
                 timeout=60, interval=0.2, what="the first event")
        # a person gives 920 another customer's IDs; the loader's listing is stale
        status, _, doc = http_json(
            "PATCH", self.url + "/api/v2/organizations/920",
            {"custom_fields": {keys["Sage 300 Customer ID"]: "7777",
                               keys["Sage 300 Company"]: "SAMLTD"}},
            headers={"x-api-token": TOKEN})
        self.assertEqual(status, 200, doc)
        before = {o["id"]: o for o in self.orgs()}[920]
        self.produce([event("SAMINC", "1020", customer(20))])
        wait_for(lambda: len(self.audit("SELECT outcome FROM event_audit")) == 2
                 or not p.alive(), timeout=60, interval=0.2, what="the second event")
        self.assertTrue(p.alive(), p.stderr()[-3000:])
        self.assertEqual(self.audit("SELECT outcome FROM event_audit WHERE customer = '1020'"),
                         [("created",)])
        self.assertEqual({o["id"]: o for o in self.orgs()}[920], before)
        self.assertIn("took IDs since the listing", p.stderr())
        p.stop()
        self.assert_one_each({("SAMINC", "1004"), ("SAMINC", "1020"), ("SAMLTD", "7777")})


if __name__ == "__main__":
    mlctest.main()
