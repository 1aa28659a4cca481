"""mlc-sage-sim against what is known of the Sage 300 Web API (docs/sage300-api.md).

Starts the real binary on a free port and drives it over HTTP: paging through
@odata.nextLink and by keyset, $select, $count, $orderby, $filter, both
password modes, the Content-Type rule, every error body, every fault kind,
the control API and concurrent requests.
"""
import base64
import http.client as httpclient
import json
import os
import re
import signal
import socket
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import mlctest
from mlctest import http, http_json

SAMPLES = os.path.join(mlctest.DATA, "sage300")
AUTH = "Basic " + base64.b64encode(b"WEBAPI:WEBAPI").decode()
HDRS = {"Authorization": AUTH, "Content-Type": "application/json", "Accept": "application/json"}
CUSTOMER_TYPE = "Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.Customer"


def q(s):
    """Percent-encodes like a careful client (everything but unreserved)."""
    return urllib.parse.quote(s, safe="")


def lit(s):
    """An OData string literal with '' escaping."""
    return "'" + s.replace("'", "''") + "'"


def metadata_properties():
    """ARCustomers property names in the order of Sage's real AR $metadata."""
    ns = {"e": "http://schemas.microsoft.com/ado/2009/11/edm"}
    root = ET.parse(os.path.join(SAMPLES, "AR-metadata-2016.customer.edmx")).getroot()
    for et in root.iter():
        if et.tag.endswith("EntityType") and et.get("Name") == "Customer":
            names = [p.get("Name") for p in et if p.tag.endswith("Property")]
            # v1.0 renamed the one truncated name (docs/sage300-api.md, $metadata)
            return ["SageBillingAndPaymentCustomer" if n == "SageBillingAndPaymentCustome" else n
                    for n in names]
    raise AssertionError("no Customer entity type in the sample metadata")


