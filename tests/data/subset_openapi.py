#!/usr/bin/env python3
"""Cuts a Pipedrive OpenAPI spec down to the operations this project uses.

    subset_openapi.py UPSTREAM.yaml OUT.yaml PATH [PATH ...]

Keeps `openapi`, `info` and the named paths verbatim, plus every component
they reach through `$ref` (transitively); drops everything else. How the
vendored files in tests/data/pipedrive/ were made is in tests/data/README.md.
"""
import sys

import yaml


def refs(node, out):
    """Collects every '#/components/...' reference below node."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            out.add(ref)
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    src, dst, paths = argv[1], argv[2], argv[3:]
    with open(src, encoding="utf-8") as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    missing = [p for p in paths if p not in spec["paths"]]
    if missing:
        sys.exit(f"subset_openapi: {src} has no path {missing[0]}")
    out = {"openapi": spec["openapi"], "info": spec["info"],
           "paths": {p: spec["paths"][p] for p in paths}}
    seen, todo = set(), set()
    refs(out["paths"], todo)
    components = {}
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        refs(node, todo)
    if components:
        out["components"] = {k: dict(sorted(v.items())) for k, v in sorted(components.items())}
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(out, f, sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    main(sys.argv)
