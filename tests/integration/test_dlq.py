"""mlc dlq list|show|replay against mlc devbroker and mlc-pipedrive-sim: a
poisoned topic is dead-lettered, listed and shown; after the mapping is
fixed the replay makes the organizations appear, once per selection, and
mlc status counts the dead letters not yet replayed."""
import json
import os
import subprocess

import mlctest
from test_loader import DLQ, TOPIC, LoaderCase, customer, event


class DeadLetters(LoaderCase):
    def mapping(self, tag, name_source):
        with open(os.path.join(mlctest.SRCDIR, "schemas", "mapping.default.json")) as f:
            doc = json.load(f)
        doc["name"] = name_source
        path = os.path.join(self.workdir, f"mapping-{tag}.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        return {"MLC_MAPPING": path}

    def mlc(self, *args):
        env = dict(self.env)
        return self.procs.run([mlctest.binary("mlc"), *args], env=env, timeout=120)

    def dlq(self, *args):
        cp = self.mlc("dlq", *args, "--db", self.dlq_db)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return cp.stdout

    def listed(self, *filters):
        return json.loads(self.dlq("list", "--json", *filters))

    def not_replayed(self):
        cp = self.mlc("status", "--json", "--loader-db", self.db, "--dlq-db", self.dlq_db,
                      "--extractor-db", os.path.join(self.workdir, "none.db"))
        self.assertEqual(cp.returncode, 0, cp.stderr)
        loader = json.loads(cp.stdout)["loader"]
        self.assertNotIn("error", loader)
        return loader["dlq_open"][0]["not_replayed"]

    def test_list_show_replay_after_the_mapping_is_fixed(self):
        self.dlq_db = os.path.join(self.workdir, "dlq.db")
        broken = self.mapping("broken", {"field": "short_name"})  # no event has short_name
        fixed = self.mapping("fixed", {"first_of": ["short_name", "name"]})
        custs = [("SAMINC", "1000"), ("SAMINC", "1001"), ("SAMLTD", "2000")]
        self.setup_fields()
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)],
                     headers=["trace=abc"])
        self.produce([("SAMINC:9", "this is not json")])
        # a dead letter the loader refused for its signature (as the signed-event
        # check records it): listed, never replayed
        self.produce([event("SAMINC", "666", customer(6))], topic=DLQ,
                     headers=["mlc.error.class=signature", "mlc.error=bad signature",
                              f"mlc.original.topic={TOPIC}", "mlc.original.partition=0",
                              "mlc.original.offset=99", "mlc.failed.at=2026-12-01T00:00:00Z"])
        self.drain(env=broken)
        self.assertEqual(self.ours(), {})

        every = self.listed()
        self.assertEqual(len(every), 5)
        self.assertEqual(sorted(e["reason"] for e in every),
                         ["invalid_event", "mapping", "mapping", "mapping", "signature"])
        self.assertEqual(len(self.listed("--reason", "mapping")), 3)
        self.assertEqual([e["key"] for e in self.listed("--customer", "SAMLTD:2000")],
                         ["SAMLTD:2000"])
        self.assertEqual([e["key"] for e in self.listed("--customer", "2000")], ["SAMLTD:2000"])
        self.assertEqual(len(self.listed("--company", "SAMINC")), 4)
        self.assertEqual(len(self.listed("--since", "2026-12-02")), 4)
        self.assertFalse(any(e["replayed"] for e in every))
        mapping_one = next(e for e in every if e["key"] == "SAMINC:1001")
        self.assertEqual(mapping_one["original_topic"], TOPIC)
        self.assertIn("no name for the organization", mapping_one["error"])

        shown = self.dlq("show", f"{mapping_one['partition']}:{mapping_one['offset']}")
        self.assertIn("mlc.error.class: mapping", shown)
        self.assertIn("trace: abc", shown)
        self.assertIn('"customer_number":\t"1001"', shown)  # cJSON's pretty form
        self.assertEqual(self.mlc("dlq", "show", "0:999999").returncode, 1)

        # nothing replayed yet: all four of the loader's dead letters are open
        self.dlq("list")  # list alone creates no record
        self.assertFalse(os.path.exists(self.dlq_db))
        out = self.dlq("replay", "--reason", "mapping")
        self.assertIn("replayed 3;", out)
        self.assertEqual(self.not_replayed(), 1)  # the invalid event is left
        self.drain(env=fixed)
        self.assert_one_each(set(custs))

        # the same selection again: nothing, unless --again
        self.assertIn("replayed 0; 3 already replayed", self.dlq("replay", "--reason", "mapping"))
        self.assertIn("replayed 3;", self.dlq("replay", "--reason", "mapping", "--again"))
        self.drain(env=fixed)
        self.assert_one_each(set(custs))
        out = self.dlq("replay", "--reason", "signature")
        self.assertIn("replayed 0; 0 already replayed (--again repeats them); 1 refused", out)

        # what a replay produced: original key, value and headers, plus the mark
        replays = [m for m in self.read_topic(TOPIC)
                   if "mlc.replay.of" in (m.get("headers") or [])]
        self.assertEqual(len(replays), 6)
        hdrs = dict(zip(replays[0]["headers"][0::2], replays[0]["headers"][1::2]))
        self.assertEqual(hdrs["trace"], "abc")
        self.assertTrue(hdrs["mlc.replay.of"].startswith(DLQ + ":"))
        self.assertNotIn("mlc.error.class", hdrs)
        self.assertTrue(all(e["replayed"] for e in self.listed("--reason", "mapping")))

    def test_an_empty_or_missing_dead_letter_topic(self):
        self.dlq_db = os.path.join(self.workdir, "dlq.db")
        self.assertEqual(self.listed(), [])
        out = self.dlq("replay")
        self.assertIn("replayed 0;", out)
        cp = self.mlc("dlq", "shw")
        self.assertEqual(cp.returncode, 2)
        self.assertIn("list, show or replay", cp.stderr)


if __name__ == "__main__":
    mlctest.main()