class SageSim(mlctest.TestCase):
    def start(self, *args, customers=260, extra_env=None):
        argv = [mlctest.binary("mlc-sage-sim"), "--port", "0", "--company", "SAMINC",
                "--company", "SAMLTD", "--customers", str(customers), "--seed", "7",
                "--today", "2024-03-18", *args]
        self.proc = self.procs.start_server(argv, name="sage-sim")
        self.base = self.proc.first_line
        self.root = self.base.split("/Sage300WebApi/")[0]
        return self.base

    def url(self, rest, company="SAMINC"):
        return f"{self.base}{company}/AR/{rest}"

    def get(self, rest, headers=HDRS, company="SAMINC", timeout=30):
        return http_json("GET", self.url(rest.replace(" ", "%20"), company), headers=headers,
                         timeout=timeout)

    def ok(self, rest, **kw):
        status, _, doc = self.get(rest, **kw)
        self.assertEqual(status, 200, doc)
        return doc

    def ctl(self, method, path, body=None):
        return http_json(method, self.root + path, body=body)

    def settings(self, **kw):
        status, _, doc = self.ctl("PATCH", "/_sim/settings", kw)
        self.assertEqual(status, 200, doc)

    def all_keys(self, company="SAMINC"):
        self.settings(page_size=100000)
        doc = self.ok("ARCustomers?$select=CustomerNumber", company=company)
        self.settings(page_size=100)
        return [r["CustomerNumber"] for r in doc["value"]]

    def assert_error(self, status, doc, want_status, code, text=None):
        self.assertEqual(status, want_status, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertEqual(doc["error"]["message"]["lang"], "en-US")
        self.assertIsInstance(doc["error"]["message"]["value"], str)
        if text is not None:
            self.assertIn(text, doc["error"]["message"]["value"])

    def follow(self, first_url):
        """Follows @odata.nextLink to the end; returns (keys, requests)."""
        keys, url, n = [], first_url, 0
        while url:
            status, _, doc = http_json("GET", url, headers=HDRS)
            self.assertEqual(status, 200, doc)
            keys += [r["CustomerNumber"] for r in doc["value"]]
            url = doc.get("@odata.nextLink")
            n += 1
            self.assertLess(n, 10000)
        return keys, n


class TestShapeAndMetadata(SageSim):
    def test_first_line_and_sigterm(self):
        base = self.start(customers=5)
        self.assertRegex(base, r"^http://127\.0\.0\.1:\d+/Sage300WebApi/v1\.0/-/$")
        self.assertEqual(len(self.ok("ARCustomers")["value"]), 5)
        self.assertEqual(len(self.ok("ARCustomers", company="SAMLTD")["value"]), 5)
        self.proc.signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(10), 0)

    def test_app_path_case(self):
        self.start(customers=3)
        for path in ("/Sage300WebApi/V1.0/-/SAMINC/AR/ARCustomers",
                     "/sage300webapi/v1.0/-/saminc/ar/ARCustomers"):
            status, _, doc = http_json("GET", self.root + path, headers=HDRS)
            self.assertEqual(status, 200, path)
        status, _, doc = http_json("GET", self.root + "/Sage300WebApi/v2.0/-/SAMINC/AR/ARCustomers",
                                   headers=HDRS)
        self.assert_error(status, doc, 404, "ResourceNotFound")
        # entity set names are case-sensitive in OData
        status, _, doc = self.get("arcustomers")
        self.assert_error(status, doc, 404, "ResourceNotFound")

    def test_every_property_in_metadata_order_with_types(self):
        self.start(customers=300)
        self.settings(page_size=1000)
        status, hdrs, doc = self.get("ARCustomers")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("application/json"))
        self.assertEqual(hdrs.get("odata-version"), "4.0")
        self.assertEqual(doc["@odata.context"],
                         self.base + "SAMINC/AR/$metadata#ARCustomers")
        names = metadata_properties()
        self.assertEqual(len(names), 156)
        rows = doc["value"]
        self.assertEqual(len(rows), 300)
        date_re = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00Z$")
        enums = {"Status": {"Active", "Inactive"}, "OnHold": {"Yes", "No"},
                 "PrintStatements": {"Yes", "No"}, "AccountType": {"OpenItem", "BalanceForward"}}
        for r in rows:
            self.assertEqual(list(r.keys()), names)
            for k, v in r.items():
                if k.startswith("Date") or k in ("InactiveDate", "StartDate", "CreditBureauDate"):
                    self.assertTrue(v is None or date_re.match(v), (k, v))
            for k, allowed in enums.items():
                self.assertIn(r[k], allowed)
            self.assertIsInstance(r["CreditLimitCustomerCurrency"], (int, float))
            self.assertIsInstance(r["TaxClassCode1"], int)
            self.assertIsInstance(r["NumberOfOptionalFields"], int)
            self.assertIsInstance(r["SuppressIntegration"], bool)
            self.assertIsInstance(r["CustomerName"], str)
            self.assertEqual(r["NumberOfOptionalFields"], len(r["CustomerOptionalFieldValues"]))
            for of in r["CustomerOptionalFieldValues"]:
                self.assertEqual(of["CustomerNumber"], r["CustomerNumber"])
                self.assertEqual(of["UpdateOperation"], "Unspecified")
                self.assertEqual(of["CustomerOptionalFieldValueType"], "Text")
            self.assertLessEqual(len(r["CustomerNumber"]), 12)
            self.assertLessEqual(len(r["CustomerName"]), 60)
            if r["Status"] == "Inactive":
                self.assertIsNotNone(r["InactiveDate"])
        keys = [r["CustomerNumber"] for r in rows]
        text = json.dumps(rows, ensure_ascii=False)
        # awkward data is present
        self.assertTrue(any(" " in k for k in keys))
        self.assertTrue(any("'" in k for k in keys))
        self.assertTrue(any("&" in k for k in keys))
        self.assertTrue(any("/" in k for k in keys))
        self.assertTrue(any("#" in k for k in keys))
        self.assertTrue(any(len(k) == 12 for k in keys))
        self.assertTrue(any(len(r["CustomerName"]) == 60 for r in rows))
        self.assertTrue(any(len(r["AddressLine1"]) == 60 for r in rows))
        self.assertTrue(any("'" in r["CustomerName"] for r in rows))
        self.assertTrue(any("&" in r["CustomerName"] for r in rows))
        self.assertTrue(any(ord(ch) > 127 for r in rows for ch in r["CustomerName"]))
        self.assertTrue(any(ord(ch) > 127 for r in rows for ch in r["City"]))
        self.assertTrue(any(r["AddressLine2"] == "" for r in rows))
        self.assertTrue(any(r["DateOfLastInvoice"] is None for r in rows))
        self.assertTrue(len({r["Terms"] for r in rows}) >= 4)
        self.assertIn("Sons", text)
        # deterministic for a seed
        self.assertEqual(doc, self.get("ARCustomers")[2])

    def test_generator_is_deterministic_across_runs(self):
        self.start(customers=50)
        first = self.ok("ARCustomers?$top=50")["value"]
        self.proc.stop()
        self.start(customers=50)
        self.assertEqual(first, self.ok("ARCustomers?$top=50")["value"])

    def test_metadata(self):
        self.start(customers=1)
        status, hdrs, raw = http("GET", self.url("$metadata"), headers=HDRS)
        self.assertEqual(status, 200)
        self.assertIn("xml", hdrs["content-type"])
        root = ET.fromstring(raw)
        self.assertEqual(root.get("Version"), "4.0")
        sets = [e.get("Name") for e in root.iter() if e.tag.endswith("EntitySet")]
        self.assertEqual(sets, ["ARCustomers", "ARTerms"])
        cust = [e for e in root.iter() if e.tag.endswith("EntityType") and e.get("Name") == "Customer"][0]
        props = [(p.get("Name"), p.get("Type")) for p in cust if p.tag.endswith("Property")]
        self.assertEqual([n for n, _ in props], metadata_properties())
        types = dict(props)
        self.assertEqual(types["DateLastMaintained"], "Edm.DateTimeOffset")
        self.assertEqual(types["CreditLimitCustomerCurrency"], "Edm.Decimal")
        self.assertTrue(types["Status"].endswith("StatusEnum"))

    def test_terms(self):
        self.start(customers=40)
        doc = self.ok("ARTerms")
        codes = {t["TermsCode"] for t in doc["value"]}
        used = {r["Terms"] for r in self.ok("ARCustomers?$select=Terms")["value"]}
        self.assertTrue(used <= codes, (used, codes))
        one = self.ok("ARTerms('N30')")
        self.assertEqual(one["TermsCode"], "N30")
        self.assertTrue(one["@odata.context"].endswith("$metadata#ARTerms/$entity"))
        status, _, doc = self.get("ARTerms('NOPE')")
        self.assert_error(status, doc, 404, "RecordNotFound")


