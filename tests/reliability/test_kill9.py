"""Reliability: kill -9 of the extractor and of the loader at random moments.

WHAT IT BREAKS: MLC_REL_ROUNDS (default 20) rounds; in each, a few Sage
customers are edited, then `mlc-extractor once` and `mlc-loader drain` run
concurrently and each is SIGKILLed after a random delay (seeded by
MLC_REL_SEED, printed, so a failure can be replayed). Pipedrive writes are
slowed (150 ms) and the loader commits offsets every 300 ms, so kills land
between "offset committed" and "Pipedrive call finished" often enough.
WHAT MUST HOLD: after one clean extractor + loader cycle, exactly one
organization per Sage customer with its latest values, foreign organizations
byte-identical, nothing lost (relcheck.Rig.check_final)."""
import os
import time

import relcheck


class Kill9(relcheck.Rig):
    def test_kill9_rounds(self):
        rounds = int(os.environ.get("MLC_REL_ROUNDS", "20"))
        kills = 0
        for method in ("POST", "PATCH"):
            self.pd_fault(kind="delay", delay_ms=150, count=-1, method=method)
        # a killed member holds its partitions until its session times out:
        # a shorter one keeps 20 rounds affordable (settle() uses the default)
        env = {"MLC_RDKAFKA_AUTO_COMMIT_INTERVAL_MS": "300",
               "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "3000",
               "MLC_RDKAFKA_HEARTBEAT_INTERVAL_MS": "500"}
        for r in range(rounds):
            self.sage_edit_random(self.rng.randrange(3, 9), f"r{r}")
            ext = self.start_extractor()
            ld = self.start_loader(env=env)
            t_ext = self.rng.uniform(0.0, 1.5)
            t_ld = self.rng.uniform(0.0, 1.5)
            time.sleep(t_ext)
            if ext.alive():
                ext.kill9()
                kills += 1
            # the loader: a random moment after it got its partitions (before
            # that it has done nothing worth interrupting)
            deadline = time.time() + 30
            while ld.alive() and "partition(s) assigned" not in ld.stderr() \
                    and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(t_ld)
            if ld.alive():
                ld.kill9()
                kills += 1
            ext.kill9()
        print(f"[kill9] rounds={rounds} kills={kills}", flush=True)
        self.assertGreater(kills, rounds // 2)  # the scenario really killed things
        self.pd_clear_faults()
        self.settle()
        self.check_final()


if __name__ == "__main__":
    relcheck.mlctest.main()
