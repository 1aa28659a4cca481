#!/usr/bin/python3
"""The compose stack brought up by podman-compose, in two classes.

Started by scripts/test-container after the images are built; it runs in a
network namespace of its own (it re-executes itself under `unshare --net`),
so the fixed ports of the stack clash with nothing on the machine and every
address is that namespace's loopback. Both classes lay out a project
directory as an operator's: `.env` made from `.env.example` with the blanks
filled in, the master key, the Sage password and the Pipedrive token as files
in secrets/ (mode 600, owner 10001), mounted as compose secrets.

ComposeStackTest: compose/docker-compose.yml unchanged plus
tests/deploy/compose.stack.test.yml (the services on the namespace's network,
three loader replicas): kafka on the apache/kafka:3.9.2 image that
scripts/kafka-image builds, kafka-init creating the topics with its exact
command, one extractor and three loaders in one consumer group, against the
sandboxes. It proves the broker's KAFKA_* settings, the topic policies, the
secrets and the scaled loaders give a sync where Pipedrive ends equal to
Sage (relcheck's check_final: every customer once, every field), with the
three replicas sharing the partitions. podman-compose 1.0 does not wait for
depends_on conditions, so the services are started in the order the
conditions define (kafka healthy, kafka-init exited 0, then the workers).

ComposeSaslStackTest: the same with compose/docker-compose.sasl.yml on top
(SASL_SSL, SCRAM users, the ACLs of compose/kafka-acls.sh, the workers' Kafka
passwords as compose secrets); the files are merged by docker-compose 1.29
first, since podman-compose 1.0 appends lists across files where Compose
replaces them. The workers sync with their own users, and the operator's
`mlc dlq list` runs as compose runs it.

ComposeTest: the workers only (--no-deps) with tests/deploy/compose.test.yml,
next to `mlc devbroker`: settings (env_file, secrets, read-only root, tmpfs,
user, healthcheck, init, volumes), health, the state surviving `down` and
`up`, a Pipedrive block held before a restart.

What it cannot prove (docs/operations.md): Docker Engine and Compose v2
themselves, the official apache/kafka image's own bytes, the compose
network's DNS, and restart policies (podman-compose 1.0 passes them to
podman, which has no daemon to apply them).
"""
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "reliability"))
sys.path.insert(0, HERE)
import mlctest  # noqa: E402
from mlctest import free_port, http_json, wait_for  # noqa: E402
from container_test import Step, metric, podman, scrape  # noqa: E402

SRC = mlctest.SRCDIR
COMPOSE = os.path.join(SRC, "compose", "docker-compose.yml")
OVERRIDE = os.path.join(HERE, "compose.test.yml")
STACK_OVERRIDE = os.path.join(HERE, "compose.stack.test.yml")
PROJECT = f"mlcc{os.getpid()}"
TOKEN = "compose-test-token-0123456789abcdef"
COMPANIES = ["SAMINC", "SAMLTD"]
PER_COMPANY = 60
UID = 10001
PODMAN_SHIM = """#!/usr/bin/python3
import os, sys
args = sys.argv[1:]
if args[:1] == ["run"] and "host" in [a for i, a in enumerate(args)
                                      if i and args[i - 1] == "--network"]:
    out, skip = [], 0
    for i, a in enumerate(args):
        if skip:
            skip -= 1
        elif a in ("--net", "--network-alias"):
            skip = 1
        else:
            out.append(a)
    args = out
os.execvp("podman", ["podman", "--runtime", "runc", *args])
"""


