#!/usr/bin/python3
"""The one-command demo: the real pipeline on an embedded default.

Started by scripts/demo after it has installed what is missing and built.
Runs the same binaries production runs, on free ports, in a temp dir:

  mlc devbroker -> mlc-sage-sim (2 companies) -> mlc-extractor once
  -> mlc-loader match, match --apply, drain -> mlc-pipedrive-sim (Growth
  plan limits, with a few organizations that did not come from Sage: some
  typed in by hand, spelled a little differently from Sage's names, one
  ambiguous pair, unrelated ones)

then edits a handful of customers in the Sage sandbox and runs one more
incremental cycle (only the edited customers move) and one full scan (the
deleted customer shows as missing). Stops everything it started, also on
Ctrl-C. Worker logs go to files in the temp dir and are shown on failure.

Environment: BUILD_DIR (default: build), MLC_DEMO_CUSTOMERS (total over the
two companies, default 500), MLC_DEMO_SEED (default 7), MLC_DEMO_SUMMARY_JSON
(write the summary numbers there, for tests), MLC_DEMO_KEEP=1 (keep the
sandboxes and the broker running until Ctrl-C, to try the kcat command).
Stdlib only (Debian's /usr/bin/python3).
"""
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import re
import time
import unicodedata
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD_DIR") or os.path.join(ROOT, "build"))
COMPANIES = ["SAMINC", "SAMLTD"]
TODAY = "2024-03-18"
NEXT_DAY = "2024-03-19"
TOKEN = "demo-pipedrive-token-0123456789abcdef"
SAGE_PASSWORD = "webapi"
TOPIC = "sage300.customers.v1"
GROUP = "mlc-loader"
TTY = sys.stdout.isatty()
ADOPT = ["100000", "100001"]  # SAMLTD customers already in Pipedrive
FOREIGN = [
    {"name": "Northwind Traders (entered by sales)", "address": {"value": "1 Market St, Seattle"}},
    {"name": "Contoso Ltd (trade fair lead)"},
    {"name": "Fabrikam Inc (partner)", "address": {"value": "Reading, UK"}},
]
LEGAL = {"inc", "ltd", "llc", "llp", "gmbh", "ag", "sa", "sas", "sarl", "bv", "nv", "pty", "co",
         "corp", "corporation", "company", "limited"}  # MLC_MATCH_SUFFIXES


def plain(name):
    """A name without accents (how sales types it on an English keyboard)."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def match_key(name):
    """Roughly the loader's name normalisation (ld_match.h), to pick customers
    whose names no other customer shares."""
    s = plain(name).lower().replace("&", " and ")
    s = re.sub(r"[.'’]", "", s)
    words = re.sub(r"[^0-9a-z]+", " ", s).split()
    while len(words) > 1 and words[-1] in LEGAL:
        words.pop()
    return " ".join(words)


def hand_spellings(name):
    """How sales typed three customers: case and a legal form, no accents and
    a dotted legal form, doubled blanks and a comma."""
    return [name.upper() + ", Inc.", plain(name) + " L.t.d.", name.replace(" ", "  ") + ", LLC"]


class DemoError(Exception):
    pass


class Stop(Exception):
    """SIGINT/SIGTERM: unwind, stop everything, exit 130."""


def _stop(signum, frame):
    raise Stop()


def say(msg=""):
    print(msg, flush=True)


class Procs:
    """Every process runs in its own process group; stop() ends the groups."""

    def __init__(self, work):
        self.work = work
        self.procs = []

    def start(self, name, args, env=None):
        out = open(os.path.join(self.work, name + ".out"), "wb")
        err = open(os.path.join(self.work, name + ".log"), "wb")
        p = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             env=env, start_new_session=True)
        out.close()
        err.close()
        p.mlc_name = name
        self.procs.append(p)
        return p

    def first_line(self, p, timeout=20):
        path = os.path.join(self.work, p.mlc_name + ".out")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with open(path, errors="replace") as f:
                line = f.readline()
            if line.endswith("\n"):
                return line.strip()
            if p.poll() is not None:
                break
            time.sleep(0.05)
        raise DemoError(f"{p.mlc_name} did not print its address")

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        end = time.monotonic() + 10
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()


def http_json(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def db_query(path, sql, args=()):
    """Read-only query of a worker's state file; None while it is busy/absent."""
    if not os.path.exists(path):
        return None
    try:
        con = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True, timeout=0.2)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return None


