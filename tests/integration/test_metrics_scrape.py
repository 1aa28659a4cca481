"""/metrics and /healthz of both workers during and after a sync:
the extractor's Sage request counters equal mlc-sage-sim's own
/_sim/counters, the loader's Pipedrive calls, tokens and 429s equal
mlc-pipedrive-sim's /_sim/stats; /healthz turns 503 with the reason when a
cycle fails (Sage answering 503 past the retries) and 200 again after the
next good cycle. The loader's health rules (block, budget pause,
poll interval) are unit-tested in tests/unit/test_ld_metrics.c: a block ends
the loader (exit 2), so its 503 is only visible for an instant. Other test files import scrape() and metric()."""
import os
import re
import urllib.error
import shutil
import subprocess
import unittest
import urllib.request

import mlctest
from mlctest import free_port, http_json, wait_for
from test_loader import TOKEN

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_NOPROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(port, path):
    """(status, body text) of GET http://127.0.0.1:port/path."""
    try:
        with _NOPROXY.open(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(port):
    """The samples of /metrics: [(name, {label: value}, float)]."""
    status, text = get(port, "/metrics")
    if status != 200:
        raise OSError(f"/metrics answered {status}")
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise AssertionError(f"not exposition format: {line!r}")
        labels = dict(_LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric(samples, name, **labels):
    """Sum of the samples of name whose labels include labels."""
    return sum(v for n, lb, v in samples
               if n == name and all(lb.get(k) == str(w) for k, w in labels.items()))


def by_label(samples, name, label):
    """{label value: summed value} of a family."""
    out = {}
    for n, lb, v in samples:
        if n == name:
            out[lb[label]] = out.get(lb[label], 0) + v
    return out


class MetricsScrape(mlctest.TestCase):
    def setUp(self):
        super().setUp()
        if not shutil.which("kcat"):
            raise mlctest.missing("kcat is not installed")
        self.sage = self.procs.start_server(
            [mlctest.binary("mlc-sage-sim"), "--port", "0", "--company", "SAMINC",
             "--customers", "40", "--seed", "5", "--today", "2024-03-18"], name="sage-sim")
        self.pd = self.procs.start_server(
            [mlctest.binary("mlc-pipedrive-sim"), "--token", TOKEN], name="pdsim")
        _, self.bootstrap = self.devbroker(partitions=3)
        self.common = {"MLC_KAFKA_BROKERS": self.bootstrap,
                       "MLC_RDKAFKA_SESSION_TIMEOUT_MS": "6000", "MLC_METRICS_BIND": "127.0.0.1"}

    def start_extractor(self, port, **env):
        full = dict(self.common, MLC_SAGE_URL=self.sage.first_line, MLC_SAGE_COMPANIES="SAMINC",
                    MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD="webapi",
                    MLC_STATE_DB=os.path.join(self.workdir, "extractor.db"),
                    MLC_METRICS_PORT=str(port))
        full.update(env)
        return self.procs.start([mlctest.binary("mlc-extractor"), "run"], env=full,
                                name="extractor")

    def start_loader(self, port, **env):
        return self.procs.start([mlctest.binary("mlc-loader"), "run"], env=dict(
            self.common, MLC_PIPEDRIVE_URL=self.pd.first_line, MLC_PIPEDRIVE_TOKEN=TOKEN,
            MLC_PIPEDRIVE_PLAN="ultimate", MLC_STATE_DB=os.path.join(self.workdir, "loader.db"),
            MLC_METRICS_PORT=str(port), **env), name="loader")

    def sim(self, base, path, method="GET", body=None):
        status, _, doc = http_json(method, base.rstrip("/") + path, body)
        self.assertIn(status, (200, 201), doc)
        return doc

    def sage_base(self):
        return self.sage.first_line.split("/Sage300WebApi")[0]

    def sage_counts(self):
        """{status: requests} over every Sage API route of the simulator."""
        out = {}
        for route, per in self.sim(self.sage_base(), "/_sim/counters")["routes"].items():
            for st, n in per.items():
                out[st] = out.get(st, 0) + n
        return out

    def scraped(self, port, alive):
        try:
            return scrape(port)
        except OSError:
            self.assertTrue(alive.alive(), alive.stderr()[-3000:])
            return None

    def test_counters_match_the_sandboxes_and_health_follows_failures(self):
        ep, lp = free_port(), free_port()
        # one cycle, then an hour's sleep: the counters are quiescent to compare
        ext = self.start_extractor(ep, MLC_POLL_INTERVAL="3600")
        ld = self.start_loader(lp)
        wait_for(lambda: (s := self.scraped(ep, ext)) is not None and
                 metric(s, "mlc_extractor_cycles_total", company="SAMINC") >= 1,
                 timeout=120, what="the extractor's first cycle")
        # during the sync: both healthy
        self.assertEqual(get(ep, "/healthz"), (200, "ok\n"))
        wait_for(lambda: self.scraped(lp, ld) is not None, timeout=60, what="loader metrics")
        self.assertEqual(get(lp, "/healthz"), (200, "ok\n"))
        es = scrape(ep)
        self.assertEqual(metric(es, "mlc_extractor_cycles_total", company="SAMINC",
                                result="ok"), 1, ext.stderr()[-3000:])
        self.assertEqual(metric(es, "mlc_extractor_records_read_total", company="SAMINC"), 40)
        self.assertEqual(metric(es, "mlc_extractor_records_total", company="SAMINC",
                                outcome="published"), 40)
        self.assertEqual(metric(es, "mlc_extractor_delivery_failures_total"), 0)
        # loopback http:// and verified TLS: no weakening setting is on
        self.assertEqual(sorted((lb["setting"], v) for n, lb, v in es
                                if n == "mlc_insecure_setting"),
                         [("MLC_ALLOW_PLAINTEXT_HTTP", 0), ("MLC_SAGE_INSECURE", 0)])
        self.assertLess(metric(es, "mlc_extractor_watermark_age_seconds", company="SAMINC"), 600)
        self.assertGreater(metric(es, "mlc_extractor_last_cycle_duration_seconds",
                                  company="SAMINC"), 0)
        # every Sage request, by status, as the simulator counted it
        ours = {k: int(v) for k, v in
                by_label(es, "mlc_extractor_sage_requests_total", "status").items()}
        self.assertEqual(ours, self.sage_counts())
        self.assertGreater(ours.get("200", 0), 1)

        # the loader, once it is idle, against /_sim/stats
        wait_for(lambda: metric(scrape(lp), "mlc_loader_events_total", outcome="created") >= 40
                 or not ld.alive(), timeout=120, what="the loader creating 40 organizations")
        wait_for(lambda: metric(scrape(lp), "mlc_loader_consumer_lag") == 0 or not ld.alive(),
                 timeout=60, what="no consumer lag")
        self.assertTrue(ld.alive(), ld.stderr()[-3000:])
        ls = scrape(lp)
        stats = self.sim(self.pd.first_line, "/_sim/stats")
        ops = stats["operations"]
        self.assertEqual(metric(ls, "mlc_loader_events_total", outcome="created"), 40)
        self.assertEqual(metric(ls, "mlc_loader_events_consumed_total"), 40)
        self.assertEqual(metric(ls, "mlc_loader_partitions_assigned"), 3)
        self.assertEqual(metric(ls, "mlc_loader_pipedrive_calls_total"),
                         sum(o["count"] for o in ops.values()), ops)
        self.assertEqual(metric(ls, "mlc_loader_pipedrive_calls_total",
                                op="create_organization"), ops["organizations.create"]["count"])
        self.assertEqual(metric(ls, "mlc_loader_pipedrive_tokens_total"), stats["tokens_spent"])
        self.assertEqual(metric(ls, "mlc_loader_pipedrive_429_total"),
                         stats["rate_limited_429"]["total"])
        self.assertEqual(metric(ls, "mlc_loader_pipedrive_blocked_total"), stats["blocked_403"])
        self.assertGreaterEqual(metric(ls, "mlc_loader_pipedrive_daily_budget_remaining"), 0)
        self.assertEqual(metric(ls, "mlc_loader_paused"), 0)
        self.assertEqual(metric(ls, "mlc_loader_dlq_total"), 0)
        self.assertEqual([(lb["setting"], v) for n, lb, v in ls if n == "mlc_insecure_setting"],
                         [("MLC_ALLOW_PLAINTEXT_HTTP", 0)])

        # Sage fails every request: the next cycle fails, /healthz says why
        self.assertEqual(ext.stop(timeout=60), 0, ext.stderr()[-3000:])
        self.sim(self.sage_base(), "/_sim/faults", "POST",
                 {"kind": "status", "status": 503, "count": 100000})
        ep = free_port()
        ext = self.start_extractor(ep, MLC_POLL_INTERVAL="1", MLC_SAGE_RETRIES="0")
        wait_for(lambda: (self.scraped(ep, ext) is not None and get(ep, "/healthz")[0] == 503),
                 timeout=120, what="extractor unhealthy")
        status, reason = get(ep, "/healthz")
        self.assertEqual(status, 503)
        # the class and the company: no host, path, credentials or error text
        self.assertEqual(reason, "sage_unreachable (company SAMINC)\n")
        self.assertNotIn("webapi", reason)
        self.assertTrue(ext.alive())
        # the image's HEALTHCHECK script agrees, and prints the reason
        hc = self.healthcheck(ep)
        self.assertEqual(hc.returncode, 1, hc.stdout + hc.stderr)
        self.assertIn("sage_unreachable (company SAMINC)", hc.stdout)
        es = scrape(ep)
        self.assertGreaterEqual(metric(es, "mlc_extractor_cycles_total", company="SAMINC",
                                       result="failed"), 1)
        self.assertGreaterEqual(metric(es, "mlc_extractor_sage_requests_total", status="503"), 1)
        # Sage recovers: healthy again after the next successful cycle
        self.sim(self.sage_base(), "/_sim/faults", "DELETE")
        wait_for(lambda: get(ep, "/healthz")[0] == 200 or not ext.alive(), timeout=120,
                 what="extractor healthy again")
        self.assertEqual(get(ep, "/healthz"), (200, "ok\n"))
        hc = self.healthcheck(ep)
        self.assertEqual(hc.returncode, 0, hc.stdout + hc.stderr)
        self.assertEqual(ext.stop(timeout=60), 0, ext.stderr()[-3000:])

        self.assertEqual(get(lp, "/healthz"), (200, "ok\n"))
        self.assertEqual(ld.stop(timeout=60), 0, ld.stderr()[-3000:])

    def healthcheck(self, port):
        """Runs compose/image/mlc-healthcheck (the image's HEALTHCHECK) against
        a worker on 127.0.0.1:port, with a proxy set that must not be used."""
        script = os.path.join(SRC, "compose", "image", "mlc-healthcheck")
        if not shutil.which("curl"):
            raise unittest.SkipTest("curl is not installed")
        env = dict(os.environ, MLC_METRICS_PORT=str(port), MLC_METRICS_BIND="0.0.0.0",
                   http_proxy="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
        env.pop("no_proxy", None)
        env.pop("NO_PROXY", None)
        return subprocess.run(["/bin/sh", script], env=env, capture_output=True, text=True,
                              timeout=30)


if __name__ == "__main__":
    mlctest.main()
