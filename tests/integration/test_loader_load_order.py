"""mlc-loader during a budget-limited initial load: creates wait in the
backlog of creates, updates of customers that have an organization go first
and keep a share of the day (MLC_LOAD_UPDATE_HEADROOM_PCT), the backlog is
worked in MLC_LOAD_ORDER, per-customer order holds, and a killed loader or a
lost state file loses nothing and duplicates nothing (docs/loader.md,
"Initial load"). Helpers come from test_loader."""
import hashlib
import os
import sqlite3
import time

import mlctest
from mlctest import http_json, wait_for
from test_loader import TOKEN, LoaderCase, canon, customer, event

BUDGET = 400  # sandbox tokens per (hour-long) sandbox day


def event_lm(company, number, cust, last_maintained):
    """A v1 upsert whose source carries last_maintained."""
    h = hashlib.sha256(canon(cust).encode()).hexdigest()
    eid = hashlib.sha256(f"{company}:{number}:upsert:{h}".encode()).hexdigest()[:32]
    ev = {"schema": "sage300.customer-change.v1", "event_id": eid, "op": "upsert",
          "company": company, "customer_number": number, "content_hash": h,
          "emitted_at": "2026-11-28T07:40:13Z", "customer": cust,
          "source": {"base_url": "https://erp/Sage300WebApi/v1.0/-/",
                     "last_maintained": last_maintained, "read_at": "2026-11-28T07:40:12Z"}}
    return f"{company}:{number}", canon(ev)


class BudgetCase(LoaderCase):
    sim_args = ("--daily-budget", str(BUDGET), "--day-length", "3600")

    def meta(self, key):
        if not os.path.exists(self.db):
            return None
        con = sqlite3.connect(self.db, timeout=10)
        try:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None
        except sqlite3.OperationalError:
            return None
        finally:
            con.close()

    def remaining(self):
        for _ in range(50):  # the sandbox's burst limit answers 429 now and then
            status, hdrs, _ = http_json("GET", self.url + "/v1/users/me",
                                        headers={"x-api-token": TOKEN})
            if status != 429:
                break
            time.sleep(0.5)
        self.assertEqual(status, 200)
        hdrs = {k.lower(): v for k, v in dict(hdrs).items()}
        return int(hdrs["x-daily-ratelimit-token-remaining"])

    def spend_down_to(self, tokens):
        """Spends sandbox tokens (list calls) until at most tokens are left."""
        while self.remaining() > tokens:
            http_json("GET", self.url + "/api/v2/organizations?limit=1",
                      headers={"x-api-token": TOKEN})

    def rollover(self):
        status, _, _ = http_json("POST", self.url + "/_sim/rollover", {})
        self.assertEqual(status, 200)

    def created_order(self):
        return [n for (n,) in self.audit(
            "SELECT customer FROM event_audit WHERE outcome = 'created' ORDER BY id")]


