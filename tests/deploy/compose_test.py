#!/usr/bin/python3
"""The compose stack's workers brought up by podman-compose.

Started by scripts/test-container after the image is built. It runs
compose/docker-compose.yml as shipped plus tests/deploy/compose.test.yml (the
workers on the host network, next to `mlc devbroker` and the sandboxes, since
apache/kafka cannot be pulled here), with a project directory laid out as an
operator's: `.env` made from `.env.example` with the blanks filled in, the
master key in secrets/mlc.key (mode 600, owner 10001). Kafka and kafka-init
are not started (--no-deps): the dev broker stands in for them.

What it proves: the services' settings (env_file, secret, read-only root,
tmpfs, user, healthcheck, init, volumes) give working containers; both
workers sync Sage into Pipedrive (numbers checked) and report healthy; the
state survives `down` and `up`. What it cannot prove (docs/operations.md):
Docker Engine and Compose v2 themselves, the Kafka services, depends_on
ordering, the compose network's DNS, and restart policies (podman-compose 1.0
passes them to podman, which has no daemon to apply them).
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
sys.path.insert(0, HERE)
import mlctest  # noqa: E402
from mlctest import free_port, http_json, wait_for  # noqa: E402
from container_test import Step, metric, podman, scrape  # noqa: E402

SRC = mlctest.SRCDIR
COMPOSE = os.path.join(SRC, "compose", "docker-compose.yml")
OVERRIDE = os.path.join(HERE, "compose.test.yml")
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
        # The operator's project directory: the compose file, .env, secrets/.
        cls.project = os.path.join(cls.work, "compose")
        os.makedirs(os.path.join(cls.project, "secrets"))
        shutil.copy(COMPOSE, cls.project)
        key = os.path.join(cls.project, "secrets", "mlc.key")
        env = dict(os.environ, MLC_MASTER_KEY_FILE=key)
        subprocess.run([mlc, "secret", "keygen", "--out", key], env=env, check=True,
                       capture_output=True)

        def seal(value, setting):
            return subprocess.run([mlc, "secret", "encrypt", "--setting", setting], env=env,
                                  input=value, text=True,
                                  capture_output=True, check=True).stdout.strip()
        fill = {"MLC_SAGE_URL": cls.sage, "MLC_SAGE_COMPANIES": ",".join(COMPANIES),
                "MLC_SAGE_USER": "webapi", "MLC_SAGE_PASSWORD": seal("WEBAPI", "MLC_SAGE_PASSWORD"),
                "MLC_PIPEDRIVE_TOKEN": seal(TOKEN, "MLC_PIPEDRIVE_TOKEN"), "MLC_KAFKA_BROKERS": cls.brokers}
        extra = {"MLC_PIPEDRIVE_URL": cls.pd, "MLC_POLL_INTERVAL": "2",
                 "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000"}
        with open(os.path.join(SRC, "compose", ".env.example"), encoding="utf-8") as f:
            text = f.read()
        for name, value in fill.items():
            text, n = re.subn(rf"(?m)^{name}=.*$", f"{name}={value}", text)
            assert n == 1, name
        text += "".join(f"{k}={v}\n" for k, v in extra.items())
        with open(os.path.join(cls.project, ".env"), "w") as f:
            f.write(text)
        os.chmod(os.path.join(cls.project, ".env"), 0o600)
        os.chown(key, UID, UID)
        os.chmod(key, 0o600)
        # podman-compose runs `podman` through this shim: runc is the runtime
        # that works here, and podman-compose 1.0 adds the project network
        # (--net P_default --network-alias S) even to a service with
        # network_mode: host, which podman refuses; the shim drops those two.
        wrapper = os.path.join(cls.work, "podman-shim")
        with open(wrapper, "w") as f:
            f.write(PODMAN_SHIM)
        os.chmod(wrapper, 0o755)
        cls.pc = ["podman-compose", "--podman-path", wrapper, "-p", PROJECT,
                  "-f", os.path.join(cls.project, "docker-compose.yml"), "-f", OVERRIDE]
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
                cfg = json.loads(podman("inspect", self.container(s)).stdout)[0]
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


if __name__ == "__main__":
    t0 = time.monotonic()
    prog = unittest.main(verbosity=2, exit=False, failfast=True)
    print("\n== timings")
    for title, dt in Step.times:
        print(f"   {dt:5.1f} s  {title}")
    print(f"   {time.monotonic() - t0:5.1f} s  compose test in total")
    sys.exit(0 if prog.result.wasSuccessful() else 1)
