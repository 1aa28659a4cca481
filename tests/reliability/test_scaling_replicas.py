"""Reliability: loader replicas scaled up and down while Sage changes.

WHAT IT BREAKS: three loader replicas in one group, each with its OWN state
file (as each replica of `docker compose up --scale loader=N` has). First the
exact sequence seen in the field: replica A applies a city, replica B applies
another, Sage reverts, the partition returns to A. Then MLC_REL_ROUNDS
(default 3; at least 20 recorded in docs/reliability.md) seeded rounds
(MLC_REL_SEED): in each, Sage edits, renames, reverts an earlier value of a
customer, or deletes one; the extractor publishes (a full scan when
something was deleted); then a random set of replicas runs `mlc-loader run`,
is scaled down or up mid-way, gets kill -9 or SIGTERM, and sometimes loses
its state file. Whatever replica, with whatever stale file, repairs at the
end.
WHAT MUST HOLD: Pipedrive equals Sage: one organization per customer with
the latest values, customers deleted in Sage kept and marked "Missing in
Sage 300", foreign organizations untouched, nothing lost, no duplicate."""
import os
import signal
import time
import urllib.parse

import relcheck
from mlctest import http_json

REPLICAS = ("a", "b", "c")


class ScalingReplicas(relcheck.Rig):
    def replica_env(self, name):
        return {"MLC_STATE_DB": os.path.join(self.workdir, f"loader-{name}.db"),
                "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "3000",
                "MLC_RDKAFKA_HEARTBEAT_INTERVAL_MS": "500",
                "MLC_RDKAFKA_AUTO_COMMIT_INTERVAL_MS": "300"}

    def drain_as(self, name):
        cp = self.loader("drain", env=self.replica_env(name))
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])

    def lose_state(self, name):
        path = self.replica_env(name)["MLC_STATE_DB"]
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(path + suffix)
            except FileNotFoundError:
                pass

    def delete_in_sage(self, company, number):
        status, _, body = http_json("DELETE", self.sage_root + f"/_sim/companies/{company}/"
                                    f"customers/{urllib.parse.quote(number, safe='')}")
        self.assertEqual(status, 200, body)

    def revert_sequence(self):
        """A applies city 1, B applies city 2, Sage reverts to city 1, A again."""
        c = self.sage_customers()[0]
        key = (c["company"], c["number"])
        for replica, city in (("a", "A Coruña"), ("b", "Bern"), ("a", "A Coruña")):
            self.sage_patch(*key, {"City": city})
            self.extract_ok()
            self.drain_as(replica)
        self.check_final()

    def run_replicas(self, names, seconds):
        """Starts `run` on names, scales once mid-way, then stops them all,
        some with kill -9. Returns how many were killed."""
        procs = {n: self.start_loader("run", env=self.replica_env(n)) for n in names}
        kills = 0
        time.sleep(seconds * self.rng.uniform(0.3, 0.7))
        # scale: stop one, or start one that was not running
        idle = [n for n in REPLICAS if n not in procs]
        if idle and self.rng.random() < 0.5:
            n = self.rng.choice(idle)
            if self.rng.random() < 0.3:
                self.lose_state(n)  # a fresh anonymous volume
            procs[n] = self.start_loader("run", env=self.replica_env(n))
        elif len(procs) > 1:
            n = self.rng.choice(sorted(procs))
            procs.pop(n).kill9()
            kills += 1
        time.sleep(seconds * self.rng.uniform(0.3, 0.7))
        for n, p in procs.items():
            if self.rng.random() < 0.4:
                p.kill9()
                kills += 1
            else:
                p.signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except Exception:  # a replica stuck after SIGTERM is a failure
                p.kill9()
                self.fail(f"loader replica did not stop on SIGTERM: {p.stderr()[-2000:]}")
        return kills

    def test_replicas_scaled_while_sage_changes(self):
        rounds = int(os.environ.get("MLC_REL_ROUNDS", "3"))
        self.extract_ok()
        self.drain_as("a")
        self.check_final()
        self.revert_sequence()

        history = {}  # (company, number) -> names it had, oldest first
        deleted, kills = [], 0
        for r in range(rounds):
            custs = [c for c in self.sage_customers()
                     if (c["company"], c["number"]) not in deleted]
            full = False
            for c in self.rng.sample(custs, 4):
                key = (c["company"], c["number"])
                history.setdefault(key, []).append(c["name"])
                action = self.rng.random()
                if action < 0.25 and len(history[key]) > 1:
                    # revert to an earlier name (same content as once before)
                    self.sage_patch(*key, {"CustomerName": history[key][-2]})
                elif action < 0.35 and len(deleted) < 3:
                    self.delete_in_sage(*key)
                    deleted.append(key)
                    full = True
                else:
                    self.sage_patch(*key, {"CustomerName": f"{key[1].strip()} r{r}",
                                           "City": self.rng.choice(["Zug", "Lyon", "Oslo"])})
            self.extract_ok(*(("once", "--full") if full else ()))
            names = self.rng.sample(REPLICAS, self.rng.randrange(1, 4))
            if self.rng.random() < 0.2:
                self.lose_state(self.rng.choice(names))
            kills += self.run_replicas(names, self.rng.uniform(2.0, 5.0))
        print(f"[scaling] rounds={rounds} kills={kills} deleted={len(deleted)}", flush=True)
        # any replica, with whatever file it has, repairs
        repair = self.rng.choice(REPLICAS)
        self.drain_as(repair)
        self.check_final(expect_missing=deleted)


if __name__ == "__main__":
    relcheck.mlctest.main()
