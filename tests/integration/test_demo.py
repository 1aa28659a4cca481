"""scripts/demo.py end to end with a small customer count: the real binaries,
non-interactive (plain progress lines), and the summary numbers it reports
checked against what must hold: one organization per live customer (created, or adopted
when an earlier import left one with its Sage IDs or `mlc-loader match --apply` linked one
typed in by hand; the ambiguous pair typed in by hand untouched),
the second pass moved only the edited customers, the full scan reported the
deleted one as missing, zero 429s, tokens
accounted for, and the foreign organizations untouched."""
import json
import os
import signal
import subprocess
import sys
import unittest

import mlctest


class Demo(mlctest.TestCase):
    def test_demo_runs_to_its_summary(self):
        for b in ("mlc", "mlc-extractor", "mlc-loader", "mlc-sage-sim", "mlc-pipedrive-sim"):
            mlctest.binary(b)
        out = os.path.join(self.workdir, "summary.json")
        env = dict(os.environ, BUILD_DIR=mlctest.BINDIR, MLC_DEMO_CUSTOMERS="41",
                   MLC_DEMO_SUMMARY_JSON=out)
        p = subprocess.Popen(["/usr/bin/python3", os.path.join(mlctest.SRCDIR, "scripts", "demo.py")],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            stdout, stderr = p.communicate(timeout=240)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, 9)
                p.wait()
        self.assertEqual(p.returncode, 0, stdout[-3000:] + stderr[-3000:])
        with open(out) as f:
            s = json.load(f)
        first, second, full = s["first"], s["second"], s["full"]
        # first sync: every customer read, published and created, nothing else
        self.assertEqual(first["read"], 41)
        self.assertEqual(first["published"], 41)
        # two SAMLTD customers were in Pipedrive already (an earlier import
        # with Sage IDs), three SAMINC ones typed in by hand without IDs and
        # linked by `mlc-loader match --apply`: all five adopted, not created
        # again
        self.assertEqual(s["match"], {"matched": 3, "ambiguous": 1, "none": 35,
                                      "already_linked": 2, "linked": 3})
        self.assertEqual(first["created"], 36)
        self.assertEqual(first["outcomes"], {"created": 36, "adopted": 5})
        # the typed organizations carry their customer's IDs, nothing is
        # duplicated; the ambiguous pair is untouched and its customer got
        # an organization of its own
        self.assertEqual(s["hand_typed"], {"typed": 3, "adopted": 3, "duplicates": 0,
                                           "ambiguous_untouched": True, "twin_created": 1})
        # after the edits: exactly the 4 edited live customers moved
        self.assertEqual(second["published"], 4)
        self.assertEqual(second["outcomes"], {"updated": 4})
        self.assertEqual(len(s["edited"]), 4)
        # the deletion is seen only by the full scan
        self.assertEqual(second["missing"], 0)
        self.assertEqual(full["missing"], 1)
        self.assertEqual(full["published"], 0)
        self.assertEqual(full["outcomes"], {"updated": 1})
        self.assertEqual(full["read"], 40)
        left = first["daily_budget"]
        for step in (first, second, full):
            self.assertEqual(step["n429"], 0)
            self.assertGreater(step["tokens_spent"], 0)
            # the budget left drops by what the step spent (before the first
            # step, `mlc-loader setup` spent some on the custom fields)
            self.assertLessEqual(step["tokens_left"], left - step["tokens_spent"])
            if step is not first:
                self.assertEqual(step["tokens_left"], left - step["tokens_spent"])
            left = step["tokens_left"]
        # updates are cheap: the 4 edits cost far less than the first sync
        self.assertLess(second["tokens_spent"], first["tokens_spent"] / 3)
        self.assertTrue(s["foreign_untouched"])
        self.assertEqual(s["organizations"], 41 + s["foreign"] + 2)  # + the ambiguous pair
        # the summary table and the kcat command are printed
        self.assertIn("== summary", stdout)
        self.assertIn("kcat -b 127.0.0.1:", stdout)
        self.assertIn("loader: 41/41 events committed, pipedrive: 36 created 5 updated", stdout)
        self.assertIn("== mlc-loader match --apply", stdout)
        self.assertIn("linked 3 organization(s) (15 tokens)", stdout)
        self.assertIn("typed in by hand: 3 of 3 matched and adopted, 0 duplicates; the "
                      "ambiguous pair untouched: yes", stdout)
        self.assertNotIn("demo-pipedrive-token", stdout + stderr)


    def test_ctrl_c_stops_everything_it_started(self):
        for b in ("mlc", "mlc-extractor", "mlc-loader", "mlc-sage-sim", "mlc-pipedrive-sim"):
            mlctest.binary(b)
        env = dict(os.environ, BUILD_DIR=mlctest.BINDIR, MLC_DEMO_CUSTOMERS="400")
        log = os.path.join(self.workdir, "demo.out")
        with open(log, "w") as out:
            p = subprocess.Popen(["/usr/bin/python3",
                                  os.path.join(mlctest.SRCDIR, "scripts", "demo.py")],
                                 env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True)
        children = set()
        try:
            def loading():
                with open(log) as f:
                    return "loader:" in f.read()
            mlctest.wait_for(loading, timeout=60, interval=0.2, what="the loader's progress")
            children = {pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                        if _ppid(pid) == p.pid}
            # devbroker, both sandboxes and the running loader
            self.assertGreaterEqual(len(children), 4, children)
            os.kill(p.pid, signal.SIGINT)
            rc = p.wait(timeout=30)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        with open(log) as f:
            text = f.read()
        self.assertEqual(rc, 130, text[-3000:])
        self.assertIn("interrupted, stopping everything it started", text)
        left = {pid for pid in children if _alive(pid)}
        self.assertEqual(left, set())


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    mlctest.main()
