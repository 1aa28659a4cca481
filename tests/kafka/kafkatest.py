"""Helpers for the kafka label: the pipeline against a real Apache Kafka broker.

Broker: scripts/kafka (the release compose pins, from Maven Central), started
once per test class (setUpClass) and stopped at its end, so the JVM start is
paid once per file. Each test gets its own event topic, DLQ and consumer group,
created by compose's kafka-init command (scripts/kafka init-topics), unless it
asks for the deployment's default names (the operations recipes use those).

KafkaRig is the reliability suite's rig (tests/reliability/relcheck.py: Sage
and Pipedrive sandboxes, the real workers, check_final()) with that broker in
place of `mlc devbroker`.

Environment (set by ctest): MLC_TEST_SRCDIR, MLC_TEST_BINDIR.
"""
import datetime
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import mlctest
import relcheck

KAFKA = os.path.join(mlctest.SRCDIR, "scripts", "kafka")
DEFAULT_TOPIC = "sage300.customers.v1"
DEFAULT_DLQ = "sage300.customers.dlq"
DEFAULT_GROUP = "mlc-loader"


def need_java():
    for prog in ("java", "mvn", "kcat", "openssl"):
        if not shutil.which(prog):
            if os.environ.get("CI") == "true":
                raise AssertionError(f"{prog} is not installed (scripts/setup installs it)")
            raise unittest.SkipTest(f"{prog} is not installed")


class Broker:
    """One scripts/kafka broker; its output in workdir/broker.{out,err}."""

    def __init__(self, workdir, *args):
        self.workdir = workdir
        self.procs = mlctest.Procs(workdir)
        self.proc = self.procs.start_server([KAFKA, *args], name="kafka", timeout=180)
        self.bootstrap = self.proc.first_line
        self.dir = None
        out = wait_lines(self.proc, 2)
        self.dir = out[1].split("=", 1)[1]
        self.command_config = None
        self.topics = 0

    def run_doc(self, cmd, subst=(), env=None, cwd=None):
        """A documented command on this broker: the compose service's Kafka
        tools become scripts/kafka's (same release), kafka:9092 this broker."""
        cmd = cmd.replace("docker compose exec kafka /opt/kafka/bin/", "")
        cmd = re.sub(r"(?<![\w/.-])(kafka-[a-z-]+)\.sh\b", rf"{KAFKA} tool \1", cmd)
        cmd = cmd.replace("kafka:9092", self.bootstrap)
        for old, new in subst:
            self_check = old in cmd
            if not self_check:
                raise AssertionError(f"{old!r} not in the documented command {cmd!r}")
            cmd = cmd.replace(old, new)
        cp = subprocess.run(["/bin/sh", "-ec", cmd], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, **(env or {})),
                            stdin=subprocess.DEVNULL, cwd=cwd)
        if cp.returncode != 0:
            raise AssertionError(f"{cmd}\nexited {cp.returncode}: {cp.stderr[-3000:]}")
        return cp

    def stop(self):
        return self.proc.stop(timeout=40)

    def path(self, name):
        return os.path.join(self.dir, name)

    def tool(self, name, *args, check=True, timeout=120, env=None):
        """Runs a tool of the same release; returns CompletedProcess (text)."""
        full = [KAFKA, "tool", name, *args]
        cp = subprocess.run(full, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
        if check and cp.returncode != 0:
            raise AssertionError(f"{name} {' '.join(args)} exited {cp.returncode}: "
                                 f"{cp.stderr[-3000:]}{cp.stdout[-1000:]}")
        return cp

    def admin(self, name, *args, **kw):
        """A tool with --bootstrap-server (and the admin's client settings)."""
        extra = ["--command-config", self.command_config] if self.command_config else []
        return self.tool(name, "--bootstrap-server", self.bootstrap, *extra, *args, **kw)

    def init_topics(self, topic, dlq, partitions=None):
        """Compose's kafka-init command, literally, on this broker."""
        env = dict(os.environ, MLC_TOPIC=topic, MLC_DLQ_TOPIC=dlq)
        if partitions:
            env["STACK_TOPIC_PARTITIONS"] = str(partitions)
        args = [KAFKA, "init-topics", self.bootstrap]
        if self.command_config:
            args += ["--command-config", self.command_config]
        cp = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env,
                            stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise AssertionError(f"init-topics {topic}: {cp.stderr[-3000:]}{cp.stdout[-2000:]}")
        return cp.stdout

    def topic_config(self, topic):
        """{name: value} of the topic's explicitly set configs."""
        out = self.admin("kafka-configs", "--describe", "--entity-type", "topics",
                         "--entity-name", topic).stdout
        return dict(re.findall(r"^\s+([a-z.]+)=(\S*) sensitive", out, re.M))

    def group_rows(self, group):
        """kafka-consumer-groups --describe rows as dicts (upper-case headers)."""
        out = self.admin("kafka-consumer-groups", "--describe", "--group", group,
                         check=False).stdout
        return parse_table(out)


OPERATIONS = os.path.join(mlctest.SRCDIR, "docs", "operations.md")


def doc_section(title):
    """The text of one section of docs/operations.md (to the next heading)."""
    with open(OPERATIONS) as f:
        text = f.read()
    m = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^##+ )", text, re.M | re.S)
    if not m:
        raise AssertionError(f"docs/operations.md has no section {title!r}")
    return m.group(1)


def doc_settings(text):
    """NAME=value lines of the ```ini blocks of text."""
    out = {}
    for block in re.findall(r"^\s*```ini\n(.*?)^\s*```", text, re.M | re.S):
        for line in block.splitlines():
            k, sep, v = line.strip().partition("=")
            if sep:
                out[k] = v
    return out


def doc_commands(text=None):
    """Shell commands of the ```sh blocks of docs/operations.md (or text) that
    run one of Kafka's tools, continuation lines joined, comments dropped."""
    if text is None:
        with open(OPERATIONS) as f:
            text = f.read()
    cmds = []
    for block in re.findall(r"^\s*```sh\n(.*?)^\s*```", text, re.M | re.S):
        cmd = ""
        for line in block.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            cmd += line[:-1].rstrip() + " " if line.endswith("\\") else line
            if not line.endswith("\\"):
                cmds.append(cmd)
                cmd = ""
    return [c for c in cmds if re.search(r"\bkafka-[a-z-]+\.sh\b", c)]


def parse_table(out):
    """The table kafka-consumer-groups prints, as dicts keyed by its header.
    Tokens are read in header-sized chunks: 3.9's --reset-offsets prints its
    rows without line breaks."""
    words = out.split()
    if "GROUP" not in words:
        return []
    start = words.index("GROUP")
    header = []
    for w in words[start:]:
        if not re.fullmatch(r"[A-Z][A-Z-]*", w):
            break
        header.append(w)
    body = words[start + len(header):]
    return [dict(zip(header, body[i:i + len(header)]))
            for i in range(0, len(body) - len(header) + 1, len(header))]


def wait_lines(proc, n, timeout=30):
    mlctest.wait_for(lambda: len(proc.stdout().splitlines()) >= n or not proc.alive(),
                     timeout=timeout, what=f"{n} lines from {proc.name}")
    lines = proc.stdout().splitlines()
    if len(lines) < n:
        raise AssertionError(f"{proc.name}: {proc.stderr()[-2000:]}")
    return lines


def iso_ms(ms):
    """Milliseconds since the epoch as 2026-12-07T22:01:48.123Z."""
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms % 1000):03d}Z"


