"""Reliability: a hostile Sage server (a python http.server stub).

WHAT IT BREAKS: the extractor talks to a stub that answers (a) a customer
page far past the body cap (MLC_SAGE_PAGE_SIZE x 16 KiB), streamed without
end, and again at the largest page size, where MLC_SAGE_MAX_RESPONSE_MB is
the cap; (b) deeply nested JSON (200,000 levels); (c) a page whose
@odata.nextLink points to another host (a second stub that counts hits);
(d) pages without end, each with a new customer number.
WHAT MUST HOLD: (a), (b) and (d) fail the cycle cleanly (no crash, no hang,
exit 1) within their caps; (c) the other host is never contacted: a link naming
another company is refused (cycle fails); a link naming the same resource is
only the signal that more rows exist, and the next page is the extractor's
own keyset query on MLC_SAGE_URL. Afterwards the real
pipeline (other topic) still ends with exactly one organization per customer,
foreign organizations untouched."""
import http.server
import json
import threading
import urllib.parse

import relcheck

HOSTILE_TOPIC = "hostile.customers.v1"


def record(n):
    return {"CustomerNumber": n, "CustomerName": f"Hostile {n}", "Status": "Active",
            "OnHold": "No", "CreditLimitCustomerCurrency": 1.0, "CurrencyCode": "USD",
            "DateLastMaintained": "2024-03-18T00:00:00Z", "BalanceDueInCustomerCurrency": 0.0,
            "AmountPastDue": 0.0, "NumberOfOpenDocuments": 0}


class Stub:
    def __init__(self, mode, evil_url=None, company="SAMINC"):
        self.mode, self.evil_url, self.hits, self.company = mode, evil_url, [], company
        self.sent = 0
        stub = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                stub.hits.append(self.path)
                path = urllib.parse.urlsplit(self.path).path
                if path.endswith("/ARTerms"):
                    return self.send(json.dumps({"value": [{"TermsCode": "N30",
                                                            "Description": "Net 30"}]}))
                if not path.endswith("/ARCustomers"):
                    return self.send(json.dumps({"value": []}))
                if stub.mode == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(64 << 20))
                    self.end_headers()
                    chunk = (json.dumps(record("HUGE")) + ",").encode() * 200
                    try:
                        self.wfile.write(b'{"value":[')
                        for _ in range((64 << 20) // len(chunk)):
                            self.wfile.write(chunk)
                            stub.sent += len(chunk)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                if stub.mode == "endless":
                    n = sum(1 for h in stub.hits if "/ARCustomers" in h)
                    return self.send(json.dumps({"value": [record(f"E{n:07d}")]}))
                if stub.mode == "nested":
                    depth = 200000
                    return self.send('{"value":[' + "[" * depth + "]" * depth + "]}")
                if stub.mode == "nextlink":
                    q = urllib.parse.urlsplit(self.path).query
                    if "gt%20%27NL1%27" in q or "gt 'NL1'" in urllib.parse.unquote(q) \
                            or "skip" in q:
                        return self.send(json.dumps({"value": []}))
                    link = f"{stub.evil_url}Sage300WebApi/v1.0/-/{stub.company}/AR/ARCustomers?{q}" \
                           "&$skip=1"
                    return self.send(json.dumps({"value": [record("NL1")],
                                                 "@odata.nextLink": link}))
                self.send(json.dumps({"value": []}))

            def send(self, body):
                raw = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; odata.metadata=minimal")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HostileSage(relcheck.Rig):
    customers = 20

    def stub(self, mode, evil_url=None, company="SAMINC"):
        s = Stub(mode, evil_url, company)
        self.addCleanup(s.close)
        return s

    def run_against(self, stub, db, **env):
        e = {"MLC_SAGE_URL": stub.url + "Sage300WebApi/v1.0/-/", "MLC_SAGE_COMPANIES": "SAMINC",
             "MLC_STATE_DB": f"{self.workdir}/{db}.db", "MLC_TOPIC": HOSTILE_TOPIC,
             "MLC_SAGE_RETRIES": "1", "MLC_SAGE_TIMEOUT": "10"}
        e.update(env)
        return self.extractor(env=e, timeout=120)

    def test_hostile_server(self):
        huge = self.stub("huge")
        cp = self.run_against(huge, "huge")
        self.assertEqual(cp.returncode, 1, cp.stderr[-2000:])
        self.assertIn("response larger than 1048576 bytes", cp.stderr)  # 64 x 16 KiB
        # the largest page size allows 160 MiB by records; the MiB cap holds
        huge = self.stub("huge")
        cp = self.run_against(huge, "huge-top", MLC_SAGE_PAGE_SIZE="10000",
                              MLC_SAGE_MAX_RESPONSE_MB="8")
        self.assertEqual(cp.returncode, 1, cp.stderr[-2000:])
        self.assertIn("response larger than 8388608 bytes", cp.stderr)
        self.assertLess(huge.sent, 32 << 20)
        endless = self.stub("endless")
        cp = self.run_against(endless, "endless", MLC_SAGE_MAX_PAGES="20")
        self.assertEqual(cp.returncode, 1, cp.stderr[-2000:])
        self.assertIn("more than 20 pages in one scan", cp.stderr)
        self.assertLessEqual(sum(1 for h in endless.hits if "/ARCustomers" in h), 24)
        nested = self.stub("nested")
        cp = self.run_against(nested, "nested")
        self.assertEqual(cp.returncode, 1, cp.stderr[-2000:])
        # nothing of either reached Kafka
        self.assertNotIn(b"HUGE", self.read_topic(HOSTILE_TOPIC))

        evil = self.stub("evil")
        other = self.stub("nextlink", evil_url=evil.url, company="SAMLTD")
        cp = self.run_against(other, "nl-refuse")
        self.assertNotEqual(cp.returncode, 0, cp.stderr[-2000:])
        self.assertIn("names another resource", cp.stderr)
        self.assertEqual(evil.hits, [])
        nl = self.stub("nextlink", evil_url=evil.url)
        cp = self.run_against(nl, "nl-signal")
        self.assertEqual(cp.returncode, 0, cp.stderr[-2000:])
        self.assertEqual(evil.hits, [], cp.stderr[-2000:])
        # the next page was the extractor's own keyset query on the stub
        self.assertTrue(any("gt%20%27NL1%27" in h for h in nl.hits), nl.hits)
        self.assertFalse(any("skip" in h for h in nl.hits), nl.hits)

        self.settle()
        self.check_final()


if __name__ == "__main__":
    relcheck.mlctest.main()