class UpdatesFirst(BudgetCase):
    def test_updates_go_before_the_creates_and_keep_a_share_of_the_day(self):
        old = [("SAMINC", str(100 + i)) for i in range(5)]
        new = [("SAMINC", str(2000 + i)) for i in range(60)]
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(old)])
        self.drain()
        self.assert_one_each(set(old))
        self.rollover()
        # in topic order: 60 creates (300 tokens, more than the day allows
        # above reserve + headroom), then 5 updates of customers that have
        # an organization
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(new)])
        self.produce([event(c, n, customer(i, city="Bern")) for i, (c, n) in enumerate(old)])
        env = {"MLC_PIPEDRIVE_RESERVE_PCT": "20", "MLC_LOAD_UPDATE_HEADROOM_PCT": "15",
               "MLC_PIPEDRIVE_PAUSE_PROBE": "1"}
        p = self.start_loader("drain", env=env)
        wait_for(lambda: "creates stopped for the day" in p.stderr() or not p.alive()
                 or "consumption paused" in p.stderr(),
                 timeout=120, what="creates to stop for the day")
        self.assertTrue(p.alive(), p.stderr()[-3000:])
        self.assertNotIn("consumption paused", p.stderr())

        def cities():
            return {k: v[0]["address"]["locality"] for k, v in self.ours().items() if k in old}

        # the updates are applied in the same sandbox day
        wait_for(lambda: set(cities().values()) == {"Bern"} or not p.alive(), timeout=15,
                 what="the updates queued behind the creates")
        self.assertEqual(set(cities().values()), {"Bern"}, p.stderr()[-3000:])
        created_day1 = len(self.ours()) - len(old)
        self.assertLess(created_day1, 60)
        self.assertGreater(int(self.meta("backlog_creates")), 0)
        # changes made after the creates stopped still go the same day: the headroom
        self.produce([event(c, n, customer(i, city="Lugano"))
                      for i, (c, n) in enumerate(old[:3])])
        wait_for(lambda: sorted(cities().values()) == ["Bern", "Bern", "Lugano", "Lugano",
                                                      "Lugano"] or not p.alive(),
                 timeout=60, what="the updates made after the creates stopped")
        self.assertNotIn("consumption paused", p.stderr())
        self.assertEqual(len(self.ours()) - len(old), created_day1, "no create after the stop")
        # the next day works through the rest of the backlog
        self.rollover()
        self.assertEqual(p.wait(timeout=120), 0, p.stderr()[-3000:])
        self.assert_one_each(set(old) | set(new))
        self.assertEqual(self.meta("backlog_creates"), "0")

    def test_a_create_followed_by_an_update_gives_one_organization_with_the_latest(self):
        new = [("SAMINC", str(3000 + i)) for i in range(30)]
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(new)])
        self.produce([event(c, n, customer(i, phone="(619)555-7777"))
                      for i, (c, n) in enumerate(new)])
        self.produce([event(c, n, customer(i, phone="(619)555-8888"))
                      for i, (c, n) in enumerate(new[:10])])
        self.drain(env={"MLC_LOAD_ORDER": "recent_first"})
        self.assert_one_each(set(new))
        kp = self.field_keys()["Phone"]
        for k, orgs in self.ours().items():
            want = "(619)555-8888" if k in new[:10] else "(619)555-7777"
            self.assertEqual(orgs[0]["custom_fields"][kp], want, k)
        # every customer created once, and never updated around its create
        rows = self.audit("SELECT customer, outcome FROM event_audit ORDER BY id")
        self.assertEqual(sorted(n for n, o in rows if o == "created"), sorted(n for _, n in new))
        self.assertEqual([r for r in rows if r[1] not in ("created", "unchanged")], [])


