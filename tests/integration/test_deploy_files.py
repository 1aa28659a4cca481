"""Deployment files checked without a Docker engine.

compose/docker-compose.yml is parsed with PyYAML and the Dockerfile line by
line: services, pinned images, volumes, healthchecks, the kafka-init topic
policies, the scalable loader, a non-root multi-stage image whose runtime
stage has no compiler and no -dev package and installs the package of every
library the built programs load. compose/.env.example must be what
compose/gen-env-example.py makes from `mlc config docs` (so every MLC_
setting is in it and nothing else), and the image's healthcheck script is
run against a real HTTP server. The compose file is validated against the
Compose Specification schema vendored in tests/deploy/compose-spec/ and with
Debian's docker-compose (`config`, no engine needed); every MLC_ name in the
deployment files is a setting of the table, and the example values of
.env.example (with the mapping it suggests) start both workers against the
sandboxes. `docker compose config` runs only where the compose plugin is
installed.
"""
import json
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import yaml

import mlctest

SRC = mlctest.SRCDIR
COMPOSE = os.path.join(SRC, "compose", "docker-compose.yml")
DOCKERFILE = os.path.join(SRC, "Dockerfile")
ENV_EXAMPLE = os.path.join(SRC, "compose", ".env.example")
GEN = os.path.join(SRC, "compose", "gen-env-example.py")
HEALTHCHECK = os.path.join(SRC, "compose", "image", "mlc-healthcheck")
COMPOSE_SPEC = os.path.join(SRC, "tests", "deploy", "compose-spec", "compose_spec.json")
OVERRIDES = [os.path.join(SRC, "tests", "deploy", "compose.test.yml"),
             os.path.join(SRC, "tests", "deploy", "compose.stack.test.yml")]
SASL_OVERRIDE = os.path.join(SRC, "compose", "docker-compose.sasl.yml")
# Secret settings and the compose secret each worker reads it from.
SECRETS = {"extractor": {"MLC_SAGE_PASSWORD": "sage_password"},
           "loader": {"MLC_PIPEDRIVE_TOKEN": "pipedrive_token"}}
IN_CI = os.environ.get("CI") == "true"

COMPILERS = {"gcc", "g++", "cc", "clang", "cpp", "make", "cmake", "build-essential",
             "pkg-config", "libc6-dev", "ninja-build"}
