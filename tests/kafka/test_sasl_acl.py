"""SASL/SCRAM over TLS with ACLs on a real broker (scripts/kafka --sasl).

The users and ACLs are made by compose/kafka-acls.sh, the one definition the
SASL_SSL compose override (compose/docker-compose.sasl.yml) runs too, with
the release's kafka-configs and kafka-acls; each worker connects with the
MLC_RDKAFKA_* settings docs/operations.md ("Kafka security") lists
(SASL_SSL, SCRAM-SHA-512, its own user, the test CA). What must hold:
- the extractor publishes and the loader consumes in its group and
  dead-letters: every customer arrives, the poison event lands in the DLQ;
- the operator's user lists the DLQ and replays it into the event topic;
- what a user may not do is refused with one clear line and a non-zero exit:
  the extractor's user reading the DLQ, the loader's user producing events.
"""
import os
import re
import secrets
import subprocess

import kafkatest
import mlctest

ACLS = os.path.join(mlctest.SRCDIR, "compose", "kafka-acls.sh")


class SaslAcl(kafkatest.KafkaRig):
    broker_args = ("--sasl",)
    default_names = True  # the documented ACLs name the default topics and group

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.kafka.command_config = cls.kafka.path("admin.properties")
        cls.passwords = {"mlc-extractor": secrets.token_urlsafe(12),
                         "mlc-loader": secrets.token_urlsafe(12),
                         "mlc-operator": secrets.token_urlsafe(12)}

    def devbroker(self, partitions=3, extra=()):
        out = super().devbroker(partitions, extra)
        section = kafkatest.doc_section("Kafka security: SASL/SCRAM over TLS with ACLs")
        self.assertIn("compose/kafka-acls.sh", section)
        # the release's tools under the names compose/kafka-acls.sh calls
        bindir = os.path.join(self.workdir, "kafka-bin")
        os.makedirs(bindir, exist_ok=True)
        for tool in ("kafka-configs", "kafka-acls"):
            path = os.path.join(bindir, f"{tool}.sh")
            with open(path, "w") as f:
                f.write(f'#!/bin/sh\nexec "{kafkatest.KAFKA}" tool {tool} "$@"\n')
            os.chmod(path, 0o755)
        pw_file = os.path.join(self.workdir, "operator-password")
        with open(pw_file, "w") as f:
            f.write(self.passwords["mlc-operator"])
        env = dict(os.environ, BOOTSTRAP=self.kafka.bootstrap, KAFKA_BIN=bindir,
                   COMMAND_CONFIG=self.kafka.path("admin.properties"), TOPIC=self.topic,
                   DLQ_TOPIC=self.dlq, GROUP=self.group,
                   EXTRACTOR_PASSWORD=self.passwords["mlc-extractor"],
                   LOADER_PASSWORD=self.passwords["mlc-loader"],
                   OPERATOR_PASSWORD_FILE=pw_file)
        cp = subprocess.run(["/bin/sh", ACLS], env=env, capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
        self.assertEqual(cp.returncode, 0, cp.stdout[-2000:] + cp.stderr[-3000:])
        for pw in self.passwords.values():
            self.assertNotIn(pw, cp.stdout + cp.stderr)
        self.last_acls = cp.stdout
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
        for user in ("mlc-extractor", "mlc-loader", "mlc-operator"):
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

        # the operator's user reads the DLQ and replays it into the event topic
        events = len(self.read_topic(self.topic).splitlines())
        op = dict(self.client_env("operator"), MLC_TOPIC=self.topic, MLC_DLQ_TOPIC=self.dlq)
        cp = self.mlc("dlq", "list", env=op)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assertIn("SAMINC:poison", cp.stdout)
        cp = self.mlc("dlq", "replay", "--db", os.path.join(self.workdir, "replay.db"), env=op)
        self.assertEqual(cp.returncode, 0, cp.stderr[-3000:])
        self.assertEqual(len(self.read_topic(self.topic).splitlines()), events + 1)
        self.drain_ok()

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
        self.assertEqual(len(self.read_topic(self.topic).splitlines()), n + 2)
        # with the extractor's own credentials the three edits still arrive
        self.extract_ok()
        self.drain_ok()
        self.check_final()

    def mlc(self, *args, env):
        full = {k: v for k, v in os.environ.items() if not k.startswith("MLC_")}
        full.update(MLC_KAFKA_BROKERS=self.bootstrap, **env)
        return subprocess.run([mlctest.binary("mlc"), *args], env=full, capture_output=True,
                              text=True, timeout=180, cwd=self.workdir,
                              stdin=subprocess.DEVNULL)

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
