"""mlc-loader operations: kill -9, budget pause/resume, 429s, block page,
dry-run, reset-offsets, request bodies against the v2 OpenAPI schemas and
secrets. Helpers come from test_loader."""
import glob
import os
import time

import mlctest
from mlctest import http_json, wait_for
from test_loader import (DLQ, TOKEN, TOPIC, LoaderCase, bodies, customer,  # noqa: F401
                         event)


def customers(n, start=1000, company="SAMINC"):
    return [(company, str(start + i)) for i in range(n)]


class KillAndRerun(LoaderCase):
    def test_kill9_mid_drain_then_rerun_gives_one_each(self):
        custs = customers(120)
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        # growth pacing: ~20 requests/s, so the drain takes several seconds
        env = dict(self.env, MLC_PIPEDRIVE_PLAN="growth")
        p = self.start_loader("drain", env=env)
        wait_for(lambda: len(self.ours()) >= 30 or not p.alive(), timeout=60,
                 what="some organizations created")
        p.kill9()
        self.assertLess(len(self.ours()), 120, "drain finished before the kill")
        cp = self.drain(env={"MLC_PIPEDRIVE_PLAN": "growth"})
        self.assertEqual(cp.returncode, 0)
        self.assert_one_each(set(custs))
        # every customer was created exactly once: by the killed drain or the
        # rerun ("created"), or found by the rerun after its answer was lost
        # with the process ("adopted"); never both, never twice
        rows = self.audit("SELECT company, customer, count(*) FROM event_audit "
                          "WHERE outcome IN ('created', 'adopted') GROUP BY company, customer")
        self.assertEqual({(c, n) for c, n, _ in rows}, set(custs))
        self.assertEqual([r for r in rows if r[2] != 1], [])


class Budget(LoaderCase):
    # A 400-token budget in an hour-long sandbox day: set-up and the first
    # customers fit, then the loader must pause. The test rolls the day over
    # itself once the loader says it paused, so nothing depends on how fast
    # a loaded machine gets there.
    sim_args = ("--daily-budget", "400", "--day-length", "3600")

    def drain_across_rollover(self, wait_text, env):
        p = self.start_loader("drain", env=dict(env, MLC_PIPEDRIVE_PAUSE_PROBE="1"))
        wait_for(lambda: wait_text in p.stderr() or not p.alive(), timeout=120,
                 what=f"the loader to say '{wait_text}'")
        self.assertTrue(p.alive(), f"loader exited before '{wait_text}': {p.stderr()[-3000:]}")
        ours_before = len(self.ours())
        status, _, _ = http_json("POST", self.url + "/_sim/rollover", {})
        self.assertEqual(status, 200)
        self.assertEqual(p.wait(timeout=120), 0, p.stderr()[-3000:])
        return ours_before, p.stderr()

    def test_reserve_pause_and_resume_after_rollover(self):
        custs = customers(60)
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        before, stderr = self.drain_across_rollover(
            "paused", {"MLC_PIPEDRIVE_RESERVE_PCT": "20"})
        self.assertLess(before, 60, "the budget should not fit every customer in day one")
        self.assert_one_each(set(custs))
        self.assertIn("resuming", stderr)
        self.assertIn("below the reserve (MLC_PIPEDRIVE_RESERVE_PCT)", stderr)
        st = self.stats()
        self.assertEqual(st["rate_limited_429"]["daily"], 0, st["rate_limited_429"])

    def test_daily_429_without_headers_pauses_until_reset(self):
        # no budget headers, no configured budget: the loader learns of the
        # exhausted budget from the daily 429 and waits for its Retry-After
        self.sim.stop()
        self.sim = self.procs.start_server(
            [mlctest.binary("mlc-pipedrive-sim"), "--token", TOKEN, "--daily-budget", "300",
             "--day-length", "3600", "--omit-header", "x-daily-ratelimit-token-limit",
             "--omit-header", "x-daily-ratelimit-token-remaining"], name="pdsim2")
        self.url = self.sim.first_line
        self.env["MLC_PIPEDRIVE_URL"] = self.url
        custs = customers(60)
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        before, _ = self.drain_across_rollover("daily token budget exhausted",
                                               {"MLC_PIPEDRIVE_RESERVE_PCT": "0"})
        self.assertLess(before, 60)
        self.assert_one_each(set(custs))
        self.assertGreaterEqual(self.stats()["rate_limited_429"]["daily"], 1)


