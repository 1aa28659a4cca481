"""Reliability: Sage 300 sandbox faults during extraction.

WHAT IT BREAKS: extractor cycles run while mlc-sage-sim answers 500s, hangs
past MLC_SAGE_TIMEOUT (2 s), truncated JSON, malformed JSON, connection
resets, and a 401 in the middle of a scan; Sage customers are edited before
every faulted cycle.
WHAT MUST HOLD: transient faults are retried and the cycle succeeds; the 401
stops the extractor (exit 2) without moving the watermark; after the faults
are gone, one clean cycle leaves exactly one organization per customer with
its latest values, foreign organizations untouched, nothing lost."""
import relcheck

FAULTS = [
    ("500s", {"kind": "status", "status": 500, "count": 2, "path": "*/ARCustomers"}),
    ("hang", {"kind": "hang", "delay_ms": 4000, "count": 1, "after": 2,
              "path": "*/ARCustomers"}),
    ("truncated", {"kind": "truncate", "count": 1, "after": 1, "path": "*/ARCustomers"}),
    ("malformed", {"kind": "malformed", "count": 1, "after": 3, "path": "*/ARCustomers"}),
    ("reset", {"kind": "reset", "count": 2, "after": 1}),
]


class SageFaults(relcheck.Rig):
    def test_sage_faults(self):
        env = {"MLC_SAGE_TIMEOUT": "2", "MLC_SAGE_RETRIES": "4"}
        self.extract_ok(env=env)
        self.drain_ok()
        for name, fault in FAULTS:
            self.sage_edit_random(3, name)
            self.sage_fault(**fault)
            cp = self.extractor(env=env)
            self.assertEqual(cp.returncode, 0, f"{name}: {cp.stderr[-3000:]}")
            self.sage_clear_faults()
            self.drain_ok()
        # a 401 in the middle of a scan: fatal, nothing half-done survives
        edited = self.sage_edit_random(4, "auth")
        self.sage_fault(kind="status", status=401, count=1, after=2, path="*/ARCustomers")
        cp = self.extractor(env=env)
        self.assertEqual(cp.returncode, 2, cp.stderr[-3000:])
        self.sage_clear_faults()
        self.drain_ok()
        self.settle()
        self.check_final()
        self.assertTrue(edited)


if __name__ == "__main__":
    relcheck.mlctest.main()
