"""The queries behind `mlc status` and `mlc audit --customer` use indexes.

At a million customers the audit tables hold tens of millions of rows; a full
SCAN of event_audit, call_audit, the extractor's audit or a customer table
makes these commands take seconds instead of milliseconds. This test builds
empty state files with the real programs (their schema migrations), takes
the SQL text of the queries from cli/cmd_status.c and cli/cmd_audit.c (C
string literals joined, the filter macros expanded), binds what the command
binds, and asserts with EXPLAIN QUERY PLAN that none of them scans one of
those tables in full (a SCAN, even through a covering index, reads every
row). Queries are found by text, so a new query is checked without editing
this test; a query that is not found fails the test.

bench/bench_state_queries.py times the same commands on state files of a
million customers (docs/benchmarks.md)."""
import os
import re
import sqlite3

import mlctest

# Tables that grow with customers or with time (cycle: one row per poll).
# spend_hour and outcome_hour: the loader's hourly summaries, which `mlc status`
# must read by hour (a row per hour and kind, kept for as long as the file lives)
BIG = ("event_audit", "call_audit", "audit", "customer", "idmap", "cycle", "spend_hour",
       "outcome_hour")


def c_queries(path):
    """Every SQL statement in a C file: adjacent string literals joined, the
    file's `#define NAME "..." ...` string macros expanded."""
    with open(path) as f:
        src = f.read()
    # one pass, so that "/*" inside a string literal is not taken for a comment
    tok = re.compile(r'"((?:[^"\\\n]|\\.)*)"|(/\*.*?\*/|//[^\n]*)|(#define[ \t]+(\w+)((?:[^\n]*\\\n)*[^\n]*))'
                     r'|([A-Za-z_]\w*)|(\S)', re.S)
    macros, tokens = {}, []
    for m in tok.finditer(src):
        if m.group(2) is not None:
            continue
        if m.group(3) is not None:
            macros[m.group(4)] = m.group(5).replace("\\\n", " ")
            continue
        tokens.append(m)

    def runs(items):
        out, cur = [], None
        for m in items:
            if m.group(1) is not None:
                cur = (cur or "") + m.group(1).encode().decode("unicode_escape")
            elif m.group(6) is not None and cur is not None and m.group(6) in macros:
                cur += "".join(runs(list(tok.finditer(macros[m.group(6)]))))
            else:
                if cur is not None:
                    out.append(cur)
                cur = None
        if cur is not None:
            out.append(cur)
        return out

    return [q for q in runs(tokens) if q.lstrip().upper().startswith(("SELECT", "WITH"))]


def make_state_files(procs, workdir):
    ext_db = os.path.join(workdir, "extractor.db")
    ld_db = os.path.join(workdir, "loader.db")
    dead = f"127.0.0.1:{mlctest.free_port()}"
    # Nothing listens: each program opens (and migrates) its state file, then fails.
    procs.run([mlctest.binary("mlc-extractor"), "once"], timeout=120, env={
        "MLC_STATE_DB": ext_db, "MLC_SAGE_URL": f"http://{dead}/Sage300WebApi/v1.0/-/",
        "MLC_SAGE_COMPANIES": "SAMINC", "MLC_SAGE_USER": "webapi", "MLC_SAGE_PASSWORD": "webapi",
        "MLC_SAGE_RETRIES": "0", "MLC_KAFKA_BROKERS": dead})
    procs.run([mlctest.binary("mlc-loader"), "drain"], timeout=120, env={
        "MLC_STATE_DB": ld_db, "MLC_PIPEDRIVE_URL": f"http://{dead}",
        "MLC_PIPEDRIVE_TOKEN": "0123456789abcdef0123456789abcdef01234567",
        "MLC_KAFKA_BROKERS": dead})
    for db, table in ((ext_db, "audit"), (ld_db, "event_audit")):
        con = sqlite3.connect(db)
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        con.close()
        if table not in names:
            raise AssertionError(f"{db}: no {table} table after the program ran")
    return ext_db, ld_db