class Limits(LoaderCase):
    sim_args = ("--plan", "lite")

    def test_pacing_keeps_429s_away(self):
        custs = customers(40)
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        self.drain(env={"MLC_PIPEDRIVE_PLAN": "lite", "MLC_PIPEDRIVE_CONCURRENCY": "8"})
        self.assert_one_each(set(custs))
        self.assertEqual(self.stats()["rate_limited_429"]["total"], 0)

    def test_burst_429s_are_waited_out(self):
        # pacing off and the plan overstated: the sandbox answers 429s, the
        # loader honours Retry-After / x-ratelimit-reset and loses nothing
        custs = customers(60)
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        cp = self.drain(env={"MLC_PIPEDRIVE_PACING": "false", "MLC_PIPEDRIVE_CONCURRENCY": "8"})
        self.assert_one_each(set(custs))
        self.assertGreater(self.stats()["rate_limited_429"]["burst"], 0)
        self.assertIn("burst limit (429)", cp.stderr)
        statuses = [r[0] for r in self.audit("SELECT status FROM call_audit")]
        self.assertIn(429, statuses)

    def test_block_page_stops_sending(self):
        # the sandbox blocks the token after 30 requests: past the field set-up
        # and the cold-map scan, while creates run 8 at a time (provoking the
        # block with 429 streaks would depend on timing; the sandbox tests do
        # that); pacing off, so that 8 requests really are in flight at once
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(customers(80))])
        status, _, _ = http_json("POST", self.url + "/_sim/block", {"after": 30})
        self.assertEqual(status, 200)
        cp = self.drain(env={"MLC_PIPEDRIVE_CONCURRENCY": "8", "MLC_PIPEDRIVE_PACING": "false"},
                        ok=False)
        # once blocked, every request is answered 403: the loader may have had
        # at most its concurrency limit in flight, and sends nothing after
        blocked = self.stats()["blocked_403"]
        self.assertGreaterEqual(blocked, 1)
        self.assertLessEqual(blocked, 8, "requests sent into the block")
        self.assertEqual(cp.returncode, 2, cp.stderr[-2000:])
        self.assertIn("403 block page", cp.stderr)


class DryRunAndReplay(LoaderCase):
    def test_dry_run_writes_nothing(self):
        self.produce([event("SAMINC", "1000", customer(0)), event("SAMINC", "1001", customer(1))])
        self.drain()
        before_orgs = self.orgs()
        with open(self.db, "rb") as f:
            before_db = f.read()
        audit_before = self.audit("SELECT count(*) FROM event_audit")
        self.produce([event("SAMINC", "1001", customer(1, phone="(619)555-7777")),
                      event("SAMINC", "1002", customer(2)),
                      event("SAMINC", "1000", customer(0)),
                      ("SAMINC:9", "{broken")])
        http_json("DELETE", self.url + "/_sim/stats")
        cp = self.drain("--dry-run")
        out = cp.stdout
        self.assertIn("SAMINC:1002 would create organization", out)
        self.assertRegex(out, r"SAMINC:1001 would update organization \d+")
        self.assertIn("Phone: \"(619)555-0100\" -> \"(619)555-7777\"", out)
        self.assertIn("SAMINC:1000 would skip (unchanged)", out)
        self.assertIn("would send to the dead-letter topic", out)
        ops = self.stats()["operations"]
        self.assertEqual(ops["organizations.create"]["count"], 0)
        self.assertEqual(ops["organizations.update"]["count"], 0)
        self.assertEqual(self.orgs(), before_orgs)
        self.assertEqual(self.audit("SELECT count(*) FROM event_audit"), audit_before)
        with open(self.db, "rb") as f:
            self.assertEqual(f.read(), before_db)
        self.assertEqual(self.read_topic(DLQ), [])
        # no offsets were committed: a real drain handles the same events
        self.drain()
        rows = self.audit("SELECT customer, outcome FROM event_audit WHERE id > ? ORDER BY id",
                          audit_before[0][0])
        self.assertEqual(sorted(rows, key=str), sorted([("1001", "updated"), ("1002", "created"),
                                                        ("1000", "unchanged"), (None, "dlq")],
                                                       key=str))

    def test_reset_offsets_earliest_and_timestamp(self):
        first = [event(c, n, customer(i)) for i, (c, n) in enumerate(customers(6))]
        self.produce(first)
        time.sleep(1.5)
        t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()))
        time.sleep(1.5)
        second = [event(c, n, customer(i)) for i, (c, n) in enumerate(customers(4, 2000))]
        self.produce(second)
        self.drain()
        n0 = self.audit("SELECT count(*) FROM event_audit")[0][0]
        self.assertEqual(n0, 10)
        # replay from a time: only the second batch comes again
        cp = self.drain("--reset-offsets", t)
        n1 = self.audit("SELECT count(*) FROM event_audit")[0][0]
        self.assertEqual(n1 - n0, 4, cp.stdout + cp.stderr[-3000:])
        replayed = self.audit("SELECT customer, outcome FROM event_audit WHERE id > ?", n0)
        self.assertEqual(sorted(replayed), [(str(2000 + i), "unchanged") for i in range(4)])
        # replay everything
        self.drain("--reset-offsets", "earliest")
        n2 = self.audit("SELECT count(*) FROM event_audit")[0][0]
        self.assertEqual(n2 - n1, 10)
        # latest: nothing to do
        self.produce([event("SAMINC", "3000", customer(1))])
        self.drain("--reset-offsets", "latest")
        self.assertEqual(self.audit("SELECT count(*) FROM event_audit")[0][0], n2)
        self.assertNotIn(("SAMINC", "3000"), self.ours())
        # a bad time is a configuration error
        cp = self.loader("drain", "--reset-offsets", "yesterday")
        self.assertEqual(cp.returncode, 2)
        self.assertIn("--reset-offsets", cp.stderr)


