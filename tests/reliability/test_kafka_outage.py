"""Reliability: Kafka cut off during extraction and during loading.

WHAT IT BREAKS: through the dev broker's control channel, (1) during an
extractor cycle the broker is taken down (the cycle must fail: pages not
acknowledged are not committed), then brought back; (2) Produce requests fail
and 300 ms latency is added while the extractor publishes; (3) while
`mlc-loader drain` consumes, the broker goes down for a few seconds, Fetch and
OffsetCommit requests fail, latency is added; Sage customers are edited
between the steps.
WHAT MUST HOLD: nothing is lost and nothing duplicated — after the broker is
back, one clean cycle leaves exactly one organization per customer with its
latest values, foreign organizations untouched."""
import json
import sqlite3
import subprocess
import time

import relcheck
from mlctest import http_json


class KafkaOutage(relcheck.Rig):
    def ctl(self, method, path, body=None):
        url = self.broker.stdout().split("\n")[1].strip().split("=", 1)[1]
        status, _, doc = http_json(method, url + path, body)
        self.assertEqual(status, 200, doc)

    def assert_committed_were_delivered(self, step):
        """The extractor's promise: a customer's hash is committed to its state
        file only after Kafka acknowledged the event carrying that hash."""
        on_topic = set()
        for line in self.read_topic(relcheck.TOPIC).decode().splitlines():
            _, key, value = line.split("\t", 2)
            on_topic.add((key, json.loads(value)["content_hash"]))
        with sqlite3.connect(self.ext_db) as db:
            committed = db.execute("SELECT company || ':' || number, hash FROM customer "
                                   "WHERE hash IS NOT NULL").fetchall()
        self.assertTrue(committed, step)
        lost = [c for c in committed if tuple(c) not in on_topic]
        self.assertEqual(lost, [], f"{step}: committed but never delivered")

    def wait_exit(self, proc, what, timeout=120):
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill9()
            self.fail(f"{what} still running after {timeout}s (hung)")

    def test_kafka_cut_off(self):
        fast = {"MLC_KAFKA_DELIVERY_TIMEOUT": "4"}
        self.extract_ok()  # every customer committed once, so (1) has hashes to move
        # (1) broker down during extraction: the cycle fails (exit 1, retry
        # later) and commits nothing Kafka did not acknowledge
        self.sage_edit_random(4, "down")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 300})  # so the cycle lasts a while
        ext = self.start_extractor(env=fast)
        time.sleep(self.rng.uniform(0.2, 1.2))
        self.ctl("POST", "/brokers/1/down")
        rc = self.wait_exit(ext, "extractor with the broker down")
        self.ctl("POST", "/brokers/1/up")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 0})
        self.assertEqual(rc, 1, ext.stderr()[-3000:])
        self.assert_committed_were_delivered("broker down during extraction")
        self.extract_ok()
        self.assert_committed_were_delivered("cycle after the broker came back")
        # (2) produce errors and latency: retriable errors are retried inside
        # the delivery timeout, so the cycle succeeds and delivers every edit
        edited = self.sage_edit_random(4, "errors")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 300})
        self.ctl("POST", "/errors", {"api": "Produce", "count": 3,
                                      "error": "NOT_ENOUGH_REPLICAS"})
        cp = self.extractor(env=fast)
        self.ctl("DELETE", "/errors")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 0})
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assert_committed_were_delivered("produce errors")
        names = {}
        for line in self.read_topic(relcheck.TOPIC).decode().splitlines():
            _, key, value = line.split("\t", 2)
            names[key] = (json.loads(value).get("customer") or {}).get("name", "")
        for company, number in edited:
            self.assertTrue(names.get(f"{company}:{number}", "").endswith(" errors"),
                            f"{company}:{number} not delivered through produce errors")
        # (3) outage while loading: the loader neither hangs nor exits fatally
        # (0 done, or 1 run again), and the repair below finds nothing lost
        ld = self.start_loader()
        time.sleep(self.rng.uniform(0.5, 2.0))
        self.ctl("POST", "/brokers/1/down")
        time.sleep(3)
        self.ctl("POST", "/brokers/1/up")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 200})
        self.ctl("POST", "/errors", {"api": "Fetch", "count": 3,
                                      "error": "NOT_LEADER_FOR_PARTITION"})
        self.ctl("POST", "/errors", {"api": "OffsetCommit", "count": 2,
                                      "error": "COORDINATOR_NOT_AVAILABLE"})
        rc = self.wait_exit(ld, "loader drain through the outage")
        self.ctl("DELETE", "/errors")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 0})
        self.assertIn(rc, (0, 1), ld.stderr()[-3000:])
        self.sage_edit_random(3, "after")
        self.settle()
        self.check_final()


if __name__ == "__main__":
    relcheck.mlctest.main()
