"""Signed events against mlc devbroker and the sandboxes: the extractor signs
with MLC_EVENT_KEY_FILE and the loader applies what verifies; a record
produced with kcat without a signature, with a wrong one or with an unknown
key is dead-lettered with class `signature` and never reaches Pipedrive; the
signing recipe of docs/events.md, run as written, produces a record the
loader applies; a rotation accepts the previous key; a dead letter replayed
with `mlc dlq replay` keeps its signature and is applied."""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess

import mlctest
from test_loader import DLQ, TOKEN, TOPIC, LoaderCase, customer, event


def keyfile(path, raw):
    with open(path, "w") as f:
        f.write(base64.b64encode(raw).decode() + "\n")
    os.chmod(path, 0o600)
    return path


def docs_recipe():
    """The shell block after "Signing from another producer" in docs/events.md."""
    with open(os.path.join(mlctest.SRCDIR, "docs", "events.md")) as f:
        text = f.read()
    part = text.split("**Signing from another producer**", 1)[1]
    return re.search(r"```sh\n(.*?)```", part, re.S).group(1)


class Signatures(LoaderCase):
    def setUp(self):
        super().setUp()
        self.key = keyfile(os.path.join(self.workdir, "event.key"), bytes(range(32)))
        self.old = keyfile(os.path.join(self.workdir, "old.key"), bytes(range(100, 132)))
        self.other = keyfile(os.path.join(self.workdir, "other.key"), bytes(range(200, 232)))
        self.signed = dict(MLC_EVENT_KEY_FILE=self.key)
        self.setup_fields()

    def sign_with_recipe(self, keyfile_path, key, value, tamper=None):
        """Runs docs/events.md's recipe literally; tamper changes the value
        after signing (a forgery that reuses a genuine signature)."""
        path = os.path.join(self.workdir, "event.json")
        with open(path, "w") as f:
            f.write(value)
        script = docs_recipe()
        if tamper:
            # sign first, then swap the file the kcat line sends
            script = script.replace("kcat -P", f"printf '%s' '{tamper}' > event.json; kcat -P", 1)
        cp = subprocess.run(["bash", "-ec", script], cwd=self.workdir, capture_output=True,
                            text=True, timeout=60,
                            env=dict(os.environ, KEY_FILE=keyfile_path, K=key,
                                     BOOTSTRAP=self.bootstrap))
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def dead_letters(self):
        out = []
        for m in self.read_topic(DLQ):
            h = dict(zip(m["headers"][0::2], m["headers"][1::2]))
            out.append((m["key"], h.get("mlc.error.class"), h.get("mlc.error")))
        return sorted(out)

    def test_forged_and_unsigned_records_never_reach_pipedrive(self):
        good = event("SAMINC", "1000", customer(0))
        self.sign_with_recipe(self.key, *good)
        # no signature at all, as anyone with kcat and write access would
        self.produce([event("SAMINC", "1001", customer(1))])
        # a genuine signature of another value
        k, v = event("SAMINC", "1002", customer(2))
        self.sign_with_recipe(self.key, k, v, tamper=v.replace("Customer", "Forged"))
        # signed with a key the loader does not hold
        self.sign_with_recipe(self.other, *event("SAMINC", "1003", customer(3)))
        # a malformed header
        self.produce([event("SAMINC", "1004", customer(4))], headers=["mlc.signature=v1:zz"])
        self.drain(env=self.signed)
        self.assertEqual(set(self.ours()), {("SAMINC", "1000")})
        dl = self.dead_letters()
        self.assertEqual([(k, c) for k, c, _ in dl],
                         [("SAMINC:1001", "signature"), ("SAMINC:1002", "signature"),
                          ("SAMINC:1003", "signature"), ("SAMINC:1004", "signature")])
        reasons = [e for _, _, e in dl]
        self.assertEqual(reasons[0], "signature: missing")
        self.assertTrue(reasons[1].startswith("signature: mismatch (key id 630dcd2966c43366)"),
                        reasons[1])
        self.assertTrue(reasons[2].startswith("signature: unknown key"), reasons[2])
        self.assertEqual(reasons[3], "signature: malformed")
        # like any record that cannot be read, its customer is not trusted
        rows = self.audit("SELECT outcome, count(*) FROM event_audit GROUP BY outcome")
        self.assertEqual(dict(rows), {"created": 1, "dlq": 4})

    def test_without_a_key_nothing_is_checked(self):
        self.produce([event("SAMINC", "1001", customer(1))])
        cp = self.drain()
        self.assertIn("event signatures are not checked", cp.stderr)
        self.assertEqual(set(self.ours()), {("SAMINC", "1001")})

    def test_rotation_accepts_the_previous_key_until_it_is_removed(self):
        self.sign_with_recipe(self.old, *event("SAMINC", "1000", customer(0)))
        self.sign_with_recipe(self.key, *event("SAMINC", "1001", customer(1)))
        self.drain(env=dict(self.signed, MLC_EVENT_KEY_FILE_PREVIOUS=self.old))
        self.assertEqual(set(self.ours()), {("SAMINC", "1000"), ("SAMINC", "1001")})
        # the rotation is over: an event signed with the old key is refused
        self.sign_with_recipe(self.old, *event("SAMINC", "1002", customer(2)))
        self.drain(env=self.signed)
        self.assertEqual([(k, c) for k, c, _ in self.dead_letters()],
                         [("SAMINC:1002", "signature")])
        cp = self.drain(env=dict(MLC_EVENT_KEY_FILE_PREVIOUS=self.old), ok=False)
        self.assertEqual(cp.returncode, 2)  # a setting: a restart would not cure it
        self.assertIn("MLC_EVENT_KEY_FILE_PREVIOUS is set without MLC_EVENT_KEY_FILE", cp.stderr)

    def test_a_key_file_others_can_read_is_refused(self):
        os.chmod(self.key, 0o644)
        cp = self.drain(env=self.signed, ok=False)
        self.assertEqual(cp.returncode, 2)
        self.assertIn("MLC_EVENT_KEY_FILE", cp.stderr)
        self.assertIn("chmod", cp.stderr)

    def test_a_replayed_dead_letter_keeps_its_signature(self):
        broken = os.path.join(self.workdir, "mapping.json")
        with open(os.path.join(mlctest.SRCDIR, "schemas", "mapping.default.json")) as f:
            doc = json.load(f)
        doc["name"] = {"field": "short_name"}  # no event has one: dead-lettered as mapping
        with open(broken, "w") as f:
            json.dump(doc, f)
        self.sign_with_recipe(self.key, *event("SAMINC", "1000", customer(0)))
        self.drain(env=dict(self.signed, MLC_MAPPING=broken))
        self.assertEqual([c for _, c, _ in self.dead_letters()], ["mapping"])
        cp = self.procs.run([mlctest.binary("mlc"), "dlq", "replay", "--db",
                             os.path.join(self.workdir, "dlq.db")], env=dict(self.env))
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertIn("replayed 1;", cp.stdout)
        self.drain(env=self.signed)
        self.assertEqual(set(self.ours()), {("SAMINC", "1000")})


    def test_a_refused_create_keeps_its_signature_in_the_dead_letter(self):
        # creates wait in the backlog, which keeps of the original headers only
        # the signature: the dead letter must carry it, or its replay fails
        k, v = event("SAMINC", "1000", customer(0, phone="5" * 300))  # a 400
        self.sign_with_recipe(self.key, k, v)
        self.drain(env=self.signed)
        dead = [m for m in self.read_topic(DLQ) if m["key"] == k]
        self.assertEqual(len(dead), 1)
        hdrs = dict(zip(dead[0]["headers"][0::2], dead[0]["headers"][1::2]))
        self.assertEqual(hdrs["mlc.error.class"], "validation")
        mac = hmac.new(bytes(range(32)), b"mlc-event-sig-v1\0" + struct.pack(">I", len(k))
                       + k.encode() + struct.pack(">I", len(v)) + v.encode(),
                       hashlib.sha256).hexdigest()
        self.assertEqual(hdrs.get("mlc.signature"), "v1:630dcd2966c43366:" + mac)


