"""The pipeline on a real Apache Kafka broker (scripts/kafka): Sage sandbox ->
mlc-extractor -> Kafka -> mlc-loader -> Pipedrive sandbox.

- end to end, then kill -9 of each worker at random moments and resume:
  nothing lost, no duplicate (relcheck's check_final, creates == customers);
- three `mlc-loader run` in one group under the broker's group protocol:
  each owns partitions, each does a share, nobody does another's;
- `mlc-loader drain --reset-offsets <time>` answered by the broker's
  offsets-for-times (ListOffsets by timestamp), never by the message-timestamp
  search kept for the mock, and equal to Kafka's own kafka-get-offsets;
- the Kafka recipes of docs/operations.md (lag, reset to earliest with
  --dry-run then --execute, reset to a time) run as written, with Kafka's own
  kafka-consumer-groups of the same release, on the default topic and group;
- the compose file pins the release scripts/kafka runs.
Every topic is made by compose's kafka-init command (scripts/kafka init-topics).
"""
import os
import re
import signal
import subprocess
import time

import kafkatest
import mlctest
from mlctest import free_port, wait_for
from test_metrics_scrape import metric, scrape


class Pipeline(kafkatest.KafkaRig):
    # a killed member holds its partitions until its session ends: allow short ones
    broker_args = ("--set", "group.min.session.timeout.ms=1000")

    @property
    def default_names(self):
        return self._testMethodName == "test_operations_recipes"

    def test_operations_recipes(self):
        self.assertEqual((self.topic, self.group), (kafkatest.DEFAULT_TOPIC,
                                                    kafkatest.DEFAULT_GROUP))
        self.assertNotIn("MLC_KAFKA_GROUP", os.environ)
        self.ld_env.pop("MLC_KAFKA_GROUP")  # the product's default group
        for e in (self.common, self.ext_env, self.ld_env):
            e.pop("MLC_TOPIC")
            e.pop("MLC_DLQ_TOPIC")
        cmds = kafkatest.doc_commands()
        describe = [c for c in cmds if "--describe --group mlc-loader" in c]
        earliest = [c for c in cmds if "--to-earliest" in c and "--dry-run" in c]
        by_time = [c for c in cmds if "--to-datetime" in c]
        self.assertEqual((len(describe), len(earliest), len(by_time)), (1, 1, 1), cmds)

        self.extract_ok()
        self.drain_ok()
        n = len(self.audit_rows())

        def lag():
            rows = kafkatest.parse_table(self.kafka.run_doc(describe[0]).stdout)
            self.assertEqual(sorted(int(r["PARTITION"]) for r in rows),
                             list(range(self.partitions)), rows)
            self.assertEqual(sum(int(r["LOG-END-OFFSET"]) for r in rows), ends())
            return sum(int(r["LAG"]) for r in rows)

        def ends():
            out = self.kafka.admin("kafka-get-offsets", "--topic", self.topic,
                                   "--time", "-1").stdout
            return sum(int(line.rsplit(":", 1)[1]) for line in out.split())

        self.assertEqual(lag(), 0)
        # "check the planned offsets": all 0, nothing moved yet
        plan = kafkatest.parse_table(self.kafka.run_doc(earliest[0]).stdout)
        self.assertEqual({r["NEW-OFFSET"] for r in plan}, {"0"}, plan)
        self.assertEqual(lag(), 0)
        # "then the same with --execute instead of --dry-run"
        self.kafka.run_doc(earliest[0].replace("--dry-run", "--execute"))
        self.assertEqual(lag(), n)
        self.drain_ok()
        rows = self.audit_rows()[n:]
        self.assertEqual(len(rows), n, "the whole topic replayed")
        self.assertEqual({r[5] for r in rows}, {"unchanged"})
        self.assertEqual(lag(), 0)

        # reset to a time: only what was published since is replayed
        time.sleep(1.2)
        t_ms = int(time.time() * 1000)
        time.sleep(1.2)
        edited = set(self.sage_edit_random(4, "since"))
        self.extract_ok()
        self.drain_ok()
        before = len(self.audit_rows())
        self.kafka.run_doc(by_time[0], subst=[("2026-11-01T00:00:00.000Z",
                                               kafkatest.iso_ms(t_ms))])
        self.assertEqual(lag(), len(edited))
        self.drain_ok()
        rows = self.audit_rows()[before:]
        self.assertEqual({(r[3], r[4]) for r in rows}, edited)
        self.assertEqual(lag(), 0)
        self.check_final()

    def test_compose_pins_this_release(self):
        version = subprocess.run([kafkatest.KAFKA, "version"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        with open(os.path.join(mlctest.SRCDIR, "compose", "docker-compose.yml")) as f:
            tags = re.findall(r"image:\s*apache/kafka:(\S+)", f.read())
        self.assertEqual(len(tags), 2, "the kafka and kafka-init services")
        self.assertEqual(set(tags), {version})
        cfg = self.kafka.topic_config(self.topic)
        self.assertEqual(cfg.get("cleanup.policy"), "compact,delete", cfg)
        self.assertEqual(cfg.get("retention.ms"), "34560000000", cfg)
        self.assertEqual(cfg.get("min.compaction.lag.ms"), "604800000", cfg)

    def test_end_to_end_then_kill9_and_resume(self):
        self.extract_ok()
        self.drain_ok()
        n = self.check_final()
        rows = self.audit_rows()
        self.assertEqual(len(rows), n)
        self.assertEqual({r[5] for r in rows}, {"created", "adopted"} & {r[5] for r in rows})
        self.assertEqual(len({r[1] for r in rows}), self.partitions, "every partition used")

        env = {"MLC_RDKAFKA_AUTO_COMMIT_INTERVAL_MS": "300",
               "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "3000",
               "MLC_RDKAFKA_HEARTBEAT_INTERVAL_MS": "500"}
        # slow writes and enough edits that the loader is still at work when
        # it is killed (a fast machine otherwise finishes before any kill)
        for method in ("POST", "PATCH"):
            self.pd_fault(kind="delay", delay_ms=400, count=-1, method=method)
        kills = 0
        for r in range(int(os.environ.get("MLC_KAFKA_ROUNDS", "4"))):
            self.sage_edit_random(self.rng.randrange(15, 25), f"k{r}")
            ext = self.start_extractor()
            ld = self.start_loader(env=env)
            time.sleep(self.rng.uniform(0.2, 1.5))
            if ext.alive():
                ext.kill9()
                kills += 1
            wait_for(lambda: not ld.alive() or "partition(s) assigned" in ld.stderr(),
                     timeout=60, what="the loader's partitions")
            time.sleep(self.rng.uniform(0.0, 0.5))
            if ld.alive():
                ld.kill9()
                kills += 1
        print(f"[kafka] kills={kills}", flush=True)
        self.assertGreater(kills, 1)
        self.pd_clear_faults()
        self.settle()
        self.assertEqual(self.check_final(), n)
        self.assertEqual(self.pd_stats()["operations"]["organizations.create"]["count"], n,
                         "one create per customer")

    def test_three_loaders_share_the_work(self):
        loaders = []
        for name in ("a", "b", "c"):
            port = free_port()
            db = os.path.join(self.workdir, f"loader-{name}.db")
            proc = self.start_loader("run", env={"MLC_STATE_DB": db, "MLC_METRICS_PORT": str(port),
                                                 "MLC_METRICS_BIND": "127.0.0.1"})
            loaders.append((name, proc, port, db))

        def assigned():
            out = []
            for _, p, port, _ in loaders:
                try:
                    out.append(metric(scrape(port), "mlc_loader_partitions_assigned"))
                except OSError:
                    out.append(None)
            return out

        def logs():
            return "".join(f"--- {n}\n{p.stderr()[-2500:]}" for n, p, _, _ in loaders)

        wait_for(lambda: assigned() == [2, 2, 2] or not all(p.alive() for _, p, _, _ in loaders),
                 timeout=90, what="six partitions over three loaders")
        self.assertEqual(assigned(), [2, 2, 2], logs())
        members = {r["CONSUMER-ID"] for r in self.kafka.group_rows(self.group)}
        self.assertEqual(len(members - {"-"}), 3, "three members in the broker's view")

        self.extract_ok()
        n = len(self.sage_customers())

        def handled():
            return sum(len(self.audit_rows(db)) for *_, db in loaders)

        wait_for(lambda: handled() >= n or not all(p.alive() for _, p, _, _ in loaders),
                 timeout=120, what=f"{n} events handled")
        for _, p, _, _ in loaders:
            p.signal(signal.SIGTERM)
        for name, p, _, _ in loaders:
            self.assertEqual(p.wait(60), 0, f"{name}: {p.stderr()[-3000:]}")
        parts = {}
        for name, _, _, db in loaders:
            rows = self.audit_rows(db)
            self.assertTrue(rows, f"loader {name} did no work")
            parts[name] = {r[1] for r in rows}
        self.assertEqual(sum(len(p) for p in parts.values()), 6, f"partitions overlap: {parts}")
        self.assertEqual(set().union(*parts.values()), set(range(6)))
        self.assertEqual(handled(), n, "each event handled once")
        self.check_final()
        rows = self.kafka.group_rows(self.group)
        self.assertEqual(sum(int(r["LAG"]) for r in rows), 0, rows)

    def test_reset_offsets_by_time_asks_the_broker(self):
        self.extract_ok()
        self.drain_ok()
        before = len(self.audit_rows())
        time.sleep(1.2)
        t_ms = int(time.time() * 1000)
        time.sleep(1.2)
        edited = set(self.sage_edit_random(5, "late"))
        self.extract_ok()
        self.drain_ok()
        self.assertEqual(len(self.audit_rows()), before + len(edited))

        cp = self.loader("drain", "--reset-offsets", kafkatest.iso_ms(t_ms))
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        ours = dict((int(p), int(o)) for p, o in
                    re.findall(rf"reset {re.escape(self.topic)}\[(\d+)\] to offset (\d+)",
                               cp.stdout))
        self.assertEqual(sorted(ours), list(range(self.partitions)), cp.stdout)
        # the broker answered (ListOffsets by timestamp): no message-timestamp search
        self.assertNotIn("cannot look offsets up by time", cp.stderr)
        self.assertIn("the broker's offset for the time is", cp.stderr)
        # ... the same answer as Kafka's own tool, end offset where nothing is newer
        got = self.kafka.admin("kafka-get-offsets", "--topic", self.topic,
                                "--time", str(t_ms)).stdout
        kafka = {int(p): int(o) for p, o in re.findall(r"^[^:]+:(\d+):(-?\d+)$", got, re.M)}
        ends = {int(p): int(o) for p, o in re.findall(
            r"^[^:]+:(\d+):(\d+)$", self.kafka.admin("kafka-get-offsets", "--topic", self.topic,
                                                      "--time", "-1").stdout, re.M)}
        for p in range(self.partitions):
            want = kafka.get(p, -1)
            self.assertEqual(ours[p], ends[p] if want < 0 else want, f"partition {p}: {got}")
        # the drain replayed exactly the late events, all already applied
        rows = self.audit_rows()[before + len(edited):]
        self.assertEqual({(r[3], r[4]) for r in rows}, edited)
        self.assertEqual({r[5] for r in rows}, {"unchanged"})
        self.check_final()


if __name__ == "__main__":
    mlctest.main()
