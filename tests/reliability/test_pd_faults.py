"""Reliability: Pipedrive sandbox faults during loading.

WHAT IT BREAKS: `mlc-loader drain` runs while mlc-pipedrive-sim answers
502/503, hangs past MLC_PIPEDRIVE_TIMEOUT (lost answers, also of POSTs) and
429 storms; then a Growth-like sandbox with a tiny daily budget and a
10-second "day" exhausts the budget mid-drain; then a Cloudflare 403 block
(--block-after) stops the loader.
WHAT MUST HOLD: retries and pauses lose nothing and never create a second
organization for a customer (a lost POST answer is looked up, not
repeated); the 403 stops the loader (exit 2) and after the block is lifted
the next drain finishes; in the end exactly one organization per customer
with its latest values, foreign organizations untouched."""
import time

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


class DailyBudget(relcheck.Rig):
    customers = 15
    pd_args = ("--plan", "ultimate", "--daily-budget", "120", "--day-length", "8")

    def test_budget_exhausted_then_rolled_over(self):
        self.extract_ok()
        cp = self.loader("drain", env={"MLC_PIPEDRIVE_RESERVE_PCT": "0",
                                       "MLC_PIPEDRIVE_PAUSE_PROBE": "2",
                                       "MLC_PIPEDRIVE_DAILY_BUDGET": "120"}, timeout=300)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        stats = self.pd_stats()
        print(f"[budget] spent={stats.get('tokens_spent')} 429={stats.get('rate_limited_429')}")
        # the budget really ran out: more tokens were spent than one day allows
        self.assertGreater(stats["tokens_spent"], 120)
        self.check_final()


class Block403(relcheck.Rig):
    customers = 20
    pd_args = ("--plan", "lite", "--block-after", "2", "--block-seconds", "600")

    def test_cloudflare_block_stops_then_recovers(self):
        self.extract_ok()
        cp = self.loader("drain", env={"MLC_PIPEDRIVE_PACING": "false",
                                       "MLC_PIPEDRIVE_CONCURRENCY": "8",
                                       "MLC_PIPEDRIVE_PLAN": "lite"})
        stats = self.pd_stats()
        self.assertGreater(stats["blocked_403"], 0, cp.stderr[-2000:])
        self.assertEqual(cp.returncode, 2, cp.stderr[-3000:])
        status, _, _ = http_json("POST", self.pd_url + "/_sim/unblock")
        self.assertEqual(status, 200)
        time.sleep(2.5)  # let the burst window empty
        cp = self.loader("drain", env={"MLC_PIPEDRIVE_PLAN": "lite"})
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.check_final()


if __name__ == "__main__":
    relcheck.mlctest.main()
