"""Reliability: Pipedrive sandbox faults during loading.

WHAT IT BREAKS: `mlc-loader drain` runs while mlc-pipedrive-sim answers
502/503, hangs past MLC_PIPEDRIVE_TIMEOUT (lost answers, also of POSTs) and
429 storms; then a tiny daily budget runs out mid-drain and the test rolls the
sandbox day over; then a Cloudflare 403 block (/_sim/block) stops the loader.
WHAT MUST HOLD: retries and pauses lose nothing and never create a second
organization for a customer (a lost POST answer is looked up, not
repeated); the 403 stops the loader (exit 2) and after the block is lifted
the next drain finishes; in the end exactly one organization per customer
with its latest values, foreign organizations untouched."""
import relcheck
from mlctest import http_json

FAULTS = [
    ("502", {"kind": "status", "status": 502, "count": 4, "path": "/api/v2/*"}),
    ("503", {"kind": "status", "status": 503, "count": 4, "path": "/api/v2/*"}),
    ("hang", {"kind": "hang", "delay_ms": 3500, "count": 2, "path": "/api/v2/organizations"}),
    ("429-storm", {"kind": "status", "status": 429, "count": 3, "path": "/api/v2/*"}),
]


class PipedriveFaults(relcheck.Rig):
    def test_transient_faults(self):
        env = {"MLC_PIPEDRIVE_TIMEOUT": "2000"}
        self.extract_ok()
        for name, fault in FAULTS:
            self.pd_fault(**fault)
            cp = self.loader("drain", env=env)
            self.assertEqual(cp.returncode, 0, f"{name}: {cp.stderr[-3000:]}")
            self.pd_clear_faults()
            self.sage_edit_random(4, name)
            self.extract_ok()
        self.drain_ok()
        self.check_final()


class LostPostAnswer(relcheck.Rig):
    """Breaks: POST answers lost while every organization is still to be
    created: the sandbox delays the answer 3.5 s (and then creates the
    organization), the loader gives up after 2 s. Must hold: the loader waits
    until a late create must have landed (twice the request timeout from
    giving up) before it looks the customer up, and adopts what it finds:
    one organization per customer, never a second POST that duplicates."""

    def test_lost_post_answer_creates_once(self):
        self.extract_ok()
        self.pd_fault(kind="delay", delay_ms=3500, count=2, method="POST")
        cp = self.loader("drain", env={"MLC_PIPEDRIVE_TIMEOUT": "2000"})
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.pd_clear_faults()
        self.sage_edit_random(4, "lost-post")
        self.extract_ok()
        self.drain_ok()
        self.check_final()


    def test_lost_creates_that_never_landed_cost_one_scan(self):
        # the sandbox drops two POSTs without creating anything: both
        # customers need a lookup, and one scan must answer for both (each
        # scan costs list tokens from the daily budget)
        self.extract_ok()
        self.pd_fault(kind="hang", delay_ms=3500, count=2, method="POST")
        cp = self.loader("drain", env={"MLC_PIPEDRIVE_TIMEOUT": "2000"})
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assertEqual(cp.stderr.count("got no answer; looking it up in"), 2, cp.stderr)
        self.assertEqual(cp.stderr.count("(updated since last scan)"), 1, cp.stderr)
        self.check_final()


class DailyBudget(relcheck.Rig):
    """Breaks: the daily token budget runs out mid-drain (an hour-long sandbox
    day, so only the test's own /_sim/rollover ends it). Must hold: the loader
    pauses rather than burning requests on daily 429s, resumes by itself once
    the day has rolled over, and finishes with nothing lost or doubled."""

    customers = 15
    pd_args = ("--plan", "ultimate", "--daily-budget", "150", "--day-length", "3600")

    def test_budget_exhausted_then_rolled_over(self):
        self.extract_ok()
        p = self.start_loader("drain", env={"MLC_PIPEDRIVE_RESERVE_PCT": "0",
                                            "MLC_PIPEDRIVE_PAUSE_PROBE": "1"})
        relcheck.mlctest.wait_for(lambda: "paused" in p.stderr() or not p.alive(), timeout=120,
                                  what="the loader to pause")
        self.assertTrue(p.alive(), f"loader exited before pausing: {p.stderr()[-3000:]}")
        status, _, _ = http_json("POST", self.pd_url + "/_sim/rollover", {})
        self.assertEqual(status, 200)
        self.assertEqual(p.wait(timeout=120), 0, p.stderr()[-3000:])
        self.assertIn("resuming", p.stderr())
        # with no reserve only Pipedrive's daily 429 can pause, and the log says so
        self.assertIn("exhausted (Pipedrive answered 429)", p.stderr())
        stats = self.pd_stats()
        print(f"[budget] spent={stats.get('tokens_spent')} 429={stats.get('rate_limited_429')}")
        # the budget really ran out (more was spent than one day allows), and
        # the loader stopped at the first daily 429 instead of hammering on
        self.assertGreater(stats["tokens_spent"], 150)
        self.assertLessEqual(stats["rate_limited_429"]["daily"], 1, stats["rate_limited_429"])
        # a create refused with a daily 429 was never made: no lookup for it
        self.assertNotIn("got no answer", p.stderr())
        self.check_final()


class Block403(relcheck.Rig):
    """Breaks: Cloudflare blocks the token mid-drain (the sandbox's
    /_sim/block puts the 403 page after a known number of requests). Must
    hold: the loader stops at once (exit 2) instead of sending into the
    block, and after the block is lifted the next drain finishes."""

    customers = 20
    pd_args = ("--plan", "lite")

    def test_cloudflare_block_stops_then_recovers(self):
        self.extract_ok()
        env = {"MLC_PIPEDRIVE_PLAN": "lite"}
        status, _, _ = http_json("POST", self.pd_url + "/_sim/block",
                                 {"after": 15, "seconds": 600})
        self.assertEqual(status, 200)
        cp = self.loader("drain", env=env)
        self.assertEqual(cp.returncode, 2, cp.stderr[-3000:])
        self.assertIn("403 block page", cp.stderr)
        stats = self.pd_stats()
        # stopped at once: the 403s are at most the requests already in flight
        self.assertGreaterEqual(stats["blocked_403"], 1)
        self.assertLessEqual(stats["blocked_403"], 4, cp.stderr[-3000:])
        ours = [o for o in self.pd_state()["organizations"] if not o.get("is_deleted")]
        self.assertLess(len(ours), 3 + 2 * self.customers, "the block came after the drain")
        status, _, _ = http_json("POST", self.pd_url + "/_sim/unblock", {})
        self.assertEqual(status, 200)
        self.drain_ok(env=env)
        self.check_final()


if __name__ == "__main__":
    relcheck.mlctest.main()