RUNTIME_LIBS = {"libcurl4", "librdkafka1", "libcjson1", "libsqlite3-0", "libssl3",
                "libmicrohttpd12", "ca-certificates"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def config_docs():
    out = subprocess.run([mlctest.binary("mlc"), "config", "docs"], capture_output=True,
                         text=True, check=True, timeout=60)
    return out.stdout


def table_settings(docs):
    """{name: default} from `mlc config docs`."""
    settings = {}
    for line in docs.splitlines():
        m = re.match(r"^\| `(MLC_[A-Z0-9_]+)` \|(?:[^|]|\\\|)*?\| (`([^`]*)`)? *\|", line)
        if m:
            settings[m.group(1)] = m.group(3) or ""
    return settings


def project_version():
    m = re.search(r"project\(ml_connector VERSION ([0-9.]+)", read(os.path.join(SRC,
                                                                              "CMakeLists.txt")))
    return m.group(1)


def require_tool(name, why):
    """Skips when a tool is missing, except under CI=true where that fails."""
    if shutil.which(name):
        return
    if IN_CI:
        raise AssertionError(f"{name} is not installed (scripts/setup installs it): {why}")
    raise unittest.SkipTest(f"{name} not installed: {why}")


def interpolation_default(value, var):
    """The default of ${var:-default} inside value, or None."""
    m = re.search(r"\$\{" + re.escape(var) + r":-([^}]*)\}", str(value))
    return m.group(1) if m else None


class Dockerfile:
    """FROM stages of a Dockerfile with their instructions (continuations joined)."""

    def __init__(self, text):
        self.args = {}
        self.stages = []
        joined = re.sub(r"\\\n", " ", text)
        for raw in joined.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            word = word.upper()
            if word == "ARG" and not self.stages:
                name, _, default = rest.partition("=")
                self.args[name.strip()] = default.strip()
            elif word == "FROM":
                m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
                image = re.sub(r"\$\{(\w+)\}", lambda v: self.args.get(v.group(1), ""),
                               m.group(1))
                self.stages.append({"image": image, "name": m.group(2), "lines": []})
            elif self.stages:
                self.stages[-1]["lines"].append((word, rest))

    def stage(self, name):
        return next(s for s in self.stages if s["name"] == name)

    @staticmethod
    def installed(stage):
        pkgs = []
        for word, rest in stage["lines"]:
            if word != "RUN":
                continue
            for m in re.finditer(r"apt-get install ([^&;|]*)", rest):
                pkgs += [p for p in m.group(1).split() if not p.startswith("-")]
        return pkgs


class ComposeFileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.doc = yaml.safe_load(read(COMPOSE))
        cls.services = cls.doc["services"]

    def test_services(self):
        self.assertTrue({"kafka", "kafka-init", "extractor", "loader", "kafka-ui"}
                        <= set(self.services))
        self.assertEqual(self.services["extractor"]["command"], ["mlc-extractor", "run"])
        self.assertEqual(self.services["loader"]["command"], ["mlc-loader", "run"])
        self.assertEqual(self.services["kafka-ui"].get("profiles"), ["ui"])
        for name in ("extractor", "loader"):
            deps = self.services[name]["depends_on"]
            self.assertEqual(deps["kafka-init"]["condition"], "service_completed_successfully")
            self.assertEqual(deps["kafka"]["condition"], "service_healthy")

    def test_every_image_is_pinned_to_a_version(self):
        for name, svc in self.services.items():
            image = svc.get("image")
            self.assertIsNotNone(image, f"{name}: no image")
            self.assertNotIn("${", image, f"{name}: image must not come from a variable")
            repo, sep, tag = image.rpartition(":")
            self.assertTrue(sep and repo and "/" not in tag, f"{name}: {image} has no tag")
            self.assertNotEqual(tag, "latest", f"{name}: {image}")
            self.assertRegex(tag, r"^v?\d+\.\d+\.\d+$", f"{name}: {image} is not an exact version")
        self.assertTrue(self.services["kafka"]["image"].startswith("apache/kafka:"))
        self.assertEqual(self.services["kafka-init"]["image"], self.services["kafka"]["image"])
        for name in ("extractor", "loader", "mlc"):
            self.assertEqual(self.services[name]["image"], f"ml-connector:{project_version()}",
                             f"{name}: image tag must follow CMakeLists.txt's project version")

    def test_kafka_runs_kraft(self):
        env = self.services["kafka"]["environment"]
        self.assertEqual(set(env["KAFKA_PROCESS_ROLES"].split(",")), {"broker", "controller"})
        node = str(env["KAFKA_NODE_ID"])
        self.assertRegex(env["KAFKA_CONTROLLER_QUORUM_VOTERS"], rf"^{node}@kafka:\d+$")
        self.assertIn("CONTROLLER", env["KAFKA_CONTROLLER_LISTENER_NAMES"])
        self.assertIn("PLAINTEXT://kafka:9092", env["KAFKA_ADVERTISED_LISTENERS"])
        self.assertEqual(str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]), "false")
        self.assertFalse([k for k in env if "ZOOKEEPER" in k])

    def test_named_volumes_are_declared_and_hold_the_state(self):
        declared = set(self.doc.get("volumes") or {})
        used = set()
        for name, svc in self.services.items():
            for v in svc.get("volumes", []):
                source = v.split(":")[0] if isinstance(v, str) else v.get("source")
                if source and not source.startswith(("/", ".")) and ":" in str(v):
                    used.add(source)
        self.assertEqual(used, declared, "named volumes used vs declared")
        self.assertIn("kafka-data:/var/lib/kafka/data", self.services["kafka"]["volumes"])
        self.assertIn("extractor-state:/var/lib/mlc", self.services["extractor"]["volumes"])
        self.assertIn("loader-state:/var/lib/mlc", self.services["loader"]["volumes"])

    def test_long_running_services_have_healthchecks(self):
        for name in ("kafka", "extractor", "loader", "kafka-ui", "prometheus"):
            hc = self.services[name].get("healthcheck")
            self.assertTrue(hc and hc.get("test") and not hc.get("disable"), name)
        for name in ("extractor", "loader"):
            self.assertEqual(self.services[name]["healthcheck"]["test"],
                             ["CMD", "/usr/local/bin/mlc-healthcheck"])

    def init_blocks(self):
        init = self.services["kafka-init"]
        script = "\n".join(init["command"]) if isinstance(init["command"], list) \
            else init["command"]
        # One block per kafka-topics.sh --create call, continuation lines joined.
        script = script.replace("\\\n", " ")
        return init, [line for line in script.splitlines() if "--create" in line]

    def test_kafka_init_creates_both_topics_with_their_policies(self):
        init, creates = self.init_blocks()
        self.assertEqual(init.get("restart"), "no")
        self.assertEqual(init["depends_on"]["kafka"]["condition"], "service_healthy")
        self.assertEqual(len(creates), 2)
        events, dlq = creates
        for block in creates:
            self.assertIn("--if-not-exists", block)
        self.assertIn('--topic "$$TOPIC"', events)
        self.assertIn('--partitions "$$PARTITIONS"', events)
        self.assertIn("cleanup.policy=compact,delete", events)
        self.assertIn('retention.ms="$$EVENTS_RETENTION_MS"', events)
        self.assertIn('--topic "$$DLQ_TOPIC"', dlq)
        self.assertIn("cleanup.policy=delete", dlq)
        self.assertNotIn("compact", dlq)
        self.assertIn('retention.ms="$$DLQ_RETENTION_MS"', dlq)

        env = init["environment"]
        table = table_settings(config_docs())
        self.assertEqual(interpolation_default(env["TOPIC"], "MLC_TOPIC"), table["MLC_TOPIC"])
        self.assertEqual(interpolation_default(env["DLQ_TOPIC"], "MLC_DLQ_TOPIC"),
                         table["MLC_DLQ_TOPIC"])
        self.assertEqual(interpolation_default(env["PARTITIONS"], "STACK_TOPIC_PARTITIONS"), "6")
        events_ms = int(interpolation_default(env["EVENTS_RETENTION_MS"],
                                              "STACK_EVENTS_RETENTION_MS"))
        dlq_ms = int(interpolation_default(env["DLQ_RETENTION_MS"], "STACK_DLQ_RETENTION_MS"))
        day = 86400 * 1000
        # Replay rebuilds every customer only if the monthly full republish
        # lands well inside the retention; the DLQ must outlive a holiday.
        self.assertGreaterEqual(events_ms, 365 * day)
        self.assertGreaterEqual(dlq_ms, 30 * day)

    def test_loader_scales(self):
        loader = self.services["loader"]
        self.assertNotIn("container_name", loader)
        self.assertNotIn("ports", loader)
        self.assertNotIn("hostname", loader)
        # The named volume is shared by every replica: each must take its own
        # state slot (mlc-worker: an flock and its own MLC_STATE_DB), which
        # needs slots and an MLC_STATE_DB left unset.
        self.assertEqual(loader["volumes"], ["loader-state:/var/lib/mlc"])
        self.assertEqual(loader["entrypoint"], ["/usr/local/bin/mlc-worker"])
        self.assertGreater(int(interpolation_default(loader["environment"]["WORKER_STATE_SLOTS"],
                                                     "STACK_LOADER_STATE_SLOTS")), 1)
        self.assertNotIn("MLC_STATE_DB", loader["environment"])
        self.assertIsNone(re.search(r"(?m)^MLC_STATE_DB=", read(ENV_EXAMPLE)))
        self.assertNotIn("replicas", loader.get("deploy", {}))

    def test_fatal_exit_is_held_before_a_restart(self):
        """exit 2 (a Cloudflare block among others) must not restart at once."""
        for name in ("extractor", "loader"):
            svc = self.services[name]
            self.assertEqual(svc["restart"], "unless-stopped", name)
            self.assertEqual(svc["entrypoint"], ["/usr/local/bin/mlc-worker"], name)
            hold = interpolation_default(svc["environment"]["WORKER_FATAL_HOLD_S"],
                                         "STACK_FATAL_HOLD_S")
            self.assertGreaterEqual(int(hold), 600, name)

    def test_secrets_stay_out_of_the_file_and_out_of_git(self):
        files = {}
        for secret, var in (("mlc_master_key", "STACK_MASTER_KEY_FILE"),
                            ("event_key", "STACK_EVENT_KEY_FILE"),
                            ("sage_password", "STACK_SAGE_PASSWORD_FILE"),
                            ("pipedrive_token", "STACK_PIPEDRIVE_TOKEN_FILE")):
            files[secret] = interpolation_default(self.doc["secrets"][secret]["file"], var)
            self.assertTrue(files[secret], secret)
        for name in ("extractor", "loader"):
            svc = self.services[name]
            self.assertEqual(svc["env_file"], ".env")
            self.assertIn("mlc_master_key", svc["secrets"])
            self.assertEqual(svc["environment"]["MLC_MASTER_KEY_FILE"],
                             "/run/secrets/mlc_master_key")
            # both sides of signed events hold the event key
            self.assertIn("event_key", svc["secrets"])
            self.assertEqual(svc["environment"]["MLC_EVENT_KEY_FILE"],
                             "/run/secrets/event_key")
            # each worker reads its own secret from its compose secret, and
            # only its own
            for setting, secret in SECRETS[name].items():
                self.assertIn(secret, svc["secrets"], name)
                self.assertEqual(svc["environment"][f"{setting}_FILE"],
                                 f"/run/secrets/{secret}", name)
            other = {s for w, m in SECRETS.items() if w != name for s in m.values()}
            self.assertEqual(other & set(svc["secrets"]), set(), name)
        # no secret setting in any environment of the file
        for name, svc in self.services.items():
            for key in svc.get("environment") or {}:
                self.assertNotIn(key, ("MLC_SAGE_PASSWORD", "MLC_PIPEDRIVE_TOKEN",
                                       "MLC_RDKAFKA_SASL_PASSWORD"), name)
        # nor in the env_file's template: commented out, no value
        example = read(ENV_EXAMPLE)
        for setting in ("MLC_SAGE_PASSWORD", "MLC_PIPEDRIVE_TOKEN"):
            self.assertNotRegex(example, rf"(?m)^{setting}=", setting)
            self.assertIn(f"#{setting}=\n", example)
        if shutil.which("git") and os.path.exists(os.path.join(SRC, ".git")):
            for path in ["compose/.env"] + [os.path.normpath(os.path.join("compose", f))
                                            for f in files.values()]:
                r = subprocess.run(["git", "-C", SRC, "check-ignore", "-q", path])
                self.assertEqual(r.returncode, 0, f"{path} is not git-ignored")

    def test_docker_compose_config(self):
        try:
            r = subprocess.run(["docker", "compose", "version"], capture_output=True,
                               timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            raise unittest.SkipTest("docker client not installed")
        if r.returncode != 0:
            raise unittest.SkipTest("docker compose plugin not installed: "
                                    "`docker compose config` not run")
        # A scratch project directory holds the .env and the key file that
        # an operator would create, so nothing is written into the checkout.
        work = tempfile.mkdtemp(prefix="mlc-compose-")
        self.addCleanup(shutil.rmtree, work, True)
        env = dict(os.environ)
        for var, name in (("STACK_MASTER_KEY_FILE", "mlc.key"),
                          ("STACK_EVENT_KEY_FILE", "event.key"),
                          ("STACK_SAGE_PASSWORD_FILE", "sage_password"),
                          ("STACK_PIPEDRIVE_TOKEN_FILE", "pipedrive_token")):
            with open(os.path.join(work, name), "w") as f:
                f.write("x\n")
            env[var] = os.path.join(work, name)
        shutil.copy(ENV_EXAMPLE, os.path.join(work, ".env"))
        r = subprocess.run(["docker", "compose", "-f", COMPOSE, "--project-directory", work,
                            "config", "-q"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)


class DockerfileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.df = Dockerfile(read(DOCKERFILE))

    def test_multi_stage_on_pinned_debian_12(self):
        self.assertGreaterEqual(len(self.df.stages), 2)
        for stage in self.df.stages:
            self.assertRegex(stage["image"], r"^debian:12\.\d+-slim(@sha256:[0-9a-f]{64})?$")
        self.assertEqual([s["name"] for s in self.df.stages], ["build", "runtime"])
        build = self.df.stage("build")
        self.assertTrue(any(w == "RUN" and "-DCMAKE_BUILD_TYPE=Release" in r
                            for w, r in build["lines"]))
        runs = " ".join(r for w, r in build["lines"] if w == "RUN")
        for prog in ("mlc-extractor", "mlc-loader", "mlc"):
            self.assertRegex(runs, rf"--target [^&]*\b{prog}\b")

    def test_runtime_stage_has_libraries_but_no_toolchain(self):
        runtime = self.df.stages[-1]
        pkgs = Dockerfile.installed(runtime)
        self.assertTrue(RUNTIME_LIBS <= set(pkgs), RUNTIME_LIBS - set(pkgs))
        self.assertFalse([p for p in pkgs if p.endswith("-dev")], pkgs)
        self.assertFalse(COMPILERS & set(pkgs), pkgs)
        self.assertTrue(any(w == "COPY" and r.startswith("--from=build") for w, r in
                            runtime["lines"]))
        build_pkgs = Dockerfile.installed(self.df.stage("build"))
        self.assertIn("gcc", build_pkgs)

    def test_runtime_installs_the_package_of_every_needed_library(self):
        """NEEDED sonames of the built programs -> Debian packages (readelf, dpkg -S)."""
        if not (shutil.which("readelf") and shutil.which("dpkg")):
            raise unittest.SkipTest("readelf or dpkg missing")
        pkgs = set(Dockerfile.installed(self.df.stages[-1])) | {"libc6"}
        checked = 0
        for prog in ("mlc-extractor", "mlc-loader", "mlc"):
            out = subprocess.run(["readelf", "-d", mlctest.binary(prog)], capture_output=True,
                                 text=True, check=True).stdout
            for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out):
                if soname.startswith(("libasan", "libubsan")):
                    continue  # sanitizer builds
                owner = subprocess.run(["dpkg", "-S", f"*/{soname}"], capture_output=True,
                                       text=True)
                if owner.returncode != 0:
                    continue
                pkg = owner.stdout.split(":")[0].strip()
                self.assertIn(pkg, pkgs, f"{prog} needs {soname} from {pkg}")
                checked += 1
        self.assertGreater(checked, 0)

    def test_runs_as_non_root_with_healthcheck_and_state_volume(self):
        runtime = self.df.stages[-1]
        words = [w for w, _ in runtime["lines"]]
        users = [r.strip() for w, r in runtime["lines"] if w == "USER"]
        self.assertTrue(users, "no USER")
        uid = users[-1].split(":")[0]
        self.assertNotIn(uid, ("root", "0"))
        self.assertRegex(uid, r"^\d+$", "a fixed numeric uid, so host files can be chowned")
        self.assertIn(f"--uid {uid}", " ".join(r for w, r in runtime["lines"] if w == "RUN"))
        hc = [r for w, r in runtime["lines"] if w == "HEALTHCHECK"]
        self.assertEqual(len(hc), 1)
        self.assertIn("/usr/local/bin/mlc-healthcheck", hc[0])
        self.assertIn("VOLUME", words)
        self.assertIn('["/var/lib/mlc"]', [r for w, r in runtime["lines"] if w == "VOLUME"])
        self.assertIn("/var/lib/mlc", [r for w, r in runtime["lines"] if w == "WORKDIR"])
        self.assertIn("CMD", words)

    def test_dockerignore_is_an_allow_list_without_secrets(self):
        lines = [ln.strip() for ln in read(os.path.join(SRC, ".dockerignore")).splitlines()
                 if ln.strip() and not ln.startswith("#")]
        self.assertEqual(lines[0], "*")
        for pattern in ("**/*.key", "**/.env", "**/*.db"):
            self.assertIn(pattern, lines)
        # Everything the build copies is allowed in.
        for path in ("CMakeLists.txt", "common/", "tests/", "schemas/", "compose/image/"):
            self.assertIn("!" + path, lines)


class EnvExampleTest(unittest.TestCase):

    def test_env_example_is_generated_from_the_table(self):
        docs = config_docs()
        gen = subprocess.run(["/usr/bin/python3", GEN], input=docs, capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(gen.returncode, 0, gen.stderr)
        self.assertEqual(read(ENV_EXAMPLE), gen.stdout,
                         "compose/.env.example is stale: run `build/mlc config docs | "
                         "compose/gen-env-example.py > compose/.env.example`")

    def test_every_setting_is_listed_and_nothing_else(self):
        table = table_settings(config_docs())
        self.assertGreater(len(table), 20)
        listed = re.findall(r"^#?(MLC_[A-Z0-9_]+)=", read(ENV_EXAMPLE), re.M)
        self.assertEqual(len(listed), len(set(listed)), "a setting is listed twice")
        self.assertEqual(set(listed) - set(table), set(), "listed but not in the table")
        self.assertEqual(set(table) - set(listed), set(), "in the table but not listed")
        self.assertIn("MLC_KAFKA_BROKERS=kafka:9092", read(ENV_EXAMPLE).splitlines())

    def test_stack_variables_match_the_compose_file(self):
        compose = read(COMPOSE)
        used = dict(re.findall(r"\$\{(STACK_[A-Z0-9_]+):-([^}]*)\}", compose))
        listed = dict(re.findall(r"^#?(STACK_[A-Z0-9_]+)=(.*)$", read(ENV_EXAMPLE), re.M))
        self.assertEqual(set(used), set(listed))
        for name, default in used.items():
            self.assertEqual(listed[name].strip('"'), default, name)
        # Every MLC_ variable compose interpolates is a real setting.
        table = table_settings(config_docs())
        for name in re.findall(r"\$\{(MLC_[A-Z0-9_]+)", compose):
            self.assertIn(name, table)


class ComposeSpecTest(unittest.TestCase):
    """The compose file against the Compose Specification schema and docker-compose 1.29."""

    @classmethod
    def setUpClass(cls):
        import jsonschema
        with open(COMPOSE_SPEC, encoding="utf-8") as f:
            cls.validator = jsonschema.Draft201909Validator(json.load(f))

    def errors(self, doc):
        doc = dict(doc)
        # Compose v2's project name postdates the vendored schema: checked here.
        name = doc.pop("name", None)
        errs = [f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}"
                for e in self.validator.iter_errors(doc)]
        if name is not None and not re.match(r"^[a-z0-9][a-z0-9_-]*$", str(name)):
            errs.append(f"name: {name!r} is not a valid project name")
        return errs

    def test_compose_file_and_overrides_follow_the_spec(self):
        for path in [COMPOSE] + [p for p in OVERRIDES if os.path.exists(p)]:
            doc = yaml.safe_load(read(path))
            self.assertEqual(self.errors(doc), [], path)

    def test_the_schema_catches_mistakes(self):
        """The validation is not vacuous: typical slips are reported."""
        doc = yaml.safe_load(read(COMPOSE))
        bad = json.loads(json.dumps(doc))
        bad["services"]["loader"]["restrat"] = "always"
        self.assertTrue(any("restrat" in e for e in self.errors(bad)), self.errors(bad))
        bad = json.loads(json.dumps(doc))
        bad["services"]["loader"]["healthcheck"]["retries"] = "three"
        self.assertTrue(self.errors(bad))
        bad = json.loads(json.dumps(doc))
        bad["name"] = "ML Connector"
        self.assertTrue(self.errors(bad))

    def test_docker_compose_config(self):
        """Debian's docker-compose 1.29 resolves the file, .env included, without an engine."""
        require_tool("docker-compose", "`docker-compose config` not run")
        work = tempfile.mkdtemp(prefix="mlc-compose1-")
        self.addCleanup(shutil.rmtree, work, True)
        # 1.29 predates `name:`: the same project name is given with -p.
        with open(os.path.join(work, "docker-compose.yml"), "w") as f:
            f.write(re.sub(r"(?m)^name: .*\n", "", read(COMPOSE)))
        shutil.copy(ENV_EXAMPLE, os.path.join(work, ".env"))
        os.makedirs(os.path.join(work, "secrets"))
        for name in ("mlc.key", "event.key", "sage_password", "pipedrive_token"):
            with open(os.path.join(work, "secrets", name), "w") as f:
                f.write("x\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MLC_", "STACK_", "COMPOSE_"))}
        base = ["docker-compose", "-p", "ml-connector", "--project-directory", work,
                "-f", os.path.join(work, "docker-compose.yml")]
        r = subprocess.run(base + ["config", "-q"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(base + ["config"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = yaml.safe_load(r.stdout)
        loader = doc["services"]["loader"]
        # .env reached the workers and the structural settings won over it
        self.assertEqual(loader["environment"]["MLC_KAFKA_BROKERS"], "kafka:9092")
        self.assertEqual(loader["environment"]["MLC_MASTER_KEY_FILE"],
                         "/run/secrets/mlc_master_key")
        self.assertEqual(doc["volumes"].keys(), {"kafka-data", "extractor-state",
                                                 "loader-state", "prometheus-data"})
        self.assertEqual(loader["environment"]["WORKER_STATE_SLOTS"], "16")
        self.assertEqual(loader["environment"]["MLC_PIPEDRIVE_TOKEN_FILE"],
                         "/run/secrets/pipedrive_token")
        self.assertNotIn("MLC_PIPEDRIVE_TOKEN", loader["environment"])
        self.assertNotIn("MLC_SAGE_PASSWORD", doc["services"]["extractor"]["environment"])
        # and a broken file is refused, so the check can fail
        with open(os.path.join(work, "docker-compose.yml"), "a") as f:
            f.write("  oops: [\n")
        r = subprocess.run(base + ["config", "-q"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertNotEqual(r.returncode, 0)


class SaslOverrideTest(unittest.TestCase):
    """compose/docker-compose.sasl.yml: SASL_SSL, ACLs, one user per program."""

    # compose/kafka-acls.sh's rights: (user, resource type, name) -> operations
    RIGHTS = {("mlc-extractor", "topic", "$topic"): {"Write", "Describe"},
              ("mlc-loader", "topic", "$topic"): {"Read", "Describe"},
              ("mlc-loader", "group", "$group"): {"Read"},
              ("mlc-loader", "topic", "$dlq"): {"Write", "Describe"},
              ("mlc-operator", "topic", "$dlq"): {"Read", "Describe"},
              ("mlc-operator", "group", "$reader"): {"Describe"},
              ("mlc-operator", "topic", "$topic"): {"Write", "Describe"}}

    def config(self, *files, work=None):
        """`docker-compose config` (1.29) of the base file plus files."""
        require_tool("docker-compose", "`docker-compose config` not run")
        work = work or tempfile.mkdtemp(prefix="mlc-sasl-")
        self.addCleanup(shutil.rmtree, work, True)
        with open(os.path.join(work, "docker-compose.yml"), "w") as f:
            f.write(re.sub(r"(?m)^name: .*\n", "", read(COMPOSE)))
        for path in files:
            shutil.copy(path, work)
        shutil.copy(ENV_EXAMPLE, os.path.join(work, ".env"))
        os.makedirs(os.path.join(work, "secrets"), exist_ok=True)
        for name in ("mlc.key", "event.key", "sage_password", "pipedrive_token", "kafka_ca.pem",
                     "kafka_extractor_password", "kafka_loader_password",
                     "kafka_operator_password"):
            with open(os.path.join(work, "secrets", name), "w") as f:
                f.write("x\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MLC_", "STACK_", "COMPOSE_"))}
        args = ["docker-compose", "-p", "ml-connector", "--project-directory", work,
                "-f", os.path.join(work, "docker-compose.yml")]
        for path in files:
            args += ["-f", os.path.join(work, os.path.basename(path))]
        r = subprocess.run(args + ["config"], capture_output=True, text=True, env=env,
                           timeout=60)
        return r, work

    def test_override_resolves_with_docker_compose(self):
        r, work = self.config(SASL_OVERRIDE)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = yaml.safe_load(r.stdout)
        svc = doc["services"]
        kafka = svc["kafka"]["environment"]
        self.assertEqual(kafka["KAFKA_AUTHORIZER_CLASS_NAME"],
                         "org.apache.kafka.metadata.authorizer.StandardAuthorizer")
        self.assertEqual(kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"], "false")
        self.assertEqual(kafka["KAFKA_SASL_ENABLED_MECHANISMS"], "SCRAM-SHA-512")
        # every listener a client reaches is SASL_SSL; the controller binds loopback
        protocols = dict(p.split(":") for p in
                         kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        for listener in kafka["KAFKA_LISTENERS"].split(","):
            name, _, addr = listener.partition("://")
            if name == "CONTROLLER":
                self.assertTrue(addr.startswith("localhost:"), listener)
            else:
                self.assertEqual(protocols[name], "SASL_SSL", listener)
        for listener in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","):
            self.assertEqual(protocols[listener.split("://")[0]], "SASL_SSL", listener)
        # the healthcheck logs in; kafka-init runs compose's topic command and the ACLs
        self.assertIn("--command-config", " ".join(svc["kafka"]["healthcheck"]["test"]))
        init = svc["kafka-init"]
        self.assertIn("/etc/kafka/mlc/kafka-acls.sh", init["entrypoint"][2])
        self.assertEqual(init["command"], yaml.safe_load(read(COMPOSE))["services"]
                         ["kafka-init"]["command"])
        # the one line the override's entrypoint rewrites is there
        self.assertIn("bin=/opt/kafka/bin/kafka-topics.sh",
                      [line.strip() for line in init["command"][0].splitlines()])
        users = {}
        for name in ("extractor", "loader", "mlc"):
            env = svc[name]["environment"]
            self.assertEqual(env["MLC_RDKAFKA_SECURITY_PROTOCOL"], "SASL_SSL", name)
            self.assertEqual(env["MLC_RDKAFKA_SASL_MECHANISMS"], "SCRAM-SHA-512", name)
            self.assertNotIn("MLC_RDKAFKA_SASL_PASSWORD", env, name)
            secret = env["MLC_RDKAFKA_SASL_PASSWORD_FILE"].rsplit("/", 1)[1]
            self.assertIn(secret, [s if isinstance(s, str) else s["source"]
                                   for s in svc[name]["secrets"]], name)
            users[name] = env["MLC_RDKAFKA_SASL_USERNAME"]
        self.assertEqual(users, {"extractor": "mlc-extractor", "loader": "mlc-loader",
                                 "mlc": "mlc-operator"})
        # the base file's secrets are still there
        self.assertEqual(svc["loader"]["environment"]["MLC_PIPEDRIVE_TOKEN_FILE"],
                         "/run/secrets/pipedrive_token")
        # and a broken override is refused, so the check can fail
        with open(os.path.join(work, os.path.basename(SASL_OVERRIDE)), "a") as f:
            f.write("  oops: [\n")
        r, _ = self.config(os.path.join(work, os.path.basename(SASL_OVERRIDE)))
        self.assertNotEqual(r.returncode, 0)

    def test_override_follows_the_spec(self):
        import jsonschema
        with open(COMPOSE_SPEC, encoding="utf-8") as f:
            validator = jsonschema.Draft201909Validator(json.load(f))
        errs = [f"{'/'.join(map(str, e.path))}: {e.message}"
                for e in validator.iter_errors(yaml.safe_load(read(SASL_OVERRIDE)))]
        self.assertEqual(errs, [])

    def test_acl_script_grants_exactly_the_documented_rights(self):
        script = read(os.path.join(SRC, "compose", "kafka-acls.sh"))
        got = {}
        for m in re.finditer(r"^allow (\S+) ([A-Za-z ]+) -- --(topic|group) \"(\$\w+)\"$",
                             script, re.M):
            key = (m.group(1), m.group(3), m.group(4))
            self.assertNotIn(key, got, "granted twice")
            got[key] = set(m.group(2).split())
        self.assertEqual(got, self.RIGHTS)
        self.assertEqual(len(re.findall(r"^allow ", script, re.M)), len(self.RIGHTS))
        self.assertNotRegex(script, r"--operation (All|Create|Delete|Alter)\b")


class MlcNamesTest(unittest.TestCase):

    def test_every_mlc_name_in_the_deployment_files_is_a_setting(self):
        docs = config_docs()
        table = set(table_settings(docs))
        secret_settings = set(re.findall(r"^\| `(MLC_[A-Z0-9_]+)` \| secret \|", docs, re.M))
        self.assertIn("MLC_PIPEDRIVE_TOKEN", secret_settings)
        files = [COMPOSE, ENV_EXAMPLE, DOCKERFILE] + [p for p in OVERRIDES
                                                       if os.path.exists(p)]
        for path in files:
            for name in sorted(set(re.findall(r"\bMLC_[A-Z0-9_]*[A-Z0-9]\b", read(path)))):
                if name.startswith("MLC_RDKAFKA_"):
                    continue  # librdkafka pass-through (docs/configuration.md)
                if name.endswith("_FILE") and name[:-5] in secret_settings:
                    continue  # a secret's file form (docs/configuration.md)
                self.assertIn(name, table, f"{os.path.relpath(path, SRC)} names {name}, "
                                           "which is not a setting")


class ExampleValuesTest(mlctest.TestCase):
    """The values .env.example shows are accepted by the programs that read them."""

    def example_settings(self):
        """KEY=VALUE for every non-empty value of .env.example (commented defaults
        uncommented), plus the MLC_MAPPING file its note suggests, mapped to the
        repository (the image copies schemas/ to /usr/share/mlc/schemas/)."""
        text = read(ENV_EXAMPLE)
        values = {}
        for name, value in re.findall(r"^#?(MLC_[A-Z0-9_]+)=(.*)$", text, re.M):
            if value and "<" not in value:
                values[name] = value
        suggested = re.findall(r"(/usr/share/mlc/schemas/[\w.-]+)", text)
        self.assertTrue(suggested, "no mapping file suggested in .env.example")
        for path in suggested:
            self.assertTrue(os.path.exists(os.path.join(SRC, "schemas",
                                                        os.path.basename(path))), path)
        # the first file the note of MLC_MAPPING names is the one to use
        block = re.search(r"^# MLC_MAPPING .*?^#?MLC_MAPPING=", text, re.M | re.S).group(0)
        mapping = re.search(r"(/usr/share/mlc/schemas/[\w.-]+)", block)
        self.assertTrue(mapping, "the MLC_MAPPING note suggests no file")
        values["MLC_MAPPING"] = os.path.join(os.path.abspath(SRC), "schemas",
                                             os.path.basename(mapping.group(1)))
        return values

    def test_example_values_start_both_workers(self):
        values = self.example_settings()
        conf = os.path.join(self.workdir, "example.conf")
        with open(conf, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in values.items())
        _, brokers = self.devbroker()
        sage = self.procs.start_server([mlctest.binary("mlc-sage-sim"), "--port", "0",
                                        "--customers", "3"], name="sage-sim").first_line
        pd = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--port", "0",
                                      "--token", "example-token"],
                                     name="pipedrive-sim").first_line
        # What an operator fills in; the environment wins over the file.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLC_")}
        env.update(MLC_KAFKA_BROKERS=brokers, MLC_SAGE_URL=sage, MLC_SAGE_COMPANIES="SAMINC",
                   MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD="webapi", MLC_PIPEDRIVE_URL=pd,
                   MLC_PIPEDRIVE_TOKEN="example-token", MLC_METRICS_PORT="0",
                   MLC_STATE_DB=os.path.join(self.workdir, "state.db"))
        for args in (["mlc-extractor", "ping"], ["mlc-loader", "ping"],
                     ["mlc-loader", "setup"]):
            r = subprocess.run([mlctest.binary(args[0]), "--config", conf, *args[1:]],
                               capture_output=True, text=True, env=env, timeout=120,
                               cwd=self.workdir)
            self.assertEqual(r.returncode, 0, f"{' '.join(args)} with the example values "
                                              f"({conf}):\n{r.stderr[-2000:]}")
        # the suggested mapping is really used: a broken copy is refused
        broken = os.path.join(self.workdir, "broken.json")
        with open(values["MLC_MAPPING"], encoding="utf-8") as f:
            doc = json.load(f)
        doc["$id"] = "x"
        with open(broken, "w") as f:
            json.dump(doc, f)
        r = subprocess.run([mlctest.binary("mlc-loader"), "--config", conf, "setup"],
                           capture_output=True, text=True, env=dict(env, MLC_MAPPING=broken),
                           timeout=120, cwd=self.workdir)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn('unknown key "$id"', r.stderr)


WORKER = os.path.join(SRC, "compose", "image", "mlc-worker")


class WorkerScriptTest(unittest.TestCase):
    """compose/image/mlc-worker: state slots and the hold after exit 2."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mlc-worker-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("MLC_", "WORKER_"))}
        self.env.update(WORKER_STATE_DIR=self.dir)

    def start(self, script, **env):
        return subprocess.Popen(["/bin/sh", WORKER, "/bin/sh", "-c", script],
                                env=dict(self.env, **env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def test_replicas_take_distinct_slots_and_get_them_back(self):
        first = self.start('echo "$MLC_STATE_DB"; exec sleep 30', WORKER_STATE_SLOTS="2")
        self.addCleanup(first.kill)
        mlctest.wait_for(lambda: os.path.exists(os.path.join(self.dir, "slot-1.lock")),
                         what="slot 1 taken")
        time.sleep(0.2)
        second = subprocess.run(["/bin/sh", WORKER, "/bin/sh", "-c", 'echo "$MLC_STATE_DB"'],
                                env=dict(self.env, WORKER_STATE_SLOTS="2"),
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(second.stdout.strip(), os.path.join(self.dir, "sh-2.db"))
        # two taken (slot 1 by `first`, slot 2 by a sleeper): a third is refused
        sleeper = self.start('exec sleep 30', WORKER_STATE_SLOTS="2")
        self.addCleanup(sleeper.kill)
        time.sleep(0.5)
        third = subprocess.run(["/bin/sh", WORKER, "/bin/sh", "-c", "exit 0"],
                               env=dict(self.env, WORKER_STATE_SLOTS="2"),
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(third.returncode, 2)
        self.assertIn("all 2 state slots", third.stderr)
        first.terminate()
        self.assertEqual(first.communicate(timeout=30)[0].strip(),
                         os.path.join(self.dir, "sh-1.db"))
        again = subprocess.run(["/bin/sh", WORKER, "/bin/sh", "-c", 'echo "$MLC_STATE_DB"'],
                               env=dict(self.env, WORKER_STATE_SLOTS="2"),
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(again.stdout.strip(), os.path.join(self.dir, "sh-1.db"))
        # a configured MLC_STATE_DB is left alone
        own = subprocess.run(["/bin/sh", WORKER, "/bin/sh", "-c", 'echo "$MLC_STATE_DB"'],
                             env=dict(self.env, WORKER_STATE_SLOTS="2", MLC_STATE_DB="/x.db"),
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(own.stdout.strip(), "/x.db")

    def test_exit_2_is_held_and_other_statuses_pass_through(self):
        t0 = time.monotonic()
        p = self.start("exit 2", WORKER_FATAL_HOLD_S="2")
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertGreaterEqual(time.monotonic() - t0, 1.9)
        self.assertIn("exited 2 (fatal", err)
        for code in (0, 1):
            t0 = time.monotonic()
            p = self.start(f"exit {code}", WORKER_FATAL_HOLD_S="30")
            p.communicate(timeout=30)
            self.assertEqual(p.returncode, code)
            self.assertLess(time.monotonic() - t0, 5)
        # docker compose stop during the hold ends it at once
        p = self.start("exit 2", WORKER_FATAL_HOLD_S="60")
        self.assertIn("exited 2 (fatal", p.stderr.readline())  # holding now
        t0 = time.monotonic()
        p.terminate()
        p.communicate(timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertLess(time.monotonic() - t0, 5)
        # and SIGTERM reaches the program
        p = self.start('trap "exit 0" TERM; echo ready; sleep 60 >/dev/null 2>&1 & wait',
                       WORKER_FATAL_HOLD_S="60")
        self.assertEqual(p.stdout.readline(), "ready\n")  # the trap is set
        p.terminate()
        p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        body = b"ok\n" if self.status == 200 else b"last cycle failed\n"
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HealthcheckScriptTest(unittest.TestCase):

    def run_script(self, env):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MLC_METRICS")}
        clean.update(env)
        return subprocess.run(["/bin/sh", HEALTHCHECK], env=clean, capture_output=True,
                              text=True, timeout=30)

    def test_script_is_executable_posix_sh(self):
        self.assertTrue(os.access(HEALTHCHECK, os.X_OK))
        self.assertEqual(subprocess.run(["/bin/sh", "-n", HEALTHCHECK]).returncode, 0)

    def test_port_off_is_healthy(self):
        r = self.run_script({"MLC_METRICS_PORT": "0"})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_status_decides_and_refused_is_unhealthy(self):
        if not shutil.which("curl"):
            raise unittest.SkipTest("curl missing")
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        port = str(srv.server_address[1])
        for bind in ("0.0.0.0", "127.0.0.1"):
            _Health.status = 200
            r = self.run_script({"MLC_METRICS_PORT": port, "MLC_METRICS_BIND": bind})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "ok\n")
            _Health.status = 503
            r = self.run_script({"MLC_METRICS_PORT": port, "MLC_METRICS_BIND": bind})
            self.assertEqual(r.returncode, 1)
            self.assertIn("last cycle failed", r.stdout)
        _Health.status = 200
        r = self.run_script({"MLC_METRICS_PORT": str(mlctest.free_port())})
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    mlctest.main()
