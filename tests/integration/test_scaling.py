"""Three mlc-loader processes in one consumer group: each gets
partitions (seen on its /metrics), every customer ends up with exactly one
organization and the creates equal the customers; when one loader is stopped
with SIGTERM, the other two take over its partitions and handle the events
produced there afterwards."""
import os
import signal
import sqlite3

import mlctest
from mlctest import free_port, wait_for
from test_loader import LoaderCase, customer, event
from test_metrics_scrape import metric, scrape


class ThreeLoaders(LoaderCase):
    partitions = 6
    sim_args = ("--no-limits",)

    def start_three(self):
        self.loaders = []
        for name in ("a", "b", "c"):
            port = free_port()
            env = {"MLC_STATE_DB": os.path.join(self.workdir, f"{name}.db"),
                   "MLC_METRICS_PORT": str(port), "MLC_METRICS_BIND": "127.0.0.1"}
            proc = self.start_loader("run", env=env, name=f"loader-{name}")
            self.loaders.append((name, proc, port, env["MLC_STATE_DB"]))

    def assigned(self, port):
        try:
            return metric(scrape(port), "mlc_loader_partitions_assigned")
        except OSError:
            return None

    def partitions_of(self, db):
        con = sqlite3.connect(db)
        try:
            return {(r[0], r[1]) for r in
                    con.execute("SELECT partition, customer FROM event_audit")}
        finally:
            con.close()

    def created(self):
        return sum(metric(scrape(port), "mlc_loader_events_total", outcome="created")
                   for _, _, port, _ in self.loaders)

    def alive(self):
        return all(p.alive() for _, p, _, _ in self.loaders)

    def logs(self):
        return "".join(f"--- {n}\n{p.stderr()[-2500:]}" for n, p, _, _ in self.loaders)

    def test_three_loaders_share_the_partitions_and_take_over(self):
        self.setup_fields()
        self.start_three()
        # the group settles at two partitions each: all three got partitions
        wait_for(lambda: [self.assigned(port) for _, _, port, _ in self.loaders] == [2, 2, 2]
                 or not self.alive(), timeout=90, what="six partitions over three loaders")
        self.assertTrue(self.alive(), self.logs())
        for name, proc, _, _ in self.loaders:
            self.assertRegex(proc.stderr(), r"kafka: [1-9]\d* partition\(s\) assigned", name)

        first = [("SAMINC", str(2000 + i)) for i in range(90)]
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(first)])
        wait_for(lambda: len(self.ours()) >= 90 or not self.alive(), timeout=120,
                 what="the first 90 customers created")
        self.assertTrue(self.alive(), self.logs())
        # an outcome is counted after its organization exists: wait for the
        # last ones, then the sum must be exact
        wait_for(lambda: self.created() >= 90 or not self.alive(), timeout=60,
                 what="90 creates counted")
        self.assertEqual(self.created(), 90)
        # everyone did a share of the work
        for name, _, port, _ in self.loaders:
            self.assertGreater(metric(scrape(port), "mlc_loader_events_total",
                                      outcome="created"), 0, name)

        # stop C: A and B take over its partitions
        name_c, proc_c, _, db_c = self.loaders[2]
        parts_c = {p for p, _ in self.partitions_of(db_c)}
        self.assertTrue(parts_c)
        proc_c.signal(signal.SIGTERM)
        self.assertEqual(proc_c.wait(60), 0, proc_c.stderr()[-3000:])
        rest = self.loaders[:2]
        wait_for(lambda: sum(self.assigned(port) or 0 for _, _, port, _ in rest) == 6
                 or not all(p.alive() for _, p, _, _ in rest), timeout=90,
                 what="A and B owning all six partitions")

        second = [("SAMINC", str(3000 + i)) for i in range(60)]
        self.produce([event(c, n, customer(100 + i)) for i, (c, n) in enumerate(second)])
        wait_for(lambda: len(self.ours()) >= 150 or not all(p.alive() for _, p, _, _ in rest),
                 timeout=120, what="all 150 customers created")
        for _, p, _, _ in rest:
            p.signal(signal.SIGTERM)
        for name, p, _, _ in rest:
            self.assertEqual(p.wait(60), 0, f"{name}: {p.stderr()[-3000:]}")

        self.assert_one_each(set(first) | set(second))
        ops = self.stats()["operations"]
        self.assertEqual(ops["organizations.create"]["count"], 150)
        # C handled nothing of the second batch; A and B handled it, including
        # the events on the partitions C had owned
        second_numbers = {n for _, n in second}
        self.assertFalse({c for _, c in self.partitions_of(db_c)} & second_numbers)
        taken = set()
        for _, _, _, db in rest:
            taken |= {p for p, c in self.partitions_of(db) if c in second_numbers}
        self.assertTrue(parts_c & taken, f"C owned {parts_c}, A+B handled {taken}")
        self.assertEqual(taken, set(range(6)))


if __name__ == "__main__":
    mlctest.main()
