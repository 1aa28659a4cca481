"""SASL/SCRAM over TLS with ACLs on a real broker (scripts/kafka --sasl).

The users and ACLs are made by the commands of docs/operations.md ("Kafka
security"), run as written with the release's kafka-configs and kafka-acls;
each worker connects with the MLC_RDKAFKA_* settings that section lists
(SASL_SSL, SCRAM-SHA-512, its own user, the test CA). What must hold:
- the extractor publishes and the loader consumes in its group and
  dead-letters: every customer arrives, the poison event lands in the DLQ;
- what a user may not do is refused with one clear line and a non-zero exit:
  the extractor's user reading the DLQ, the loader's user producing events.
"""
import os
import re
import secrets

import kafkatest
import mlctest


class SaslAcl(kafkatest.KafkaRig):
    broker_args = ("--sasl",)
    default_names = True  # the documented ACLs name the default topics and group

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.kafka.command_config = cls.kafka.path("admin.properties")
        cls.passwords = {"mlc-extractor": secrets.token_urlsafe(12),
                         "mlc-loader": secrets.token_urlsafe(12)}

    def devbroker(self, partitions=3, extra=()):
        out = super().devbroker(partitions, extra)
        section = kafkatest.doc_section("Kafka security: SASL/SCRAM over TLS with ACLs")
        cmds = kafkatest.doc_commands(text=section)
        self.assertGreaterEqual(len(cmds), 6, cmds)
        env = {"BOOTSTRAP": self.kafka.bootstrap,
               "EXTRACTOR_PASSWORD": self.passwords["mlc-extractor"],
               "LOADER_PASSWORD": self.passwords["mlc-loader"]}
        for c in cmds:
            self.last_acls = self.kafka.run_doc(c, env=env, cwd=self.kafka.dir).stdout
        self.settings = kafkatest.doc_settings(section)
        return out

    def client_env(self, who, user=None):
        """The documented MLC_RDKAFKA_* settings with this test's values."""
        user = user or f"mlc-{who}"
        values = {"MLC_RDKAFKA_SASL_USERNAME": user,
                  "MLC_RDKAFKA_SASL_PASSWORD": self.passwords[user],
                  "MLC_RDKAFKA_SSL_CA_LOCATION": self.kafka.path("ca.pem")}
        env = {}
        for k, v in self.settings.items():
            if k.startswith("MLC_RDKAFKA_"):
                env[k] = values.get(k, v)
        self.assertEqual(env["MLC_RDKAFKA_SECURITY_PROTOCOL"], "SASL_SSL")
        return env

    def kcat_args(self):
        return ["-F", self.kafka.path("admin.librdkafka")]

    def test_each_worker_does_its_job_and_nothing_else(self):
        for user in ("mlc-extractor", "mlc-loader"):
            self.assertIn(f"User:{user}", self.last_acls)
        self.extract_ok()
        cp = self.drain_ok()
        n = self.check_final()
        # the loader writes the DLQ: a poison event among real ones
        self.produce_admin(b"SAMINC:poison\tnot json\n")
        self.drain_ok()
        dead = self.read_topic(self.dlq)
        self.assertIn(b"SAMINC:poison", dead)
        self.assertEqual(len(self.audit_rows()), n + 1)

        # the extractor's user may not read the DLQ (nor join a group)
        cp = self.loader("drain", env=dict(self.client_env("extractor"), MLC_TOPIC=self.dlq,
                                           MLC_STATE_DB=os.path.join(self.workdir, "x.db")),
                         timeout=120)
        self.assert_refused(cp, "extractor reading the DLQ")
        # the loader's user may not produce events: a configuration error that
        # stops the cycle; no customer is skipped as if its event were bad
        self.sage_edit_random(3, "refused")
        cp = self.extractor("once", env=dict(self.client_env("loader")), timeout=120)
        self.assert_refused(cp, "loader producing events")
        self.assertIn("Topic authorization failed", cp.stderr)
        self.assertNotIn("skipping customer", cp.stderr)
        # and its attempt reached nobody
        self.assertEqual(len(self.read_topic(self.topic).splitlines()), n + 1)
        # with the extractor's own credentials the three edits still arrive
        self.extract_ok()
        self.drain_ok()
        self.check_final()

    def assert_refused(self, cp, what):
        self.assertNotEqual(cp.returncode, 0, f"{what}: {cp.stderr[-3000:]}")
        # the failing line; per-record warnings (a customer whose produce
        # call itself was refused is skipped with a warning) are not counted
        lines = [l for l in cp.stderr.splitlines() if re.search(r"\berror\b|authoriz", l, re.I)
                 and not re.search(r"\swarn\s", l)]
        print(f"[kafka] {what}: exit {cp.returncode}: {lines}", flush=True)
        self.assertTrue(any("authorization failed" in l.lower() for l in lines),
                        f"{what}: {cp.stderr[-3000:]}")
        self.assertLessEqual(len(lines), 1, f"{what}: more than one error line: {lines}")
        for user, pw in self.passwords.items():
            self.assertNotIn(pw, cp.stderr)

    def produce_admin(self, lines):
        import subprocess
        cp = subprocess.run(["kcat", "-b", self.bootstrap, *self.kcat_args(), "-P", "-t",
                             self.topic, "-K", "\t", "-z", "none"], input=lines,
                            capture_output=True, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)


if __name__ == "__main__":
    mlctest.main()
