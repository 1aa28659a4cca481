"""schemas/mapping.v1.json accepts the default and the good fixtures and
rejects the bad ones; the C parser (tests/unit/test_loader_mapping.c) reads
the same fixture directories and must agree. tests/fixtures/mapping/
bad-semantic/ holds files the schema cannot refuse (labels that are not
options, duplicate names, ...): the schema accepts them, the C parser does
not, and this test pins that split so neither side drifts unnoticed."""
import glob
import json
import os
import re
import unittest

import jsonschema
import yaml

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SRCDIR = os.environ.get("MLC_TEST_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
FIX = os.path.join(SRCDIR, "tests", "fixtures", "mapping")
SPECS = os.path.join(SRCDIR, "tests", "data", "pipedrive")  # tests/data/README.md
V2_SPEC = os.environ.get("MLC_PIPEDRIVE_V2_SPEC", os.path.join(SPECS, "v2.subset.yaml"))


def openapi_to_jsonschema(node):
    """OpenAPI 3.0 `nullable: true` -> JSON Schema type [..., "null"]."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v) for k, v in node.items()
           if k not in ("nullable", "example", "x-nullable")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class MappingSchema(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        schema = load(os.path.join(SRCDIR, "schemas", "mapping.v1.json"))
        jsonschema.Draft202012Validator.check_schema(schema)
        cls.validator = jsonschema.Draft202012Validator(schema)

    def errors(self, path):
        try:
            doc = load(path)
        except ValueError as e:
            return [f"not JSON: {e}"]
        return list(self.validator.iter_errors(doc))

    def files(self, sub):
        found = sorted(glob.glob(os.path.join(FIX, sub, "*.json")))
        self.assertTrue(found, f"no fixtures in {sub}")
        return found

    def test_default_mapping_is_valid(self):
        path = os.path.join(SRCDIR, "schemas", "mapping.default.json")
        self.assertEqual(self.errors(path), [])
        doc = load(path)
        names = [c["name"] for c in doc["custom_fields"]]
        self.assertEqual(names, ["Sage 300 Customer ID", "Sage 300 Company", "Payment Terms",
                                 "Credit Limit", "Phone", "Email", "Contact Name",
                                 "Customer Status", "Balance Due", "Amount Past Due",
                                 "Credit Used %", "Open Documents", "Last Invoice Date",
                                 "Last Receipt Date"])
        types = {c["name"]: c["field_type"] for c in doc["custom_fields"]}
        self.assertEqual([types[n] for n in ("Balance Due", "Amount Past Due", "Credit Used %",
                                             "Open Documents", "Last Invoice Date",
                                             "Last Receipt Date")],
                         ["monetary", "monetary", "double", "double", "date", "date"])
        status = doc["custom_fields"][7]
        self.assertEqual(status["options"],
                         ["Active", "Inactive", "On hold", "Missing in Sage 300"])

    def test_good_fixtures_are_valid(self):
        for path in self.files("good"):
            with self.subTest(path=os.path.basename(path)):
                self.assertEqual([e.message for e in self.errors(path)], [])

    def test_bad_fixtures_are_rejected(self):
        for path in self.files("bad"):
            with self.subTest(path=os.path.basename(path)):
                self.assertNotEqual(self.errors(path), [])

    def test_semantic_fixtures_pass_the_schema_only(self):
        for path in self.files("bad-semantic"):
            with self.subTest(path=os.path.basename(path)):
                self.assertEqual([e.message for e in self.errors(path)], [])


class BodiesMatchV2Spec(unittest.TestCase):
    """The organization bodies pd_mapping builds (golden files that
    tests/unit/test_loader_mapping.c compares its output with) are valid
    request bodies of Pipedrive's v2 spec, with the live API's extra rule
    that unknown top-level keys are refused."""

    @classmethod
    def setUpClass(cls):
        with open(V2_SPEC, encoding="utf-8") as f:
            spec = yaml.load(f, Loader=YAML_LOADER)
        def schema(path, method):
            s = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
            return openapi_to_jsonschema(s["schema"])
        cls.post = schema("/organizations", "post")
        cls.patch = schema("/organizations/{id}", "patch")

    def check(self, name, schema):
        body = load(os.path.join(FIX, "bodies", name + ".json"))
        jsonschema.Draft7Validator(schema).validate(body)
        self.assertLessEqual(set(body), set(schema["properties"]))
        for key in body.get("custom_fields", {}):
            self.assertRegex(key, r"^[0-9a-f]{40}$")
        return body

    def test_create_body(self):
        body = self.check("create", self.post)
        self.assertIn("name", body)
        self.assertTrue(all(v is not None for v in body["address"].values()))

    def test_create_body_of_a_v2_event(self):
        # the credit picture: monetary objects, doubles and a date string
        body = self.check("create_v2", self.post)
        values = list(body["custom_fields"].values())
        self.assertIn({"value": 12000.5, "currency": "USD"}, values)
        self.assertIn(48.002, values)
        self.assertIn("2026-11-20", values)

    def test_update_missing_and_patch_bodies(self):
        for name in ("update", "missing", "patch"):
            with self.subTest(name=name):
                self.check(name, self.patch)
        self.assertEqual(list(self.check("missing", self.patch)), ["custom_fields"])

    def test_a_null_address_part_would_be_refused(self):
        body = load(os.path.join(FIX, "bodies", "update.json"))
        body["address"]["street_number"] = None
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.Draft7Validator(self.patch).validate(body)


class TokenCostsMatchSpec(unittest.TestCase):
    """loader/pd_limits.{h,c} charge each operation the x-token-cost of the
    spec: the header names each operation's method and path, the table in
    pd_limits.c its cost; both must agree with the v1 and v2 specs."""

    def test_costs(self):
        specs = {}
        for ver in ("v1", "v2"):
            path = os.path.join(SPECS, ver + ".subset.yaml")
            with open(path, encoding="utf-8") as f:
                specs[ver] = yaml.load(f, Loader=YAML_LOADER)["paths"]
        with open(os.path.join(SRCDIR, "loader", "pd_limits.h"), encoding="utf-8") as f:
            header = f.read()
        with open(os.path.join(SRCDIR, "loader", "pd_limits.c"), encoding="utf-8") as f:
            table = dict(re.findall(r"\[(PD_OP_\w+)\] = \{\"[^\"]*\", (\d+),", f.read()))
        ops = re.findall(r"(PD_OP_\w+)(?: = 0)?,\s*/\* (GET|POST|PATCH)\s+/(api/v2|v1)(\S+)\s+(\d+)",
                         header)
        self.assertEqual(len(ops), 9)
        for op, method, prefix, path, cost in ops:
            with self.subTest(op=op):
                ver = "v2" if prefix == "api/v2" else "v1"
                want = specs[ver][path][method.lower()]["x-token-cost"]
                self.assertEqual(int(cost), want)
                self.assertEqual(int(table[op]), want)


if __name__ == "__main__":
    unittest.main()
