"""schemas/mapping.v1.json accepts the default and the good fixtures and
rejects the bad ones; the C parser (tests/unit/test_loader_mapping.c) reads
the same fixture directories and must agree. tests/fixtures/mapping/
bad-semantic/ holds files the schema cannot refuse (labels that are not
options, duplicate names, ...): the schema accepts them, the C parser does
not, and this test pins that split so neither side drifts unnoticed."""
import glob
import json
import os
import unittest

import jsonschema

SRCDIR = os.environ.get("MLC_TEST_SRCDIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
FIX = os.path.join(SRCDIR, "tests", "fixtures", "mapping")


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
                                 "Customer Status"])
        status = doc["custom_fields"][-1]
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


if __name__ == "__main__":
    unittest.main()
