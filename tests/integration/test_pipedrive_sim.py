"""Integration tests of mlc-pipedrive-sim: the real binary over HTTP.

Covers each endpoint's happy path and documented errors, cursor paging, the
search matching rules, every v2 validation rule, token accounting against the
specs' x-token-cost, the burst and search windows, the daily budget and its
rollover, the Cloudflare 403 escalation, every fault kind, the control API,
and that every body the sandbox accepts is valid for the v2.yaml schemas.
"""
import copy
import http.client
import json
import os
import socket
import time
import urllib.parse

import mlctest

SPEC_DIR = os.path.join(mlctest.DATA, "pipedrive")
TOKEN = "t-0123456789"
_specs = {}


def spec(name):
    """Parsed v1 / v2 spec excerpt (cached; the C loader is much faster)."""
    if name not in _specs:
        import yaml
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(os.path.join(SPEC_DIR, name.replace(".yaml", ".subset.yaml"))) as f:
            _specs[name] = yaml.load(f, Loader=loader)
    return _specs[name]


def openapi_to_jsonschema(node, root):
    """Resolves $ref within the spec and turns OpenAPI 3.0 `nullable` into JSON Schema."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(x, root) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return openapi_to_jsonschema(target, root)
    out = {}
    for k, v in node.items():
        if k in ("example", "examples", "description", "title", "x-token-cost"):
            continue
        out[k] = openapi_to_jsonschema(v, root)
    if out.pop("nullable", False):
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    return out


def request_schema(path, method):
    root = spec("v2.yaml")
    op = root["paths"][path][method]
    return openapi_to_jsonschema(op["requestBody"]["content"]["application/json"]["schema"], root)


def response_schema(path, method):
    """The 200 response schema of a v2 operation, as JSON Schema."""
    root = spec("v2.yaml")
    op = root["paths"][path][method]
    return openapi_to_jsonschema(
        op["responses"]["200"]["content"]["application/json"]["schema"], root)


class Sim:
    """A running sandbox and a small client for it."""

    def __init__(self, proc):
        self.proc = proc
        self.base = proc.first_line
        u = urllib.parse.urlparse(self.base)
        self.host, self.port = u.hostname, u.port

    def call(self, method, path, body=None, token=TOKEN, params=None, query_token=False,
             raw=None):
        params = dict(params or {})
        headers = {}
        if token is not None:
            if query_token:
                params["api_token"] = token
            else:
                headers["x-api-token"] = token
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = raw if raw is not None else body
        status, hdrs, content = mlctest.http(method, url, data, headers)
        try:
            doc = json.loads(content) if content else None
        except ValueError:
            doc = None
        return status, hdrs, doc if doc is not None else content

    def ctl(self, method, path, body=None):
        return mlctest.http_json(method, self.base + path, body)

    def stats(self):
        return self.ctl("GET", "/_sim/stats")[2]

    def load(self, state):
        status, _, doc = self.ctl("PUT", "/_sim/state", state)
        assert status == 200, doc
        return doc

    def dump(self):
        return self.ctl("GET", "/_sim/state")[2]


HEX = "0123456789abcdef"
KEY_ID = "a" * 40          # varchar "Sage 300 Customer ID"
KEY_CO = "b" * 40          # varchar "Sage 300 Company"
KEY_ENUM = "c" * 40        # enum, options 11, 12
KEY_SET = "d" * 40         # set, options 21, 22
KEY_MONEY = "e" * 40       # monetary
KEY_DOUBLE = "f" * 40      # double
KEY_GONE = "0" * 40        # deleted varchar
KEY_DATE = "1" * 40        # date
KEY_ADDR = "2" * 40        # address
KEY_RANGE = "3" * 40       # daterange
KEY_TIME = "4" * 40        # time
KEY_USER = "5" * 40        # user
KEY_TEXT = "6" * 40        # text
KEY_PHONE = "7" * 40       # phone


def base_state(orgs=()):
    fields = [
        {"key": KEY_ID, "name": "Sage 300 Customer ID", "field_type": "varchar"},
        {"key": KEY_CO, "name": "Sage 300 Company", "field_type": "varchar"},
        {"key": KEY_ENUM, "name": "Kind", "field_type": "enum",
         "options": [{"id": 11, "label": "A"}, {"id": 12, "label": "B"}]},
        {"key": KEY_SET, "name": "Tags", "field_type": "set",
         "options": [{"id": 21, "label": "X"}, {"id": 22, "label": "Y"}]},
        {"key": KEY_MONEY, "name": "Credit", "field_type": "monetary"},
        {"key": KEY_DOUBLE, "name": "Score", "field_type": "double"},
        {"key": KEY_GONE, "name": "Old", "field_type": "varchar", "is_deleted": True},
        {"key": KEY_DATE, "name": "Since", "field_type": "date"},
        {"key": KEY_ADDR, "name": "Billing", "field_type": "address"},
        {"key": KEY_RANGE, "name": "Contract", "field_type": "daterange"},
        {"key": KEY_TIME, "name": "Call at", "field_type": "time"},
        {"key": KEY_USER, "name": "Rep", "field_type": "user"},
        {"key": KEY_TEXT, "name": "Notes", "field_type": "text"},
        {"key": KEY_PHONE, "name": "Phone", "field_type": "phone"},
    ]
    return {"companies": [{"id": 7, "name": "Test Co", "domain": "testco",
                           "user": {"id": 70, "name": "Tess", "email": "tess@example.invalid"},
                           "tokens": [TOKEN], "fields": fields,
                           "organizations": list(orgs)}]}


class PipedriveSimTest(mlctest.TestCase):

    def sim(self, *args, state=None):
        argv = [mlctest.binary("mlc-pipedrive-sim"), "--port", "0", "--token", TOKEN, *args]
        proc = self.procs.start_server(argv, name="pdsim")
        s = Sim(proc)
        if state is not None:
            s.load(state)
        return s

    # ---- auth and users/me ------------------------------------------------

    def test_auth_header_query_and_401_body(self):
        s = self.sim("--no-limits")
        status, _, doc = s.call("GET", "/v1/users/me")
        self.assertEqual(status, 200)
        self.assertEqual(doc["data"]["company_domain"], "sandbox")
        self.assertTrue(doc["data"]["is_you"])
        status, _, doc = s.call("GET", "/v1/users/me", query_token=True)
        self.assertEqual(status, 200)
        status, _, doc = s.call("GET", "/api/v1/users/me")
        self.assertEqual(status, 200)
        for tok in (None, "wrong"):
            status, hdrs, doc = s.call("GET", "/api/v2/organizations", token=tok)
            self.assertEqual(status, 401)
            self.assertEqual(doc, {"success": False, "error": "unauthorized access",
                                   "errorCode": 401})
        self.assertEqual(s.stats()["unauthorized_401"], 2)
        status, _, doc = s.call("GET", "/api/v2/nothing")
        self.assertEqual(status, 404)
        status, _, doc = s.call("PUT", "/api/v2/organizations")
        self.assertEqual(status, 405)

    def test_request_log_and_state_hold_no_header_token(self):
        s = self.sim("--no-limits")
        s.call("GET", "/v1/users/me")
        s.call("GET", "/v1/users/me", query_token=True)
        _, _, log = s.ctl("GET", "/_sim/requests")
        text = json.dumps(log)
        self.assertEqual(len(log["requests"]), 2)
        self.assertNotIn(TOKEN, text)
        self.assertIn("REDACTED", text)
        self.assertNotIn(TOKEN, s.proc.stderr())

    # ---- organizations ----------------------------------------------------

    def test_organization_crud_and_soft_delete(self):
        s = self.sim("--no-limits", state=base_state())
        body = {"name": "Acme", "owner_id": 70, "visible_to": 3, "label_ids": [1],
                "address": {"value": "Main St 1, Tallinn", "locality": "Tallinn",
                            "country": "Estonia"},
                "website": "https://acme.example", "employee_count": 12,
                "custom_fields": {KEY_ID: "C001", KEY_MONEY: {"value": 500, "currency": "USD"},
                                  KEY_ENUM: 11, KEY_SET: [21, 22]}}
        status, _, doc = s.call("POST", "/api/v2/organizations", body)
        self.assertEqual(status, 200)  # not 201
        org = doc["data"]
        oid = org["id"]
        self.assertEqual(org["name"], "Acme")
        self.assertFalse(org["is_deleted"])
        self.assertEqual(org["address"]["locality"], "Tallinn")
        self.assertIsNone(org["address"]["route"])
        self.assertEqual(org["custom_fields"][KEY_MONEY], {"value": 500, "currency": "USD"})
        self.assertIsNone(org["custom_fields"][KEY_DOUBLE])
        self.assertNotIn(KEY_GONE, org["custom_fields"])
        self.assertRegex(org["add_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        status, _, doc = s.call("GET", f"/api/v2/organizations/{oid}",
                                params={"custom_fields": KEY_ID})
        self.assertEqual(status, 200)
        self.assertEqual(doc["data"]["custom_fields"], {KEY_ID: "C001"})

        # PATCH: address replaced whole; custom fields merged; null clears
        status, _, doc = s.call("PATCH", f"/api/v2/organizations/{oid}",
                                {"address": {"value": "Side St 2"},
                                 "custom_fields": {KEY_ENUM: None}})
        self.assertEqual(status, 200)
        self.assertEqual(doc["data"]["address"]["value"], "Side St 2")
        self.assertIsNone(doc["data"]["address"]["locality"])
        self.assertIsNone(doc["data"]["address"]["country"])
        self.assertIsNone(doc["data"]["custom_fields"][KEY_ENUM])
        self.assertEqual(doc["data"]["custom_fields"][KEY_ID], "C001")
        self.assertEqual(doc["data"]["name"], "Acme")

        status, _, doc = s.call("DELETE", f"/api/v2/organizations/{oid}")
        self.assertEqual((status, doc), (200, {"success": True, "data": {"id": oid}}))
        status, _, doc = s.call("GET", f"/api/v2/organizations/{oid}")
        self.assertEqual(status, 404)
        self.assertEqual(doc["error"], "Entity was not found")
        self.assertEqual(s.call("PATCH", f"/api/v2/organizations/{oid}", {"name": "x"})[0], 404)
        self.assertEqual(s.call("DELETE", f"/api/v2/organizations/{oid}")[0], 404)
        self.assertEqual(s.call("GET", "/api/v2/organizations/999")[0], 404)
        self.assertEqual(s.call("GET", "/api/v2/organizations/abc")[0], 400)
        _, _, doc = s.call("GET", "/api/v2/organizations")
        self.assertEqual(doc["data"], [])
        dumped = s.dump()["companies"][0]["organizations"]
        self.assertTrue(dumped[0]["is_deleted"])

    def test_deleted_status_is_switchable(self):
        for mode, expect in (("410", 410), ("200", 200)):
            s = self.sim("--no-limits", "--deleted-status", mode)
            _, _, doc = s.call("POST", "/api/v2/organizations", {"name": "Gone Inc"})
            oid = doc["data"]["id"]
            s.call("DELETE", f"/api/v2/organizations/{oid}")
            status, _, doc = s.call("GET", f"/api/v2/organizations/{oid}")
            self.assertEqual(status, expect)
            if expect == 200:
                self.assertTrue(doc["data"]["is_deleted"])
            self.assertIn(s.call("PATCH", f"/api/v2/organizations/{oid}", {"name": "x"})[0],
                          (404, 410))

    def test_list_cursor_paging_filters_and_sorting(self):
        orgs = [{"id": i, "name": f"Org {i:02d}",
                 "update_time": f"2025-01-{(30 - i):02d}T10:00:00Z",
                 "add_time": "2024-01-01T00:00:00Z",
                 "custom_fields": {KEY_ID: f"C{i:03d}"}} for i in range(1, 24)]
        orgs.append({"id": 30, "name": "Deleted", "is_deleted": True})
        s = self.sim("--no-limits", state=base_state(orgs))
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 5, "custom_fields": f"{KEY_ID},{KEY_CO}"}
            if cursor:
                params["cursor"] = cursor
            status, _, doc = s.call("GET", "/api/v2/organizations", params=params)
            self.assertEqual(status, 200, doc)
            pages += 1
            for o in doc["data"]:
                self.assertEqual(set(o["custom_fields"]), {KEY_ID, KEY_CO})
            seen += [o["id"] for o in doc["data"]]
            cursor = doc["additional_data"]["next_cursor"]
            if cursor is None:
                break
            self.assertLess(pages, 10)
        self.assertEqual(seen, list(range(1, 24)))
        self.assertEqual(pages, 5)

        _, _, doc = s.call("GET", "/api/v2/organizations",
                           params={"sort_by": "update_time", "sort_direction": "desc",
                                   "limit": 500})
        times = [o["update_time"] for o in doc["data"]]
        self.assertEqual(times, sorted(times, reverse=True))
        # paging in update_time order too
        first = s.call("GET", "/api/v2/organizations",
                       params={"sort_by": "update_time", "limit": 10})[2]
        second = s.call("GET", "/api/v2/organizations",
                        params={"sort_by": "update_time", "limit": 20,
                                "cursor": first["additional_data"]["next_cursor"]})[2]
        ids = [o["id"] for o in first["data"] + second["data"]]
        self.assertEqual(ids, list(range(23, 0, -1)))
        self.assertIsNone(second["additional_data"]["next_cursor"])

        _, _, doc = s.call("GET", "/api/v2/organizations",
                           params={"updated_since": "2025-01-20T10:00:00Z"})
        self.assertEqual(sorted(o["id"] for o in doc["data"]), list(range(1, 11)))
        _, _, doc = s.call("GET", "/api/v2/organizations", params={"ids": "3,5,30,99"})
        self.assertEqual([o["id"] for o in doc["data"]], [3, 5])

        for params in ({"limit": 501}, {"limit": 0}, {"limit": "ten"},
                       {"updated_since": "2025-01-20T10:00:00.5Z"},
                       {"updated_since": "yesterday"}, {"sort_by": "name"},
                       {"sort_direction": "up"}, {"cursor": "garbage!"},
                       {"custom_fields": ",".join(["%040x" % i for i in range(16)])},
                       {"custom_fields": KEY_GONE}):
            status, _, doc = s.call("GET", "/api/v2/organizations", params=params)
            self.assertEqual(status, 400, params)
            self.assertEqual(doc["code"], "ERR_SCHEMA_VALIDATION_FAILED")

    # ---- fields -----------------------------------------------------------

    def test_organization_fields_v1_and_v2(self):
        s = self.sim("--no-limits")
        status, _, doc = s.call("GET", "/api/v2/organizationFields")
        self.assertEqual(status, 200)
        codes = {f["field_code"]: f for f in doc["data"]}
        self.assertIn("name", codes)
        self.assertFalse(codes["name"]["is_custom_field"])
        subs = [x["field_code"] for x in codes["address"]["subfields"]]
        for sub in ("value", "street_number", "route", "subpremise", "locality",
                    "admin_area_level_1", "admin_area_level_2", "country", "postal_code",
                    "formatted_address"):
            self.assertIn(sub, subs)
        self.assertIsNone(doc["additional_data"]["next_cursor"])

        status, _, doc = s.call("POST", "/api/v2/organizationFields",
                                {"field_name": "Sage 300 Customer ID", "field_type": "varchar"})
        self.assertEqual(status, 200)
        key = doc["data"]["field_code"]
        self.assertRegex(key, r"^[0-9a-f]{40}$")
        self.assertTrue(doc["data"]["is_custom_field"])
        status, _, doc = s.call("POST", "/api/v2/organizationFields",
                                {"field_name": "Kind", "field_type": "enum",
                                 "options": [{"label": "A"}, {"label": "B"}]})
        self.assertEqual(status, 200)
        opts = doc["data"]["options"]
        self.assertEqual([o["label"] for o in opts], ["A", "B"])
        enum_key = doc["data"]["field_code"]

        status, _, doc = s.call("POST", "/v1/organizationFields",
                                {"name": "Sage 300 Company", "field_type": "varchar"})
        self.assertEqual(status, 200)
        v1key = doc["data"]["key"]
        self.assertRegex(v1key, r"^[0-9a-f]{40}$")
        self.assertTrue(doc["data"]["edit_flag"])
        status, _, doc = s.call("GET", "/v1/organizationFields")
        self.assertEqual(status, 200)
        keys = [f["key"] for f in doc["data"]]
        self.assertEqual(set(keys), {"name", "address", key, enum_key, v1key})
        self.assertFalse(doc["additional_data"]["pagination"]["more_items_in_collection"])
        page = s.call("GET", "/v1/organizationFields", params={"start": 1, "limit": 2})[2]
        self.assertEqual([f["key"] for f in page["data"]], keys[1:3])
        self.assertEqual(page["additional_data"]["pagination"]["next_start"], 3)

        # the new fields are usable at once, with option ids as numbers
        status, _, doc = s.call("POST", "/api/v2/organizations",
                                {"name": "X", "custom_fields": {key: "C1", enum_key: opts[1]["id"],
                                                                v1key: "SAMINC"}})
        self.assertEqual(status, 200, doc)

        for bad in ({"field_type": "varchar"}, {"field_name": "", "field_type": "varchar"},
                    {"field_name": "x" * 256, "field_type": "varchar"},
                    {"field_name": "X", "field_type": "visible_to"},
                    {"field_name": "X", "field_type": "enum"},
                    {"field_name": "X", "field_type": "set", "options": []},
                    {"field_name": "X", "field_type": "varchar", "add_visible_flag": True}):
            status, _, doc = s.call("POST", "/api/v2/organizationFields", bad)
            self.assertEqual(status, 400, bad)
            self.assertEqual(doc["code"], "ERR_SCHEMA_VALIDATION_FAILED")
        self.assertEqual(s.call("POST", "/v1/organizationFields", {"field_type": "varchar"})[0],
                         400)
        # keys differ per company (two sandboxes = two companies)
        other = self.sim("--no-limits")
        _, _, doc = other.call("POST", "/api/v2/organizationFields",
                               {"field_name": "Sage 300 Customer ID", "field_type": "varchar"})
        self.assertNotEqual(doc["data"]["field_code"], key)

    # ---- validation -------------------------------------------------------

    def test_each_v2_validation_rule(self):
        s = self.sim("--no-limits", state=base_state([{"id": 1, "name": "Base"}]))
        cases = [
            ("POST", {"owner_id": 70}, "name"),                        # name required
            ("POST", {"name": ""}, "name"),
            ("POST", {"name": "A", KEY_ID: "C1"}, KEY_ID),             # top-level hash
            ("PATCH", {KEY_ID: "C1"}, KEY_ID),
            ("POST", {"name": "A", "label": 3}, "label"),              # unknown v1 member
            ("POST", {"name": "A", "custom_fields": {KEY_GONE: "x"}}, KEY_GONE),   # deleted key
            ("POST", {"name": "A", "custom_fields": {"9" * 40: "x"}}, "9" * 40),   # unknown key
            ("POST", {"name": "A", "owner_id": "70"}, "owner_id"),     # string for number
            ("POST", {"name": "A", "visible_to": "3"}, "visible_to"),
            ("POST", {"name": "A", "label_ids": ["1"]}, "label_ids"),
            ("POST", {"name": "A", "employee_count": "12"}, "employee_count"),
            ("POST", {"name": "A", "custom_fields": {KEY_DOUBLE: "1.5"}}, KEY_DOUBLE),
            ("POST", {"name": "A", "custom_fields": {KEY_MONEY: 500}}, KEY_MONEY),  # monetary
            ("POST", {"name": "A", "custom_fields": {KEY_MONEY: {"value": "500",
                                                                 "currency": "EUR"}}}, KEY_MONEY),
            ("POST", {"name": "A", "custom_fields": {KEY_ENUM: "11"}}, KEY_ENUM),   # enum id
            ("POST", {"name": "A", "custom_fields": {KEY_ENUM: 99}}, KEY_ENUM),
            ("POST", {"name": "A", "custom_fields": {KEY_SET: []}}, KEY_SET),       # [] for set
            ("POST", {"name": "A", "custom_fields": {KEY_SET: ["21"]}}, KEY_SET),
            ("POST", {"name": "A", "custom_fields": {KEY_DATE: "01.02.2025"}}, KEY_DATE),
            ("POST", {"name": "A", "custom_fields": {KEY_RANGE: {"value": "2025-01-01"}}},
             KEY_RANGE),
            ("POST", {"name": "A", "custom_fields": {KEY_TIME: "25:00"}}, KEY_TIME),
            ("POST", {"name": "A", "custom_fields": {KEY_USER: "70"}}, KEY_USER),
            ("POST", {"name": "A", "custom_fields": {KEY_ID: "x" * 256}}, KEY_ID),
            ("POST", {"name": "A", "address": {"locality": "Tallinn"}}, "address"),
            ("POST", {"name": "A", "address": "Main St 1"}, "address"),
            ("POST", {"name": "A", "add_time": "2025-01-01 10:00:00"}, "add_time"),
            ("PATCH", {"add_time": "2025-01-01T10:00:00Z"}, "add_time"),
        ]
        before = s.stats()["validation_failures"]
        for method, body, named in cases:
            path = "/api/v2/organizations" + ("/1" if method == "PATCH" else "")
            status, _, doc = s.call(method, path, body)
            self.assertEqual(status, 400, (method, body, doc))
            self.assertEqual(doc["code"], "ERR_SCHEMA_VALIDATION_FAILED")
            self.assertFalse(doc["success"])
            self.assertIn(named, doc["error"], body)
        status, _, doc = s.call("POST", "/api/v2/organizations", raw=b"{not json")
        self.assertEqual(status, 400)
        self.assertEqual(s.stats()["validation_failures"], before + len(cases) + 1)
        # nothing was created or changed by the refused requests
        _, _, doc = s.call("GET", "/api/v2/organizations")
        self.assertEqual([(o["id"], o["name"]) for o in doc["data"]], [(1, "Base")])
        # the top-level hash error names the parameter as Pipedrive does
        _, _, doc = s.call("POST", "/api/v2/organizations", {"name": "A", KEY_ID: "C1"})
        self.assertEqual(doc["error"], f"Parameter '{KEY_ID}' is not allowed for this request")

    def test_accepted_bodies_validate_against_the_v2_spec(self):
        import jsonschema
        s = self.sim("--no-limits", state=base_state([{"id": 1, "name": "Base"}]))
        org_post = request_schema("/organizations", "post")
        org_patch = request_schema("/organizations/{id}", "patch")
        field_post = request_schema("/organizationFields", "post")
        full_cf = {KEY_ID: "C001", KEY_CO: "SAMINC", KEY_ENUM: 12, KEY_SET: [21],
                   KEY_MONEY: {"value": 10.5, "currency": "EUR"}, KEY_DOUBLE: 3.25,
                   KEY_DATE: "2025-02-01", KEY_ADDR: {"value": "Road 1", "country": "EE"},
                   KEY_RANGE: {"value": "2025-01-01", "until": "2025-12-31"},
                   KEY_TIME: "09:30:00", KEY_USER: 70, KEY_TEXT: "long\ntext",
                   KEY_PHONE: "+372 555"}
        org_bodies = [
            {"name": "A"},
            {"name": "B", "owner_id": 70, "visible_to": 7, "label_ids": [1, 2],
             "add_time": "2025-01-01T10:20:00Z",
             "address": {"value": "Main 1", "street_number": "1", "route": "Main",
                         "subpremise": "2", "sublocality": "Old", "locality": "Tallinn",
                         "admin_area_level_1": "Harju", "admin_area_level_2": "Tallinn",
                         "country": "Estonia", "postal_code": "10111"},
             "website": None, "linkedin": "https://l.example", "industry": None,
             "annual_revenue": 100, "employee_count": None, "custom_fields": full_cf},
            {"name": "C", "custom_fields": {k: None for k in full_cf}},
            # and some the sandbox must refuse (they never reach the schema check)
            {"name": "D", KEY_ID: "x"}, {"name": "E", "visible_to": "3"}, {},
            {"name": "F", "custom_fields": {KEY_SET: []}},
            {"name": "G", "website": 5}, {"name": "H", "label_ids": "1"}, {"name": 5},
            {"name": "I", "custom_fields": []}, {"name": "J", "annual_revenue": 1.5},
        ]
        patch_bodies = [{}, {"name": "Z"}, {"address": {"value": "New 2"}},
                        {"custom_fields": full_cf}, {"website": None, "industry": 3},
                        {"add_time": "2025-01-01T10:20:00Z"}, {"owner_id": "1"},
                        {"address": {"value": 5}}, {"visible_to": 3.5}, {"linkedin": 1}]
        field_bodies = [
            {"field_name": "V", "field_type": "varchar"},
            {"field_name": "E", "field_type": "enum", "options": [{"label": "a"}]},
            {"field_name": "S", "field_type": "set", "options": [{"label": "a"}, {"label": "b"}],
             "ui_visibility": {"add_visible_flag": True}, "required_fields": {"enabled": False},
             "important_fields": {"enabled": False, "stage_ids": []}},
            {"field_name": "M", "field_type": "monetary"},
            {"field_name": "", "field_type": "varchar"}, {"field_name": "Q", "field_type": "x"},
        ]
        accepted = 0
        for path, method, schema, bodies in (
                ("/api/v2/organizations", "POST", org_post, org_bodies),
                ("/api/v2/organizations/1", "PATCH", org_patch, patch_bodies),
                ("/api/v2/organizationFields", "POST", field_post, field_bodies)):
            for body in bodies:
                status, _, doc = s.call(method, path, copy.deepcopy(body))
                if status == 200:
                    accepted += 1
                    jsonschema.validate(body, schema)  # raises if the sandbox was too lax
                else:
                    self.assertEqual(status, 400, doc)
        self.assertEqual(accepted, 3 + 5 + 4)
        # the schemas really are checked: a body the sandbox refuses fails them too
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.validate({"name": "E", "visible_to": "3"}, org_post)

    # ---- field and option changes by an admin ----------------------------

    def assert_v2_400(self, status, doc, named):
        """A v2 validation refusal: 400 with Pipedrive's body naming `named`."""
        self.assertEqual(status, 400, doc)
        self.assertIs(doc["success"], False)
        self.assertEqual(doc["code"], "ERR_SCHEMA_VALIDATION_FAILED")
        self.assertTrue(doc["error"].startswith("Validation failed: ")
                        or doc["error"].startswith("Parameter "), doc["error"])
        self.assertIn(named, doc["error"])

    def test_deleted_fields_and_options_are_refused_in_writes(self):
        s = self.sim("--no-limits", state=base_state([
            {"id": 1, "name": "Base", "custom_fields": {KEY_ID: "C1", KEY_ENUM: 12,
                                                        KEY_SET: [21, 22]}}]))
        fpath = "/api/v2/organizationFields/"
        org = "/api/v2/organizations/1"

        # an enum option deleted: writes naming it are refused, other options still work
        status, _, doc = s.call("DELETE", fpath + KEY_ENUM + "/options", [{"id": 12}])
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["data"], [{"id": 12, "label": "B"}])
        self.assertIsNone(doc["additional_data"])
        for method, path, body in (("PATCH", org, {"custom_fields": {KEY_ENUM: 12}}),
                                   ("POST", "/api/v2/organizations",
                                    {"name": "N", "custom_fields": {KEY_ENUM: 12}})):
            status, _, doc = s.call(method, path, body)
            self.assert_v2_400(status, doc, KEY_ENUM)
            self.assertIn("Option 12", doc["error"])
        self.assertEqual(s.call("PATCH", org, {"custom_fields": {KEY_ENUM: 11}})[0], 200)
        # a set option deleted: it leaves the organizations that had it
        status, _, doc = s.call("DELETE", fpath + KEY_SET + "/options", [{"id": 21}])
        self.assertEqual(status, 200, doc)
        self.assertEqual(s.call("GET", org)[2]["data"]["custom_fields"][KEY_SET], [22])
        status, _, doc = s.call("PATCH", org, {"custom_fields": {KEY_SET: [21, 22]}})
        self.assert_v2_400(status, doc, KEY_SET)
        # atomic: one unknown id and nothing is deleted
        status, _, doc = s.call("DELETE", fpath + KEY_SET + "/options", [{"id": 22}, {"id": 99}])
        self.assert_v2_400(status, doc, "99")
        _, _, doc = s.call("GET", fpath + KEY_SET)
        self.assertEqual([o["id"] for o in doc["data"]["options"]], [22])

        # a field deleted: writes naming it are refused, it disappears everywhere
        status, _, doc = s.call("DELETE", fpath + KEY_ID)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["data"]["field_code"], KEY_ID)
        for method, path, body in (("PATCH", org, {"custom_fields": {KEY_ID: "C2"}}),
                                   ("PATCH", org, {"custom_fields": {KEY_ID: None}}),
                                   ("POST", "/api/v2/organizations",
                                    {"name": "N", "custom_fields": {KEY_ID: "C2"}})):
            status, _, doc = s.call(method, path, body)
            self.assert_v2_400(status, doc, KEY_ID)
            self.assertIn("does not exist", doc["error"])
        self.assertEqual(s.call("GET", fpath + KEY_ID)[0], 404)
        self.assertEqual(s.call("PATCH", fpath + KEY_ID, {"field_name": "Again"})[0], 404)
        self.assertEqual(s.call("DELETE", fpath + KEY_ID)[0], 404)
        self.assertEqual(s.call("POST", fpath + KEY_ID + "/options", [{"label": "x"}])[0], 404)
        self.assertNotIn(KEY_ID, s.call("GET", org)[2]["data"]["custom_fields"])
        codes = [f["field_code"] for f in s.call("GET", "/api/v2/organizationFields")[2]["data"]]
        self.assertNotIn(KEY_ID, codes)
        self.assertEqual(s.call("GET", "/api/v2/organizations",
                                params={"custom_fields": KEY_ID})[0], 400)
        dumped = [f for f in s.dump()["companies"][0]["fields"] if f["key"] == KEY_ID]
        self.assertTrue(dumped[0]["is_deleted"])
        # the stored organization lost the value too (not only its rendering)
        stored = s.dump()["companies"][0]["organizations"][0]["custom_fields"]
        self.assertNotIn(KEY_ID, stored)
        # recreated under the same name, it has a new key
        status, _, doc = s.call("POST", "/api/v2/organizationFields",
                                {"field_name": "Sage 300 Customer ID", "field_type": "varchar"})
        self.assertEqual(status, 200)
        self.assertNotEqual(doc["data"]["field_code"], KEY_ID)
        # system fields cannot be deleted or renamed
        self.assert_v2_400(*s.call("DELETE", fpath + "name")[::2], "name")
        self.assert_v2_400(*s.call("PATCH", fpath + "name", {"field_name": "Title"})[::2],
                           "field_name")
        self.assertEqual(s.call("PATCH", fpath + "name",
                                {"ui_visibility": {"add_visible_flag": True}})[0], 200)

    def test_field_rename_and_option_additions(self):
        s = self.sim("--no-limits", state=base_state([{"id": 1, "name": "Base"}]))
        fpath = "/api/v2/organizationFields/"
        status, _, doc = s.call("PATCH", fpath + KEY_CO, {"field_name": "Company (Sage)"})
        self.assertEqual(status, 200, doc)
        self.assertEqual((doc["data"]["field_code"], doc["data"]["field_name"]),
                         (KEY_CO, "Company (Sage)"))
        listed = {f["field_code"]: f["field_name"]
                  for f in s.call("GET", "/api/v2/organizationFields")[2]["data"]}
        self.assertEqual(listed[KEY_CO], "Company (Sage)")
        v1 = {f["key"]: f["name"] for f in s.call("GET", "/v1/organizationFields")[2]["data"]}
        self.assertEqual(v1[KEY_CO], "Company (Sage)")
        # the key is unchanged, so writes with it still work
        self.assertEqual(s.call("PATCH", "/api/v2/organizations/1",
                                {"custom_fields": {KEY_CO: "SAMINC"}})[0], 200)
        for bad, named in (({}, "body"), ({"field_type": "text"}, "field_type"),
                           ({"field_code": "x"}, "field_code"), ({"field_name": ""}, "field_name"),
                           ({"field_name": "x" * 256}, "field_name"),
                           ({"ui_visibility": True}, "ui_visibility")):
            self.assert_v2_400(*s.call("PATCH", fpath + KEY_CO, bad)[::2], named)

        status, _, doc = s.call("POST", fpath + KEY_ENUM + "/options",
                                [{"label": "C"}, {"label": "Ünïcode D"}])
        self.assertEqual(status, 200, doc)
        new = doc["data"]
        self.assertEqual([o["label"] for o in new], ["C", "Ünïcode D"])
        ids = [o["id"] for o in new]
        self.assertEqual(len(set(ids + [11, 12, 21, 22])), 6)   # unique in the company
        _, _, doc = s.call("GET", fpath + KEY_ENUM)
        self.assertEqual([o["label"] for o in doc["data"]["options"]], ["A", "B", "C", "Ünïcode D"])
        self.assertEqual(s.call("PATCH", "/api/v2/organizations/1",
                                {"custom_fields": {KEY_ENUM: ids[1]}})[0], 200)
        status, _, doc = s.call("PATCH", fpath + KEY_ENUM + "/options",
                                [{"id": ids[0], "label": "C renamed"}])
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["data"], [{"id": ids[0], "label": "C renamed"}])
        for method, bad, named in (
                ("POST", [], "option"), ("POST", {"label": "x"}, "array"),
                ("POST", [{"label": ""}], "label"), ("POST", [{"label": "x" * 256}], "label"),
                ("POST", [{"label": "x", "color": "red"}], "color"),
                ("PATCH", [{"id": 999, "label": "x"}], "999"), ("PATCH", [{"id": 11}], "label"),
                ("PATCH", [{"id": 11, "label": "a"}, {"id": 11, "label": "b"}], "11"),
                ("DELETE", [{"id": "11"}], "id"), ("DELETE", [11], "object")):
            self.assert_v2_400(*s.call(method, fpath + KEY_ENUM + "/options", bad)[::2], named)
        # nothing of the refused requests was applied
        _, _, doc = s.call("GET", fpath + KEY_ENUM)
        self.assertEqual([o["label"] for o in doc["data"]["options"]],
                         ["A", "B", "C renamed", "Ünïcode D"])
        # fields without options have no options to change
        self.assert_v2_400(*s.call("POST", fpath + KEY_ID + "/options", [{"label": "x"}])[::2],
                           "options")
        self.assertEqual(s.call("GET", fpath + "nosuchfield")[0], 404)
        self.assertEqual(s.call("PUT", fpath + KEY_ENUM)[0], 405)
        self.assertEqual(s.call("GET", fpath + KEY_ENUM + "/other")[0], 404)

    def test_field_operation_bodies_validate_against_the_v2_spec(self):
        import jsonschema
        s = self.sim("--no-limits", state=base_state())
        fpath = "/api/v2/organizationFields/"
        one = "/organizationFields/{field_code}"
        opts = one + "/options"
        cases = [
            ("PATCH", fpath + KEY_CO, one, "patch",
             [{"field_name": "Renamed"}, {"ui_visibility": {"add_visible_flag": True}},
              {"required_fields": {"enabled": False}, "important_fields": {"enabled": False}},
              {}, {"field_type": "text"}, {"field_name": ""}]),
            ("POST", fpath + KEY_ENUM + "/options", opts, "post",
             [[{"label": "N1"}], [{"label": "N2"}, {"label": "N3"}], [], [{"label": ""}],
              [{"id": 5}]]),
            ("PATCH", fpath + KEY_ENUM + "/options", opts, "patch",
             [[{"id": 11, "label": "A1"}], [{"id": 11}], [{"label": "x"}], []]),
            ("DELETE", fpath + KEY_SET + "/options", opts, "delete",
             [[{"id": 21}], [{"id": 21}], [{}], []]),
        ]
        accepted = 0
        for method, path, spec_path, spec_method, bodies in cases:
            req = request_schema(spec_path, spec_method)
            resp = response_schema(spec_path, spec_method)
            for body in bodies:
                status, _, doc = s.call(method, path, copy.deepcopy(body))
                if status == 200:
                    accepted += 1
                    jsonschema.validate(body, req)   # raises if the sandbox was too lax
                    jsonschema.validate(doc, resp)
                else:
                    self.assertEqual(status, 400, doc)
        self.assertEqual(accepted, 3 + 2 + 1 + 1)
        for spec_path, spec_method, method, path in ((one, "get", "GET", fpath + KEY_ENUM),
                                                     (one, "delete", "DELETE", fpath + KEY_SET)):
            status, _, doc = s.call(method, path)
            self.assertEqual(status, 200, doc)
            jsonschema.validate(doc, response_schema(spec_path, spec_method))

    # ---- Pipedrive's limits ------------------------------------------------

    def test_length_limits_of_names_addresses_and_text(self):
        import jsonschema
        s = self.sim("--no-limits", state=base_state([{"id": 1, "name": "Base"}]))
        post = request_schema("/organizations", "post")
        patch = request_schema("/organizations/{id}", "patch")
        lim = s.stats()["validation"]
        self.assertEqual((lim["max_name_length"], lim["max_address_length"],
                          lim["max_text_length"], lim["max_varchar_length"]),
                         (255, 255, 65535, 255))
        ok = [
            ("POST", {"name": "n" * 255}),
            ("POST", {"name": "é" * 255}),                 # characters, not bytes
            ("POST", {"name": "東" * 255}),
            ("PATCH", {"name": "m" * 255}),
            ("PATCH", {"address": {"value": "a" * 255, "locality": "l" * 255}}),
            ("PATCH", {"custom_fields": {KEY_ADDR: {"value": "b" * 255}}}),
            ("PATCH", {"custom_fields": {KEY_TEXT: "t" * 65535}}),
            ("PATCH", {"custom_fields": {KEY_ID: "v" * 255, KEY_PHONE: "7" * 255}}),
        ]
        bad = [
            ("POST", {"name": "n" * 256}, "name"),
            ("POST", {"name": "é" * 256}, "name"),
            ("PATCH", {"name": "m" * 256}, "name"),
            ("PATCH", {"address": {"value": "a" * 256}}, "address.value"),
            ("PATCH", {"address": {"value": "a", "postal_code": "p" * 256}}, "postal_code"),
            ("PATCH", {"custom_fields": {KEY_ADDR: {"value": "b" * 256}}}, "value"),
            ("PATCH", {"custom_fields": {KEY_TEXT: "t" * 65536}}, KEY_TEXT),
            ("PATCH", {"custom_fields": {KEY_PHONE: "7" * 256}}, KEY_PHONE),
        ]
        for method, body in ok:
            path = "/api/v2/organizations" + ("/1" if method == "PATCH" else "")
            status, _, doc = s.call(method, path, body)
            self.assertEqual(status, 200, (body if len(json.dumps(body)) < 300 else method, doc))
            jsonschema.validate(body, post if method == "POST" else patch)
        for method, body, named in bad:
            path = "/api/v2/organizations" + ("/1" if method == "PATCH" else "")
            self.assert_v2_400(*s.call(method, path, body)[::2], named)
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[2]["data"]["name"], "m" * 255)

        # the inferred limits are switches
        t = self.sim("--no-limits", "--max-name-length", "10", "--max-address-length", "20",
                     "--max-text-length", "30", state=base_state([{"id": 1, "name": "Base"}]))
        lim = t.stats()["validation"]
        self.assertEqual((lim["max_name_length"], lim["max_address_length"],
                          lim["max_text_length"]), (10, 20, 30))
        o = "/api/v2/organizations/1"
        self.assertEqual(t.call("PATCH", o, {"name": "n" * 10})[0], 200)
        self.assert_v2_400(*t.call("PATCH", o, {"name": "n" * 11})[::2], "name")
        self.assertEqual(t.call("PATCH", o, {"address": {"value": "a" * 20}})[0], 200)
        self.assert_v2_400(*t.call("PATCH", o, {"address": {"value": "a" * 21}})[::2], "address")
        self.assertEqual(t.call("PATCH", o, {"custom_fields": {KEY_TEXT: "t" * 30}})[0], 200)
        self.assert_v2_400(*t.call("PATCH", o, {"custom_fields": {KEY_TEXT: "t" * 31}})[::2],
                           KEY_TEXT)
        # varchar stays at the documented 255 whatever the switches
        self.assertEqual(t.call("PATCH", o, {"custom_fields": {KEY_ID: "v" * 255}})[0], 200)

    def test_monetary_currency_must_be_the_companys(self):
        import jsonschema
        patch = request_schema("/organizations/{id}", "patch")
        s = self.sim("--no-limits", state=base_state([{"id": 1, "name": "Base"}]))
        o = "/api/v2/organizations/1"

        def money(cur):
            return {"custom_fields": {KEY_MONEY: {"value": 12.5, "currency": cur}}}

        self.assertEqual(s.dump()["companies"][0]["currencies"],
                         ["USD", "EUR", "GBP", "CAD", "CHF"])
        self.assertEqual(s.call("GET", "/v1/users/me")[2]["data"]["default_currency"], "EUR")
        for cur in ("USD", "EUR", "GBP", "CAD", "CHF"):
            status, _, doc = s.call("PATCH", o, money(cur))
            self.assertEqual(status, 200, doc)
            jsonschema.validate(money(cur), patch)
        for cur in ("XYZ", "eur", "", "SEK"):
            status, _, doc = s.call("PATCH", o, money(cur))
            self.assert_v2_400(status, doc, KEY_MONEY)
            self.assertIn(f"Currency '{cur}'", doc["error"])
        self.assert_v2_400(*s.call("POST", "/api/v2/organizations",
                                   {"name": "N", **money("JPY")})[::2], KEY_MONEY)
        # an admin adds SEK under a running client
        status, _, doc = s.ctl("PUT", "/_sim/currencies", {"currencies": ["EUR", "SEK"]})
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["companies"], [{"id": 7, "currencies": ["EUR", "SEK"]}])
        self.assertEqual(s.call("PATCH", o, money("SEK"))[0], 200)
        self.assert_v2_400(*s.call("PATCH", o, money("USD"))[::2], KEY_MONEY)
        self.assertEqual(s.ctl("GET", "/_sim/currencies")[2], doc)
        self.assertEqual(s.stats()["companies"][0]["currencies"], ["EUR", "SEK"])
        for bad in ({"currencies": []}, {"currencies": ["E U"]}, {"currencies": "EUR"},
                    {"currencies": ["EUR"], "company_id": 99}, {"currencies": ["x" * 16]}):
            self.assertIn(s.ctl("PUT", "/_sim/currencies", bad)[0], (400, 404), bad)
        self.assertEqual(s.ctl("GET", "/_sim/currencies")[2], doc)
        # the state carries them and loads them back; a state without them gets the default
        dump = s.dump()
        self.assertEqual(dump["companies"][0]["currencies"], ["EUR", "SEK"])
        s.load(dump)
        self.assertEqual(s.call("PATCH", o, money("SEK"))[0], 200)
        st = base_state()
        st["companies"][0]["currencies"] = ["NOK"]
        s.load(st)
        self.assertEqual(s.call("POST", "/api/v2/organizations", {"name": "N", **money("NOK")})[0],
                         200)
        st["companies"][0]["currencies"] = ["N O K"]
        self.assertEqual(s.ctl("PUT", "/_sim/state", st)[0], 400)
        # --currencies sets the default list
        t = self.sim("--no-limits", "--currencies", "SEK,NOK", state=base_state([{"id": 1,
                                                                                 "name": "B"}]))
        self.assertEqual(t.dump()["companies"][0]["currencies"], ["SEK", "NOK"])
        self.assertEqual(t.stats()["validation"]["default_currencies"], "SEK,NOK")
        self.assertEqual(t.call("GET", "/v1/users/me")[2]["data"]["default_currency"], "SEK")
        self.assertEqual(s.call("GET", "/v1/users/me")[2]["data"]["default_currency"], "NOK")
        self.assertEqual(t.call("PATCH", o, money("NOK"))[0], 200)
        self.assert_v2_400(*t.call("PATCH", o, money("EUR"))[::2], KEY_MONEY)
        for bad in (["--currencies", "US D"], ["--currencies", ""], ["--currencies", "EUR,"],
                    ["--max-name-length", "0"], ["--max-address-length", "x"],
                    ["--max-text-length", "-1"]):
            cp = self.procs.run([mlctest.binary("mlc-pipedrive-sim"), *bad], timeout=10)
            self.assertEqual(cp.returncode, 2, bad)
            self.assertEqual(len(cp.stderr.strip().splitlines()), 1, cp.stderr)

    # ---- search -----------------------------------------------------------

    def search_state(self):
        return base_state([
            {"id": 1, "name": "Acme Ltd", "address": {"value": "Main St 1, Tallinn"},
             "custom_fields": {KEY_ID: "C-001", KEY_CO: "SAMINC"}},
            {"id": 2, "name": "Beta AS", "custom_fields": {KEY_ID: "c-001", KEY_ENUM: 11,
                                                          KEY_DOUBLE: 42}},
            {"id": 3, "name": "Gamma", "custom_fields": {KEY_CO: "C-001X"}},
            {"id": 4, "name": "Deleted C-001", "is_deleted": True,
             "custom_fields": {KEY_ID: "C-001"}},
        ])

    def test_org_search_matching_rules(self):
        s = self.sim("--no-limits", state=self.search_state())

        def ids(params):
            status, _, doc = s.call("GET", "/api/v2/organizations/search", params=params)
            self.assertEqual(status, 200, doc)
            return [r["item"]["id"] for r in doc["data"]["items"]]

        # exact_match: whole value, case-insensitive, any searchable custom field
        self.assertEqual(ids({"term": "c-001", "exact_match": "true",
                              "fields": "custom_fields"}), [1, 2])
        self.assertEqual(ids({"term": "C-001", "exact_match": "true"}), [1, 2])
        self.assertEqual(ids({"term": "C-001", "fields": "custom_fields"}), [1, 2, 3])
        self.assertEqual(ids({"term": "acme", "fields": "name"}), [1])
        self.assertEqual(ids({"term": "acme", "fields": "custom_fields"}), [])
        self.assertEqual(ids({"term": "tallinn", "fields": "address"}), [1])
        self.assertEqual(ids({"term": "42", "exact_match": "true"}), [2])       # double
        self.assertEqual(ids({"term": "11", "exact_match": "true"}), [])        # enum: no
        self.assertEqual(ids({"term": "S", "exact_match": "true"}), [])
        _, _, doc = s.call("GET", "/api/v2/organizations/search",
                           params={"term": "SAMINC", "exact_match": "true"})
        item = doc["data"]["items"][0]["item"]
        self.assertEqual(item["type"], "organization")
        self.assertEqual(item["address"], "Main St 1, Tallinn")   # a string here
        self.assertEqual(item["custom_fields"], ["SAMINC"])
        self.assertEqual(item["owner"], {"id": 70})
        self.assertIn("result_score", doc["data"]["items"][0])
        # cursor paging
        page1 = s.call("GET", "/api/v2/organizations/search",
                       params={"term": "C-001", "limit": 2})[2]
        self.assertEqual(len(page1["data"]["items"]), 2)
        page2 = s.call("GET", "/api/v2/organizations/search",
                       params={"term": "C-001", "limit": 2,
                               "cursor": page1["additional_data"]["next_cursor"]})[2]
        self.assertEqual([r["item"]["id"] for r in page2["data"]["items"]], [3])
        self.assertIsNone(page2["additional_data"]["next_cursor"])
        # term length: 2 characters, 1 with exact_match
        self.assertEqual(ids({"term": "G", "exact_match": "true"}), [])
        for params in ({"term": "G"}, {}, {"term": "Ac", "fields": "phone"},
                       {"term": "Ac", "exact_match": "maybe"}, {"term": "Ac", "limit": 501}):
            status, _, doc = s.call("GET", "/api/v2/organizations/search", params=params)
            self.assertEqual(status, 400, params)

    def test_item_search_field_matching_rules(self):
        s = self.sim("--no-limits", state=self.search_state())

        def ids(params):
            p = {"entity_type": "organization", "field": KEY_ID}
            p.update(params)
            status, _, doc = s.call("GET", "/api/v2/itemSearch/field", params=p)
            self.assertEqual(status, 200, doc)
            return doc

        doc = ids({"term": "C-001"})          # match=exact is the default; case-sensitive
        self.assertEqual(doc["data"], [{"id": 1, "name": "Acme Ltd"}])
        self.assertIsNone(doc["additional_data"]["next_cursor"])
        self.assertEqual(ids({"term": "c-001", "match": "exact"})["data"],
                         [{"id": 2, "name": "Beta AS"}])
        self.assertEqual([x["id"] for x in ids({"term": "C-0", "match": "beginning"})["data"]],
                         [1])
        self.assertEqual([x["id"] for x in ids({"term": "-00", "match": "middle"})["data"]],
                         [1, 2])
        self.assertEqual(ids({"term": "C-001", "field": KEY_CO})["data"], [])
        self.assertEqual(ids({"term": "Gamma", "field": "name"})["data"],
                         [{"id": 3, "name": "Gamma"}])
        self.assertEqual(ids({"term": "C", "match": "exact"})["data"], [])  # 1 char ok
        for params in ({"term": "C", "match": "middle"}, {"term": "C-0", "match": "fuzzy"},
                       {"term": "C-001", "field": KEY_ENUM}, {"term": "C-001", "field": KEY_GONE},
                       {"term": "C-001", "field": "9" * 40}, {"term": "C-001",
                                                               "entity_type": "planet"}):
            p = {"entity_type": "organization", "field": KEY_ID}
            p.update(params)
            status, _, doc = s.call("GET", "/api/v2/itemSearch/field", params=p)
            self.assertEqual(status, 400, params)
        for missing in ("term", "entity_type", "field"):
            p = {"term": "C-001", "entity_type": "organization", "field": KEY_ID}
            del p[missing]
            status, _, doc = s.call("GET", "/api/v2/itemSearch/field", params=p)
            self.assertEqual(status, 400)
            self.assertIn(missing, doc["error"])

    def test_search_index_delay(self):
        s = self.sim("--no-limits", "--index-delay-ms", "800", state=base_state())
        s.call("POST", "/api/v2/organizations", {"name": "Fresh", "custom_fields": {KEY_ID: "N1"}})
        p = {"term": "N1", "entity_type": "organization", "field": KEY_ID}
        _, _, doc = s.call("GET", "/api/v2/itemSearch/field", params=p)
        self.assertEqual(doc["data"], [])      # created but not indexed yet: the race
        mlctest.wait_for(lambda: s.call("GET", "/api/v2/itemSearch/field", params=p)[2]["data"],
                         timeout=10, what="indexing")

    # ---- token costs and limits -------------------------------------------

    def test_token_costs_match_the_spec(self):
        s = self.sim("--daily-budget", "100000", state=base_state([{"id": 1, "name": "Org"}]))
        costs = s.stats()["costs"]
        calls = {
            "organizations.list": ("GET", "/api/v2/organizations", None, None),
            "organizations.create": ("POST", "/api/v2/organizations", {"name": "N"}, None),
            "organizations.get": ("GET", "/api/v2/organizations/1", None, None),
            "organizations.update": ("PATCH", "/api/v2/organizations/1", {"name": "M"}, None),
            "organizations.delete": ("DELETE", "/api/v2/organizations/2", None, None),
            "organizations.search": ("GET", "/api/v2/organizations/search", None,
                                     {"term": "Org"}),
            "itemSearch.field": ("GET", "/api/v2/itemSearch/field", None,
                                 {"term": "C1", "entity_type": "organization",
                                  "field": KEY_ID}),
            "organizationFields.list.v2": ("GET", "/api/v2/organizationFields", None, None),
            "organizationFields.create.v2": ("POST", "/api/v2/organizationFields",
                                             {"field_name": "F", "field_type": "text"}, None),
            "organizationFields.list.v1": ("GET", "/v1/organizationFields", None, None),
            "organizationFields.create.v1": ("POST", "/v1/organizationFields",
                                             {"name": "G", "field_type": "text"}, None),
            "users.me": ("GET", "/v1/users/me", None, None),
            "organizationFields.get.v2": ("GET", f"/api/v2/organizationFields/{KEY_ID}", None,
                                          None),
            "organizationFields.update.v2": ("PATCH", f"/api/v2/organizationFields/{KEY_CO}",
                                             {"field_name": "Company"}, None),
            "organizationFields.delete.v2": ("DELETE", f"/api/v2/organizationFields/{KEY_TEXT}",
                                             None, None),
            "organizationFields.options.add": ("POST",
                                               f"/api/v2/organizationFields/{KEY_ENUM}/options",
                                               [{"label": "C"}], None),
            "organizationFields.options.update": (
                "PATCH", f"/api/v2/organizationFields/{KEY_ENUM}/options",
                [{"id": 11, "label": "AA"}], None),
            "organizationFields.options.delete": (
                "DELETE", f"/api/v2/organizationFields/{KEY_SET}/options", [{"id": 22}], None),
        }
        self.assertEqual({c["operation"] for c in costs}, set(calls))
        remaining = None
        for c in costs:
            doc = spec(c["spec"])
            expected = doc["paths"][c["spec_path"]][c["method"].lower()]["x-token-cost"]
            method, path, body, params = calls[c["operation"]]
            status, hdrs, resp = s.call(method, path, body, params=params)
            self.assertEqual(status, 200, (c, resp))
            left = int(hdrs["x-daily-ratelimit-token-remaining"])
            if remaining is not None:
                self.assertEqual(remaining - left, expected, c["operation"])
            remaining = left
            got = s.stats()["operations"][c["operation"]]
            self.assertEqual(got, {"count": 1, "tokens": expected}, c["operation"])
        st = s.stats()
        total = sum(spec(c["spec"])["paths"][c["spec_path"]][c["method"].lower()]["x-token-cost"]
                    for c in costs)
        self.assertEqual(st["tokens_spent"], total)
        self.assertEqual(st["companies"][0]["tokens_spent_today"], total)
        self.assertEqual(int(hdrs["x-daily-ratelimit-token-limit"]), 100000)
        self.assertEqual(100000 - remaining, total)
        # refused requests cost nothing
        s.call("GET", "/api/v2/organizations", token="nope")
        self.assertEqual(s.stats()["tokens_spent"], total)

    def fast_burst(self, s, n, path, params=None):
        """n requests over one keep-alive connection; returns (statuses, last headers)."""
        conn = http.client.HTTPConnection(s.host, s.port, timeout=30)
        target = path + ("?" + urllib.parse.urlencode(params) if params else "")
        out = []
        started = time.monotonic()
        for _ in range(n):
            conn.request("GET", target, headers={"x-api-token": TOKEN})
            r = conn.getresponse()
            body = r.read()
            out.append((r.status, {k.lower(): v for k, v in r.getheaders()}, body))
        conn.close()
        return out, time.monotonic() - started

    def test_growth_burst_of_41_gets_exactly_one_429(self):
        s = self.sim("--plan", "growth", state=base_state([{"id": 1, "name": "Org"}]))
        out, elapsed = self.fast_burst(s, 41, "/api/v2/organizations/1")
        if elapsed >= 1.9:
            self.skipTest(f"machine too loaded: 41 requests took {elapsed:.2f}s")
        statuses = [o[0] for o in out]
        self.assertEqual(statuses.count(429), 1, statuses)
        self.assertEqual(statuses[-1], 429)
        first = out[0][1]
        self.assertEqual(first["x-ratelimit-limit"], "40")
        self.assertEqual(first["x-ratelimit-remaining"], "39")
        self.assertIn(first["x-ratelimit-reset"], ("1", "2"))
        status, hdrs, body = out[-1]
        doc = json.loads(body)
        self.assertFalse(doc["success"])
        self.assertEqual(doc["errorCode"], 429)
        self.assertNotEqual(doc["error"], "daily request budget exceeded")
        self.assertEqual(hdrs["x-ratelimit-remaining"], "0")
        self.assertLessEqual(int(hdrs["retry-after"]), 2)
        self.assertEqual(s.stats()["rate_limited_429"]["burst"], 1)
        # the window rolls over: after 2 s requests pass again
        time.sleep(2.1)
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[0], 200)

    def test_search_window_is_10_per_2_seconds(self):
        s = self.sim("--plan", "ultimate", state=base_state([{"id": 1, "name": "Org"}]))
        out, elapsed = self.fast_burst(s, 11, "/api/v2/organizations/search", {"term": "Org"})
        if elapsed >= 1.9:
            self.skipTest(f"machine too loaded: 11 requests took {elapsed:.2f}s")
        self.assertEqual([o[0] for o in out].count(429), 1)
        self.assertEqual(out[-1][0], 429)
        self.assertEqual(out[0][1]["x-ratelimit-limit"], "10")
        self.assertEqual(s.stats()["rate_limited_429"]["search"], 1)
        # ordinary requests are not held back by the search window
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[0], 200)

    def test_daily_budget_exhaustion_and_rollover(self):
        # 10 tokens a day, 6-second days: users/me costs 2
        s = self.sim("--daily-budget", "10", "--day-length", "6")
        # start right after a day boundary so all six calls fall in one day
        mlctest.wait_for(lambda: s.stats()["limits"]["seconds_to_reset"] == 6, timeout=15,
                         interval=0.02, what="a fresh day")
        calls = [s.call("GET", "/v1/users/me") for _ in range(6)]
        if [c[0] for c in calls] != [200] * 5 + [429]:
            self.skipTest("a day boundary fell inside the burst (machine too slow)")
        status, hdrs, doc = calls[5]
        self.assertEqual(doc, {"success": False, "error": "daily request budget exceeded",
                               "errorCode": 429})
        self.assertEqual(hdrs["x-daily-ratelimit-token-remaining"], "0")
        self.assertEqual(hdrs["x-daily-ratelimit-token-limit"], "10")
        self.assertTrue(1 <= int(hdrs["retry-after"]) <= 6)
        self.assertEqual(s.stats()["rate_limited_429"]["daily"], 1)
        self.assertEqual(s.stats()["companies"][0]["tokens_spent_today"], 10)
        # after the reset the stats say 0 before any request of the new day
        mlctest.wait_for(lambda: s.stats()["companies"][0]["tokens_spent_today"] == 0,
                         timeout=20, interval=0.3, what="today's spending reset in the stats")
        # the day rolls over by itself
        mlctest.wait_for(lambda: s.call("GET", "/v1/users/me")[0] == 200, timeout=20,
                         interval=0.3, what="the daily rollover")

    def test_rollover_on_demand(self):
        s = self.sim("--daily-budget", "4")
        self.assertEqual(s.call("GET", "/v1/users/me")[0], 200)
        self.assertEqual(s.call("GET", "/v1/users/me")[0], 200)
        status, hdrs, _ = s.call("GET", "/v1/users/me")
        self.assertEqual(status, 429)
        self.assertGreater(int(hdrs["retry-after"]), 3)
        self.assertEqual(s.ctl("POST", "/_sim/rollover")[0], 200)
        status, hdrs, _ = s.call("GET", "/v1/users/me")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["x-daily-ratelimit-token-remaining"], "2")

    def test_plan_and_seats_set_the_budget(self):
        s = self.sim("--plan", "premium", "--seats", "3")
        _, hdrs, _ = s.call("GET", "/v1/users/me")
        self.assertEqual(hdrs["x-daily-ratelimit-token-limit"], str(30000 * 5 * 3))
        self.assertEqual(hdrs["x-ratelimit-limit"], "100")

    def test_ignored_429s_escalate_to_a_cloudflare_403(self):
        s = self.sim("--plan", "lite", "--block-after", "3",
                     state=base_state([{"id": 1, "name": "Org"}]))
        out, elapsed = self.fast_burst(s, 25, "/api/v2/organizations/1")
        if elapsed >= 1.9:
            self.skipTest(f"machine too loaded: 25 requests took {elapsed:.2f}s")
        statuses = [o[0] for o in out]
        self.assertEqual(statuses, [200] * 20 + [429] * 3 + [403] * 2)
        status, hdrs, body = out[-1]
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assertIn(b"Cloudflare", body)
        self.assertIn(b"you have been blocked", body)
        with self.assertRaises(ValueError):
            json.loads(body)
        time.sleep(2.1)   # the burst window is long gone, the block is not
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[0], 403)
        st = s.stats()
        self.assertEqual(st["blocked_403"], 3)
        self.assertEqual(st["rate_limited_429"]["total"], 3)
        self.assertEqual(s.ctl("POST", "/_sim/unblock")[0], 200)
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[0], 200)

    def test_block_on_demand_after_n_requests(self):
        s = self.sim(state=base_state([{"id": 1, "name": "Org"}]))
        for bad in ({"after": -1}, {"seconds": 0}, {"after": "2"}, {"after": 1.5}, [1]):
            self.assertEqual(s.ctl("POST", "/_sim/block", bad)[0], 400, bad)
        self.assertEqual(s.ctl("POST", "/_sim/block", {"after": 2, "seconds": 30})[0], 200)
        statuses = [s.call("GET", "/api/v2/organizations/1")[0] for _ in range(4)]
        self.assertEqual(statuses, [200, 200, 403, 403])
        self.assertEqual(s.stats()["blocked_403"], 2)
        self.assertEqual(s.ctl("POST", "/_sim/unblock")[0], 200)
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[0], 200)
        # unblock also disarms a block still waiting for its turn
        self.assertEqual(s.ctl("POST", "/_sim/block", {"after": 1})[0], 200)
        self.assertEqual(s.ctl("POST", "/_sim/unblock")[0], 200)
        statuses = [s.call("GET", "/api/v2/organizations/1")[0] for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 200])

    def test_no_limits_and_omitted_headers(self):
        s = self.sim("--no-limits", "--plan", "lite", "--daily-budget", "1",
                     "--omit-header", "x-daily-ratelimit-token-limit",
                     "--omit-header", "x-ratelimit-reset")
        out, _ = self.fast_burst(s, 30, "/v1/users/me")
        self.assertEqual({o[0] for o in out}, {200})
        hdrs = out[-1][1]
        self.assertNotIn("x-daily-ratelimit-token-limit", hdrs)
        self.assertNotIn("x-ratelimit-reset", hdrs)
        self.assertIn("x-ratelimit-limit", hdrs)
        self.assertIn("x-daily-ratelimit-token-remaining", hdrs)
        self.assertEqual(s.stats()["tokens_spent"], 60)
        s2 = self.sim("--omit-header", "all")
        _, hdrs, _ = s2.call("GET", "/v1/users/me")
        self.assertFalse([h for h in hdrs if "ratelimit" in h])

    # ---- faults -----------------------------------------------------------

    def test_each_fault_kind(self):
        s = self.sim("--no-limits", state=base_state([{"id": 1, "name": "Org"}]))

        def fault(**kw):
            status, _, doc = s.ctl("POST", "/_sim/faults", kw)
            self.assertIn(status, (200, 201), doc)

        fault(kind="status", status=503, count=2, path="/api/v2/organizations/*")
        for _ in range(2):
            status, _, doc = s.call("GET", "/api/v2/organizations/1")
            self.assertEqual(status, 503)
            self.assertFalse(doc["success"])
            self.assertEqual(doc["error"], "Service is temporarily unavailable")
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[0], 200)
        self.assertEqual(s.stats()["operations"]["organizations.get"]["count"], 1)

        fault(kind="status", status=500, path="/v1/users/me")   # path scoping
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[0], 200)
        status, _, doc = s.call("GET", "/v1/users/me")
        self.assertEqual(status, 500)
        self.assertEqual(doc["error"], "An internal server error occurred")

        fault(kind="delay", delay_ms=400)
        t0 = time.monotonic()
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)

        fault(kind="malformed")
        status, _, body = s.call("GET", "/api/v2/organizations/1")
        self.assertEqual(status, 200)
        self.assertIsInstance(body, bytes)     # not JSON
        with self.assertRaises(ValueError):
            json.loads(body)

        fault(kind="reset")
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            s.call("GET", "/api/v2/organizations/1")

        fault(kind="truncate")
        with self.assertRaises((http.client.IncompleteRead, http.client.HTTPException,
                                ConnectionError, OSError)):
            s.call("GET", "/api/v2/organizations/1")

        fault(kind="hang", delay_ms=300)
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError,
                                socket.timeout)):
            mlctest.http("GET", s.base + "/api/v2/organizations/1",
                         headers={"x-api-token": TOKEN}, timeout=5)

        fault(kind="status", status=502, probability=0.5, seed=7, count=-1)
        got = [s.call("GET", "/api/v2/organizations/1")[0] for _ in range(40)]
        self.assertTrue(10 <= got.count(502) <= 30, got)
        self.assertEqual(set(got), {200, 502})
        s.ctl("DELETE", "/_sim/faults")
        self.assertEqual(s.call("GET", "/api/v2/organizations/1")[0], 200)

    # ---- control API ------------------------------------------------------

    def test_state_load_dump_and_stats(self):
        foreign = {"id": 500, "name": "Foreign Ltd", "owner_id": 3,
                   "custom_fields": {KEY_ID: "F-1"}, "add_time": "2020-01-01T00:00:00Z"}
        s = self.sim("--no-limits", state=base_state([foreign]))
        status, _, doc = s.call("GET", "/api/v2/organizations/500")
        self.assertEqual(status, 200)
        self.assertEqual(doc["data"]["custom_fields"][KEY_ID], "F-1")
        self.assertEqual(doc["data"]["add_time"], "2020-01-01T00:00:00Z")
        status, _, doc = s.call("POST", "/api/v2/organizations", {"name": "Mine"})
        self.assertEqual(doc["data"]["id"], 501)           # ids continue after the seed
        self.assertEqual(s.call("GET", "/v1/users/me")[2]["data"]["company_domain"], "testco")
        dump = s.dump()
        co = dump["companies"][0]
        self.assertEqual([o["name"] for o in co["organizations"]], ["Foreign Ltd", "Mine"])
        self.assertIn(KEY_ID, [f["key"] for f in co["fields"]])
        self.assertTrue([f for f in co["fields"] if f["key"] == KEY_GONE][0]["is_deleted"])
        # the dump loads back unchanged
        s.load(dump)
        self.assertEqual(s.dump()["companies"][0]["organizations"], co["organizations"])
        # a bad state is refused and leaves the old one
        status, _, doc = s.ctl("PUT", "/_sim/state", {"companies": [{"fields": [
            {"name": "x", "field_type": "bogus"}]}]})
        self.assertEqual(status, 400)
        self.assertEqual(len(s.dump()["companies"][0]["organizations"]), 2)
        status, _, doc = s.ctl("PUT", "/_sim/state", {"companies": []})
        self.assertEqual(status, 400)
        self.assertEqual(len(s.dump()["companies"][0]["organizations"]), 2)
        # the --token stays valid after a load without it
        st = base_state()
        st["companies"][0]["tokens"] = ["other"]
        s.load(st)
        self.assertEqual(s.call("GET", "/v1/users/me")[0], 200)
        self.assertEqual(s.call("GET", "/v1/users/me", token="other")[0], 200)
        stats = s.stats()
        self.assertGreaterEqual(stats["operations"]["users.me"]["count"], 3)
        self.assertEqual(s.ctl("DELETE", "/_sim/stats")[0], 200)
        self.assertEqual(s.stats()["tokens_spent"], 0)

    def test_state_file_and_bad_options(self):
        path = os.path.join(self.workdir, "state.json")
        with open(path, "w") as f:
            json.dump(base_state([{"id": 9, "name": "From file"}]), f)
        proc = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--port", "0",
                                        "--state", path, "--no-limits"], name="pdsim-file")
        s = Sim(proc)
        self.assertEqual(s.call("GET", "/api/v2/organizations/9")[2]["data"]["name"],
                         "From file")
        st = base_state()
        del st["companies"][0]["tokens"]
        with open(path, "w") as f:
            json.dump(st, f)
        proc = self.procs.start_server([mlctest.binary("mlc-pipedrive-sim"), "--port", "0",
                                        "--state", path], name="pdsim-default-token")
        self.assertEqual(Sim(proc).call("GET", "/v1/users/me", token="sim-token")[0], 200)
        for bad in (["--plan", "gold"], ["--port", "x"], ["--deleted-status", "500"],
                    ["--omit-header", "x-foo"], ["--state", "/nonexistent.json"],
                    ["--reset-at", "25:00"]):
            cp = self.procs.run([mlctest.binary("mlc-pipedrive-sim"), *bad], timeout=10)
            self.assertEqual(cp.returncode, 2, bad)
            self.assertEqual(len(cp.stderr.strip().splitlines()), 1, cp.stderr)
        cp = self.procs.run([mlctest.binary("mlc-pipedrive-sim"), "--help"], timeout=10)
        self.assertEqual(cp.returncode, 0)
        self.assertIn("--daily-budget", cp.stdout)


if __name__ == "__main__":
    mlctest.main()
