"""Reliability: the state files deleted between runs.

WHAT IT BREAKS: after a full sync, (1) the loader's SQLite file (with its
-wal/-shm) is deleted and Sage customers are edited; (2) the extractor's
SQLite file is deleted, so its next cycle is a full resync that re-publishes
every customer.
WHAT MUST HOLD: no duplicates — the loader finds its organizations again by
their identity fields (adopts them) instead of creating new ones, so the
number of organization POSTs never exceeds the number of customers; edits
made meanwhile arrive; foreign organizations untouched; nothing lost."""
import os

import relcheck


def rm_db(path):
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


class StateLoss(relcheck.Rig):
    def posts(self):
        return self.pd_stats()["operations"]["organizations.create"]["count"]

    def test_state_files_deleted(self):
        self.extract_ok()
        self.drain_ok()
        n = self.check_final()
        self.assertEqual(self.posts(), n)

        rm_db(self.ld_db)
        self.sage_edit_random(5, "noloaderdb")
        self.extract_ok()
        self.drain_ok()
        self.check_final()

        rm_db(self.ext_db)
        self.sage_edit_random(5, "noextdb")
        cp = self.extract_ok()
        self.drain_ok()
        self.check_final()
        # a full resync, and still not one extra organization
        self.assertEqual(self.posts(), n, self.pd_stats()["operations"])

        rm_db(self.ld_db)
        rm_db(self.ext_db)
        self.extract_ok()
        self.drain_ok()
        self.check_final()
        self.assertEqual(self.posts(), n)
        self.assertTrue(cp.stderr)


if __name__ == "__main__":
    relcheck.mlctest.main()