class Demo:
    def __init__(self, work, customers, seed):
        self.work = work
        self.customers = customers
        self.seed = seed
        self.procs = Procs(work)
        self.ext_db = os.path.join(work, "mlc-extractor.db")
        self.ld_db = os.path.join(work, "mlc-loader.db")
        self.key = os.path.join(work, "mlc.key")
        self.summary = {}

    def bin(self, name):
        path = os.path.join(BUILD, name)
        if not os.access(path, os.X_OK):
            raise DemoError(f"{path} is not built")
        return path

    # ---- start-up -------------------------------------------------------
    def start(self):
        per = [self.customers // len(COMPANIES)] * len(COMPANIES)
        per[0] += self.customers - sum(per)
        self.per_company = dict(zip(COMPANIES, per))
        b = self.procs.start("devbroker", [self.bin("mlc"), "devbroker", "--partitions", "3"])
        self.brokers = self.procs.first_line(b)
        # the sim generates N customers per company: start one per company size
        # only when the split is uneven would that matter; keep it simple and
        # generate per[1] each, then add the odd one through the control API.
        args = [self.bin("mlc-sage-sim"), "--port", "0", "--customers", str(per[1]),
                "--seed", str(self.seed), "--today", TODAY]
        for c in COMPANIES:
            args += ["--company", c]
        s = self.procs.start("sage-sim", args)
        self.sage = self.procs.first_line(s)
        self.sage_ctl = self.sage.split("/Sage300WebApi/")[0] + "/_sim"
        if per[0] != per[1]:
            http_json("POST", f"{self.sage_ctl}/companies/{COMPANIES[0]}/customers",
                      {"CustomerNumber": "DEMO-EXTRA", "CustomerName": "Demo Extra Ltd"})
        p = self.procs.start("pipedrive-sim", [self.bin("mlc-pipedrive-sim"), "--port", "0",
                                               "--token", TOKEN, "--plan", "growth"])
        self.pd = self.procs.first_line(p)
        self.secrets()
        # the custom fields, as an operator's `mlc-loader setup` would create them
        cp = subprocess.run([self.bin("mlc-loader"), "setup"], env=self.env(
            MLC_PIPEDRIVE_URL=self.pd, MLC_PIPEDRIVE_TOKEN=self.enc_token,
            MLC_STATE_DB=os.path.join(self.work, "setup.db")), capture_output=True, text=True)
        if cp.returncode != 0:
            raise DemoError(f"mlc-loader setup exited {cp.returncode}: {cp.stderr[-2000:]}")
        keys = dict(line.split(" -> ", 1) for line in cp.stdout.splitlines() if " -> " in line)
        # organizations already in Pipedrive: some entered by sales (no Sage
        # IDs: never touched), two from an earlier import of SAMLTD (Sage IDs,
        # stale values: adopted, not created again)
        earlier = [{"name": f"{n} (old import)",
                    "custom_fields": {keys["Sage 300 Customer ID"]: n,
                                      keys["Sage 300 Company"]: COMPANIES[1]}}
                   for n in ADOPT]
        state = http_json("GET", self.pd + "/_sim/state")
        state["companies"][0].setdefault("organizations", []).extend(FOREIGN + earlier)
        http_json("PUT", self.pd + "/_sim/state", state)
        state = http_json("GET", self.pd + "/_sim/state")
        self.foreign_before = sorted(json.dumps(o, sort_keys=True)
                                     for o in state["companies"][0]["organizations"])
        say(f"  dev broker       {self.brokers}  (in memory, not for production)")
        say(f"  Sage 300 sandbox {self.sage}  {self.customers} customers in "
            f"{' and '.join(f'{c} ({n})' for c, n in self.per_company.items())}")
        say(f"  Pipedrive sandbox {self.pd}  Growth plan limits, "
            f"{len(FOREIGN)} organizations that did not come from Sage, "
            f"{len(ADOPT)} from an earlier import of {COMPANIES[1]}")
        self.keys = keys

    def secrets(self):
        """A master key and the sandbox secrets sealed with it, each for its setting."""
        env = dict(os.environ, MLC_MASTER_KEY_FILE=self.key)
        subprocess.run([self.bin("mlc"), "secret", "keygen", "--out", self.key], env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def seal(setting, value):
            cp = subprocess.run([self.bin("mlc"), "secret", "encrypt", "--setting", setting],
                                env=env, input=value, text=True, capture_output=True, check=True)
            return cp.stdout.strip()
        self.enc_password = seal("MLC_SAGE_PASSWORD", SAGE_PASSWORD)
        self.enc_token = seal("MLC_PIPEDRIVE_TOKEN", TOKEN)
        say(f"  secrets          sealed with mlc secret encrypt ({self.enc_token[:14]}...), "
            f"key {self.key}")

    def env(self, **kw):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("MLC_") and not k.startswith("MLC_DEMO"):
                del e[k]
        e.update(MLC_KAFKA_BROKERS=self.brokers, MLC_TOPIC=TOPIC, MLC_KAFKA_GROUP=GROUP,
                 MLC_MASTER_KEY_FILE=self.key, MLC_RDKAFKA_SESSION_TIMEOUT_MS="6000")
        e.update(kw)
        return e

    # ---- the workers ----------------------------------------------------
    def run_worker(self, name, args, env, progress):
        log = os.path.join(self.work, name + ".log")
        p = self.procs.start(name, args, env)
        started = time.monotonic()
        last_plain = 0.0
        while True:
            try:
                rc = p.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                rc = None
            line = progress(time.monotonic() - started)
            if TTY:
                sys.stdout.write("\r\033[K  " + line)
                sys.stdout.flush()
            elif rc is None and time.monotonic() - last_plain >= 5:
                say("  " + line)
                last_plain = time.monotonic()
            if rc is not None:
                break
        if TTY:
            sys.stdout.write("\r\033[K  " + progress(time.monotonic() - started) + "\n")
        else:
            say("  " + progress(time.monotonic() - started))
        if rc != 0:
            with open(log, errors="replace") as f:
                tail = f.read()[-4000:]
            raise DemoError(f"{name} exited {rc}; its log ({log}):\n{tail}")
        return time.monotonic() - started

    def extract(self, step, full=False):
        base = (db_query(self.ext_db, "SELECT coalesce(max(id), 0) FROM cycle") or [[0]])[0][0]

        def progress(t):
            r = db_query(self.ext_db, "SELECT count(*), sum(outcome = 'published') FROM audit "
                         "WHERE cycle_id > ?", (base,)) or [[0, 0]]
            n, pub = r[0][0] or 0, r[0][1] or 0
            return f"extractor: {n} customers checked, {pub} published  {t:4.1f}s"
        args = [self.bin("mlc-extractor"), "once"] + (["--full"] if full else [])
        secs = self.run_worker(f"extractor-{step}", args, self.env(
            MLC_SAGE_URL=self.sage, MLC_SAGE_COMPANIES=",".join(COMPANIES),
            MLC_SAGE_USER="webapi", MLC_SAGE_PASSWORD=self.enc_password,
            MLC_STATE_DB=self.ext_db), progress)
        r = db_query(self.ext_db, "SELECT sum(records), sum(published), sum(missing), sum(unchanged), "
                     "group_concat(kind || ':' || result) FROM cycle WHERE id > ?", (base,))
        records, published, missing, same, kinds = r[0]
        return {"read": records or 0, "published": published or 0, "missing": missing or 0,
                "same": same or 0,
                "cycles": kinds, "extract_s": round(secs, 1)}

    def load(self, step, expected):
        base = (db_query(self.ld_db, "SELECT coalesce(max(id), 0) FROM event_audit") or [[0]])[0][0]
        stats0 = http_json("GET", self.pd + "/_sim/stats")

        def writes(st):
            ops = st.get("operations", {})
            return (ops.get("organizations.create", {}).get("count", 0),
                    ops.get("organizations.update", {}).get("count", 0))

        w0 = writes(stats0)

        def progress(t):
            # the audit rows are committed in batches; the sandbox counts
            # every write as it happens, so the rate comes from there
            r = db_query(self.ld_db, "SELECT count(*) FROM event_audit WHERE id > ?",
                         (base,)) or [[0]]
            done = r[0][0] or 0
            st = http_json("GET", self.pd + "/_sim/stats")
            created, updated = (a - b for a, b in zip(writes(st), w0))
            spent = st["tokens_spent"] - stats0["tokens_spent"]
            n429 = st["rate_limited_429"]["total"] - stats0["rate_limited_429"]["total"]
            rate = (created + updated) / t if t > 0 else 0.0
            return (f"loader: {done}/{expected} events committed, pipedrive: {created} created "
                    f"{updated} updated  {rate:5.1f} writes/s  tokens {spent}  429s {n429}  "
                    f"{t:4.1f}s")
        secs = self.run_worker(f"loader-{step}", [self.bin("mlc-loader"), "drain"], self.env(
            MLC_PIPEDRIVE_URL=self.pd, MLC_PIPEDRIVE_TOKEN=self.enc_token,
            MLC_PIPEDRIVE_PLAN="growth", MLC_STATE_DB=self.ld_db), progress)
        counts = dict(db_query(self.ld_db, "SELECT outcome, count(*) FROM event_audit "
                               "WHERE id > ? GROUP BY outcome", (base,)) or [])
        st = http_json("GET", self.pd + "/_sim/stats")
        co = st["companies"][0]
        return {"created": counts.get("created", 0), "updated": counts.get("updated", 0),
                "adopted": counts.get("adopted", 0), "unchanged": counts.get("unchanged", 0),
                "other": sum(v for k, v in counts.items()
                             if k not in ("created", "updated", "adopted", "unchanged")),
                "outcomes": counts,
                "tokens_spent": st["tokens_spent"] - stats0["tokens_spent"],
                "tokens_left": co["daily_budget"] - co["tokens_spent_today"],
                "daily_budget": co["daily_budget"],
                "n429": st["rate_limited_429"]["total"] - stats0["rate_limited_429"]["total"],
                "load_s": round(secs, 1)}

    def step(self, name, title, full=False, before_load=None):
        say(f"\n== {title}")
        s = self.extract(name, full)
        if before_load:
            before_load()
            say(f"\n== {title}: mlc-loader drain")
        s.update(self.load(name, s["published"] + s["missing"]))
        self.summary[name] = s
        return s

    def link_first(self):
        self.hand_typed()
        self.match()

    # ---- organizations typed in by hand, and mlc-loader match ---------
    def sage_record(self, co, num):
        return http_json("GET", f"{self.sage_ctl}/companies/{co}/customers/"
                         f"{urllib.parse.quote(num, safe='')}")

    def hand_typed(self):
        """Sales typed four customers into Pipedrive before the connector, no
        Sage IDs: three spelled a little differently (matched), one twice
        (an ambiguous pair: left alone). Picked among names no other
        customer shares, in Latin script, from the end of SAMINC's list."""
        rows = db_query(self.ext_db, "SELECT company, number FROM customer ORDER BY number DESC")
        recs = [(co, n, self.sage_record(co, n)) for co, n in rows]
        counts = {}
        for _, _, r in recs:
            counts[match_key(r["CustomerName"])] = counts.get(match_key(r["CustomerName"]), 0) + 1
        picks = [(n, r) for co, n, r in recs if co == COMPANIES[0] and n != "DEMO-EXTRA"
                 and counts[match_key(r["CustomerName"])] == 1
                 and all(ord(c) < 0x250 for c in r["CustomerName"])
                 and "Maximum Length" not in r["CustomerName"]][:4]
        if len(picks) < 4:
            raise DemoError("not enough distinct customer names to type in by hand")
        typed = [{"name": hand_spellings(r["CustomerName"])[i]}
                 for i, (_, r) in enumerate(picks[:3])]
        twin = picks[3][1]["CustomerName"]
        self.ambiguous = [{"name": twin}, {"name": twin.upper() + " Co."}]
        state = http_json("GET", self.pd + "/_sim/state")
        orgs = state["companies"][0]["organizations"]
        next_id = max([o["id"] for o in orgs] + [0]) + 1
        for o in typed + self.ambiguous:
            o.update(id=next_id, add_time="2024-03-01T09:00:00Z",
                     update_time="2024-03-01T09:00:00Z", visible_to=3)
            next_id += 1
        orgs.extend(typed + self.ambiguous)
        http_json("PUT", self.pd + "/_sim/state", state)
        self.typed = {f"{COMPANIES[0]}:{n}": o for (n, _), o in zip(picks[:3], typed)}
        self.twin_customer = f"{COMPANIES[0]}:{picks[3][0]}"
        say(f"\n== organizations typed into Pipedrive by hand before the connector (no Sage IDs)")
        for (n, r), o in zip(picks, typed):
            say(f"  {o['name']!r:48} for {COMPANIES[0]}:{n} {r['CustomerName']!r}")
        say(f"  {self.ambiguous[0]['name']!r} and {self.ambiguous[1]['name']!r}: "
            f"twins for {self.twin_customer}")

    def match(self):
        """mlc-loader match, then match --apply: link before the first sync."""
        env = self.env(MLC_PIPEDRIVE_URL=self.pd, MLC_PIPEDRIVE_TOKEN=self.enc_token,
                       MLC_PIPEDRIVE_PLAN="growth",
                       MLC_STATE_DB=os.path.join(self.work, "match.db"))
        out = {}
        for step, args in (("match", []), ("apply", ["--apply"])):
            say(f"\n== mlc-loader match {' '.join(args)}".rstrip())
            cp = subprocess.run([self.bin("mlc-loader"), "match", *args], env=env,
                                capture_output=True, text=True, timeout=180)
            if cp.returncode != 0:
                raise DemoError(f"mlc-loader match exited {cp.returncode}: {cp.stderr[-2000:]}")
            for line in cp.stdout.splitlines():
                if not line.endswith(" none"):
                    say("  " + line)
            out[step] = cp.stdout
        m = re.search(r"matched (\d+), ambiguous (\d+), none (\d+); already linked (\d+)",
                      out["match"])
        linked = re.search(r"linked (\d+) organization", out["apply"])
        if not m or not linked:
            raise DemoError("mlc-loader match printed no totals")
        self.summary["match"] = {"matched": int(m[1]), "ambiguous": int(m[2]),
                                 "none": int(m[3]), "already_linked": int(m[4]),
                                 "linked": int(linked[1])}

    def hand_typed_result(self):
        """The typed organizations now carry their customer's IDs, and no
        other organization does; the ambiguous twins are untouched."""
        state = http_json("GET", self.pd + "/_sim/state")
        orgs = [o for o in state["companies"][0]["organizations"] if not o.get("is_deleted")]
        kn, kc = self.keys["Sage 300 Customer ID"], self.keys["Sage 300 Company"]
        by_key = {}
        for o in orgs:
            cf = o.get("custom_fields") or {}
            if cf.get(kn) and cf.get(kc):
                by_key.setdefault(f"{cf[kc]}:{cf[kn]}", []).append(o["id"])
        adopted = sum(1 for k, o in self.typed.items() if by_key.get(k) == [o["id"]])
        twins = {o["id"]: o for o in orgs if o["id"] in {t["id"] for t in self.ambiguous}}
        untouched = all(twins.get(t["id"], {}).get("name") == t["name"]
                        and not (twins[t["id"]].get("custom_fields") or {})
                        for t in self.ambiguous)
        dup = sum(1 for ids in by_key.values() if len(ids) > 1)
        return {"typed": len(self.typed), "adopted": adopted, "duplicates": dup,
                "ambiguous_untouched": untouched,
                "twin_created": len(by_key.get(self.twin_customer, []))}

    # ---- the edits ------------------------------------------------------
    def edit(self):
        co = COMPANIES[0]
        nums = [r[0] for r in db_query(self.ext_db, "SELECT number FROM customer WHERE "
                                       "company = ? AND number GLOB '[0-9A-Z]*' ORDER BY number LIMIT 5", (co,))]
        http_json("PUT", self.sage_ctl + "/today", {"today": NEXT_DAY})
        edits = [
            ({"CustomerName": "Renamed Holdings Ltd"}, "renamed"),
            ({"AddressLine1": "42 New Road", "City": "Vancouver"}, "moved to 42 New Road"),
            ({"CreditLimitCustomerCurrency": 123456.0}, "credit limit 123456"),
            ({"OnHold": "Yes"}, "put on hold"),
        ]
        say(f"\n== edits in the Sage 300 sandbox ({co}, today = {NEXT_DAY})")
        rec = http_json("GET", f"{self.sage_ctl}/companies/{co}/customers/"
                        f"{urllib.parse.quote(nums[3])}")
        if rec.get("OnHold") == "Yes":  # make it a change either way
            edits[3] = ({"OnHold": "No"}, "taken off hold")
        for num, (body, what) in zip(nums, edits):
            http_json("PATCH", f"{self.sage_ctl}/companies/{co}/customers/"
                      f"{urllib.parse.quote(num)}", body)
            say(f"  {co}:{num}  {what}")
        deleted = nums[4]
        http_json("DELETE", f"{self.sage_ctl}/companies/{co}/customers/"
                  f"{urllib.parse.quote(deleted)}")
        say(f"  {co}:{deleted}  deleted (Sage keeps no trace: only a full scan notices)")
        self.edited = [f"{co}:{n}" for n in nums[:4]]
        self.deleted = f"{co}:{deleted}"

    def foreign_untouched(self):
        state = http_json("GET", self.pd + "/_sim/state")
        orgs = state["companies"][0]["organizations"]
        names = {f["name"] for f in FOREIGN}
        now = sorted(json.dumps(o, sort_keys=True) for o in orgs if o.get("name") in names)
        before = [o for o in self.foreign_before if json.loads(o).get("name") in names]
        return now == before and len(now) == len(FOREIGN), len(orgs)

    # ---- the table ------------------------------------------------------
    def table(self):
        cols = [("first sync", "first"), ("after 5 edits", "second"),
                ("full scan", "full")]
        cols = [(t, k) for t, k in cols if k in self.summary]
        rows = [
            ("customers read from Sage", "read"),
            ("  unchanged in Sage (not sent)", "same"),
            ("events published", "published"),
            ("  of them missing (deleted)", "missing"),
            ("organizations created", "created"),
            ("organizations updated", "updated"),
            ("organizations adopted", "adopted"),
            ("loader: unchanged (no call)", "unchanged"),
            ("other outcomes", "other"),
            ("Pipedrive tokens spent", "tokens_spent"),
            ("Pipedrive tokens left today", "tokens_left"),
            ("429 Too Many Requests", "n429"),
            ("extractor seconds", "extract_s"),
            ("loader seconds", "load_s"),
        ]
        w0 = max(len(r[0]) for r in rows)
        ws = [max(len(t), 8) for t, _ in cols]
        say("\n== summary")
        say("  " + "".ljust(w0) + "  " + "  ".join(t.rjust(w) for (t, _), w in zip(cols, ws)))
        for label, key in rows:
            say("  " + label.ljust(w0) + "  " + "  ".join(
                str(self.summary[k].get(key, "")).rjust(w) for (_, k), w in zip(cols, ws)))

    def run(self):
        say("== starting the sandboxes and the dev broker")
        self.start()
        first = self.step("first", f"first sync: {self.customers} customers, Growth plan pacing",
                          before_load=self.link_first)
        hand = self.hand_typed_result()
        self.edit()
        second = self.step("second", "one more incremental cycle: only the edited customers move")
        full = self.step("full", "a full scan: the deleted customer shows as missing", full=True)
        ok, norgs = self.foreign_untouched()
        self.summary.update(customers=self.customers, foreign=len(FOREIGN),
                            foreign_untouched=ok, organizations=norgs,
                            edited=self.edited, deleted=self.deleted, hand_typed=hand)
        self.table()
        say(f"\n  foreign organizations untouched: {'yes' if ok else 'NO'} "
            f"({len(FOREIGN)} of {norgs} organizations in the Pipedrive sandbox)")
        m = self.summary["match"]
        say(f"  typed in by hand: {hand['adopted']} of {hand['typed']} matched and adopted, "
            f"{hand['duplicates']} duplicates; the ambiguous pair untouched: "
            f"{'yes' if hand['ambiguous_untouched'] else 'NO'} (its customer got its own "
            f"organization); match: {m['matched']} matched, {m['ambiguous']} ambiguous, "
            f"{m['already_linked']} already linked")
        say(f"  second cycle: {second['published']} published, {second['updated']} updated, "
            f"everything else unchanged ({second['tokens_spent']} tokens)")
        say(f"  full scan: {full['missing']} missing -> Customer Status changed in Pipedrive")
        if os.environ.get("MLC_DEMO_KEEP") != "1":
            say("\n  (everything stops now; MLC_DEMO_KEEP=1 ./scripts/demo keeps it running "
                "to try these)")
        say("\n  look at the events:")
        say(f"    kcat -b {self.brokers} -C -t {TOPIC} -o beginning -e "
            "-f '%k %p:%o %s\\n'")
        say(f"  a customer's history: {os.path.join(BUILD, 'mlc')} audit --db {self.ext_db} "
            f"--db {self.ld_db} --customer {self.edited[0].split(':', 1)[1]}")
        say(f"  state: {os.path.join(BUILD, 'mlc')} status --extractor-db {self.ext_db} "
            f"--loader-db {self.ld_db}")
        out = os.environ.get("MLC_DEMO_SUMMARY_JSON")
        if out:
            with open(out, "w") as f:
                json.dump(self.summary, f, indent=1)
        return first


def main():
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    customers = int(os.environ.get("MLC_DEMO_CUSTOMERS", "500"))
    seed = int(os.environ.get("MLC_DEMO_SEED", "7"))
    if customers < 10:
        print("demo: MLC_DEMO_CUSTOMERS must be at least 10", file=sys.stderr)
        return 2
    keep = os.environ.get("MLC_DEMO_KEEP") == "1"
    work = tempfile.mkdtemp(prefix="mlc-demo.")
    demo = Demo(work, customers, seed)
    rc = 0
    try:
        demo.run()
        if keep:
            say("\n  MLC_DEMO_KEEP=1: everything keeps running; Ctrl-C stops it")
            while True:
                time.sleep(3600)
    except Stop:
        say("\ndemo: interrupted, stopping everything it started")
        rc = 130
    except (DemoError, subprocess.CalledProcessError, OSError, ValueError, KeyError) as e:
        if TTY:
            sys.stdout.write("\n")
        print(f"demo: {e}", file=sys.stderr)
        print(f"demo: logs kept in {work}", file=sys.stderr)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo.procs.stop()
    if rc == 0 or rc == 130:
        for name in os.listdir(work):
            os.unlink(os.path.join(work, name))
        os.rmdir(work)
    return rc


if __name__ == "__main__":
    sys.exit(main())