def make_project(work, fill, extra, sage_password, pipedrive_token):
    """The operator's project directory: the compose file, .env and secrets/.

    fill: the blanks of .env.example to fill (each must be there once);
    extra: lines to add. The Sage password goes into its secret file sealed
    with the master key (an enc:v2: value), the token in clear: the workers
    read both through the _FILE settings the compose file sets."""
    mlc = mlctest.binary("mlc")
    project = os.path.join(work, "compose")
    os.makedirs(os.path.join(project, "secrets"))
    shutil.copy(COMPOSE, project)
    secrets = os.path.join(project, "secrets")
    key = os.path.join(secrets, "mlc.key")
    env = dict(os.environ, MLC_MASTER_KEY_FILE=key)
    subprocess.run([mlc, "secret", "keygen", "--out", key], env=env, check=True,
                   capture_output=True)
    subprocess.run([mlc, "secret", "keygen", "--out", os.path.join(secrets, "event.key")],
                   env=env, check=True, capture_output=True)
    sealed = subprocess.run([mlc, "secret", "encrypt", "--setting", "MLC_SAGE_PASSWORD"],
                            env=env, input=sage_password, text=True, capture_output=True,
                            check=True).stdout.strip()
    assert sealed.startswith("enc:"), sealed[:8]
    for name, value in (("sage_password", sealed + "\n"), ("pipedrive_token", pipedrive_token)):
        with open(os.path.join(secrets, name), "w") as f:
            f.write(value)
    with open(os.path.join(SRC, "compose", ".env.example"), encoding="utf-8") as f:
        text = f.read()
    for name, value in fill.items():
        text, n = re.subn(rf"(?m)^{name}=.*$", f"{name}={value}", text)
        assert n == 1, name
    # the secrets are in no line of .env, not even a commented example value
    for name in ("MLC_SAGE_PASSWORD", "MLC_PIPEDRIVE_TOKEN"):
        assert not re.search(rf"(?m)^{name}=", text), name
    text += "".join(f"{k}={v}\n" for k, v in extra.items())
    with open(os.path.join(project, ".env"), "w") as f:
        f.write(text)
    os.chmod(os.path.join(project, ".env"), 0o600)
    for name in os.listdir(secrets):
        os.chown(os.path.join(secrets, name), UID, UID)
        os.chmod(os.path.join(secrets, name), 0o600)
    return project


def podman_compose(work, project, override):
    """podman-compose runs `podman` through a shim: runc is the runtime that
    works here, and podman-compose 1.0 adds the project network (--net
    P_default --network-alias S) even to a service with network_mode: host,
    which podman refuses; the shim drops those two."""
    wrapper = os.path.join(work, "podman-shim")
    with open(wrapper, "w") as f:
        f.write(PODMAN_SHIM)
    os.chmod(wrapper, 0o755)
    return ["/usr/bin/python3", "-c", PODMAN_COMPOSE, "--podman-path", wrapper, "-p", PROJECT,
            "-f", os.path.join(project, "docker-compose.yml"), "-f", override]


def secrets_not_in_env(test, name, *values):
    """The container's configuration holds none of the secret values."""
    cfg = json.loads(podman("inspect", name).stdout)[0]
    env = "\n".join(cfg["Config"].get("Env") or [])
    for v in values:
        test.assertNotIn(v, env, f"{name}: a secret is in the container's environment")
    return cfg
# podman-compose 1.0.3, with one fix: the replicas of a service share its
# healthcheck, whose list form `test: [CMD, ...]` the first replica consumes
# (list.pop), so the second fails ("unknown healthcheck test type"). Each
# container gets its own copy here.
PODMAN_COMPOSE = """
import copy, sys
import podman_compose as pc
to_args = pc.container_to_args
pc.container_to_args = lambda compose, cnt, *a, **kw: to_args(compose, copy.deepcopy(cnt), *a, **kw)
sys.argv[0] = "podman-compose"
sys.exit(pc.main())
"""


class ComposeTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="mlc-compose-")
        os.chmod(cls.work, 0o755)
        cls.procs = mlctest.Procs(cls.work)
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        keep = os.environ.get("MLC_TEST_KEEP") == "1"
        if not keep and hasattr(cls, "project"):
            cls.compose("down", "-v", check=False)
        cls.procs.stop_all()
        if not keep:
            shutil.rmtree(cls.work, ignore_errors=True)
        else:
            print(f"[kept {cls.work}, project {PROJECT}]")

    @classmethod
    def prepare(cls):
        mlc = mlctest.binary("mlc")
        cls.brokers = cls.procs.start_server([mlc, "devbroker", "--partitions", "3"],
                                             name="devbroker").first_line
        args = [mlctest.binary("mlc-sage-sim"), "--port", "0", "--customers",
                str(PER_COMPANY), "--seed", "5"]
        for c in COMPANIES:
            args += ["--company", c]
        cls.sage = cls.procs.start_server(args, name="sage-sim").first_line
        cls.sage_ctl = cls.sage.split("/Sage300WebApi/")[0] + "/_sim"
        # with limits: --no-limits would also turn off the Cloudflare 403
        cls.pd = cls.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--port", "0",
                                         "--token", TOKEN, "--plan", "premium"],
                                        name="pipedrive-sim").first_line
        cls.project = make_project(cls.work, {
            "MLC_SAGE_URL": cls.sage, "MLC_SAGE_COMPANIES": ",".join(COMPANIES),
            "MLC_SAGE_USER": "webapi", "MLC_KAFKA_BROKERS": cls.brokers},
            {"MLC_PIPEDRIVE_URL": cls.pd, "MLC_POLL_INTERVAL": "2",
             "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000"},
            sage_password="WEBAPI", pipedrive_token=TOKEN)
        cls.pc = podman_compose(cls.work, cls.project, OVERRIDE)
        cls.ports = {"extractor": free_port(), "loader": free_port()}

    @classmethod
    def compose(cls, *args, check=True, timeout=300):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLC_", "STACK_"))}
        env.update(TEST_EXTRACTOR_METRICS_PORT=str(cls.ports["extractor"]),
                   TEST_LOADER_METRICS_PORT=str(cls.ports["loader"]))
        cp = subprocess.run([*cls.pc, *args], capture_output=True, text=True, env=env,
                            cwd=cls.project, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)} exited {cp.returncode}:\n"
                                 f"{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}")
        return cp

    def container(self, service):
        cp = podman("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                    "--filter", f"label=com.docker.compose.service={service}",
                    "--format", "{{.Names}}")
        names = cp.stdout.split()
        self.assertEqual(len(names), 1, f"{service}: {names}")
        return names[0]

    def logs(self):
        out = ""
        for s in ("extractor", "loader"):
            try:
                name = self.container(s)
            except AssertionError as e:
                out += f"--- {s}: {e}\n{getattr(self, 'up_output', '')[-3000:]}\n"
                continue
            cp = podman("logs", name, check=False)
            out += f"--- {s}\n{(cp.stdout + cp.stderr)[-2500:]}\n"
        return out

    def synced(self):
        state = http_json("GET", self.pd + "/_sim/state")[2]["companies"][0]
        keys = {f["name"]: f["key"] for f in state["fields"]}
        cid, co = keys.get("Sage 300 Customer ID"), keys.get("Sage 300 Company")
        pd = sorted(((o.get("custom_fields") or {}).get(co),
                     (o.get("custom_fields") or {}).get(cid))
                    for o in state["organizations"] if not o.get("is_deleted"))
        companies = http_json("GET", self.sage_ctl + "/companies")[2]
        n = sum(c.get("customers", 0) for c in companies) if isinstance(companies, list) \
            else sum(v.get("customers", 0) if isinstance(v, dict) else v
                     for v in companies.values())
        return n, pd

    def dead_letters(self):
        """Events the loader dead-lettered (Pipedrive refused them), from its state."""
        try:
            con = sqlite3.connect(f"file:{self.loader_db()}?mode=ro", uri=True, timeout=5)
        except (sqlite3.Error, AssertionError):
            return 0
        try:
            return con.execute("SELECT count(DISTINCT company || ':' || customer) FROM "
                               "event_audit WHERE outcome = 'dlq'").fetchone()[0]
        except sqlite3.Error:
            return 0
        finally:
            con.close()

    def wait_synced(self, expect):
        def done():
            n, pd = self.synced()
            want = expect - self.dead_letters()
            return n == expect and len(pd) == want and len(set(pd)) == want
        try:
            wait_for(done, timeout=60, interval=0.5, what=f"{expect} organizations")
        except AssertionError:
            n, pd = self.synced()
            raise AssertionError(f"Sage {n}, Pipedrive {len(pd)} ({len(set(pd))} distinct)\n"
                                 + self.logs())

    def healthy(self, service):
        return podman("healthcheck", "run", self.container(service), check=False,
                      timeout=60).returncode == 0

    def extractor_db(self):
        vol = f"{PROJECT}_extractor-state"
        mount = podman("volume", "inspect", vol, "--format", "{{.Mountpoint}}").stdout.strip()
        return os.path.join(mount, "mlc-extractor.db")

    def loader_db(self):
        vol = f"{PROJECT}_loader-state"
        mount = podman("volume", "inspect", vol, "--format", "{{.Mountpoint}}").stdout.strip()
        return os.path.join(mount, "mlc-loader-1.db")

    def first_event(self):
        con = sqlite3.connect(f"file:{self.loader_db()}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT min(id), count(*) FROM event_audit").fetchone()
        finally:
            con.close()

    def cycles(self):
        con = sqlite3.connect(f"file:{self.extractor_db()}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT min(id), max(id), sum(kind = 'full') FROM cycle")\
                .fetchone()
        finally:
            con.close()

    def test_1_up_sync_healthy(self):
        with Step("podman-compose up -d --no-deps extractor loader"):
            cp = self.compose("up", "-d", "--no-deps", "extractor", "loader")
            type(self).up_output = cp.stdout + cp.stderr
            self.wait_synced(PER_COMPANY * len(COMPANIES))
            for s in ("extractor", "loader"):
                wait_for(lambda: self.healthy(s), timeout=30, interval=1,
                         what=f"{s} healthy")
                cfg = secrets_not_in_env(self, self.container(s), TOKEN, "WEBAPI")
                self.assertEqual(cfg["Config"]["User"], f"{UID}:{UID}", s)
                self.assertTrue(cfg["HostConfig"]["ReadonlyRootfs"], s)
            # the state file belongs to the image's user, in the named volume
            st = os.stat(self.extractor_db())
            self.assertEqual(st.st_uid, UID)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.extractor_db()))
                                          .st_mode) & 0o007, 0)
            self.assertGreater(metric(scrape(self.ports["loader"]), "mlc_loader_events_total",
                                      outcome="created"), 0)

    def test_2_down_up_keeps_the_extractor_state(self):
        with Step("podman-compose down, then up: the extractor's watermarks survive"):
            first, last, full = self.cycles()
            self.assertGreaterEqual(full, len(COMPANIES))
            ev_first, ev_count = self.first_event()
            self.assertEqual(ev_count, PER_COMPANY * len(COMPANIES))
            self.assertLess(self.dead_letters(), PER_COMPANY // 5)
            self.compose("down")
            body = [{"CustomerNumber": f"CC{i:04d}", "CustomerName": f"Compose {i}"}
                    for i in range(15)]
            status = http_json("POST", self.sage_ctl + "/companies/SAMINC/customers", body)[0]
            self.assertIn(status, (200, 201))
            self.compose("up", "-d", "--no-deps", "extractor", "loader")
            self.wait_synced(PER_COMPANY * len(COMPANIES) + 15)
            first2, last2, full2 = self.cycles()
            self.assertEqual(first2, first, "the cycle history was lost")
            self.assertGreater(last2, last)
            # no new full read: the watermarks came back with the volume
            self.assertEqual(full2, full)
            # the loader took its state slot back: same file, history kept
            ev_first2, ev_count2 = self.first_event()
            self.assertEqual(ev_first2, ev_first)
            self.assertGreaterEqual(ev_count2, ev_count + 15)

    def test_3_blocked_loader_is_not_restarted_straight_back(self):
        with Step("Pipedrive blocks the token (403): exit 2 is held, then restarted"):
            pd_stats = lambda: http_json("GET", self.pd + "/_sim/stats")[2]  # noqa: E731
            blocked0 = pd_stats()["blocked_403"]
            blocked0 = blocked0 if isinstance(blocked0, int) else blocked0.get("total", 0)
            status = http_json("POST", self.pd + "/_sim/block", {"after": 0, "seconds": 600})[0]
            self.assertEqual(status // 100, 2)
            body = [{"CustomerNumber": "CCBLOCK", "CustomerName": "Blocked Ltd"}]
            http_json("POST", self.sage_ctl + "/companies/SAMINC/customers", body)
            name = self.container("loader")

            def logs():
                cp = podman("logs", name, check=False)
                return cp.stdout + cp.stderr

            def blocked():
                b = pd_stats()["blocked_403"]
                return b if isinstance(b, int) else b.get("total", 0)
            wait_for(lambda: "exited 2 (fatal" in logs(), timeout=60, interval=0.5,
                     what="the loader's exit 2 and the hold")
            n = blocked()
            self.assertGreater(n, blocked0)
            # during the hold: the container is up and unhealthy, and nothing
            # more reaches Pipedrive
            time.sleep(8)
            self.assertEqual(podman("inspect", name, "--format", "{{.State.Running}}")
                             .stdout.strip(), "true")
            self.assertFalse(self.healthy("loader"))
            self.assertEqual(blocked(), n, "the loader went back into the block during the hold")
            self.assertEqual(logs().count("exited 2 (fatal"), 1)
            # the block lifts; after the hold the restart policy starts it again
            self.assertEqual(http_json("POST", self.pd + "/_sim/unblock")[0] // 100, 2)
            self.wait_synced(PER_COMPANY * len(COMPANIES) + 16)
            self.compose("down")


class ComposeStackTest(unittest.TestCase):
    """kafka, kafka-init, the extractor and three loaders, all from compose."""

    replicas = 3
    customers = 30  # per company; relcheck's seed: every customer is valid
    admin_args = ()  # the Kafka tools' login (none on the PLAINTEXT listener)

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="mlc-stack-")
        os.chmod(cls.work, 0o755)
        cls.procs = mlctest.Procs(cls.work)
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        keep = os.environ.get("MLC_TEST_KEEP") == "1"
        if not keep and hasattr(cls, "pc"):
            cls.compose("down", "-v", check=False)
        cls.procs.stop_all()
        if not keep:
            shutil.rmtree(cls.work, ignore_errors=True)
        else:
            print(f"[kept {cls.work}, project {PROJECT}]")

    @classmethod
    def prepare(cls):
        import relcheck
        args = [mlctest.binary("mlc-sage-sim"), "--port", "0", "--customers",
                str(cls.customers), "--seed", "11", "--today", relcheck.Rig.today]
        for c in COMPANIES:
            args += ["--company", c]
        cls.sage = cls.procs.start_server(args, name="sage-sim").first_line
        cls.pd = cls.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--port", "0",
                                         "--token", TOKEN, "--no-limits"],
                                        name="pipedrive-sim").first_line
        # MLC_KAFKA_BROKERS stays .env.example's kafka:9092
        cls.project = make_project(cls.work, {
            "MLC_SAGE_URL": cls.sage, "MLC_SAGE_COMPANIES": ",".join(COMPANIES),
            "MLC_SAGE_USER": "webapi"},
            {"MLC_PIPEDRIVE_URL": cls.pd, "MLC_PIPEDRIVE_PLAN": "ultimate",
             "MLC_POLL_INTERVAL": "2", "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000"},
            sage_password="WEBAPI", pipedrive_token=TOKEN)
        cls.ports = {"extractor": free_port()}
        cls.pc = cls.compose_files()
        # relcheck's final check, on this stack's sandboxes
        rig = relcheck.Rig("check_final")
        rig.companies = tuple(COMPANIES)
        rig.sage_url, rig.pd_url, rig.foreign = cls.sage, cls.pd, {}
        rig.ld_db = os.path.join(cls.work, "no-loader.db")
        cls.rig = rig

    @classmethod
    def compose_files(cls):
        return podman_compose(cls.work, cls.project, STACK_OVERRIDE)

    @classmethod
    def compose_env(cls):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLC_", "STACK_"))}
        env.update(TEST_EXTRACTOR_METRICS_PORT=str(cls.ports["extractor"]))
        return env

    @classmethod
    def compose(cls, *args, check=True, timeout=300):
        env = cls.compose_env()
        cp = subprocess.run([*cls.pc, *args], capture_output=True, text=True, env=env,
                            cwd=cls.project, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)} exited {cp.returncode}:\n"
                                 f"{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}")
        return cp

    def containers(self, service):
        cp = podman("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                    "--filter", f"label=com.docker.compose.service={service}",
                    "--format", "{{.Names}}")
        return sorted(cp.stdout.split())

    def logs(self, *services):
        out = ""
        for s in services:
            for name in self.containers(s):
                cp = podman("logs", name, check=False)
                out += f"--- {name}\n{(cp.stdout + cp.stderr)[-2000:]}\n"
        return out

    def kafka_tool(self, tool, *args, timeout=120):
        """A Kafka tool inside the kafka container (its own image, its bin/),
        as the admin where the listener wants a login."""
        return podman("exec", self.containers("kafka")[0], f"/opt/kafka/bin/{tool}.sh",
                      "--bootstrap-server", "kafka:9092", *self.admin_args, *args,
                      timeout=timeout, check=False)

    def loader_dbs(self):
        mount = podman("volume", "inspect", f"{PROJECT}_loader-state", "--format",
                       "{{.Mountpoint}}").stdout.strip()
        return sorted(os.path.join(mount, f) for f in os.listdir(mount)
                      if re.fullmatch(r"mlc-loader-\d+\.db", f))

    def audited(self):
        """Events each loader replica's state file has audited."""
        counts = []
        for db in self.loader_dbs():
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                counts.append(con.execute("SELECT count(*) FROM event_audit").fetchone()[0])
            except sqlite3.Error:
                counts.append(0)
            finally:
                con.close()
        return counts

    def pd_keys(self):
        state = http_json("GET", self.pd + "/_sim/state")[2]["companies"][0]
        keys = {f["name"]: f["key"] for f in state["fields"]}
        cid, co = keys.get("Sage 300 Customer ID"), keys.get("Sage 300 Company")
        return [((o.get("custom_fields") or {}).get(co), (o.get("custom_fields") or {}).get(cid))
                for o in state["organizations"] if not o.get("is_deleted")]

    def test_stack_with_three_loaders(self):
        want = self.customers * len(COMPANIES)
        with Step("podman-compose up -d kafka: the image built here, compose's KAFKA_* settings"):
            cp = self.compose("up", "-d", "--no-deps", "kafka")
            self.assertEqual(len(self.containers("kafka")), 1, cp.stdout[-3000:] + cp.stderr[-3000:])
            name = self.containers("kafka")[0]
            try:
                wait_for(lambda: podman("healthcheck", "run", name, check=False,
                                        timeout=60).returncode == 0,
                         timeout=120, interval=2, what="kafka healthy (compose's healthcheck)")
            except AssertionError as e:
                raise AssertionError(f"{e}\n{self.logs('kafka')}")
            props = podman("exec", name, "cat", "/opt/kafka/config/server.properties").stdout
            for line in ("auto.create.topics.enable=false", "node.id=1",
                         "log.dirs=/var/lib/kafka/data",
                         "group.initial.rebalance.delay.ms=3000"):
                self.assertIn(line, props.splitlines())
            self.assertNotIn("heap", props)
            # the entrypoint execs the broker: PID 1 is its JVM
            java = podman("exec", name, "cat", "/proc/1/cmdline").stdout.split("\0")
            self.assertIn("kafka.Kafka", java)
            self.assertIn("-Xmx1g", java, "KAFKA_HEAP_OPTS did not reach the broker's JVM")
        with Step("podman-compose up kafka-init: the topics with compose's exact command"):
            self.compose("up", "-d", "--no-deps", "kafka-init")
            init = self.containers("kafka-init")[0]
            wait_for(lambda: podman("inspect", init, "--format", "{{.State.Status}}")
                     .stdout.strip() == "exited", timeout=180, interval=1,
                     what="kafka-init exited")
            rc = podman("inspect", init, "--format", "{{.State.ExitCode}}").stdout.strip()
            self.assertEqual(rc, "0", self.logs("kafka-init"))
            out = self.kafka_tool("kafka-topics", "--describe", "--topic",
                                  "sage300.customers.v1").stdout
            self.assertIn("PartitionCount: 6", out)
            self.assertIn("cleanup.policy=compact,delete", out)
            self.assertIn("retention.ms=34560000000", out)
            self.assertIn("min.compaction.lag.ms=604800000", out)
            out = self.kafka_tool("kafka-topics", "--describe", "--topic",
                                  "sage300.customers.dlq").stdout
            self.assertIn("PartitionCount: 1", out)
            self.assertIn("retention.ms=7776000000", out)
        with Step(f"podman-compose up -d extractor loader ({self.replicas} loaders): "
                  "Pipedrive equals Sage"):
            self.compose("up", "-d", "--no-deps", "extractor", "loader")
            self.assertEqual(len(self.containers("loader")), self.replicas)

            def done():
                keys = self.pd_keys()
                return len(keys) == want and len(set(keys)) == want
            try:
                wait_for(done, timeout=120, interval=1, what=f"{want} organizations")
            except AssertionError:
                keys = self.pd_keys()
                raise AssertionError(f"Pipedrive has {len(keys)} ({len(set(keys))} distinct), "
                                     f"Sage {want}\n" + self.logs("extractor", "loader"))
            self.assertEqual(self.rig.check_final(), want)
            for s in ("extractor", "loader"):
                for n in self.containers(s):
                    secrets_not_in_env(self, n, TOKEN, "WEBAPI")
        with Step("the three loaders share the partitions of one group"):
            # each replica took its own state slot and file
            self.assertEqual(len(self.loader_dbs()), self.replicas)

            def members():
                out = self.kafka_tool("kafka-consumer-groups", "--describe",
                                      "--group", "mlc-loader").stdout
                rows = [l.split() for l in out.splitlines()
                        if l.startswith("mlc-loader ") and "sage300.customers.v1" in l]
                owners = {r[6] for r in rows if len(r) > 6 and r[6] != "-"}
                return rows, owners
            wait_for(lambda: len(members()[1]) == self.replicas and len(members()[0]) == 6,
                     timeout=60, interval=2, what=f"{self.replicas} members own 6 partitions")
            # every partition consumed to its end: lag 0 once the offsets the
            # loaders stored are committed (librdkafka commits them every
            # auto.commit.interval.ms, 5 s; the backlog's last creates finish
            # just before Pipedrive equals Sage)
            try:
                wait_for(lambda: [r[5] for r in members()[0]] == ["0"] * 6, timeout=30,
                         interval=2, what="lag 0 on every partition")
            except AssertionError:
                pass  # the assertion below shows the rows
            rows, _ = members()
            self.assertEqual([r[5] for r in rows], ["0"] * 6, rows)
            self.assertGreaterEqual(sum(self.audited()), want)
        self.more_checks()
        with Step("podman-compose down -v"):
            self.compose("down", "-v")
            self.assertEqual(self.containers("kafka"), [])

    def more_checks(self):
        pass