class Orders(BudgetCase):
    """Each MLC_LOAD_ORDER: the creates stop at once (reserve + headroom above
    what is left), every event lands in the backlog, then a new sandbox day
    lets the loader work the whole backlog in its order."""

    def run_order(self, order, evs, want):
        self.setup_fields()
        self.rollover()
        self.spend_down_to(BUDGET * 70 // 100)  # below reserve 20 + headroom 50 (280)
        self.produce(evs)
        env = {"MLC_LOAD_ORDER": order, "MLC_PIPEDRIVE_RESERVE_PCT": "20",
               "MLC_LOAD_UPDATE_HEADROOM_PCT": "50", "MLC_PIPEDRIVE_PAUSE_PROBE": "1"}
        p = self.start_loader("drain", env=env)
        wait_for(lambda: self.meta("backlog_creates") == str(len(evs)) or not p.alive(),
                 timeout=60, what="every create in the backlog")
        self.assertTrue(p.alive(), p.stderr()[-3000:])
        self.assertEqual(self.created_order(), [])
        self.rollover()
        self.assertEqual(p.wait(timeout=120), 0, p.stderr()[-3000:])
        self.assertEqual(self.created_order(), want)

    # (number, status, last_maintained) in topic order (one partition: the
    # keys spread over three, so topic order is the first offset per partition)
    partitions = 1
    CUSTS = [("4001", "inactive", "2026-01-05"), ("4002", "active", "2026-03-01"),
             ("4003", "inactive", "2026-11-20"), ("4004", "active", None),
             ("4005", "active", "2026-06-30"), ("4006", "inactive", "2025-12-31")]

    def events(self):
        return [event_lm("SAMINC", n, customer(int(n), status=s), lm)
                for n, s, lm in self.CUSTS]

    def test_topic(self):
        self.run_order("topic", self.events(), [n for n, _, _ in self.CUSTS])

    def test_active_first(self):
        self.run_order("active_first", self.events(),
                       ["4002", "4004", "4005", "4001", "4003", "4006"])

    def test_recent_first(self):
        self.run_order("recent_first", self.events(),
                       ["4003", "4005", "4002", "4001", "4006", "4004"])


class Rebalance(BudgetCase):
    """A second replica joins while the first holds a backlog: the partitions
    given up take their backlog rows with them (the new owner re-reads from
    the committed offset), so no customer is created by both."""

    # two replicas share the sandbox's day: a larger one
    sim_args = ("--daily-budget", "2000", "--day-length", "3600")

    def test_partitions_moved_mid_backlog_are_created_once(self):
        custs = [("SAMINC", str(6000 + i)) for i in range(40)]
        self.setup_fields()
        self.rollover()
        self.spend_down_to(2000 * 70 // 100)  # creates stopped from the start
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        env = {"MLC_PIPEDRIVE_RESERVE_PCT": "20", "MLC_LOAD_UPDATE_HEADROOM_PCT": "50",
               "MLC_PIPEDRIVE_PAUSE_PROBE": "1"}
        dbs = {r: os.path.join(self.workdir, f"{r}.db") for r in ("a", "b")}
        a = self.start_loader("run", env=dict(env, MLC_STATE_DB=dbs["a"]), name="a")

        def backlog(r):
            self.db = dbs[r]
            v = self.meta("backlog_creates")
            return int(v) if v else 0

        wait_for(lambda: backlog("a") == 40 or not a.alive(), timeout=60,
                 what="every create in replica A's backlog")
        b = self.start_loader("run", env=dict(env, MLC_STATE_DB=dbs["b"]), name="b")
        wait_for(lambda: (backlog("b") > 0 and backlog("a") + backlog("b") >= 40)
                 or not b.alive(), timeout=90, what="replica B's share of the backlog")
        self.assertTrue(a.alive() and b.alive(), a.stderr()[-2000:] + b.stderr()[-2000:])
        self.assertIn("assigned", b.stderr())
        self.rollover()
        try:
            wait_for(lambda: len(self.ours()) >= 40 and backlog("a") + backlog("b") == 0,
                     timeout=90, what="both backlogs worked through")
        except AssertionError:
            self.fail(f"backlogs a {backlog('a')} b {backlog('b')}, {len(self.ours())} "
                      f"organizations\nA: {a.stderr()[-2500:]}\nB: {b.stderr()[-2500:]}")
        time.sleep(2)  # a replica still working a stale row would create it now
        a.stop()
        b.stop()
        self.assert_one_each(set(custs))


class KillAndLoss(BudgetCase):
    """A loader killed mid-backlog, then its state file lost: nothing lost,
    nothing twice."""

    def test_kill9_and_lost_state_mid_backlog(self):
        custs = [("SAMINC", str(5000 + i)) for i in range(50)]
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        env = {"MLC_PIPEDRIVE_RESERVE_PCT": "20", "MLC_LOAD_UPDATE_HEADROOM_PCT": "5",
               "MLC_PIPEDRIVE_PAUSE_PROBE": "1"}
        p = self.start_loader("run", env=env)
        wait_for(lambda: "creates stopped for the day" in p.stderr() or not p.alive(),
                 timeout=120, what="creates to stop for the day")
        day1 = len(self.ours())
        self.assertLess(day1, 50)
        p.kill9()
        # the state file goes too (an anonymous volume lost)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)
        self.rollover()
        self.drain(env=env)
        self.assert_one_each(set(custs))
        # the rerun re-read every event from the committed offset (never past
        # the backlog): customers created on day one are found by its scan,
        # so the rerun creates only the others
        created = [n for (n,) in self.audit(
            "SELECT customer FROM event_audit WHERE outcome = 'created'")]
        self.assertEqual(len(created), 50 - day1)
        self.assertEqual(len(set(created)), len(created))


if __name__ == "__main__":
    mlctest.main()
