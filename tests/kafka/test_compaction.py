"""Compaction on a real broker: the event topic is created by compose's
kafka-init command (compact,delete with 400 days of retention), then altered
with kafka-configs so the cleaner runs now (200 ms segments, 1 % dirty ratio,
no compaction lag; scripts/kafka --small-segments wakes the cleaner every
200 ms). Every customer is published four times, a few a fifth time; once
the cleaner has dropped superseded events, a loader with an empty state, a
new group and an empty Pipedrive replays the topic from the earliest offset
and must rebuild every customer with its latest values (check_final)."""
import os
import time

import kafkatest
import mlctest
from mlctest import wait_for


class Compaction(kafkatest.KafkaRig):
    broker_args = ("--small-segments",)

    def test_replay_after_compaction_rebuilds_every_customer(self):
        cfg = self.kafka.topic_config(self.topic)
        self.assertEqual(cfg.get("cleanup.policy"), "compact,delete", cfg)
        self.kafka.admin("kafka-configs", "--alter", "--entity-type", "topics",
                         "--entity-name", self.topic, "--add-config",
                         "segment.ms=200,min.cleanable.dirty.ratio=0.01,min.compaction.lag.ms=0")
        self.extract_ok()
        n = len(self.sage_customers())
        for r in range(3):
            time.sleep(0.4)  # past segment.ms: the next append rolls a segment
            self.sage_edit_random(n, f"v{r}")
            self.extract_ok()
        time.sleep(0.4)
        self.sage_edit_random(12, "last")
        self.extract_ok()
        ends = self.kafka.admin("kafka-get-offsets", "--topic", self.topic, "--time", "-1").stdout
        published = sum(int(line.rsplit(":", 1)[1]) for line in ends.split())
        self.assertEqual(published, 4 * n + 12)

        def kept():
            return len(self.read_topic(self.topic).splitlines())

        # every closed segment compacted: at most one superseded version of
        # each customer left in the segments still open
        wait_for(lambda: kept() <= published - n, timeout=90, interval=0.5,
                 what="the log cleaner to drop superseded events")
        print(f"[kafka] published {published}, kept {kept()} after compaction", flush=True)

        # replay everything that is left into an empty Pipedrive
        self.start_pd()
        self.ld_db = os.path.join(self.workdir, "replay.db")
        self.ld_env.update(MLC_PIPEDRIVE_URL=self.pd_url, MLC_STATE_DB=self.ld_db,
                           MLC_KAFKA_GROUP=self.group + "-replay")
        self.setup_fields()
        self.seed_foreign()
        cp = self.loader("drain", "--reset-offsets", "earliest")
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assertEqual(self.check_final(), n)
        self.assertEqual(self.pd_stats()["operations"]["organizations.create"]["count"], n)


if __name__ == "__main__":
    mlctest.main()
