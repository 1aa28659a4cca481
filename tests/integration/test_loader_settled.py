"""Loader outcomes that must be settled for good: a create Pipedrive refused
(4xx) is dead-lettered once and leaves no "create pending" mark behind, so
the customer's next event is created without a lookup scan."""
import mlctest
from test_loader import DLQ, LoaderCase, customer, event


class RefusedWrites(LoaderCase):
    def test_a_refused_create_is_settled(self):
        key = ("SAMINC", "1000")
        self.setup_fields()
        long_phone = "5" * 300  # Pipedrive refuses phones over 255 characters: a 400
        self.produce([event(*key, customer(0, phone=long_phone))])
        self.drain()
        dead = [m for m in self.read_topic(DLQ) if m["key"] == "SAMINC:1000"]
        self.assertEqual(len(dead), 1)
        hdrs = dict(zip(dead[0]["headers"][0::2], dead[0]["headers"][1::2]))
        self.assertEqual(hdrs["mlc.error.class"], "validation")
        self.assertIn("400", hdrs["mlc.error"])
        pending = self.audit("SELECT create_pending_ms FROM idmap WHERE customer = '1000'")
        self.assertIn(pending, ([], [(0,)], [(None,)]))
        # the next event of the customer: created, no lookup scan first (the
        # drain's own refresh of recently updated organizations still runs)
        self.produce([event(*key, customer(0))])
        cp = self.drain()
        self.assertNotIn("got no answer", cp.stderr)
        self.assertNotIn("looking it up", cp.stderr)
        self.assert_one_each({key})
        self.assertEqual(len([m for m in self.read_topic(DLQ) if m["key"] == "SAMINC:1000"]), 1)


class PersonalDataInLogs(LoaderCase):
    def test_bodies_are_logged_only_when_asked(self):
        self.setup_fields()
        self.produce([event("SAMINC", "1000", customer(0, email="ellen@example.com"))])
        cp = self.drain(env={"MLC_LOG_LEVEL": "debug"})
        self.assertNotIn("pipedrive body:", cp.stderr)
        self.assertNotIn("ellen@example.com", cp.stderr)
        self.produce([event("SAMINC", "1000", customer(0, email="ellen2@example.com"))])
        cp = self.drain(env={"MLC_LOG_LEVEL": "debug", "MLC_LOG_BODIES": "true"})
        self.assertIn("pipedrive body: PATCH", cp.stderr)
        self.assertIn("ellen2@example.com", cp.stderr)


if __name__ == "__main__":
    mlctest.main()