class KafkaRig(relcheck.Rig):
    """relcheck.Rig on a real broker: one broker per class, topics per test."""

    broker_args = ()
    partitions = 6  # compose's default (STACK_TOPIC_PARTITIONS)
    default_names = False  # True: the deployment's default topic, DLQ and group

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        need_java()
        cls.broker_dir = tempfile.mkdtemp(prefix=f"mlc-kafka-{cls.__name__}-")
        cls.kafka = Broker(cls.broker_dir, *cls.broker_args)
        cls.addClassCleanup(cls._stop_broker)

    @classmethod
    def _stop_broker(cls):
        code = cls.kafka.stop()
        if code != 0:
            print(f"\n[kafka] broker exited {code}: {cls.kafka.proc.stderr()[-2000:]}")
        if os.environ.get("MLC_TEST_KEEP"):
            print(f"\n[kept {cls.broker_dir}]")
        else:
            shutil.rmtree(cls.broker_dir, ignore_errors=True)

    def setUp(self):
        super().setUp()
        env = {"MLC_TOPIC": self.topic, "MLC_DLQ_TOPIC": self.dlq}
        for e in (self.common, self.ext_env, self.ld_env):
            e.update(env)
        self.ld_env["MLC_KAFKA_GROUP"] = self.group
        self.ld_env.update(self.client_env("loader"))
        self.ext_env.update(self.client_env("extractor"))

    def client_env(self, who):
        """Extra MLC_RDKAFKA_* settings of a worker (SASL tests override)."""
        return {}

    def devbroker(self, partitions=3, extra=()):
        """Called by relcheck.Rig.setUp: this test's topics on the class's broker."""
        type(self).kafka.topics += 1
        n = self.kafka.topics
        if self.default_names:
            self.topic, self.dlq, self.group = DEFAULT_TOPIC, DEFAULT_DLQ, DEFAULT_GROUP
        else:
            self.topic, self.dlq, self.group = f"t{n}.customers", f"t{n}.dlq", f"g{n}-loader"
        self.kafka.init_topics(self.topic, self.dlq, self.partitions)
        return self.kafka, self.kafka.bootstrap

    def read_topic(self, topic):
        cp = subprocess.run(["kcat", "-b", self.bootstrap, *self.kcat_args(), "-C", "-t", topic,
                             "-o", "beginning", "-e", "-q", "-f", "%h\t%k\t%s\n"],
                            capture_output=True, timeout=60)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        return cp.stdout

    def kcat_args(self):
        return []

    def audit_rows(self, db=None):
        import sqlite3
        con = sqlite3.connect(db or self.ld_db)
        try:
            return con.execute('SELECT id, partition, "offset", company, customer, outcome '
                               "FROM event_audit ORDER BY id").fetchall()
        finally:
            con.close()
