"""Loader replicas: each keeps its own state file (as each replica of
`docker compose up --scale loader=N` has), and a partition moves between
them. A replica's state file is a cache of what Pipedrive holds: whatever
another replica (or a person) wrote since must win over it."""
import json
import os

import mlctest
from mlctest import http_json
from test_loader import TOKEN, LoaderCase, customer, event


class ReplicasShareAPartition(LoaderCase):
    partitions = 1

    def replica(self, name):
        return {"MLC_STATE_DB": os.path.join(self.workdir, f"{name}.db")}

    def city_in_pipedrive(self, key):
        orgs = self.ours()[key]
        self.assertEqual(len(orgs), 1, orgs)
        return json.dumps(orgs[0].get("address"), ensure_ascii=False)

    def test_a_reverted_change_reaches_pipedrive_after_the_partition_comes_back(self):
        key = ("SAMINC", "1000")
        a, b = self.replica("a"), self.replica("b")
        self.setup_fields()
        # 1. replica A creates the customer in A Coruña
        self.produce([event(*key, customer(0, city="A Coruña"))])
        self.drain(env=a)
        self.assertIn("A Coruña", self.city_in_pipedrive(key))
        # 2. Sage moves it to Bern; replica B holds the partition now
        self.produce([event(*key, customer(0, city="Bern"))])
        self.drain(env=b)
        self.assertIn("Bern", self.city_in_pipedrive(key))
        # 3. Sage moves it back; the partition returns to A, whose cache still
        #    says it applied exactly this content
        self.produce([event(*key, customer(0, city="A Coruña"))])
        cp = self.drain(env=a)
        self.assertIn("A Coruña", self.city_in_pipedrive(key), cp.stderr[-3000:])
        self.assert_one_each({key})

    def test_a_persons_edit_is_repaired_by_the_next_event(self):
        key = ("SAMINC", "1001")
        a = self.replica("a")
        self.setup_fields()
        self.produce([event(*key, customer(1, city="Lyon"))])
        self.drain(env=a)
        # someone edits the address in Pipedrive by hand
        org = self.ours()[key][0]
        status, _, body = http_json(
            "PATCH", f"{self.url}/api/v2/organizations/{org['id']}",
            {"address": {"value": "1 Rue Sainte-Catherine, Bordeaux", "locality": "Bordeaux"}},
            headers={"x-api-token": TOKEN})
        self.assertEqual(status, 200, body)
        self.assertIn("Bordeaux", self.city_in_pipedrive(key))
        # Sage publishes the customer again, unchanged (a full republish)
        self.produce([event(*key, customer(1, city="Lyon"))])
        cp = self.drain(env=a)
        self.assertIn("Lyon", self.city_in_pipedrive(key), cp.stderr[-3000:])
        self.assert_one_each({key})


if __name__ == "__main__":
    mlctest.main()
