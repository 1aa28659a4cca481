#!/usr/bin/python3
"""The ml-connector image run as containers against the sandboxes.

Started by scripts/test-container after it built the image (podman, runc,
--format docker). The sandboxes (mlc-sage-sim, mlc-pipedrive-sim) and
`mlc devbroker` run on the host from the host build; the image's programs run
as containers the way the compose stack runs them: the image's user (uid
10001), a read-only root file system with a tmpfs /tmp, no capabilities,
no-new-privileges, a named volume on /var/lib/mlc, the master key mounted at
/run/secrets/mlc_master_key, and --network=host so they reach the host's
loopback. Steps, each checked by numbers and not only by exit codes:

  1. mlc-loader setup, mlc-extractor once, mlc-loader drain: every Sage
     customer is one Pipedrive organization (no duplicates), the state files
     in the volumes belong to uid 10001; mlc status reads them.
  2. mlc-extractor run: the image's HEALTHCHECK (podman healthcheck run) is
     healthy after a good cycle, unhealthy with the reason while the Sage
     sandbox answers 500 (its /_sim/faults API), healthy again after.
  3. three mlc-loader run containers in one group on fresh volumes: each
     gets two of the six partitions and creates some of the new customers.
  4. one of them removed with its volume and replaced by a new container on
     a fresh volume: the customers added and changed meanwhile arrive, and
     Pipedrive still equals Sage.

Environment: MLC_TEST_IMAGE (the built image), MLC_TEST_BINDIR (host build),
MLC_TEST_KEEP=1 keeps the work directory, containers and volumes.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import mlctest  # noqa: E402
from mlctest import free_port, http, http_json, wait_for  # noqa: E402

IMAGE = os.environ.get("MLC_TEST_IMAGE", "ml-connector:0.1.0")
PODMAN = ["podman", "--runtime", "runc"]
COMPANIES = ["SAMINC", "SAMLTD"]
PER_COMPANY = 100
TOKEN = "container-test-token-0123456789abcdef"
UID = "10001"
TAG = f"mlct{os.getpid()}"
MARK_CITY = "Containerville"


def ulimits():
    """--ulimit flags within this host's hard limits: podman's defaults
    (nofile 1048576, nproc 4194304) exceed them on small or nested hosts, and
    runc then fails with "error setting rlimits ... operation not permitted"."""
    import resource
    out = []
    for name, res, cap in (("nofile", resource.RLIMIT_NOFILE, 65536),
                           ("nproc", resource.RLIMIT_NPROC, 8192)):
        hard = resource.getrlimit(res)[1]
        n = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        out += ["--ulimit", f"{name}={n}:{n}"]
    return out


def podman(*args, check=True, timeout=180, input=None):
    cp = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout,
                        input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if check and cp.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {cp.returncode}:\n"
                             f"{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}")
    return cp


def metric(text, name, **labels):
    """Sum of the samples of name whose labels include labels (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def scrape(port):
    status, _, body = http("GET", f"http://127.0.0.1:{port}/metrics", timeout=5)
    if status != 200:
        raise OSError(f"/metrics answered {status}")
    return body.decode()


class Step:
    """Prints a step and how long it took (the script's timing summary)."""
    times = []

    def __init__(self, title):
        self.title = title

    def __enter__(self):
        print(f"== {self.title}", flush=True)
        self.t0 = time.monotonic()

    def __exit__(self, *exc):
        dt = time.monotonic() - self.t0
        Step.times.append((self.title, dt))
        print(f"   {dt:5.1f} s", flush=True)


class ContainerTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.work = tempfile.mkdtemp(prefix="mlc-container-")
        os.chmod(cls.work, 0o755)
        cls.procs = mlctest.Procs(cls.work)
        cls.containers = []
        cls.volumes = []
        try:
            cls.start_sandboxes()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        keep = os.environ.get("MLC_TEST_KEEP") == "1"
        if not keep:
            for name in cls.containers:
                podman("rm", "-f", "-t", "5", name, check=False)
            for vol in cls.volumes:
                podman("volume", "rm", "-f", vol, check=False)
        cls.procs.stop_all()
        if keep:
            print(f"[kept {cls.work}; containers and volumes {TAG}-*]")
        else:
            shutil.rmtree(cls.work, ignore_errors=True)

    # ---- the host side ------------------------------------------------------
    @classmethod
    def start_sandboxes(cls):
        p = cls.procs.start_server([mlctest.binary("mlc"), "devbroker", "--partitions", "6"],
                                   name="devbroker")
        cls.brokers = p.first_line
        args = [mlctest.binary("mlc-sage-sim"), "--port", "0", "--customers", str(PER_COMPANY),
                "--seed", "11", "--page-size", "500"]
        for c in COMPANIES:
            args += ["--company", c]
        cls.sage = cls.procs.start_server(args, name="sage-sim").first_line
        cls.sage_ctl = cls.sage.split("/Sage300WebApi/")[0] + "/_sim"
        cls.pd = cls.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--port", "0",
                                         "--token", TOKEN, "--no-limits"],
                                        name="pipedrive-sim").first_line
        # The master key as an operator prepares it: mode 600, owner 10001.
        cls.key = os.path.join(cls.work, "mlc.key")
        env = dict(os.environ, MLC_MASTER_KEY_FILE=cls.key)
        subprocess.run([mlctest.binary("mlc"), "secret", "keygen", "--out", cls.key], env=env,
                       check=True, capture_output=True)

        def seal(value, setting):
            return subprocess.run([mlctest.binary("mlc"), "secret", "encrypt", "--setting",
                                   setting], env=env,
                                  input=value, text=True, capture_output=True,
                                  check=True).stdout.strip()
        cls.enc_password = seal("WEBAPI", "MLC_SAGE_PASSWORD")
        cls.enc_token = seal(TOKEN, "MLC_PIPEDRIVE_TOKEN")
        os.chown(cls.key, int(UID), int(UID))
        os.chmod(cls.key, 0o600)

    def sage_customers(self):
        """[(company, number)] read through the OData API, as the extractor reads."""
        out = []
        for co in COMPANIES:
            url = f"{self.sage}{co}/AR/ARCustomers?$select=CustomerNumber"
            while url:
                status, _, doc = http_json("GET", url, headers={
                    "Authorization": "Basic V0VCQVBJOldFQkFQSQ==",
                    "Content-Type": "application/json"})
                self.assertEqual(status, 200, f"sage {url}: {doc}")
                out += [(co, r["CustomerNumber"]) for r in doc["value"]]
                url = doc.get("@odata.nextLink")
        return out

    def organizations(self):
        status, _, state = http_json("GET", self.pd + "/_sim/state")
        self.assertEqual(status, 200)
        return state["companies"][0]["organizations"]

    dlq_seen = {}

    def dead_letters(self):
        """{(company, customer): reason} of every event a loader dead-lettered,
        from the loaders' state files (kept once seen: a volume may go)."""
        import glob
        import sqlite3
        for vol in self.volumes:
            cp = podman("volume", "inspect", vol, "--format", "{{.Mountpoint}}", check=False)
            if cp.returncode != 0:
                continue
            for db in glob.glob(os.path.join(cp.stdout.strip(), "mlc-loader*.db")):
                try:
                    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                    try:
                        rows = con.execute("SELECT company, customer, reason FROM event_audit "
                                           "WHERE outcome = 'dlq'").fetchall()
                    finally:
                        con.close()
                except sqlite3.Error:
                    continue
                for co, cu, reason in rows:
                    ContainerTest.dlq_seen[(co, cu)] = reason
        return dict(ContainerTest.dlq_seen)

    def synced(self):
        """(sage keys without the dead-lettered ones, pipedrive keys as a list)."""
        orgs = [o for o in self.organizations() if not o.get("is_deleted")]
        keys = []
        for o in orgs:
            cf = o.get("custom_fields") or {}
            keys.append((cf.get(self.fields["Sage 300 Company"]),
                         cf.get(self.fields["Sage 300 Customer ID"])))
        dlq = self.dead_letters()
        return sorted(k for k in self.sage_customers() if k not in dlq), sorted(keys)

    def assert_pipedrive_equals_sage(self, timeout=120, loaders=()):
        def equal():
            sage, pd = self.synced()
            return sage == pd
        try:
            wait_for(equal, timeout=timeout, interval=0.5, what="Pipedrive == Sage")
        except AssertionError:
            sage, pd = self.synced()
            dups = sorted({k for k in pd if pd.count(k) > 1})
            raise AssertionError(
                f"Pipedrive != Sage: {len(sage)} customers, {len(pd)} organizations, "
                f"{len(set(sage) - set(pd))} missing, duplicates {dups[:5]}\n"
                + "".join(self.logs(n) for n in loaders))
        sage, pd = self.synced()
        self.assertEqual(len(pd), len(set(pd)), "duplicate organizations")
        # what Pipedrive refused is a validation error, and rare in this data
        dlq = self.dead_letters()
        for key, reason in dlq.items():
            self.assertRegex(reason or "", r"HTTP 400", key)
        self.assertLess(len(dlq), len(sage) // 10, dlq)
        return len(sage) + len(dlq)

    # ---- containers ---------------------------------------------------------
    def volume(self, name):
        vol = f"{TAG}-{name}"
        podman("volume", "create", vol)
        self.volumes.append(vol)
        return vol

    def env(self, **kw):
        e = {"MLC_KAFKA_BROKERS": self.brokers, "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000",
             "MLC_MASTER_KEY_FILE": "/run/secrets/mlc_master_key", "TMPDIR": "/tmp",
             "MLC_METRICS_PORT": "0"}
        e.update(kw)
        return e

    def extractor_env(self, **kw):
        return self.env(MLC_SAGE_URL=self.sage, MLC_SAGE_COMPANIES=",".join(COMPANIES),
                        MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD=self.enc_password, **kw)

    def loader_env(self, **kw):
        return self.env(MLC_PIPEDRIVE_URL=self.pd, MLC_PIPEDRIVE_TOKEN=self.enc_token, **kw)

    def run_args(self, name, volume, env, extra=()):
        self.containers.append(name)
        args = ["run", "--name", name, "--network=host", "--read-only", "--tmpfs", "/tmp",
                "--cap-drop=ALL", "--security-opt", "no-new-privileges", *ulimits(),
                "-v", f"{volume}:/var/lib/mlc",
                "-v", f"{self.key}:/run/secrets/mlc_master_key:ro", *extra]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        return args

    def run_once(self, name, volume, env, *cmd, extra=(), timeout=180):
        """Runs a container to its end; returns (exit status, stdout, stderr)."""
        cp = podman(*self.run_args(name, volume, env, extra), IMAGE, *cmd, check=False,
                    timeout=timeout)
        podman("rm", "-f", name, check=False)
        return cp.returncode, cp.stdout, cp.stderr

    def start(self, name, volume, env, *cmd):
        podman(*self.run_args(name, volume, env), "-d", IMAGE, *cmd)

    def logs(self, name):
        cp = podman("logs", name, check=False)
        return f"--- {name}\n{(cp.stdout + cp.stderr)[-3000:]}\n"

    def running(self, name):
        cp = podman("inspect", name, "--format", "{{.State.Running}}", check=False)
        return cp.stdout.strip() == "true"

    def health(self, name):
        """(podman healthcheck run exit status, the container's last check output)."""
        cp = podman("healthcheck", "run", name, check=False, timeout=60)
        out = podman("inspect", name, "--format", "{{json .State.Healthcheck}}",
                     check=False).stdout
        try:
            log = (json.loads(out) or {}).get("Log") or []
        except ValueError:
            log = []
        return cp.returncode, (log[-1].get("Output", "") if log else "") + cp.stdout + cp.stderr

    def volume_owner(self, vol, path):
        mount = podman("volume", "inspect", vol, "--format", "{{.Mountpoint}}").stdout.strip()
        st = os.stat(os.path.join(mount, path))
        return st.st_uid, st.st_gid, st.st_mode & 0o777

    # ---- the steps ----------------------------------------------------------
    def test_1_image(self):
        with Step("image: user, healthcheck, volume"):
            cfg = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
            self.assertEqual(cfg["Config"]["User"], f"{UID}:{UID}")
            self.assertIn("/var/lib/mlc", cfg["Config"]["Volumes"])
            hc = cfg.get("Healthcheck") or cfg.get("HealthCheck")
            self.assertEqual(hc and hc["Test"], ["CMD", "/usr/local/bin/mlc-healthcheck"],
                             "the image has no HEALTHCHECK: was it built with --format docker?")
            rc, out, err = self.run_once(f"{TAG}-id", self.volume("id"), {}, "id", "-u")
            self.assertEqual((rc, out.strip()), (0, UID), err)
            # the root file system is read-only: only the volume and /tmp are writable
            rc, _, err = self.run_once(f"{TAG}-ro", self.volume("ro"), {}, "sh", "-c",
                                       "touch /var/lib/mlc/x /tmp/x && ! touch /usr/x")
            self.assertEqual(rc, 0, err)

    def test_2_once_setup_drain_status(self):
        cls = type(self)
        with Step("mlc-loader setup, mlc-extractor once, mlc-loader drain (containers)"):
            rc, out, err = self.run_once(f"{TAG}-setup", self.volume("setup"),
                                         self.loader_env(), "mlc-loader", "setup")
            self.assertEqual(rc, 0, err)
            cls.fields = dict(line.split(" -> ", 1) for line in out.splitlines()
                              if " -> " in line)
            self.assertIn("Sage 300 Customer ID", cls.fields, out)
            cls.ext_vol = self.volume("extractor")
            rc, out, err = self.run_once(f"{TAG}-once", self.ext_vol, self.extractor_env(),
                                         "mlc-extractor", "once")
            self.assertEqual(rc, 0, err)
            cls.drain_vol = self.volume("drain")
            rc, out, err = self.run_once(f"{TAG}-drain", self.drain_vol, self.loader_env(),
                                         "mlc-loader", "drain")
            self.assertEqual(rc, 0, err)
            n = self.assert_pipedrive_equals_sage(timeout=5)
            self.assertEqual(n, PER_COMPANY * len(COMPANIES))
            for vol, db in ((self.ext_vol, "mlc-extractor.db"),
                            (self.drain_vol, "mlc-loader.db")):
                uid, gid, _ = self.volume_owner(vol, db)
                self.assertEqual((uid, gid), (int(UID), int(UID)), f"{vol}/{db}")
        with Step("mlc status (container, both state files, the broker)"):
            rc, out, err = self.run_once(
                f"{TAG}-status", self.ext_vol, self.env(MLC_KAFKA_GROUP="mlc-loader"),
                "mlc", "status", "--json", "--extractor-db", "/var/lib/mlc/mlc-extractor.db",
                "--loader-db", "/mnt/loader/mlc-loader.db",
                extra=("-v", f"{self.drain_vol}:/mnt/loader"))
            self.assertEqual(rc, 0, err)
            doc = json.loads(out)
            comps = {c["company"]: c for c in doc["extractor"]["companies"]}
            self.assertEqual(sorted(comps), COMPANIES, out)
            for co, c in comps.items():
                self.assertEqual((c["result"], c["records"], c["published"]),
                                 ("ok", PER_COMPANY, PER_COMPANY), co)
            self.assertNotIn("error", doc["kafka"], out)
            parts = doc["kafka"]["partitions"]
            self.assertEqual(len(parts), 6)
            self.assertEqual(sum(p["lag"] for p in parts), 0, out)
            self.assertEqual(sum(p["committed"] for p in parts), PER_COMPANY * len(COMPANIES))
            self.assertNotIn("error", doc["loader"], out)
            self.assertNotIn("error", doc["extractor"], out)
            self.assertEqual(doc["loader"]["idmap"][0]["organizations"],
                             PER_COMPANY * len(COMPANIES) - len(self.dead_letters()), out)

    def test_3_healthcheck(self):
        port = free_port()
        name = f"{TAG}-extractor-run"
        env = self.extractor_env(MLC_POLL_INTERVAL="1", MLC_SAGE_RETRIES="0",
                                 MLC_METRICS_PORT=str(port), MLC_METRICS_BIND="127.0.0.1")

        def cycles(result):
            try:
                return metric(scrape(port), "mlc_extractor_cycles_total", result=result)
            except OSError:
                return -1
        with Step("mlc-extractor run: HEALTHCHECK healthy"):
            self.start(name, self.ext_vol, env, "mlc-extractor", "run")
            wait_for(lambda: cycles("ok") >= 2 or not self.running(name), timeout=60,
                     interval=0.2, what="two good cycles")
            self.assertTrue(self.running(name), self.logs(name))
            rc, out = self.health(name)
            self.assertEqual(rc, 0, out)
        with Step("Sage sandbox answers 500: HEALTHCHECK unhealthy, then healthy again"):
            status, _, _ = http_json("POST", self.sage_ctl + "/faults",
                                     {"kind": "status", "status": 500, "count": 1000000})
            self.assertIn(status, (200, 201))
            failed = cycles("failed")
            wait_for(lambda: cycles("failed") > failed, timeout=60, interval=0.2,
                     what="a failed cycle")
            rc, out = self.health(name)
            self.assertNotEqual(rc, 0, out)
            # the reason class and the company, no host or error text
            self.assertRegex(out, r"sage_unreachable \(company SAM(INC|LTD)\)")
            self.assertNotIn("http", out.replace("The requested URL", ""))
            self.assertEqual(http("DELETE", self.sage_ctl + "/faults")[0] // 100, 2)
            ok = cycles("ok")
            wait_for(lambda: cycles("ok") >= ok + len(COMPANIES), timeout=60, interval=0.2,
                     what="good cycles again")
            rc, out = self.health(name)
            self.assertEqual(rc, 0, out)
            podman("stop", "-t", "30", name)
            code = podman("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip()
            self.assertEqual(code, "0", self.logs(name))
            podman("rm", name)

    def add_customers(self, first, count):
        body = [{"CustomerNumber": f"CT{first + i:05d}", "CustomerName": f"Container {first + i}",
                 "City": "Zurich"} for i in range(count)]
        status, _, doc = http_json("POST", self.sage_ctl + "/companies/SAMINC/customers", body)
        self.assertIn(status, (200, 201), doc)

    def extract_once(self):
        rc, out, err = self.run_once(f"{TAG}-once-{time.monotonic_ns()}", self.ext_vol,
                                     self.extractor_env(), "mlc-extractor", "once")
        self.assertEqual(rc, 0, err)

    def test_4_three_loaders_then_replace_one(self):
        cls = type(self)
        cls.loaders = []
        with Step("three mlc-loader run containers in one group share the work"):
            for n in "abc":
                port = free_port()
                name = f"{TAG}-loader-{n}"
                self.start(name, self.volume(f"loader-{n}"),
                           self.loader_env(MLC_METRICS_PORT=str(port),
                                           MLC_METRICS_BIND="127.0.0.1"),
                           "mlc-loader", "run")
                cls.loaders.append((name, port))

            def assigned():
                out = []
                for name, port in self.loaders:
                    try:
                        out.append(metric(scrape(port), "mlc_loader_partitions_assigned"))
                    except OSError:
                        out.append(None)
                return out
            names = [n for n, _ in self.loaders]
            try:
                wait_for(lambda: assigned() == [2, 2, 2]
                         or not all(map(self.running, names)), timeout=90, interval=0.5,
                         what="six partitions over three loaders")
            except AssertionError:
                raise AssertionError(f"assigned {assigned()}\n"
                                     + "".join(map(self.logs, names)))
            self.assertEqual(assigned(), [2, 2, 2], "".join(map(self.logs, names)))
            self.add_customers(0, 90)
            self.extract_once()
            n = self.assert_pipedrive_equals_sage(loaders=names)
            self.assertEqual(n, PER_COMPANY * len(COMPANIES) + 90)

            def created(port):
                return metric(scrape(port), "mlc_loader_events_total", outcome="created")
            wait_for(lambda: sum(created(p) for _, p in self.loaders) >= 90, timeout=30,
                     what="90 creates counted")
            per = {name: created(port) for name, port in self.loaders}
            self.assertEqual(sum(per.values()) + sum(1 for c, n in self.dead_letters()
                                                     if n.startswith("CT")), 90, per)
            for name, c in per.items():
                self.assertGreater(c, 0, f"{name} created nothing: {per}")
        with Step("a loader removed with its volume, replaced on a fresh volume"):
            gone, _ = self.loaders.pop()
            podman("rm", "-f", "-t", "30", gone)
            self.dead_letters()  # remember them before the volume goes
            podman("volume", "rm", f"{TAG}-loader-c")
            self.add_customers(1000, 30)
            status, _, _ = http_json("POST", self.sage_ctl + "/companies/SAMLTD/touch",
                                     {"count": 10, "set": {"City": MARK_CITY}})
            self.assertEqual(status // 100, 2)
            port = free_port()
            name = f"{TAG}-loader-d"
            self.start(name, self.volume("loader-d"),
                       self.loader_env(MLC_METRICS_PORT=str(port), MLC_METRICS_BIND="127.0.0.1"),
                       "mlc-loader", "run")
            self.loaders.append((name, port))
            self.extract_once()
            names = [n for n, _ in self.loaders]
            n = self.assert_pipedrive_equals_sage(loaders=names)
            self.assertEqual(n, PER_COMPANY * len(COMPANIES) + 120)

            def marked():
                return sum(MARK_CITY in json.dumps(o) for o in self.organizations())
            wait_for(lambda: marked() == 10, timeout=60, interval=0.5,
                     what=f"the 10 changed customers show {MARK_CITY} in Pipedrive")
            for name in names:
                self.assertTrue(self.running(name), self.logs(name))


if __name__ == "__main__":
    t0 = time.monotonic()
    prog = unittest.main(verbosity=2, exit=False, failfast=True)
    print("\n== timings")
    for title, dt in Step.times:
        print(f"   {dt:5.1f} s  {title}")
    print(f"   {time.monotonic() - t0:5.1f} s  container test in total")
    sys.exit(0 if prog.result.wasSuccessful() else 1)
