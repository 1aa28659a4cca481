"""mlc devbroker: the librdkafka mock served on 127.0.0.1, driven with mlc_kafka
(tests/tools/kafka_tool) and kcat, plus its HTTP fault-injection channel."""
import os
import shutil
import subprocess

import mlctest
from mlctest import http_json


def kafka_tool():
    path = os.path.join(mlctest.BINDIR, "tests", "kafka_tool")
    if not os.access(path, os.X_OK):
        raise mlctest.missing("tests/kafka_tool is not built")
    return path


class DevBroker(mlctest.TestCase):
    def start(self, extra=()):
        self.broker, self.bootstrap = self.devbroker(partitions=3, extra=extra)
        lines = mlctest.wait_for(lambda: (lambda t: t if len(t) >= 2 else None)(
            self.broker.stdout().splitlines()), timeout=10, what="control line")
        self.assertTrue(lines[1].startswith("control=http://127.0.0.1:"), lines)
        self.control = lines[1].split("=", 1)[1]
        for addr in self.bootstrap.split(","):
            self.assertTrue(addr.startswith("127.0.0.1:"), self.bootstrap)
        self.env = {"MLC_KAFKA_BROKERS": self.bootstrap, "MLC_KAFKA_GROUP": "it-group",
                    "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000"}

    def tool(self, *args, env=None, timeout=120):
        full = dict(self.env)
        full.update(env or {})
        return self.procs.run([kafka_tool(), *args], env=full, timeout=timeout)

    def kcat_read(self, topic):
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        cp = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-o", "beginning",
                             "-e", "-q", "-f", "%k %s\n"], capture_output=True, text=True,
                            timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return [line for line in cp.stdout.splitlines() if line]

    def test_round_trip_and_status(self):
        self.start(extra=("--topic", "extra.topic"))
        self.assertIn("NOT for production", self.broker.stderr())
        status, _, doc = http_json("GET", self.control + "/status")
        self.assertEqual(status, 200)
        topics = {t["name"]: t["partitions"] for t in doc["topics"]}
        self.assertEqual(topics, {"sage300.customers.v1": 3, "sage300.customers.dlq": 3,
                                  "extra.topic": 3})

        topic = "sage300.customers.v1"
        cp = self.tool("produce", topic, "30", "SAMINC")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("delivered=30 failed=0 outstanding=0", cp.stdout)

        cp = self.tool("consume-group", topic, "30", "3000")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        got = cp.stdout.splitlines()
        want = {f'SAMINC:{i:04d} {{"seq":{i}}}' for i in range(30)}
        self.assertEqual(len(got), 30)
        self.assertEqual(set(got), want)

        # offsets were stored and committed: the group gets nothing more
        cp = self.tool("consume-group", topic, "1", "2000")
        self.assertEqual(cp.returncode, 1)
        self.assertEqual(cp.stdout, "")

        self.assertEqual(set(self.kcat_read(topic)), want)

        self.assertEqual(self.broker.stop(), 0)

    def test_broker_down_stalls_delivery_and_up_loses_nothing(self):
        self.start()
        topic = "sage300.customers.v1"
        cp = self.tool("produce", topic, "10", "BEFORE")
        self.assertEqual(cp.returncode, 0, cp.stderr)

        status, _, _ = http_json("POST", self.control + "/brokers/1/down")
        self.assertEqual(status, 200)
        _, _, doc = http_json("GET", self.control + "/status")
        self.assertEqual(doc["brokers"], [{"id": 1, "up": False, "rtt_ms": 0}])
        cp = self.tool("produce", topic, "5", "DOWN", "15000",
                       env={"MLC_RDKAFKA_MESSAGE_TIMEOUT_MS": "3000"})
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("delivered=0 failed=5", cp.stdout)

        status, _, _ = http_json("POST", self.control + "/brokers/1/up")
        self.assertEqual(status, 200)
        cp = self.tool("produce", topic, "5", "AFTER")
        self.assertEqual(cp.returncode, 0, cp.stderr)

        keys = sorted(line.split(" ", 1)[0] for line in self.kcat_read(topic))
        want = sorted([f"BEFORE:{i:04d}" for i in range(10)] + [f"AFTER:{i:04d}" for i in range(5)])
        self.assertEqual(keys, want)

    def test_error_injection(self):
        self.start()
        topic = "sage300.customers.v1"
        status, _, doc = http_json("POST", self.control + "/errors",
                                   {"api": "Produce", "count": 1000,
                                    "error": "NOT_ENOUGH_REPLICAS"})
        self.assertEqual(status, 200, doc)
        cp = self.tool("produce", topic, "4", "ERR", "15000",
                       env={"MLC_RDKAFKA_MESSAGE_TIMEOUT_MS": "2000",
                            "MLC_RDKAFKA_RETRY_BACKOFF_MS": "50"})
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn("delivered=0 failed=4", cp.stdout)

        status, _, _ = http_json("DELETE", self.control + "/errors")
        self.assertEqual(status, 200)
        cp = self.tool("produce", topic, "4", "OK")
        self.assertEqual(cp.returncode, 0, cp.stderr)

        for body in ({"api": "Nope", "count": 1, "error": "_TRANSPORT"},
                     {"api": "Produce", "count": 0, "error": "_TRANSPORT"},
                     {"api": "Produce", "count": 1, "error": "NO_SUCH_ERROR"}):
            status, _, doc = http_json("POST", self.control + "/errors", body)
            self.assertEqual(status, 400, body)
            self.assertIn("error", doc)
        status, _, _ = http_json("POST", self.control + "/brokers/9/down")
        self.assertEqual(status, 404)
        status, _, _ = http_json("POST", self.control + "/brokers/1/rtt", {"ms": "x"})
        self.assertEqual(status, 400)
        status, _, _ = http_json("POST", self.control + "/brokers/1/rtt", {"ms": 20})
        self.assertEqual(status, 200)


if __name__ == "__main__":
    mlctest.main()
