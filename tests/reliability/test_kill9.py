"""Reliability: kill -9 of the extractor and of the loader at random moments.

WHAT IT BREAKS: MLC_REL_ROUNDS (default 20) rounds; in each, a few Sage
customers are edited, then `mlc-extractor once` and `mlc-loader drain` run
concurrently and each is SIGKILLed after a random delay (seeded by
MLC_REL_SEED, printed, so a failure can be replayed).
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
        for r in range(rounds):
            self.sage_edit_random(self.rng.randrange(1, 4), f"r{r}")
            ext = self.start_extractor()
            ld = self.start_loader()
            t_ext = self.rng.uniform(0.0, 1.5)
            t_ld = self.rng.uniform(0.0, 3.0)
            t0 = time.time()
            for when, proc in sorted([(t_ext, ext), (t_ld, ld)], key=lambda x: x[0]):
                time.sleep(max(0.0, t0 + when - time.time()))
                if proc.alive():
                    proc.kill9()
                    kills += 1
        print(f"[kill9] rounds={rounds} kills={kills}", flush=True)
        self.assertGreater(kills, rounds // 2)  # the scenario really killed things
        self.settle()
        self.check_final()


if __name__ == "__main__":
    relcheck.mlctest.main()
