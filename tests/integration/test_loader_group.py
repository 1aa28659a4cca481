"""Two mlc-loader processes in one consumer group: they split the partitions,
and a customer created by one is never created again by the other after a
rebalance (the id map is refreshed with updated_since on assignment)."""
import os
import signal

import mlctest
from mlctest import wait_for
from test_loader import LoaderCase, customer, event


class TwoLoaders(LoaderCase):
    partitions = 4

    def test_two_loaders_split_the_work_without_duplicates(self):
        custs = [("SAMINC", str(1000 + i)) for i in range(80)]
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        env_a = {"MLC_STATE_DB": os.path.join(self.workdir, "a.db"),
                 "MLC_PIPEDRIVE_PLAN": "growth"}
        env_b = {"MLC_STATE_DB": os.path.join(self.workdir, "b.db"),
                 "MLC_PIPEDRIVE_PLAN": "growth"}
        a = self.start_loader("run", env=env_a, name="loader-a")
        wait_for(lambda: len(self.ours()) >= 10 or not a.alive(), timeout=60,
                 what="loader A creating organizations")
        b = self.start_loader("run", env=env_b, name="loader-b")
        wait_for(lambda: "assigned" in b.stderr() or not b.alive(), timeout=60,
                 what="loader B getting partitions")
        wait_for(lambda: len(self.ours()) >= 80 or not (a.alive() and b.alive()), timeout=120,
                 what="every customer created")
        self.assertTrue(a.alive() and b.alive(), a.stderr()[-2000:] + b.stderr()[-2000:])
        self.assert_one_each(set(custs))
        # a running worker holds the decrypted token: it writes no core file
        with open(f"/proc/{a.pid}/limits") as f:
            core = [line.split()[4:6] for line in f if line.startswith("Max core file size")]
        self.assertEqual(core, [["0", "0"]])

        # updates for every customer: whoever owns a partition now must PATCH
        # organizations the other loader created, never POST them again
        self.produce([event(c, n, customer(i, phone="(619)555-4242"))
                      for i, (c, n) in enumerate(custs)])
        keys = self.field_keys()
        kp = keys["Phone"]
        wait_for(lambda: all(v[0]["custom_fields"].get(kp) == "(619)555-4242"
                             for v in self.ours().values()) or not (a.alive() and b.alive()),
                 timeout=120, what="every customer updated")
        a.signal(signal.SIGTERM)
        b.signal(signal.SIGTERM)
        self.assertEqual(a.wait(30), 0, a.stderr()[-3000:])
        self.assertEqual(b.wait(30), 0, b.stderr()[-3000:])
        self.assert_one_each(set(custs))
        ops = self.stats()["operations"]
        self.assertEqual(ops["organizations.create"]["count"], 80)
        self.assertEqual(ops["organizations.search"]["count"], 0)
        # both did part of the work
        self.db = env_a["MLC_STATE_DB"]
        done_a = self.audit("SELECT count(*) FROM event_audit")[0][0]
        self.db = env_b["MLC_STATE_DB"]
        done_b = self.audit("SELECT count(*) FROM event_audit")[0][0]
        self.assertGreater(done_a, 0)
        self.assertGreater(done_b, 0)
        self.assertGreaterEqual(done_a + done_b, 160)


if __name__ == "__main__":
    mlctest.main()
