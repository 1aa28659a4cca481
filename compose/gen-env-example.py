#!/usr/bin/python3
"""Writes compose/.env.example from the configuration table.

    build/mlc config docs | compose/gen-env-example.py > compose/.env.example

The table (common/mlc_config_table.h, printed by `mlc config docs`) is the
single source of the settings; this script adds only what is specific to the
compose stack: which settings the operator must fill in, the values for the
compose network, and the STACK_* variables that shape docker-compose.yml.
tests/integration/test_deploy_files.py regenerates the file and fails when
the committed copy differs, so it cannot drift from the table.
"""
import re
import sys

# Settings without a usable default that the stack cannot run without.
REQUIRED = ["MLC_SAGE_URL", "MLC_SAGE_COMPANIES", "MLC_SAGE_USER"]

# Secret settings the stack passes as compose secrets: the file on the host
# (a STACK_ variable), the secret's name, and the worker that gets it. .env
# must not set them (a value there and the _FILE form together are an error).
SECRET_FILES = {
    "MLC_SAGE_PASSWORD": ("STACK_SAGE_PASSWORD_FILE", "./secrets/sage_password",
                          "sage_password", "extractor"),
    "MLC_PIPEDRIVE_TOKEN": ("STACK_PIPEDRIVE_TOKEN_FILE", "./secrets/pipedrive_token",
                            "pipedrive_token", "loader"),
}

# Values for the compose stack (uncommented in .env.example).
STACK_VALUES = {
    "MLC_KAFKA_BROKERS": ("kafka:9092", "the broker of this stack (compose network)"),
    "MLC_LOG_FORMAT": ("json", "one JSON object per line for log shippers"),
    "MLC_METRICS_PORT": ("9464", "/metrics and /healthz; the healthchecks ask this port"),
}

# Notes on settings whose value the stack constrains.
NOTES = {
    "MLC_MASTER_KEY_FILE": "set by docker-compose.yml to /run/secrets/mlc_master_key (the "
                           "compose secret, from STACK_MASTER_KEY_FILE); a value here is ignored",
    "MLC_EVENT_KEY_FILE": "set by docker-compose.yml to /run/secrets/event_key (the compose "
                          "secret, from STACK_EVENT_KEY_FILE); a value here is ignored",
    "MLC_STATE_DB": "leave it unset: the extractor uses /var/lib/mlc/mlc-extractor.db in "
                    "its volume, and each loader replica /var/lib/mlc/mlc-loader-N.db of its "
                    "state slot (a set value would make the replicas share one file)",
    "MLC_SAGE_CA_FILE": "a path inside the container: mount the file read-only in an override",
    "MLC_MAPPING": "a path inside the container: the image has the built-in mapping as "
                   "/usr/share/mlc/schemas/mapping.default.json; copy it, edit it and mount "
                   "your copy read-only in an override (mapping.v1.json is its JSON Schema, "
                   "not a mapping)",
}

STACK_VARS = [
    ("STACK_TOPIC_PARTITIONS", "6",
     "Partitions of MLC_TOPIC at creation: the most loaders that can work at once. "
     "Raising it later moves keys between partitions (see docs/operations.md)"),
    ("STACK_EVENTS_RETENTION_MS", "34560000000",
     "Event topic time retention on top of compaction (400 days)"),
    ("STACK_EVENTS_MIN_COMPACTION_LAG_MS", "604800000",
     "Superseded events stay readable this long before compaction (7 days)"),
    ("STACK_DLQ_RETENTION_MS", "7776000000", "Dead-letter topic retention (90 days)"),
    ("STACK_KAFKA_HOST_PORT", "29092",
     "Kafka port published on the host's 127.0.0.1 for kcat and the Kafka tools"),
    ("STACK_KAFKA_CLUSTER_ID", "BjBkTquqR9699X6c5Vt4wQ",
     "KRaft cluster id (base64url UUID); fixed for the life of the kafka-data volume"),
    ("STACK_KAFKA_HEAP_OPTS", "\"-Xms512m -Xmx1g\"", "JVM heap of the broker"),
    ("STACK_UI_PORT", "8080", "Host port (127.0.0.1) of the Kafka UI (profile ui)"),
    ("STACK_PROMETHEUS_PORT", "9090", "Host port (127.0.0.1) of Prometheus (profile monitoring)"),
    ("STACK_PROMETHEUS_RETENTION", "15d", "How long Prometheus keeps its samples"),
    ("STACK_FATAL_HOLD_S", "1800",
     "Seconds a worker container stays up (unhealthy) after a fatal exit 2 before it "
     "exits and the restart policy starts it again (a Pipedrive block, refused "
     "credentials, a bad setting)"),
    ("STACK_LOADER_STATE_SLOTS", "16",
     "Most loader replicas with their own state file in the loader-state volume"),
    ("STACK_MASTER_KEY_FILE", "./secrets/mlc.key",
     "Master key file on the host, mounted as the compose secret mlc_master_key "
     "(owner 10001, mode 600)"),
    ("STACK_EVENT_KEY_FILE", "./secrets/event.key",
     "Event signing key on the host, mounted into both workers as the compose secret "
     "event_key (owner 10001, mode 600)"),
] + [(var, default, f"{name[4:].replace('_', ' ').capitalize()} file on the host, mounted "
      f"into the {worker} as the compose secret {secret} (owner 10001, mode 600)")
     for name, (var, default, secret, worker) in SECRET_FILES.items()]


