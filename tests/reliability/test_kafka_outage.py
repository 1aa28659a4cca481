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
import time

import relcheck
from mlctest import http_json


class KafkaOutage(relcheck.Rig):
    def ctl(self, method, path, body=None):
        url = self.broker.stdout().split("\n")[1].strip().split("=", 1)[1]
        status, _, doc = http_json(method, url + path, body)
        self.assertEqual(status, 200, doc)

    def test_kafka_cut_off(self):
        fast = {"MLC_KAFKA_DELIVERY_TIMEOUT": "4"}
        # (1) broker down during extraction
        self.sage_edit_random(4, "down")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 300})  # so the cycle lasts a while
        ext = self.start_extractor(env=fast)
        time.sleep(self.rng.uniform(0.2, 1.2))
        self.ctl("POST", "/brokers/1/down")
        rc = ext.wait(timeout=120)
        self.ctl("POST", "/brokers/1/up")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 0})
        print(f"[kafka] extractor with broker down exited {rc}")
        self.extract_ok()
        # (2) produce errors and latency
        self.sage_edit_random(4, "errors")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 300})
        self.ctl("POST", "/errors", {"api": "Produce", "count": 3,
                                      "error": "NOT_ENOUGH_REPLICAS"})
        cp = self.extractor(env=fast)
        print(f"[kafka] extractor with produce errors exited {cp.returncode}")
        self.ctl("DELETE", "/errors")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 0})
        # (3) outage while loading
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
        try:
            rc = ld.wait(timeout=120)
        except Exception:
            ld.kill9()
            rc = "killed"
        print(f"[kafka] loader through the outage exited {rc}")
        self.ctl("DELETE", "/errors")
        self.ctl("POST", "/brokers/1/rtt", {"ms": 0})
        self.sage_edit_random(3, "after")
        self.settle()
        self.check_final()


if __name__ == "__main__":
    relcheck.mlctest.main()