class BodiesAndSecrets(LoaderCase):
    def test_request_bodies_match_v2_schema_and_no_token_leaks(self):
        import jsonschema
        from test_pipedrive_sim import request_schema
        dbg = {"MLC_LOG_LEVEL": "debug", "MLC_LOG_BODIES": "true"}
        logs = []
        custs = customers(4)
        self.produce([event(c, n, customer(i)) for i, (c, n) in enumerate(custs)])
        self.produce([event("SAMINC", "1005", customer(5, phone=None, email=None,
                                                        address_line1=None, city=None,
                                                        state=None, postal_code=None,
                                                        country=None, on_hold=True))])
        logs.append(self.drain(env=dbg).stderr)
        self.produce([event("SAMINC", "1000", customer(0, phone=None, credit_limit=1.5)),
                      event("SAMINC", "1001", customer(1, status="inactive")),
                      event("SAMINC", "1002", op="missing"),
                      event("SAMINC", "1005", customer(5, city="Austin"))])
        logs.append(self.drain(env=dbg).stderr)
        logs.append(self.loader("ping", env=dbg).stderr)
        seen = {}
        schemas = {
            ("POST", "/api/v2/organizations"): request_schema("/organizations", "post"),
            ("PATCH", "org"): request_schema("/organizations/{id}", "patch"),
            ("POST", "/api/v2/organizationFields"): request_schema("/organizationFields",
                                                                   "post"),
        }
        for log in logs:
            for method, path, body in bodies(log):
                key = (method, "org") if path.startswith("/api/v2/organizations/") and \
                    method == "PATCH" else (method, path.split("?")[0])
                self.assertIn(key, schemas, path)
                jsonschema.validate(body, schemas[key])
                seen[key] = seen.get(key, 0) + 1
        self.assertEqual(set(seen), set(schemas), seen)
        self.assertGreaterEqual(seen[("PATCH", "org")], 4)
        # the token appears in no log and no database
        for log in logs:
            self.assertNotIn(TOKEN, log)
        for path in glob.glob(os.path.join(self.workdir, "*")):
            with open(path, "rb") as f:
                data = f.read()
            if path.endswith((".db", ".db-wal", ".db-shm")) or path.endswith((".err", ".out")):
                self.assertNotIn(TOKEN.encode(), data, path)
        calls = self.audit("SELECT path FROM call_audit")
        self.assertTrue(calls)
        for (p,) in calls:
            self.assertNotIn("api_token", p)

    def test_ping_and_setup(self):
        cp = self.loader("ping")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"pipedrive: ok: user .+, company .+, domain .+")
        self.assertRegex(cp.stdout, r"kafka: ok: \d+ broker\(s\), topic sage300.customers.v1 "
                                    r"with 3 partition\(s\)")
        cp = self.loader("setup")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        keys = self.field_keys()
        self.assertIn(f"Customer Status -> {keys['Customer Status']}", cp.stdout)
        cp = self.loader("ping", env={"MLC_PIPEDRIVE_TOKEN": "wrong-token"})
        self.assertEqual(cp.returncode, 2)
        self.assertIn("401", cp.stderr)
        # fields missing and creation turned off: one line naming them
        self.sim.stop()
        self.sim = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--token",
                                            TOKEN], name="pdsim2")
        cp = self.loader("drain", env={"MLC_PIPEDRIVE_URL": self.sim.first_line,
                                       "MLC_PIPEDRIVE_CREATE_FIELDS": "false"})
        self.assertEqual(cp.returncode, 2)
        self.assertIn("Sage 300 Customer ID", cp.stderr)


if __name__ == "__main__":
    mlctest.main()