class TestPaging(SageSim):
    def test_nextlink_to_the_end_for_several_page_sizes(self):
        self.start(customers=1037)
        everything = self.all_keys()
        self.assertEqual(len(everything), 1037)
        self.assertEqual(everything, sorted(everything, key=lambda s: s.encode()))
        for ps in (7, 100, 250, 1000, 1037, 5000):
            self.settings(page_size=ps)
            for first in (self.url("ARCustomers?$select=CustomerNumber"),
                          self.url("ARCustomers?$orderby=CustomerNumber&$select=CustomerNumber,Email")):
                keys, n = self.follow(first)
                self.assertEqual(keys, everything, f"page size {ps}")
                self.assertEqual(n, max(1, -(-1037 // ps)), f"requests for page size {ps}")
                self.assertEqual(len(set(keys)), len(keys))
        # with $top the paging stops at $top
        self.settings(page_size=100)
        keys, n = self.follow(self.url("ARCustomers?$orderby=CustomerNumber&$top=250"))
        self.assertEqual(keys, everything[:250])
        self.assertEqual(n, 3)
        # a sorted order other than the key is paged consistently too
        keys, _ = self.follow(self.url("ARCustomers?$orderby=City%20desc,CustomerName&$select=CustomerNumber"))
        self.assertEqual(sorted(keys), sorted(everything))
        self.assertEqual(len(set(keys)), 1037)

    def test_nextlink_format_is_exactly_aspnet(self):
        self.start(customers=700)
        self.settings(page_size=100)
        doc = self.ok("ARCustomers?$filter=DateLastMaintained ge 2022-03-18T00:00:00Z"
                      "&$orderby=CustomerNumber&$top=500".replace(" ", "%20"))
        self.assertEqual(len(doc["value"]), 100)
        self.assertEqual(
            doc["@odata.nextLink"],
            self.base + "SAMINC/AR/ARCustomers?$filter=DateLastMaintained%20ge%202022-03-18T00%3A00%3A00Z"
            "&$orderby=CustomerNumber&$top=400&$skip=100")
        # old $skip removed, new one last; + decoded as a space then re-escaped; custom options kept
        doc = self.ok("ARCustomers?$skip=200&$filter=Status+eq+'Active'&x=a%2Fb&$select=CustomerNumber")
        self.assertEqual(
            doc["@odata.nextLink"],
            self.base + "SAMINC/AR/ARCustomers?$filter=Status%20eq%20%27Active%27&x=a%2Fb"
            "&$select=CustomerNumber&$skip=300")
        # no link when $top <= page size, even if more rows exist
        doc = self.ok("ARCustomers?$top=100")
        self.assertEqual(len(doc["value"]), 100)
        self.assertNotIn("@odata.nextLink", doc)
        # no link when the last page is exactly full
        self.settings(page_size=350)
        doc = self.ok("ARCustomers?$skip=350")
        self.assertEqual(len(doc["value"]), 350)
        self.assertNotIn("@odata.nextLink", doc)
        # the link keeps the Host the client used
        status, _, doc = http_json("GET", self.url("ARCustomers?$top=400"),
                                   headers=dict(HDRS, Host="erp"))
        self.assertTrue(doc["@odata.nextLink"].startswith(
            "http://erp/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers?$top=50&$skip=350"), doc["@odata.nextLink"])

    def test_keyset_paging_with_awkward_keys(self):
        self.start(customers=523)
        everything = self.all_keys()
        for top in (1, 50, 1000):
            self.settings(page_size=100)
            got, last = [], None
            while True:
                flt = "DateLastMaintained ge 2022-03-18T00:00:00Z"
                if last is not None:
                    flt += " and CustomerNumber gt " + lit(last)
                doc = self.ok(f"ARCustomers?$filter={q(flt)}&$orderby=CustomerNumber&$top={top}"
                              "&$select=CustomerNumber,DateLastMaintained")
                page = [r["CustomerNumber"] for r in doc["value"]]
                if not page:
                    break
                got += page
                last = page[-1]
                if top == 1 and len(got) > 60:
                    break
            if top == 1:
                self.assertEqual(got, everything[:len(got)])
            else:
                self.assertEqual(got, everything)

    def test_rows_changing_between_pages_shift_skip_paging_but_not_keyset(self):
        # docs/sage300-api.md, server paging: $skip paging shifts when rows change between pages
        self.start(customers=300)
        everything = self.all_keys()
        self.settings(page_size=100)
        doc = self.ok("ARCustomers?$orderby=CustomerNumber&$select=CustomerNumber")
        first = [r["CustomerNumber"] for r in doc["value"]]
        self.assertEqual(first, everything[:100])
        victim = first[10]
        self.assertEqual(self.ctl("DELETE", "/_sim/companies/SAMINC/customers/" + q(victim))[0], 200)
        status, _, doc2 = http_json("GET", doc["@odata.nextLink"], headers=HDRS)
        second = [r["CustomerNumber"] for r in doc2["value"]]
        self.assertEqual(second[0], everything[101])  # everything[100] was skipped
        # keyset paging from the last key seen does not miss it
        doc3 = self.ok("ARCustomers?$filter=" + q("CustomerNumber gt " + lit(first[-1])) +
                       "&$orderby=CustomerNumber&$top=100&$select=CustomerNumber")
        self.assertEqual(doc3["value"][0]["CustomerNumber"], everything[100])

    def test_count_and_select(self):
        self.start(customers=333)
        doc = self.ok("ARCustomers?$count=true&$top=3&$select=CustomerNumber,ShortName")
        self.assertEqual(doc["@odata.count"], 333)
        self.assertIsInstance(doc["@odata.count"], int)
        self.assertEqual(doc["@odata.context"],
                         self.base + "SAMINC/AR/$metadata#ARCustomers(CustomerNumber,ShortName)")
        self.assertEqual([list(r.keys()) for r in doc["value"]], [["CustomerNumber", "ShortName"]] * 3)
        keys = list(doc.keys())
        self.assertEqual(keys[:3], ["@odata.context", "@odata.count", "value"])
        # the count ignores paging but honours the filter
        doc = self.ok("ARCustomers?$count=true&$filter=" + q("Status eq 'Inactive'"))
        n_inactive = doc["@odata.count"]
        self.assertTrue(0 < n_inactive < 333)
        self.assertEqual(n_inactive, len(doc["value"]))
        self.assertTrue(all(r["Status"] == "Inactive" for r in doc["value"]))
        doc = self.ok("ARCustomers?$count=false")
        self.assertNotIn("@odata.count", doc)
        # $select keeps metadata order inside records, whatever the request order
        doc = self.ok("ARCustomers?$top=1&$select=Email, CustomerNumber")
        self.assertEqual(list(doc["value"][0].keys()), ["CustomerNumber", "Email"])

    def test_orderby_and_filters(self):
        self.start(customers=400)
        rows = self.ok("ARCustomers?$top=1000&$orderby=CustomerNumber desc&$select=CustomerNumber")["value"]
        keys = [r["CustomerNumber"] for r in rows]
        self.assertEqual(keys[:100], sorted(self.all_keys(), key=lambda s: s.encode(), reverse=True)[:100])
        self.settings(page_size=1000)
        rows = self.ok("ARCustomers?$orderby=" + q("Country asc, CreditLimitCustomerCurrency desc"))["value"]
        pairs = [(r["Country"].encode(), -r["CreditLimitCustomerCurrency"], r["CustomerNumber"].encode())
                 for r in rows]
        self.assertEqual(pairs, sorted(pairs))
        rows = self.ok("ARCustomers?$filter=" + q("startswith(CustomerName,'O''Brien') and OnHold eq 'No'"))["value"]
        self.assertTrue(rows)
        self.assertTrue(all(r["CustomerName"].startswith("O'Brien") and r["OnHold"] == "No" for r in rows))
        rows = self.ok("ARCustomers?$filter=" + q("contains(City,'ü') or City eq 'Coeur d''Alene'"))["value"]
        self.assertTrue(rows)
        self.assertTrue(all("ü" in r["City"] or r["City"] == "Coeur d'Alene" for r in rows))
        rows = self.ok("ARCustomers?$filter=" + q("BalanceDueInCustomerCurrency gt 1000.00 and "
                                                   "DateOfLastInvoice gt 2016-12-31T12:00:00Z and "
                                                   "AccountType eq 'BalanceForward'"))["value"]
        self.assertTrue(rows)
        for r in rows:
            self.assertGreater(r["BalanceDueInCustomerCurrency"], 1000)
            self.assertEqual(r["AccountType"], "BalanceForward")
        rows = self.ok("ARCustomers?$filter=" + q("InactiveDate eq null and not (Status eq 'Active')"))["value"]
        self.assertEqual(rows, [])
        # '+' for a space works in practice (docs/sage300-api.md, OData query options)
        rows = self.ok("ARCustomers?$filter=Status+eq+'Inactive'&$select=Status")["value"]
        self.assertTrue(rows and all(r["Status"] == "Inactive" for r in rows))
        # DateLastMaintained ge today finds what the control API stamped
        rows = self.ok("ARCustomers?$filter=" + q("DateLastMaintained ge 2024-03-18T00:00:00"))["value"]
        for r in rows:
            self.assertEqual(r["DateLastMaintained"], "2024-03-18T00:00:00Z")


class TestKeysAuthErrors(SageSim):
    def test_by_key_with_awkward_keys(self):
        self.start(customers=200)
        keys = self.all_keys()
        awkward = [k for k in keys if any(c in k for c in " '&/#")]
        self.assertGreaterEqual(len(awkward), 5)
        for k in awkward + [keys[0]]:
            doc = self.ok(f"ARCustomers({q(lit(k))})")
            self.assertEqual(doc["CustomerNumber"], k)
            self.assertEqual(doc["@odata.context"], self.base + "SAMINC/AR/$metadata#ARCustomers/$entity")
            self.assertEqual(len(doc), 157)
            doc = self.ok(f"ARCustomers(CustomerNumber%20=%20{q(lit(k))})?$select=CustomerNumber,City")
            self.assertEqual(list(doc.keys()), ["@odata.context", "CustomerNumber", "City"])
            self.assertEqual(doc["CustomerNumber"], k)
        plain = [k for k in keys if k.isdigit()][0]
        self.assertEqual(self.ok(f"ARCustomers({plain})")["CustomerNumber"], plain)
        self.assertEqual(self.ok(f"ARCustomers('{plain}')")["CustomerNumber"], plain)
        status, _, doc = self.get("ARCustomers('NO''SUCH')")
        self.assert_error(status, doc, 404, "RecordNotFound",
                          "A Record cannot be found for the specified entity key")
        for bad in ("ARCustomers('abc)", "ARCustomers('a'b')", "ARCustomers(a%20b)", "ARCustomers()",
                    "ARCustomers(Other='x')"):
            status, _, doc = self.get(bad)
            self.assert_error(status, doc, 400, "InvalidEntityKey")

    def test_password_modes_and_user_case(self):
        self.start("--user", "webapi", "--password", "Secret1!", customers=3)

        def call(user, pw):
            tok = base64.b64encode(f"{user}:{pw}".encode()).decode()
            return self.get("ARCustomers", headers=dict(HDRS, Authorization="Basic " + tok))

        # legacy (default): the stored password is upper case
        self.assertEqual(call("WEBAPI", "SECRET1!")[0], 200)
        status, hdrs, doc = call("WEBAPI", "Secret1!")
        self.assert_error(status, doc, 401, "Unauthorized")
        self.assertEqual(hdrs.get("www-authenticate"), "Basic")
        # user IDs must come upper-case unless folding is switched on
        self.assertEqual(call("webapi", "SECRET1!")[0], 401)
        self.settings(user_case="fold")
        self.assertEqual(call("webapi", "SECRET1!")[0], 200)
        # complex passwords: compared as entered
        self.settings(password_mode="exact", user_case="upper")
        self.assertEqual(call("WEBAPI", "Secret1!")[0], 200)
        self.assertEqual(call("WEBAPI", "SECRET1!")[0], 401)
        self.assertEqual(call("OTHER", "Secret1!")[0], 401)
        # missing or malformed Authorization
        for h in ({}, {"Authorization": "Bearer x"}, {"Authorization": "Basic !!!"},
                  {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}):
            status, hdrs, doc = self.get("ARCustomers", headers=dict({"Content-Type": "application/json"}, **h))
            self.assert_error(status, doc, 401, "Unauthorized")
            self.assertEqual(hdrs.get("www-authenticate"), "Basic")

    def test_password_mode_exact_from_the_command_line(self):
        self.start("--password", "MiXed", "--password-mode", "exact", customers=1)
        tok = "Basic " + base64.b64encode(b"WEBAPI:MiXed").decode()
        self.assertEqual(self.get("ARCustomers", headers=dict(HDRS, Authorization=tok))[0], 200)
        tok = "Basic " + base64.b64encode(b"WEBAPI:MIXED").decode()
        self.assertEqual(self.get("ARCustomers", headers=dict(HDRS, Authorization=tok))[0], 401)

    def test_admin_is_refused_by_default(self):
        self.start("--user", "ADMIN", "--password", "ADMIN", customers=1)
        hdrs = dict(HDRS, Authorization="Basic QURNSU46QURNSU4=")
        status, _, doc = self.get("ARCustomers", headers=hdrs)
        self.assert_error(status, doc, 403, "Forbidden")
        self.settings(allow_admin=True)
        self.assertEqual(self.get("ARCustomers", headers=hdrs)[0], 200)

    def test_content_type_rule(self):
        self.start(customers=2)
        no_ct = {"Authorization": AUTH, "Accept": "application/json"}
        status, _, doc = self.get("ARCustomers", headers=no_ct)
        self.assert_error(status, doc, 500, "InternalServerError")
        status, _, doc = self.get("ARCustomers", headers=dict(no_ct, **{"Content-Type": "text/plain"}))
        self.assertEqual(status, 500)
        self.settings(content_type_rule="writes")
        self.assertEqual(self.get("ARCustomers", headers=no_ct)[0], 200)
        status, _, doc = http_json("POST", self.url("ARCustomers"), body=b"{}",
                                   headers=dict(no_ct, **{"Content-Type": ""}))
        self.assert_error(status, doc, 500, "InternalServerError")
        self.settings(content_type_rule="off")
        self.assertEqual(self.get("ARCustomers", headers=no_ct)[0], 200)
        # auth is checked first
        status, _, doc = self.get("ARCustomers", headers={})
        self.assertEqual(status, 401)

    def test_content_type_rule_from_the_command_line(self):
        self.start("--content-type-rule", "off", customers=2)
        self.assertEqual(self.get("ARCustomers", headers={"Authorization": AUTH})[0], 200)

    def test_error_bodies(self):
        self.start(customers=20)
        cases = [
            ("ARCustomers('ZZZ')", 404, "RecordNotFound", "A Record cannot be found for the specified entity key"),
            ("ARCustomers('abc", 400, "InvalidEntityKey", None),
            ("ARInvoices", 404, "ResourceNotFound", None),
            ("ARCustomers?$filter=" + q("CustomerNumber eq L010746552"), 400, "InvalidParameters",
             f"Could not find a property named 'L010746552' on type '{CUSTOMER_TYPE}'."),
            ("ARCustomers?$filter=" + q("CustomerNumber eq 'x"), 400, "InvalidParameters", "unterminated"),
            ("ARCustomers?$filter=" + q("Status eq 'Sleeping'"), 400, "InvalidParameters", "enumeration"),
            ("ARCustomers?$filter=" + q("substringof('a',CustomerName)"), 400, "InvalidParameters", "substringof"),
            ("ARCustomers?$top=1&$top=2", 400, "InvalidParameters", "more than once"),
            ("ARCustomers?$top=-1", 400, "InvalidParameters", "$top"),
            ("ARCustomers?$skip=x", 400, "InvalidParameters", "$skip"),
            ("ARCustomers?$count=yes", 400, "InvalidParameters", None),
            ("ARCustomers?$select=Nope", 400, "InvalidParameters", "Could not find a property named 'Nope'"),
            ("ARCustomers?$orderby=Nope desc", 400, "InvalidParameters", "Nope"),
            ("ARCustomers?$orderby=CustomerNumber sideways", 400, "InvalidParameters", None),
            ("ARCustomers?$expand=CustomerOptionalFieldValues", 400, "InvalidParameters", None),
            ("ARCustomers?$bogus=1", 400, "InvalidParameters", "$bogus"),
        ]
        for rest, st, code, text in cases:
            status, hdrs, doc = self.get(rest.replace(" ", "%20"))
            self.assert_error(status, doc, st, code, text)
            self.assertTrue(hdrs["content-type"].startswith("application/json"))
        status, _, doc = self.get("ARCustomers", company="NOSUCH")
        self.assert_error(status, doc, 500, "DBLinkError")
        self.settings(unknown_company="notfound")
        status, _, doc = self.get("ARCustomers", company="NOSUCH")
        self.assert_error(status, doc, 404, "ResourceNotFound")
        self.settings(unknown_company="unauthorized")
        status, _, doc = self.get("ARCustomers", company="NOSUCH")
        self.assert_error(status, doc, 401, "Unauthorized")
        for method in ("POST", "PATCH", "DELETE", "PUT"):
            status, hdrs, doc = http_json(method, self.url("ARCustomers('X')"), body=b"{}", headers=HDRS)
            self.assert_error(status, doc, 405, "MethodNotAllowed")
        status, _, doc = http_json("GET", self.root + "/nothing/here", headers=HDRS)
        self.assert_error(status, doc, 404, "ResourceNotFound")


class TestProxyAndLoginCount(SageSim):
    def test_public_base_builds_links_like_a_server_behind_a_proxy(self):
        self.start("--public-base", "https://sage-iis01.internal:8443/erp/", customers=250)
        doc = self.ok("ARCustomers?$orderby=CustomerNumber&$top=150")
        self.assertEqual(len(doc["value"]), 100)
        # the configured origin and prefix (trailing '/' dropped), not the Host header
        self.assertEqual(
            doc["@odata.nextLink"],
            "https://sage-iis01.internal:8443/erp/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers"
            "?$orderby=CustomerNumber&$top=50&$skip=100")
        self.assertTrue(doc["@odata.context"].startswith(
            "https://sage-iis01.internal:8443/erp/Sage300WebApi/v1.0/-/SAMINC/AR/$metadata#"),
            doc["@odata.context"])
        status, _, doc = http_json("GET", self.url("ARCustomers?$top=150"),
                                   headers=dict(HDRS, Host="erp"))
        self.assertTrue(doc["@odata.nextLink"].startswith("https://sage-iis01.internal:8443/erp/"))

    def test_public_base_must_be_an_http_url(self):
        for bad in ("ftp://x", "http://", "http:///path", "http://a b", "http://x?y", "x"):
            cp = self.procs.run([mlctest.binary("mlc-sage-sim"), "--port", "0",
                                 "--public-base", bad], check=False, timeout=10)
            self.assertEqual(cp.returncode, 2, bad)
            self.assertIn("--public-base", cp.stderr)
            self.assertEqual(len(cp.stderr.strip().splitlines()), 1, cp.stderr)

    def test_failed_logins_are_counted(self):
        self.start("--password", "Secret1!", "--password-mode", "exact", customers=3)

        def failed():
            status, _, doc = self.ctl("GET", "/_sim/counters")
            self.assertEqual(status, 200, doc)
            return doc["counters"].get("failed_logins", 0)

        def call(pw):
            tok = base64.b64encode(f"WEBAPI:{pw}".encode()).decode()
            return self.get("ARCustomers", headers=dict(HDRS, Authorization="Basic " + tok))[0]

        self.assertEqual(failed(), 0)
        self.assertEqual(call("Secret1!"), 200)
        self.assertEqual(failed(), 0)
        self.assertEqual(call("SECRET1!"), 401)
        self.assertEqual(call("nope"), 401)
        self.assertEqual(self.get("ARCustomers", headers={"Content-Type": "application/json"})[0], 401)
        self.assertEqual(failed(), 3)
        # an unknown path is no login
        status, _, _ = http_json("GET", self.root + "/elsewhere", headers=HDRS)
        self.assertEqual(status, 404)
        self.assertEqual(failed(), 3)


class TestControlAndFaults(SageSim):
    def test_posting_documents_moves_balances_not_the_stamp(self):
        self.start(customers=10)
        new = {"CustomerNumber": "AR 1", "CreditLimitCustomerCurrency": 10000,
               "DateLastMaintained": "2024-01-05T00:00:00Z"}
        self.assertEqual(self.ctl("POST", "/_sim/companies/SAMINC/customers?stamp=false", new)[0], 201)
        path = "/_sim/companies/SAMINC/customers/" + q("AR 1") + "/documents"
        key = f"ARCustomers({q(lit('AR 1'))})"
        before = self.ok(key)
        self.assertEqual((before["BalanceDueInCustomerCurrency"], before["AmountPastDue"],
                          before["NumberOfOpenDocuments"], before["DateOfLastInvoice"],
                          before["DateOfLastReceipt"]), (0, 0, 0, None, None))
        # an invoice already overdue, dated; then one of today
        status, _, doc = self.ctl("POST", path, {"type": "invoice", "amount": 1500.25,
                                                 "date": "2024-03-01", "past_due": True})
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["BalanceDueInCustomerCurrency"], 1500.25)
        status, _, doc = self.ctl("POST", path, {"type": "invoice", "amount": 500})
        self.assertEqual(status, 200, doc)
        rec = self.ok(key)
        self.assertEqual((rec["BalanceDueInCustomerCurrency"], rec["BalanceDueInFunctionalCurrency"],
                          rec["AmountPastDue"], rec["NumberOfOpenDocuments"],
                          rec["DateOfLastInvoice"], rec["LastInvoiceAmountCustomerCurrency"]),
                         (2000.25, 2000.25, 1500.25, 2, "2024-03-18T00:00:00Z", 500))
        # posting never moves DateLastMaintained, so incremental polls do not see it
        self.assertEqual(rec["DateLastMaintained"], "2024-01-05T00:00:00Z")
        rows = self.ok("ARCustomers?$filter=" + q("DateLastMaintained ge 2024-03-01T00:00:00Z"))["value"]
        self.assertNotIn("AR 1", [r["CustomerNumber"] for r in rows])
        # but a filter on the balance does
        rows = self.ok("ARCustomers?$filter=" + q("BalanceDueInCustomerCurrency gt 2000"))["value"]
        self.assertIn("AR 1", [r["CustomerNumber"] for r in rows])
        # a receipt pays the overdue part first and closes a document
        status, _, doc = self.ctl("POST", path, {"type": "receipt", "amount": 1600, "date": "2024-03-10"})
        self.assertEqual(status, 200, doc)
        rec = self.ok(key)
        self.assertEqual((rec["BalanceDueInCustomerCurrency"], rec["AmountPastDue"],
                          rec["NumberOfOpenDocuments"], rec["DateOfLastReceipt"],
                          rec["LastReceiptCustomerCurrency"], rec["DateLastMaintained"]),
                         (400.25, 0, 1, "2024-03-10T00:00:00Z", 1600, "2024-01-05T00:00:00Z"))
        # paying the rest closes everything
        self.ctl("POST", path, {"type": "receipt", "amount": 400.25})
        rec = self.ok(key)
        self.assertEqual((rec["BalanceDueInCustomerCurrency"], rec["NumberOfOpenDocuments"]), (0, 0))
        # bad documents are refused and change nothing
        for bad in ({"type": "memo", "amount": 1}, {"type": "invoice"}, {"type": "invoice", "amount": 0},
                    {"type": "invoice", "amount": -5}, {"type": "invoice", "amount": "5"},
                    {"type": "invoice", "amount": 1e9}, {"type": "invoice", "amount": 1, "date": "2024-02-30"},
                    {"type": "receipt", "amount": 1, "past_due": True},
                    {"type": "invoice", "amount": 1, "past_due": "yes"}, [1]):
            self.assertEqual(self.ctl("POST", path, bad)[0], 400, bad)
        self.assertEqual(self.ok(key)["BalanceDueInCustomerCurrency"], 0)
        self.assertEqual(self.ctl("GET", path)[0], 405)
        self.assertEqual(self.ctl("POST", "/_sim/companies/SAMINC/customers/NOPE/documents",
                                  {"type": "invoice", "amount": 1})[0], 404)

    def test_control_api_stamps_date_last_maintained(self):
        self.start(customers=10)
        status, _, doc = self.ctl("GET", "/_sim/today")
        self.assertEqual(doc, {"today": "2024-03-18"})
        status, _, doc = self.ctl("PUT", "/_sim/today", {"today": "2024-04-02"})
        self.assertEqual((status, doc), (200, {"today": "2024-04-02"}))
        self.assertEqual(self.ctl("PUT", "/_sim/today", {"today": "2024-02-30"})[0], 400)
        new = {"CustomerNumber": "N'EW & 1", "CustomerName": "Ça va Ltd", "Terms": "N30",
               "DateLastMaintained": "2001-01-01T00:00:00Z", "CreditLimitCustomerCurrency": 12345.5,
               "CustomerOptionalFieldValues": [{"CustomerNumber": "N'EW & 1", "OptionalField": "UPSZONE",
                                                "Value": "RED", "UpdateOperation": "Unspecified"}]}
        status, _, doc = self.ctl("POST", "/_sim/companies/SAMINC/customers", new)
        self.assertEqual(status, 201, doc)
        self.assertEqual(self.ctl("POST", "/_sim/companies/SAMINC/customers", new)[0], 409)
        rec = self.ok(f"ARCustomers({q(lit(new['CustomerNumber']))})")
        self.assertEqual(rec["DateLastMaintained"], "2024-04-02T00:00:00Z")
        self.assertEqual(rec["CustomerName"], "Ça va Ltd")
        self.assertEqual(rec["CreditLimitCustomerCurrency"], 12345.5)
        self.assertEqual(rec["NumberOfOptionalFields"], 1)
        self.assertEqual(rec["Status"], "Active")
        self.assertIsNone(rec["InactiveDate"])
        # change = merge of the given properties, stamped with today
        self.ctl("PUT", "/_sim/today", {"today": "2024-04-03"})
        path = "/_sim/companies/SAMINC/customers/" + q(new["CustomerNumber"])
        status, _, doc = self.ctl("PATCH", path, {"ShortName": "NEWSHORT", "Status": "Inactive",
                                                  "InactiveDate": "2024-04-03T00:00:00"})
        self.assertEqual(status, 200, doc)
        rec = self.ok(f"ARCustomers({q(lit(new['CustomerNumber']))})")
        self.assertEqual((rec["ShortName"], rec["Status"], rec["CustomerName"], rec["DateLastMaintained"]),
                         ("NEWSHORT", "Inactive", "Ça va Ltd", "2024-04-03T00:00:00Z"))
        self.assertEqual(rec["InactiveDate"], "2024-04-03T00:00:00Z")
        # a back-dated change (stamp=false) keeps the given date
        self.ctl("PATCH", path + "?stamp=false", {"DateLastMaintained": "2024-03-01T00:00:00Z"})
        self.assertEqual(self.ok(f"ARCustomers({q(lit(new['CustomerNumber']))})")["DateLastMaintained"],
                         "2024-03-01T00:00:00Z")
        # bad changes are refused and change nothing
        for bad in ({"Nope": 1}, {"CustomerName": 5}, {"Status": "Sleeping"}, {"ShortName": "X" * 11},
                    {"DateLastMaintained": "yesterday"}, {"CustomerNumber": "OTHER"}):
            self.assertEqual(self.ctl("PATCH", path, bad)[0], 400, bad)
        # an array with one bad element adds nothing; bad touches are refused
        count = len(self.ok("ARCustomers?$top=1000")["value"])
        status, _, doc = self.ctl("POST", "/_sim/companies/SAMINC/customers",
                                  [{"CustomerNumber": "OK1"}, {"CustomerNumber": "BAD", "Nope": 1}])
        self.assertEqual(status, 400, doc)
        self.assertEqual(len(self.ok("ARCustomers?$top=1000")["value"]), count)
        for bad in ({"count": -1}, {"count": 1, "set": {"CustomerNumber": "X"}},
                    {"count": 2, "set": {"CustomerName": 5}}, [1]):
            self.assertEqual(self.ctl("POST", "/_sim/companies/SAMINC/touch", bad)[0], 400, bad)
        # touch stamps several customers
        status, _, doc = self.ctl("POST", "/_sim/companies/SAMINC/touch", {"count": 3, "set": {"City": "Zug"}})
        self.assertEqual(status, 200, doc)
        self.assertEqual(len(doc["touched"]), 3)
        rows = self.ok("ARCustomers?$filter=" + q("DateLastMaintained ge 2024-04-03T00:00:00Z"))["value"]
        self.assertEqual(sorted(r["CustomerNumber"] for r in rows), sorted(doc["touched"]))
        self.assertTrue(all(r["City"] == "Zug" for r in rows))
        # delete
        self.assertEqual(self.ctl("DELETE", path)[0], 200)
        status, _, doc = self.get(f"ARCustomers({q(lit(new['CustomerNumber']))})")
        self.assert_error(status, doc, 404, "RecordNotFound")
        self.assertEqual(self.ctl("DELETE", path)[0], 404)
        # companies
        self.assertEqual(self.ctl("POST", "/_sim/companies/NEWCO")[0], 201)
        status, _, cos = self.ctl("GET", "/_sim/companies")
        self.assertEqual([c["code"] for c in cos], ["SAMINC", "SAMLTD", "NEWCO"])
        self.assertEqual(self.ok("ARCustomers", company="NEWCO")["value"], [])

    def test_data_file(self):
        path = os.path.join(self.workdir, "data.json")
        with open(path, "w") as f:
            json.dump({"FILECO": [{"CustomerNumber": "1100", "CustomerName": "Bargain Mart - San Diego",
                                   "DateLastMaintained": "2024-03-18T00:00:00Z", "OnHold": "No"},
                                  {"CustomerNumber": "1200", "CustomerName": "Black's Hardware",
                                   "Status": "Inactive", "InactiveDate": "2024-03-18T00:00:00Z"}]}, f)
        self.proc = self.procs.start_server([mlctest.binary("mlc-sage-sim"), "--port", "0",
                                             "--data", path], name="sage-sim")
        self.base = self.proc.first_line
        rows = self.ok("ARCustomers", company="FILECO")["value"]
        self.assertEqual([r["CustomerNumber"] for r in rows], ["1100", "1200"])
        self.assertEqual(rows[1]["Status"], "Inactive")
        with open(path, "w") as f:
            json.dump({"FILECO": [{"CustomerNumber": "1", "Bogus": 1}]}, f)
        cp = self.procs.run([mlctest.binary("mlc-sage-sim"), "--port", "0", "--data", path])
        self.assertEqual(cp.returncode, 2)
        self.assertIn("Bogus", cp.stderr)
        cp = self.procs.run([mlctest.binary("mlc-sage-sim"), "--page-size", "0"])
        self.assertEqual(cp.returncode, 2)

    def test_each_fault_kind(self):
        self.start(customers=30)
        url = self.url("ARCustomers?$top=20")

        def fault(**kw):
            status, _, doc = self.ctl("POST", "/_sim/faults", kw)
            self.assertEqual(status, 201, doc)

        fault(kind="status", status=429, count=2, path="*/ARCustomers")
        for _ in range(2):
            status, _, doc = http_json("GET", url, headers=HDRS)
            self.assert_error(status, doc, 429, "TooManyRequests")
        self.assertEqual(http_json("GET", url, headers=HDRS)[0], 200)

        fault(kind="status", status=503, body={"error": {"code": "General"}})
        status, _, doc = http_json("GET", url, headers=HDRS)
        self.assertEqual((status, doc), (503, {"error": {"code": "General"}}))

        fault(kind="delay", delay_ms=600)
        t0 = time.time()
        self.assertEqual(http_json("GET", url, headers=HDRS)[0], 200)
        self.assertGreaterEqual(time.time() - t0, 0.55)

        fault(kind="malformed")
        status, _, raw = http("GET", url, headers=HDRS)
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(raw)

        fault(kind="truncate")
        with self.assertRaises((httpclient.IncompleteRead, ConnectionError, ValueError)):
            status, _, raw = http("GET", url, headers=HDRS)
            json.loads(raw)

        fault(kind="reset")
        with self.assertRaises((ConnectionError, httpclient.RemoteDisconnected, OSError)):
            http("GET", url, headers=HDRS)

        fault(kind="hang", delay_ms=3000)
        with self.assertRaises((socket.timeout, TimeoutError, OSError)):
            http("GET", url, headers=HDRS, timeout=1)

        # path scope: a fault on ARTerms leaves ARCustomers alone
        fault(kind="status", status=500, path="ARTerms", count=-1)
        self.assertEqual(http_json("GET", url, headers=HDRS)[0], 200)
        status, _, doc = self.get("ARTerms")
        self.assert_error(status, doc, 500, "InternalServerError")
        status, _, doc = self.ctl("GET", "/_sim/faults")
        self.assertEqual(len(doc["faults"]), 1)
        self.assertEqual(self.ctl("DELETE", "/_sim/faults")[0], 200)
        self.assertEqual(self.get("ARTerms")[0], 200)

        # counters and a request log without credentials
        status, _, doc = self.ctl("GET", "/_sim/counters")
        self.assertGreaterEqual(doc["routes"]["ARCustomers.list"]["200"], 3)
        self.assertEqual(doc["routes"]["fault"]["429"], 2)
        self.assertGreater(doc["counters"]["customers.rendered"], 0)
        status, _, raw = http("GET", self.root + "/_sim/requests")
        self.assertNotIn(b"V0VCQVBJOldFQkFQSQ", raw)
        self.assertNotIn(b"Basic", raw)
        log = json.loads(raw)["requests"]
        self.assertIn("reset", [e.get("fault") for e in log])
        self.assertTrue(any(e["target"].endswith("ARCustomers?$top=20") for e in log))

    def test_probability_faults_are_seeded(self):
        self.start(customers=5)

        def run():
            self.ctl("DELETE", "/_sim/faults")
            self.ctl("POST", "/_sim/faults", {"kind": "status", "status": 500, "probability": 0.3, "seed": 42})
            return [self.get("ARCustomers")[0] for _ in range(30)]

        a, b = run(), run()
        self.assertEqual(a, b)
        self.assertIn(500, a)
        self.assertIn(200, a)

    def test_concurrent_requests(self):
        self.start(customers=2000)
        self.settings(page_size=500)
        everything = self.all_keys()
        self.settings(page_size=500)
        # a slow request does not hold up the others
        self.ctl("POST", "/_sim/faults", {"kind": "delay", "delay_ms": 2500, "path": "ARTerms"})
        results, errors = {}, []

        def slow():
            t0 = time.time()
            self.get("ARTerms")
            results["slow"] = time.time() - t0
            results["slow_done"] = time.time()

        def pager(i):
            try:
                keys, _ = self.follow(self.url("ARCustomers?$select=CustomerNumber"))
                results[i] = keys
                results[f"done{i}"] = time.time()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        t_slow = threading.Thread(target=slow)
        t_slow.start()
        time.sleep(0.2)
        threads = [threading.Thread(target=pager, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        t_slow.join(30)
        self.assertEqual(errors, [])
        for i in range(6):
            self.assertEqual(results[i], everything)
        self.assertGreaterEqual(results["slow"], 2.4)
        # the pagers (4 requests each) were served while the delayed request slept
        first_pager_done = min(results[f"done{i}"] for i in range(6))
        self.assertLess(first_pager_done, results["slow_done"])


if __name__ == "__main__":
    mlctest.main()
