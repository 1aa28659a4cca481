"""Configuration and secrets through the real binaries.

A broken setting must stop a program with exactly one stderr line naming
it; an encrypted secret made by `mlc secret` must load in the workers; each
program's --help must list the settings it reads; docs/configuration.md
must be what `mlc config docs` prints.
"""
import os
import re
import stat
import subprocess

import mlctest

# Either the command is not implemented yet or it stops at the first setting
# it needs: both prove the configuration (and its secrets) loaded.
NOT_IMPLEMENTED = re.compile(r"^mlc-(extractor|loader): (command '\w+' is not implemented yet"
                             r"|MLC_\w+ is not set \(.*\))$")


def clean_env(extra=None):
    """The caller's environment without MLC_ settings (except ctest's MLC_TEST_*)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MLC_") or k.startswith("MLC_TEST_")}
    env.update(extra or {})
    return env


class CliConfigTest(mlctest.TestCase):

    def run_prog(self, name, args, env=None, stdin=None):
        return subprocess.run([mlctest.binary(name), *args], env=clean_env(env),
                              cwd=self.workdir, input=stdin, capture_output=True, text=True,
                              timeout=60)

    def keygen(self):
        path = os.path.join(self.workdir, "mlc.key")
        cp = self.run_prog("mlc", ["secret", "keygen", "--out", path])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        return path

    def encrypt(self, key, plain, setting="MLC_SAGE_PASSWORD"):
        cp = self.run_prog("mlc", ["secret", "encrypt", "--setting", setting],
                           env={"MLC_MASTER_KEY_FILE": key}, stdin=plain + "\n")
        self.assertEqual(cp.returncode, 0, cp.stderr)
        sealed = cp.stdout.strip()
        self.assertTrue(sealed.startswith("enc:v2:"), cp.stdout)
        self.assertNotIn(plain, cp.stdout + cp.stderr)
        return sealed

    def test_bad_integer_is_one_line_naming_the_setting(self):
        cp = self.run_prog("mlc-extractor", ["once"], env={"MLC_POLL_INTERVAL": "abc"})
        self.assertNotEqual(cp.returncode, 0)
        lines = cp.stderr.splitlines()
        self.assertEqual(len(lines), 1, cp.stderr)
        self.assertIn("MLC_POLL_INTERVAL", lines[0])
        self.assertIn("abc", lines[0])

    def test_bad_value_in_file_names_file_and_line(self):
        conf = os.path.join(self.workdir, "mlc.conf")
        with open(conf, "w") as f:
            f.write("# settings\nMLC_TOPIC=t\nMLC_LOG_LEVEL=loud\n")
        cp = self.run_prog("mlc-loader", ["--config", conf, "run"])
        self.assertEqual(cp.returncode, 2)
        lines = cp.stderr.splitlines()
        self.assertEqual(len(lines), 1, cp.stderr)
        self.assertIn(f"{conf}:3: MLC_LOG_LEVEL", lines[0])

    def test_world_readable_key_file_is_one_line_with_chmod(self):
        key = self.keygen()
        sealed = self.encrypt(key, "Sage-Passw0rd")
        os.chmod(key, 0o644)
        cp = self.run_prog("mlc-extractor", ["once"],
                           env={"MLC_MASTER_KEY_FILE": key, "MLC_SAGE_PASSWORD": sealed})
        self.assertEqual(cp.returncode, 2)
        lines = cp.stderr.splitlines()
        self.assertEqual(len(lines), 1, cp.stderr)
        self.assertIn("chmod 600", lines[0])
        self.assertIn("MLC_SAGE_PASSWORD", lines[0])
        self.assertNotIn(sealed, cp.stderr)

    def test_keygen_encrypt_round_trip_loads_in_the_workers(self):
        key = self.keygen()
        # --out never overwrites an existing key.
        with open(key) as f:
            before = f.read()
        cp = self.run_prog("mlc", ["secret", "keygen", "--out", key])
        self.assertEqual(cp.returncode, 2)
        self.assertEqual(len(cp.stderr.splitlines()), 1, cp.stderr)
        with open(key) as f:
            self.assertEqual(f.read(), before)
        # Without --out the key goes to stdout, one base64 line of 32 bytes.
        cp = self.run_prog("mlc", ["secret", "keygen"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertRegex(cp.stdout, r"^[A-Za-z0-9+/]{43}=\n$")

        password, token = "S4ge-pässwörd", "pd-token-0123456789"
        env = {"MLC_MASTER_KEY_FILE": key, "MLC_LOG_LEVEL": "debug",
               "MLC_SAGE_PASSWORD": self.encrypt(key, password),
               "MLC_PIPEDRIVE_TOKEN": self.encrypt(key, token, "MLC_PIPEDRIVE_TOKEN")}
        for prog, cmd in (("mlc-extractor", "once"), ("mlc-loader", "drain")):
            cp = self.run_prog(prog, [cmd], env=env)
            lines = cp.stderr.splitlines()
            # The command is not implemented yet; what matters is that the
            # configuration (and the secrets in it) loaded without complaint.
            self.assertEqual(len(lines), 1, cp.stderr)
            self.assertRegex(lines[0], NOT_IMPLEMENTED)
            self.assertNotIn(password, cp.stdout + cp.stderr)
            self.assertNotIn(token, cp.stdout + cp.stderr)

    def test_encrypt_refuses_empty_input(self):
        key = self.keygen()
        cp = self.run_prog("mlc", ["secret", "encrypt", "--setting", "MLC_SAGE_PASSWORD"],
                           env={"MLC_MASTER_KEY_FILE": key}, stdin="\n")
        self.assertEqual(cp.returncode, 2)
        self.assertEqual(cp.stdout, "")
        self.assertIn("empty input", cp.stderr)

    def test_encrypt_needs_a_secret_setting_and_reencrypt_needs_v1(self):
        key = self.keygen()
        for args in (["secret", "encrypt"], ["secret", "encrypt", "--setting", "MLC_TOPIC"],
                     ["secret", "reencrypt", "--setting", "MLC_SAGE_PASSWORD"]):
            with self.subTest(args=args):
                cp = self.run_prog("mlc", args, env={"MLC_MASTER_KEY_FILE": key},
                                   stdin="Sage-Passw0rd\n")
                self.assertEqual(cp.returncode, 2)
                self.assertEqual(cp.stdout, "")
                self.assertEqual(len(cp.stderr.splitlines()), 1, cp.stderr)
                self.assertNotIn("Sage-Passw0rd", cp.stderr)
        cp = self.run_prog("mlc", ["secret", "encrypt", "--setting", "MLC_RDKAFKA_SASL_PASSWORD"],
                           env={"MLC_MASTER_KEY_FILE": key}, stdin="kafka-pw\n")
        self.assertEqual(cp.returncode, 0, cp.stderr)

    def settings_by_program(self):
        """{setting: set of programs} from the generated docs table."""
        cp = self.run_prog("mlc", ["config", "docs"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        table = {}
        for line in cp.stdout.splitlines():
            if not line.startswith("| `MLC_"):
                continue
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            self.assertEqual(len(cells), 5, line)
            table[cells[0].strip("`")] = set(cells[3].split())
        self.assertGreater(len(table), 10)
        return table

    def test_help_lists_the_settings_each_worker_reads(self):
        table = self.settings_by_program()
        for prog, word in (("mlc-extractor", "extractor"), ("mlc-loader", "loader")):
            cp = self.run_prog(prog, ["--help"])
            self.assertEqual(cp.returncode, 0, cp.stderr)
            listed = set(re.findall(r"^  (MLC_[A-Z0-9_]+) ", cp.stdout, re.M))
            wanted = {name for name, progs in table.items() if word in progs}
            self.assertEqual(listed, wanted, prog)
            self.assertIn("MLC_RDKAFKA_", cp.stdout)

    def test_configuration_md_is_in_sync(self):
        cp = self.run_prog("mlc", ["config", "docs"])
        self.assertEqual(cp.returncode, 0, cp.stderr)
        with open(os.path.join(mlctest.SRCDIR, "docs", "configuration.md"),
                  encoding="utf-8") as f:
            self.assertEqual(cp.stdout, f.read(),
                             "docs/configuration.md is stale: run "
                             "`mlc config docs > docs/configuration.md`")


if __name__ == "__main__":
    mlctest.main()