def parse_table(markdown):
    """[(name, type, default, programs, description)] from `mlc config docs`."""
    rows = []
    for line in markdown.splitlines():
        if not line.startswith("| `MLC_"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) != 5:
            raise SystemExit(f"gen-env-example: unexpected table row: {line}")
        name, typ, default, progs, desc = cells
        rows.append((name.strip("`"), typ.strip("`"), default.strip("`"), progs.split(), desc))
    if not rows:
        raise SystemExit("gen-env-example: no settings found in the input")
    return rows


def render(rows):
    out = [
        "# ml-connector compose settings. Copy to .env (git-ignored) and fill in.",
        "# Generated by compose/gen-env-example.py from `mlc config docs`; do not edit:",
        "#   build/mlc config docs | compose/gen-env-example.py > compose/.env.example",
        "#",
        "# Every setting of docs/configuration.md is listed. Commented lines show the",
        "# built-in default; uncomment to change. An empty value means unset.",
        "# The Sage password and the Pipedrive token are compose secrets (files in",
        "# secrets/), never values here. A librdkafka secret set here",
        "# (MLC_RDKAFKA_SASL_PASSWORD) should be an enc:v2: value (docs/operations.md).",
        "# librdkafka properties pass through as MLC_RDKAFKA_<PROP> (see",
        "# docs/configuration.md), e.g. for a TLS or SASL cluster.",
        "",
    ]
    for name, typ, default, progs, desc in rows:
        out.append(f"# {name} ({typ}; default: {default or 'none'}; used by: {' '.join(progs)})")
        out.append(f"#   {desc}")
        if name in NOTES:
            out.append(f"#   Compose: {NOTES[name]}")
        if name in SECRET_FILES:
            var, default_file, secret, worker = SECRET_FILES[name]
            out.append(f"#   Compose: a compose secret, not set here: write it to {default_file} "
                       f"(or the file {var} names; owner 10001, mode 600; plain or an enc:v2: "
                       f"value); the {worker} reads /run/secrets/{secret} through "
                       f"{name}_FILE, which docker-compose.yml sets")
            out.append(f"#{name}=")
        elif name in STACK_VALUES:
            value, why = STACK_VALUES[name]
            out.append(f"#   Compose: {why}")
            out.append(f"{name}={value}")
        elif name in REQUIRED:
            out.append("#   Required.")
            out.append(f"{name}=")
        else:
            out.append(f"#{name}={default}")
        out.append("")
    out.append("# ---- Stack (docker-compose.yml only; not read by the programs) ----")
    out.append("")
    for name, default, desc in STACK_VARS:
        out.append(f"# {desc}")
        out.append(f"#{name}={default}")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main():
    rows = parse_table(sys.stdin.read())
    names = {r[0] for r in rows}
    unknown = (set(REQUIRED) | set(STACK_VALUES) | set(NOTES) | set(SECRET_FILES)) - names
    if unknown:
        raise SystemExit("gen-env-example: not in the configuration table: "
                         + ", ".join(sorted(unknown)))
    sys.stdout.write(render(rows))


if __name__ == "__main__":
    main()