class ComposeSaslStackTest(ComposeStackTest):
    """The same stack with compose/docker-compose.sasl.yml: SASL_SSL, SCRAM
    users and the ACLs of compose/kafka-acls.sh. podman-compose 1.0 appends
    lists across compose files where Compose replaces them (entrypoint,
    healthcheck.test), so the three files are merged by docker-compose 1.29
    (`config`, Compose's own rules) and podman-compose runs the result."""

    admin_args = ("--command-config", "/etc/kafka/secrets/admin.properties")

    @classmethod
    def compose_files(cls):
        for name in ("docker-compose.sasl.yml", "kafka-acls.sh", "kafka-secrets.sh"):
            shutil.copy(os.path.join(SRC, "compose", name), cls.project)
        subprocess.run(["/bin/sh", "kafka-secrets.sh"], cwd=cls.project, check=True,
                       capture_output=True, stdin=subprocess.DEVNULL)
        base = os.path.join(cls.project, "docker-compose.yml")
        with open(base) as f:
            text = f.read()
        # docker-compose 1.29 predates `name:`; the project name is given with -p
        with open(base, "w") as f:
            f.write(re.sub(r"(?m)^name: .*\n", "", text))
        cp = subprocess.run(["docker-compose", "-p", PROJECT, "-f", base, "-f",
                             "docker-compose.sasl.yml", "-f", STACK_OVERRIDE, "config"],
                            cwd=cls.project, env=cls.compose_env(), capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=120)
        assert cp.returncode == 0, cp.stderr
        # docker-compose writes extra_hosts as a mapping, podman-compose 1.0
        # reads only the list form
        import yaml
        doc = yaml.safe_load(cp.stdout)
        for svc in doc["services"].values():
            if isinstance(svc.get("extra_hosts"), dict):
                svc["extra_hosts"] = [f"{k}:{v}" for k, v in svc["extra_hosts"].items()]
        merged = os.path.join(cls.project, "merged.yml")
        with open(merged, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        pc = podman_compose(cls.work, cls.project, merged)
        return pc[:pc.index("-f")] + ["-f", merged]

    def more_checks(self):
        with Step("SASL_SSL: the ACLs of kafka-acls.sh; the operator's tool logs in"):
            props = podman("exec", self.containers("kafka")[0], "cat",
                           "/opt/kafka/config/server.properties").stdout.splitlines()
            for line in ("allow.everyone.if.no.acl.found=false",
                         "listeners=SASL_SSL://:9092,CONTROLLER://localhost:9093,HOST://:29092",
                         "sasl.enabled.mechanisms=SCRAM-SHA-512"):
                self.assertIn(line, props)
            acls = self.kafka_tool("kafka-acls", "--list").stdout
            for user in ("mlc-extractor", "mlc-loader", "mlc-operator"):
                self.assertIn(f"User:{user}", acls)
            # the operator's tool, as compose runs it, lists the DLQ with its own user
            cp = self.compose("run", "--rm", "--no-deps", "mlc", "dlq", "list", check=False)
            self.assertEqual(cp.returncode, 0, cp.stdout[-2000:] + cp.stderr[-2000:])


def own_network_namespace():
    """Re-executes this file under `unshare --net` (once), with the loopback up."""
    if os.environ.get("MLC_TEST_NETNS") != "1":
        env = dict(os.environ, MLC_TEST_NETNS="1")
        os.execvpe("unshare", ["unshare", "--net", "--", sys.executable, *sys.argv], env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


if __name__ == "__main__":
    own_network_namespace()
    t0 = time.monotonic()
    prog = unittest.main(verbosity=2, exit=False, failfast=True)
    print("\n== timings")
    for title, dt in Step.times:
        print(f"   {dt:5.1f} s  {title}")
    print(f"   {time.monotonic() - t0:5.1f} s  compose test in total")
    sys.exit(0 if prog.result.wasSuccessful() else 1)