def plan(con, sql, params):
    n = max([int(x) for x in re.findall(r"\?(\d+)", sql)] or [0])
    rows = con.execute("EXPLAIN QUERY PLAN " + sql, [params.get(i) for i in range(1, n + 1)])
    return [r[3] for r in rows]


def full_scans(details, partial):
    """SCAN lines of a big table, except through a partial index (which holds
    only the rows its WHERE selects, e.g. the dead letters)."""
    out = []
    for d in details:
        m = re.match(r"SCAN (\w+)(?: AS \w+)?(?: USING (?:COVERING )?INDEX (\w+))?", d)
        # plans name a table by its alias: cmd_status.c says "event_audit a", "cycle c"
        if m and m.group(1) in BIG + ("a", "c") and m.group(2) not in partial:
            out.append(d)
    return out


class StateQueries(mlctest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.status = c_queries(os.path.join(mlctest.SRCDIR, "cli", "cmd_status.c"))
        cls.audit = c_queries(os.path.join(mlctest.SRCDIR, "cli", "cmd_audit.c"))

    def check(self, db, queries, params, label):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        # the temporary table `mlc status` builds from the DLQ replay record
        con.execute("CREATE TEMP TABLE replayed (topic TEXT, part INTEGER, off INTEGER)")
        con.execute("CREATE INDEX temp.replayed_k ON replayed (topic, part, off)")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        tables.add("temp.replayed")
        partial = {r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'")}
        bad, checked = [], 0
        for q in queries:
            used = set(re.findall(r"\bFROM\s+((?:temp\.)?\w+)", q))
            used -= set(re.findall(r"(?:\bWITH(?:\s+RECURSIVE)?|,)\s*(\w+)\s*(?:\([^)]*\))?\s+AS\s*\(",
                                   q, re.I))  # common table expressions
            if not used or not used <= tables:
                continue  # a query of the other kind of state file (or of the DLQ record)
            checked += 1
            scans = full_scans(plan(con, q, params), partial)
            if scans:
                bad.append(f"{label}: {'; '.join(scans)} in: {' '.join(q.split())[:160]}")
        con.close()
        return checked, bad

    def test_status_and_audit_customer_use_indexes(self):
        ext_db, ld_db = make_state_files(self.procs, self.workdir)
        bad = []
        # mlc status: no parameters
        n_ext, b = self.check(ext_db, self.status, {}, "mlc status (extractor)")
        bad += b
        n_ld, b = self.check(ld_db, self.status, {}, "mlc status (loader)")
        bad += b
        self.assertGreaterEqual(n_ext, 1, "no extractor query found in cli/cmd_status.c")
        self.assertGreaterEqual(n_ld, 5, "loader queries not found in cli/cmd_status.c")
        # the 24 h counts and the 7-day spending read the hourly summaries
        for table in ("spend_hour", "outcome_hour"):
            self.assertTrue(any(re.search(rf"\bFROM {table}\b", q) for q in self.status),
                            f"no status query reads {table}")
        self.assertFalse([q for q in self.status if re.search(r"\bFROM call_audit WHERE at", q)],
                         "a status query aggregates the call audit by time")
        # mlc audit --customer 1100 [--limit 50]: ?1 customer, ?2 company, ?3 limit
        per_customer = [q for q in self.audit
                        if re.search(r"\bcustomer (= \?1|BETWEEN coalesce\(\?1)", q)]
        self.assertGreaterEqual(len(per_customer), 6, "per-customer queries not found in cmd_audit.c")
        for company in (None, "SAMINC"):
            params = {1: "1100", 2: company, 3: 50}
            for db in (ext_db, ld_db):
                _, b = self.check(db, per_customer, params,
                                  f"mlc audit --customer 1100{' --company SAMINC' if company else ''}")
                bad += b
        self.assertEqual(bad, [], "full table scans:\n" + "\n".join(bad))


if __name__ == "__main__":
    mlctest.main()