class ExtractorSigns(mlctest.TestCase):
    def test_extractor_signs_and_loader_verifies(self):
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        key = keyfile(os.path.join(self.workdir, "event.key"), os.urandom(32))
        other = keyfile(os.path.join(self.workdir, "other.key"), os.urandom(32))
        sage = self.procs.start_server(
            [mlctest.binary("mlc-sage-sim"), "--port", "0", "--company", "SAMINC",
             "--customers", "12", "--seed", "5", "--today", "2024-03-18"], name="sage-sim")
        pd = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--token", TOKEN],
                                     name="pdsim")
        _, bootstrap = self.devbroker(partitions=2)
        common = {"MLC_KAFKA_BROKERS": bootstrap, "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000",
                  "MLC_EVENT_KEY_FILE": key}
        cp = self.procs.run([mlctest.binary("mlc-extractor"), "once"], env=dict(
            common, MLC_SAGE_URL=sage.first_line, MLC_SAGE_COMPANIES="SAMINC",
            MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD="webapi",
            MLC_STATE_DB=os.path.join(self.workdir, "extractor.db")))
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assertIn("events are signed with key id", cp.stderr)
        loader_env = dict(common, MLC_PIPEDRIVE_URL=pd.first_line, MLC_PIPEDRIVE_TOKEN=TOKEN,
                          MLC_PIPEDRIVE_PLAN="ultimate",
                          MLC_STATE_DB=os.path.join(self.workdir, "loader.db"))
        # a loader holding another key refuses every one of them ...
        cp = self.procs.run([mlctest.binary("mlc-loader"), "drain"], timeout=300,
                            env=dict(loader_env, MLC_EVENT_KEY_FILE=other,
                                     MLC_KAFKA_GROUP="wrong-key"))
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assertEqual(self.outcomes(loader_env), {"dlq": 12})
        # ... and one holding the extractor's applies them all
        cp = self.procs.run([mlctest.binary("mlc-loader"), "drain"], timeout=300,
                            env=dict(loader_env, MLC_KAFKA_GROUP="right-key"))
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assertEqual(self.outcomes(loader_env), {"dlq": 12, "created": 12})

    def outcomes(self, env):
        con = sqlite3.connect(env["MLC_STATE_DB"])
        try:
            return dict(con.execute("SELECT outcome, count(*) FROM event_audit GROUP BY outcome"))
        finally:
            con.close()

if __name__ == "__main__":
    mlctest.main()
