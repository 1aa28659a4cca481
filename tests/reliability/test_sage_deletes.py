"""Reliability: customers deleted from Sage 300.

WHAT IT BREAKS: after a full sync, customers are deleted from Sage (an
incremental cycle cannot see that; the full scan reports them `missing`)
while others are edited; the loader's state file is lost before it reads the
missing events; later one deleted customer comes back under the same number,
and finally the whole topic is replayed from the start (--reset-offsets
earliest), so every old upsert is applied again before the newer events.
WHAT MUST HOLD: Pipedrive never loses an organization: each deleted
customer's organization stays, marked "Missing in Sage 300"; the one that
came back is active again with its new values; the replay changes nothing;
still exactly one organization per customer, foreign organizations untouched."""
import urllib.parse

import relcheck
from mlctest import http_json
from test_state_loss import rm_db


class SageDeletes(relcheck.Rig):
    def customer_url(self, company, number):
        return (self.sage_root + f"/_sim/companies/{company}/customers/"
                + urllib.parse.quote(number, safe=""))

    def posts(self):
        return self.pd_stats()["operations"]["organizations.create"]["count"]

    def test_deleted_customers_are_marked_not_removed(self):
        self.extract_ok()
        self.drain_ok()
        n = self.check_final()

        custs = self.sage_customers()
        by_co = {co: [c for c in custs if c["company"] == co] for co in self.companies}
        gone = [(c["company"], c["number"]) for co in self.companies
                for c in self.rng.sample(by_co[co], 2)]
        records = {}
        for co, num in gone:
            status, _, rec = http_json("GET", self.customer_url(co, num))
            self.assertEqual(status, 200, rec)
            records[(co, num)] = rec
            status, _, body = http_json("DELETE", self.customer_url(co, num))
            self.assertEqual(status, 200, body)
        self.sage_edit_random(3, "whiledeleting")

        # an incremental cycle publishes the edits but cannot see deletions
        self.extract_ok()
        cp = self.extract_ok("once", "--full")
        self.assertIn("reported missing", cp.stderr)
        rm_db(self.ld_db)  # the loader must find the organizations again by identity
        self.drain_ok()
        self.check_final(expect_missing=gone)

        # one comes back under the same number, renamed
        back = gone[0]
        rec = dict(records[back], CustomerName=f"{back[1].strip()} is back")
        status, _, body = http_json(
            "POST", self.sage_root + f"/_sim/companies/{back[0]}/customers", rec)
        self.assertEqual(status, 201, body)
        self.extract_ok()
        self.drain_ok()
        self.check_final(expect_missing=gone[1:])

        # replaying the whole topic ends where it started
        cp = self.loader("drain", "--reset-offsets", "earliest")
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.check_final(expect_missing=gone[1:])
        self.assertEqual(self.posts(), n, self.pd_stats()["operations"])


if __name__ == "__main__":
    relcheck.mlctest.main()
