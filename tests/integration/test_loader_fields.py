"""Custom fields changed under a running loader: an admin deletes a mapped
field or an enum option while `mlc-loader run` is consuming. Pipedrive then
refuses every write naming it (400); the loader reads the fields once more,
creates what is missing (MLC_PIPEDRIVE_CREATE_FIELDS, the field or just the
option), plans the write again and sends it once more. With field creation
off the event is dead-lettered once, with Pipedrive's error text, and the
loader stops (exit 2) instead of refusing every later write."""
import json

import mlctest
from mlctest import http_json, wait_for
from test_loader import DLQ, TOKEN, LoaderCase, customer, event


class FieldsChangedMidRun(LoaderCase):
    def admin(self, method, path, body=None):
        status, _, doc = http_json(method, self.url + path, body, headers={"x-api-token": TOKEN})
        self.assertEqual(status, 200, doc)
        return doc

    def outcomes(self):
        return dict(self.audit("SELECT customer, group_concat(outcome) FROM event_audit "
                               "GROUP BY customer"))

    def wait_outcomes(self, p, want):
        def done():  # as many outcomes as wanted (a wrong one ends the wait too)
            got = self.outcomes()
            return all(len((got.get(k) or "").split(",")) >= len(v.split(",")) and got.get(k)
                       for k, v in want.items()) or not p.alive()
        wait_for(done, timeout=90, interval=0.2, what=f"outcomes {want}")
        self.assertTrue(p.alive(), p.stderr()[-3000:])
        self.assertEqual({k: self.outcomes().get(k) for k in want}, want)

    def field(self, name):
        fields = self.admin("GET", "/api/v2/organizationFields?limit=500")["data"]
        return [f for f in fields if f["field_name"] == name][0]

    def refused_writes(self):
        return self.audit("SELECT method, path FROM call_audit WHERE status = 400")

    def test_field_deleted_mid_run_is_recreated_and_the_write_succeeds(self):
        self.setup_fields()
        p = self.start_loader("run")
        self.produce([event("SAMINC", "1000", customer(0)), event("SAMINC", "1001", customer(1))])
        self.wait_outcomes(p, {"1000": "created", "1001": "created"})
        old = self.field("Phone")["field_code"]
        self.admin("DELETE", "/api/v2/organizationFields/" + old)
        # an update naming the phone (PATCH) and a new customer (POST)
        self.produce([event("SAMINC", "1000", customer(0, phone="(619)555-4242")),
                      event("SAMINC", "1002", customer(2))])
        self.wait_outcomes(p, {"1000": "created,updated", "1001": "created",
                               "1002": "created"})
        new = self.field("Phone")["field_code"]
        self.assertNotEqual(new, old)
        ours = self.ours()
        self.assertEqual(ours[("SAMINC", "1000")][0]["custom_fields"][new], "(619)555-4242")
        self.assertEqual(ours[("SAMINC", "1002")][0]["custom_fields"][new], "(619)555-0100")
        self.assert_one_each({("SAMINC", "1000"), ("SAMINC", "1001"), ("SAMINC", "1002")})
        # refused once, the fields read again, then sent again once; the
        # create goes through the backlog of creates in a round of its own,
        # so it is refused too only when it went before the update
        refused = self.refused_writes()
        self.assertIn(len(refused), (1, 2), refused)
        self.assertEqual(len(set(refused)), len(refused), refused)
        self.assertEqual(self.read_topic(DLQ), [])
        self.assertIn("re-reading the organization fields once", p.stderr())
        p.stop()

    def test_option_deleted_mid_run_is_recreated_and_the_write_succeeds(self):
        self.setup_fields()
        p = self.start_loader("run")
        self.produce([event("SAMINC", "1000", customer(0))])
        self.wait_outcomes(p, {"1000": "created"})
        status = self.field("Customer Status")
        active = [o["id"] for o in status["options"] if o["label"] == "Active"][0]
        self.admin("DELETE", f"/api/v2/organizationFields/{status['field_code']}/options",
                   [{"id": active}])
        self.produce([event("SAMINC", "1001", customer(1))])
        self.wait_outcomes(p, {"1001": "created"})
        status = self.field("Customer Status")
        again = [o["id"] for o in status["options"] if o["label"] == "Active"]
        self.assertEqual(len(again), 1, status["options"])
        self.assertNotEqual(again[0], active)
        org = self.ours()[("SAMINC", "1001")][0]
        self.assertEqual(org["custom_fields"][status["field_code"]], again[0])
        self.assertEqual(status["field_code"], self.field("Customer Status")["field_code"])
        self.assertEqual(len(self.refused_writes()), 1)
        self.assertEqual(self.read_topic(DLQ), [])
        p.stop()

    def test_without_field_creation_dead_lettered_once_and_stopped(self):
        self.setup_fields()
        env = {"MLC_PIPEDRIVE_CREATE_FIELDS": "false"}
        p = self.start_loader("run", env=env)
        self.produce([event("SAMINC", "1000", customer(0))])
        self.wait_outcomes(p, {"1000": "created"})
        self.admin("DELETE", "/api/v2/organizationFields/" + self.field("Email")["field_code"])
        self.produce([event("SAMINC", "1001", customer(1))])
        rc = p.wait(timeout=90)
        self.assertEqual(rc, 2, p.stderr()[-3000:])
        self.assertIn("pipedrive lacks what the mapping needs since start-up", p.stderr())
        self.assertIn("Email", p.stderr().splitlines()[-1] + p.stderr())
        dead = self.read_topic(DLQ)
        self.assertEqual(len(dead), 1, dead)
        hdrs = dict(zip(dead[0]["headers"][0::2], dead[0]["headers"][1::2]))
        self.assertEqual(hdrs["mlc.error.class"], "validation")
        self.assertIn("does not exist", hdrs["mlc.error"])  # Pipedrive's own text
        self.assertEqual(self.outcomes().get("1001"), "dlq")
        self.assertEqual(len(self.refused_writes()), 1)
        # started again it refuses at once: no second write, no second dead letter
        cp = self.drain(ok=False, env=env)
        self.assertEqual(cp.returncode, 2, cp.stderr[-2000:])
        self.assertEqual(len(self.read_topic(DLQ)), 1)
        self.assertEqual(len(self.refused_writes()), 1)
        self.assertNotIn(("SAMINC", "1001"), self.ours())


if __name__ == "__main__":
    mlctest.main()
