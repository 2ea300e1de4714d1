"""Every `lmis-hub` command, in text mode and with ``--json``, never shows a traceback.

The command tree is walked; :data:`INVOCATIONS` gives each leaf one realistic
invocation against a scratch hub (SQLite in a temporary data directory, the agencies
and the hub's secrets made once). Each runs as the console script runs it
(``hub_api.cli.main``: ``--json`` wherever it is typed, a ``HubError`` as its code and
exit status 2), and must exit 0, 1 or 2 with no traceback; with ``--json`` what it
prints on standard output is JSON. Commands that would start something long (the
stack, the demo, the ingest worker, a connector run, the job-board server) are given an
invocation that fails fast on its input, with the code of the error; everything else
runs for real. A command missing from the table fails :func:`test_the_table_covers_every_command`.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from typer.testing import CliRunner

from connectors.sdk.linkkey import LinkKey, write_link_key_file
from hub_api.cli import app, main
from schemas.keys import (
    encrypted_private_pem,
    key_id_for,
    load_public_pem,
    public_pem,
)

ROOT = Path(__file__).parents[2]
AGREEMENT = ROOT / "governance" / "examples" / "nis-contributions.yaml"
RESEARCH_APPLICATION = ROOT / "governance" / "examples" / "research" / "returns-to-training.yaml"
MODES = ("text", "json")
PASSPHRASE = "a passphrase long enough"
EXIT_CODES = {0, 1, 2}  # done; refused or not reconciled; usage or input error

CSV = """row,trainee_no,registered,gender,parish,dob,first_name,surname,national_id,education
R001,T001,2025-01-05,M,TT-POS,1990-04-02,Alicia,Baptiste,199004021,3
R002,T002,2025-01-06,F,TT-SFO,1985-11-30,Brent,Charles,198511303,4
"""


def leaf_commands() -> set[tuple[str, ...]]:
    """Every command path of the `lmis-hub` tree that is not a group (hidden ones too)."""

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        children = getattr(command, "commands", None)
        if children is None:
            yield path
            return
        for name, child in children.items():
            yield from walk(child, (*path, name))

    return set(walk(typer.main.get_command(app), ()))


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None


@dataclass(frozen=True)
class Call:
    """One invocation: its arguments, the exit status it must give (with the error's
    code when it is refused), extra environment."""

    args: list[str]
    code: int = 0
    error: str | None = None
    env: dict[str, str | None] = field(default_factory=dict)


def console_script(args: list[str], env: dict[str, str | None]) -> Outcome:
    """``hub_api.cli.main`` with these arguments, as the `lmis-hub` console script runs it."""
    runner = CliRunner()
    exception: BaseException | None = None
    saved = sys.argv
    with runner.isolation(env=env) as (stdout, stderr, _):
        sys.argv = ["lmis-hub", *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            exception = exc if code else None
        except Exception as exc:  # what a real process would print as a traceback
            code, exception = 1, exc
        finally:
            sys.argv = saved
            sys.stdout.flush()
            sys.stderr.flush()
        out, err = stdout.getvalue(), stderr.getvalue()
    return Outcome(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), exception)


class Hub:
    """A scratch hub (agencies and hub secrets made) and what the invocations need,
    each made on first use so that every case stands on its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env: dict[str, str | None] = {
            "HUB_DATA_DIR": str(root / "data"),
            "HUB_DATABASE_URL": None,
            "HUB_KEY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
            "HUB_CONNECTOR__SIGNING_KEY_PASSPHRASE": PASSPHRASE,
            "HUB_CONNECTOR__LINK_KEY_PASSPHRASE": PASSPHRASE,
            "HUB_CONNECTOR__LINK_KEY": None,
        }
        self.passphrase = self.path("pass.txt")
        self.passphrase.write_text(PASSPHRASE + "\n", encoding="utf-8")
        self._listeners: list[socket.socket] = []
        self._accounts: set[str] = set()

    def path(self, name: str) -> Path:
        return self.root / name

    def run(self, *args: str, env: dict[str, str | None] | None = None) -> Outcome:
        return console_script(list(args), self.env | (env or {}))

    def ok(self, *args: str) -> Any:
        """Run a preparing step with --json; it must succeed."""
        done = self.run("--json", *args)
        assert done.exit_code == 0, (args, done.stdout, done.stderr, done.exception)
        return json.loads(done.stdout) if done.stdout.strip() else None

    # -- keys -------------------------------------------------------------------------------

    def key_pair(self, name: str) -> tuple[Path, Path]:
        """An encrypted private key and its public key, as `keys generate` writes them."""
        private = Ed25519PrivateKey.generate()
        private_path, public_path = self.path(f"{name}.key.pem"), self.path(f"{name}.pub.pem")
        private_path.write_bytes(encrypted_private_pem(private, PASSPHRASE.encode()))
        public_path.write_text(public_pem(private.public_key()), encoding="ascii")
        return private_path, public_path

    def registered_key(self, agency: str, name: str) -> tuple[Path, Path, str]:
        private, public = self.key_pair(name)
        self.ok("keys", "register", str(public), "--agency", agency)
        pem = public.read_text(encoding="ascii")
        return private, public, key_id_for(agency, load_public_pem(pem, where=name))

    @cached_property
    def nis_key(self) -> tuple[Path, Path, str]:
        """NIS's registered key: it signs agreements and receives the linkage key."""
        return self.registered_key("nis", "nis")

    @cached_property
    def hub_public_key(self) -> Path:
        out = self.path("hub.pub.pem")
        self.ok("keys", "export-hub-public", "--out", str(out))
        return out

    @cached_property
    def link_master(self) -> Path:
        out = self.path("custodian-link.key")
        write_link_key_file(out, LinkKey.generate(key_id=1), SecretStr(PASSPHRASE), scrypt_n=2**10)
        return out

    def sealed_link_key(self, name: str) -> Path:
        out = self.path(f"{name}.link.sealed")
        self.ok(
            "keys",
            "link-seal",
            "--link-key",
            str(self.link_master),
            "--agency",
            "nis",
            "--public-key",
            str(self.nis_key[1]),
            "--out",
            str(out),
            "--passphrase-file",
            str(self.passphrase),
        )
        return out

    # -- agreements ---------------------------------------------------------------------------

    def agreement_file(self, name: str) -> Path:
        """The walkthrough example under the id ``walk-<name>``."""
        file = self.path(f"walk-{name}.yaml")
        text = AGREEMENT.read_text(encoding="utf-8")
        file.write_text(text.replace("id: nis-lmis-2026", f"id: walk-{name}"), "utf-8")
        return file

    def agreement(self, name: str, state: str = "draft") -> str:
        """A new agreement (the walkthrough example under another id) in ``state``."""
        file = self.agreement_file(name)
        agreement_id = f"walk-{name}"
        self.ok("agreements", "create", str(file))
        if state == "draft":
            return agreement_id
        self.ok(
            "agreements",
            "sign",
            agreement_id,
            "--agency",
            "nis",
            "--key",
            str(self.nis_key[0]),
            "--passphrase-file",
            str(self.passphrase),
        )
        self.ok("agreements", "sign", agreement_id, "--agency", "hub")
        if state == "signed":
            return agreement_id
        self.ok("agreements", "activate", agreement_id, "--reason", "walk")
        assert state == "active", state
        return agreement_id

    def amended(self, name: str) -> str:
        """An agreement with two versions."""
        agreement_id = self.agreement(name)
        file = self.path(f"walk-{name}.yaml")
        text = file.read_text(encoding="utf-8")
        file.write_text(text.replace("retention_days: 2555", "retention_days: 1825"), "utf-8")
        self.ok("agreements", "create", "--amend", str(file))
        return agreement_id

    # -- the synthetic nation and a connector -------------------------------------------------

    @cached_property
    def nation(self) -> Path:
        out = self.path("nation")
        self.ok("synth", "make", "--persons", "100", "--months", "1", "--out", str(out))
        return out

    @cached_property
    def connector(self) -> Path:
        """A small CSV connector of the TVET trainees, with its key files."""
        (self.path("exports")).mkdir()
        self.path("exports/trainees-1.csv").write_text(CSV, encoding="utf-8")
        write_link_key_file(
            self.path("link.key"),
            LinkKey.generate(key_id=1),
            SecretStr(PASSPHRASE),
            scrypt_n=2**10,
        )
        private, _ = self.key_pair("tvet")
        config = self.path("tvet.yaml")
        config.write_text(
            f"""
agency: tvet
dataset: trainee
state_dir: {self.path("state")}
agreement_id: dsa-tvet-lmis
signing_key_file: {private}
hub_public_key_file: {self.hub_public_key}
source:
  type: csv
  directory: {self.path("exports")}
  glob: "trainees-*.csv"
  watermark_column: registered
  key_column: row
mapping:
  key_column: row
  fields:
    record_id: {{column: row}}
    registration_date: {{column: registered, date_formats: ["%Y-%m-%d"]}}
    sex: {{column: gender, code_table: sex}}
    region: {{column: parish}}
    birth_year: {{column: dob, date_formats: ["%Y-%m-%d"], date_part: year}}
    education_level: {{column: education}}
  identifiers:
    national_id: national_id
    given_name: first_name
    family_name: surname
    dob: dob
    person_ref: trainee_no
  code_tables:
    sex: {{M: "1", F: "2"}}
validation:
  region: {{required: true, code_list: region}}
tokenise:
  link_key_file: {self.path("link.key")}
kafka:
  bootstrap_servers: 127.0.0.1:9
  security_protocol: PLAINTEXT
""",
            encoding="utf-8",
        )
        return config

    @cached_property
    def connector_without_key(self) -> Path:
        """The connector's config without the signing key `run` needs."""
        config = self.path("tvet-unsigned.yaml")
        text = self.connector.read_text(encoding="utf-8")
        config.write_text(
            "\n".join(x for x in text.splitlines() if not x.startswith("signing_key_file")),
            encoding="utf-8",
        )
        return config

    @cached_property
    def taken_port(self) -> str:
        """A port another process listens on: the stack refuses it before starting."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        self._listeners.append(listener)
        return str(listener.getsockname()[1])

    @cached_property
    def missing(self) -> Path:
        return self.path("missing")

    @cached_property
    def a_file(self) -> Path:
        file = self.path("a-file")
        file.write_text("not what the command wants\n", encoding="utf-8")
        return file

    @cached_property
    def password_file(self) -> Path:
        file = self.path("password")
        file.write_text("a long and unusual pass phrase\n", encoding="utf-8")
        return file

    def account(self, name: str) -> str:
        """An account made on first use (an lmis_analyst)."""
        if name not in self._accounts:
            self.ok(
                "users", "create", name, "--role", "lmis_analyst", "--name", "A",
                "--password-file", str(self.password_file),
            )  # fmt: skip
            self._accounts.add(name)
        return name

    def token(self, name: str) -> str:
        """The id of an API token of account ``name``."""
        issued = self.ok("users", "token", self.account(name), "--name", "t")
        token_id: str = issued["id"]
        return token_id

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()


def _create(hub: Hub, mode: str) -> Call:
    return Call(["agreements", "create", str(hub.agreement_file(f"create-{mode}"))])


def _verify(hub: Hub, mode: str) -> Call:
    trusted = hub.path(f"trusted-{mode}.pem")
    hub.ok("audit", "hub-key", "--out", str(trusted))
    return Call(["audit", "verify", "--hub-key", str(trusted)])


def _sign(hub: Hub, mode: str) -> Call:
    agreement_id = hub.agreement(f"sign-{mode}")
    return Call(
        [
            "agreements",
            "sign",
            agreement_id,
            "--agency",
            "nis",
            "--key",
            str(hub.nis_key[0]),
            "--passphrase-file",
            str(hub.passphrase),
        ]
    )


def _link_open(hub: Hub, mode: str) -> Call:
    sealed = hub.sealed_link_key(f"open-{mode}")
    return Call(
        [
            "keys",
            "link-open",
            str(sealed),
            "--signing-key",
            str(hub.nis_key[0]),
            "--out",
            str(hub.path(f"opened-{mode}.key")),
            "--passphrase-file",
            str(hub.passphrase),
            "--link-passphrase-file",
            str(hub.passphrase),
        ]
    )


def _find(hub: Hub, mode: str) -> Call:
    """The source row of a record id the connector makes (as a receipt would name it)."""
    sample = hub.ok("connector", "validate", "--config", str(hub.connector))["sample"]
    return Call(["connector", "find", sample[0]["record_id"], "--config", str(hub.connector)])


def _rotate(hub: Hub, mode: str) -> Call:
    hub.registered_key("dol", f"dol-{mode}")
    _, public = hub.key_pair(f"dol-next-{mode}")
    return Call(["keys", "rotate", str(public), "--agency", "dol", "--grace-hours", "1"])


def _quarantine(prefix: tuple[str, ...]) -> dict[tuple[str, ...], Callable[[Hub, str], Call]]:
    """`quarantine …` and its hidden alias `ingest quarantine …`."""
    return {
        (*prefix, "list"): lambda hub, mode: Call([*prefix, "list", "--limit", "5"]),
        # No message was ever refused here: an unknown id is refused with its code.
        (*prefix, "show"): lambda hub, mode: Call(
            [*prefix, "show", "no-such-id"], 2, "ingest.quarantine_unknown"
        ),
        (*prefix, "replay"): lambda hub, mode: Call(
            [*prefix, "replay", "--reason", "envelope.bad_signature", "--no-send"]
        ),
    }


#: One realistic invocation per command; what it needs is made by the Hub on first use.
def _no_such_project(args: list[str]) -> Callable[[Hub, str], Call]:
    """A research command naming a project that does not exist."""
    return lambda hub, mode: Call(["research", *args], 2, "project.unknown")


INVOCATIONS: dict[tuple[str, ...], Callable[[Hub, str], Call]] = {
    # Would start the broker and make a nation: refused at once for a nation too small
    # (and were it not, because another process holds the broker's port).
    ("demo",): lambda hub, mode: Call(
        ["demo", "--persons", "5"],
        2,
        "synth.config_invalid",
        {"HUB_STACK__BROKER_PORT": hub.taken_port},
    ),
    ("stack", "up"): lambda hub, mode: Call(
        ["stack", "up"], 2, "stack.port_in_use", {"HUB_STACK__BROKER_PORT": hub.taken_port}
    ),
    # Would run Airflow until stopped: refused at once, its port is taken.
    ("stack", "airflow"): lambda hub, mode: Call(
        ["stack", "airflow", "--port", hub.taken_port], 2, "stack.port_in_use"
    ),
    ("stack", "down"): lambda hub, mode: Call(["stack", "down"]),  # nothing runs: nothing to do
    ("stack", "status"): lambda hub, mode: Call(["stack", "status"], code=1),
    ("stack", "acls"): lambda hub, mode: Call(
        ["stack", "acls", "--bootstrap", "kafka1.lmis.example:9093", "--agency", "nis"]
    ),
    ("config", "reference"): lambda hub, mode: Call(["config", "reference"]),
    ("config", "cli-reference"): lambda hub, mode: Call(["config", "cli-reference"]),
    ("config", "error-codes"): lambda hub, mode: Call(["config", "error-codes"]),
    ("config", "show"): lambda hub, mode: Call(["config", "show"]),
    ("config", "openapi"): lambda hub, mode: Call(["config", "openapi"]),
    # Serving needs the key-encryption key: refused before the server starts.
    ("serve",): lambda hub, mode: Call(
        ["serve"], 2, "config.invalid", env={"HUB_KEY_ENCRYPTION_KEY": None}
    ),
    ("users", "create"): lambda hub, mode: Call(
        [
            "users",
            "create",
            f"new-{mode}",
            "--role",
            "auditor",
            "--name",
            "An Auditor",
            "--password-file",
            str(hub.password_file),
        ]
    ),
    ("users", "list"): lambda hub, mode: Call(["users", "list"]),
    ("users", "reset"): lambda hub, mode: Call(
        ["users", "reset", hub.account(f"reset-{mode}"), "--password-file", str(hub.password_file)]
    ),
    ("users", "unlock"): lambda hub, mode: Call(["users", "unlock", hub.account(f"u-{mode}")]),
    ("users", "disable"): lambda hub, mode: Call(["users", "disable", hub.account(f"d-{mode}")]),
    ("users", "enable"): lambda hub, mode: Call(["users", "enable", hub.account(f"e-{mode}")]),
    ("users", "token"): lambda hub, mode: Call(
        ["users", "token", hub.account(f"t-{mode}"), "--name", "nightly"]
    ),
    ("users", "revoke-token"): lambda hub, mode: Call(
        ["users", "revoke-token", hub.token(f"r-{mode}")]
    ),
    ("synth", "make"): lambda hub, mode: Call(
        [
            "synth",
            "make",
            "--persons",
            "100",
            "--months",
            "1",
            "--seed",
            "3",
            "--out",
            str(hub.path(f"nation-{mode}")),
        ]
    ),
    ("synth", "extend"): lambda hub, mode: Call(["synth", "extend", "--out", str(hub.nation)]),
    ("synth", "describe"): lambda hub, mode: Call(["synth", "describe", "--out", str(hub.nation)]),
    # Serves until interrupted: refused at once for a folder with no nation in it.
    ("synth", "serve-jobboard"): lambda hub, mode: Call(
        ["synth", "serve-jobboard", "--out", str(hub.path("no-nation")), "--port", "0"],
        2,
        "synth.nation_not_found",
    ),
    ("agencies", "add"): lambda hub, mode: Call(
        ["agencies", "add", f"walk_{mode}", "--name", f"Walk {mode} agency"]
    ),
    ("agencies", "init"): lambda hub, mode: Call(["agencies", "init"]),
    ("agencies", "list"): lambda hub, mode: Call(["agencies", "list"]),
    ("keys", "generate"): lambda hub, mode: Call(
        [
            "keys",
            "generate",
            "--agency",
            "nso",
            "--out",
            str(hub.path(f"generated-{mode}")),
            "--passphrase-file",
            str(hub.passphrase),
        ]
    ),
    ("keys", "register"): lambda hub, mode: Call(
        [
            "keys",
            "register",
            str(hub.key_pair(f"nso-{mode}")[1]),
            "--agency",
            "nso",
            "--not-after",
            "2030-12-31",
        ]
    ),
    ("keys", "rotate"): _rotate,
    ("keys", "revoke"): lambda hub, mode: Call(
        [
            "keys",
            "revoke",
            hub.registered_key("jobboard", f"jobboard-{mode}")[2],
            "--reason",
            "the officer left",
        ]
    ),
    ("keys", "list"): lambda hub, mode: Call(["keys", "list"]),
    ("keys", "init-hub"): lambda hub, mode: Call(["keys", "init-hub"]),
    ("keys", "rotate-hub"): lambda hub, mode: Call(["keys", "rotate-hub", "pseudonymisation"]),
    ("keys", "export-hub-public"): lambda hub, mode: Call(
        ["keys", "export-hub-public", "--out", str(hub.path(f"exported-{mode}/hub.pub.pem"))]
    ),
    ("keys", "link-generate"): lambda hub, mode: Call(
        [
            "keys",
            "link-generate",
            "--key-id",
            "2",
            "--out",
            str(hub.path(f"link-{mode}.key")),
            "--passphrase-file",
            str(hub.passphrase),
        ]
    ),
    ("keys", "link-seal"): lambda hub, mode: Call(
        [
            "keys",
            "link-seal",
            "--link-key",
            str(hub.link_master),
            "--agency",
            "nis",
            "--public-key",
            str(hub.nis_key[1]),
            "--out",
            str(hub.path(f"seal-{mode}.sealed")),
            "--passphrase-file",
            str(hub.passphrase),
        ]
    ),
    ("keys", "link-open"): _link_open,
    ("keys", "link-handover"): lambda hub, mode: Call(
        ["keys", "link-handover", str(hub.sealed_link_key(f"handover-{mode}"))]
    ),
    ("agreements", "create"): _create,
    ("agreements", "show"): lambda hub, mode: Call(
        ["agreements", "show", hub.agreement(f"show-{mode}", "active")]
    ),
    ("agreements", "sign"): _sign,
    ("agreements", "activate"): lambda hub, mode: Call(
        [
            "agreements",
            "activate",
            hub.agreement(f"activate-{mode}", "signed"),
            "--reason",
            "approved by the steering committee",
        ]
    ),
    ("agreements", "suspend"): lambda hub, mode: Call(
        [
            "agreements",
            "suspend",
            hub.agreement(f"suspend-{mode}", "active"),
            "--reason",
            "audit finding",
        ]
    ),
    ("agreements", "terminate"): lambda hub, mode: Call(
        [
            "agreements",
            "terminate",
            hub.agreement(f"terminate-{mode}", "active"),
            "--reason",
            "replaced",
        ]
    ),
    ("agreements", "list"): lambda hub, mode: Call(["agreements", "list", "--provider", "nis"]),
    ("agreements", "expiring"): lambda hub, mode: Call(
        ["agreements", "expiring", "--days", "60", "--at", "2028-12-01"]
    ),
    ("agreements", "late"): lambda hub, mode: Call(["agreements", "late", "--at", "2026-03-25"]),
    ("agreements", "diff"): lambda hub, mode: Call(
        ["agreements", "diff", hub.amended(f"diff-{mode}"), "1", "2"]
    ),
    ("agreements", "datasets"): lambda hub, mode: Call(
        ["agreements", "datasets", hub.agreement(f"datasets-{mode}")]
    ),
    ("agreements", "expire-due"): lambda hub, mode: Call(
        ["agreements", "expire-due", "--at", "2026-06-01"]
    ),
    ("audit", "tail"): lambda hub, mode: Call(["audit", "tail", "-n", "5"]),
    ("audit", "search"): lambda hub, mode: Call(
        ["audit", "search", "--tag", "agreement:", "--since", "2026-01-01"]
    ),
    ("audit", "verify"): _verify,
    ("audit", "checkpoint"): lambda hub, mode: Call(["audit", "checkpoint"]),
    ("audit", "export"): lambda hub, mode: Call(
        ["audit", "export", "--out", str(hub.path(f"audit-{mode}.jsonl")), "--checkpoint"]
    ),
    ("audit", "hub-key"): lambda hub, mode: Call(
        ["audit", "hub-key", "--out", str(hub.path(f"hub-keys-{mode}.pem"))]
    ),
    ("schemas", "list"): lambda hub, mode: Call(["schemas", "list"]),
    ("schemas", "check"): lambda hub, mode: Call(["schemas", "check"]),
    ("schemas", "show"): lambda hub, mode: Call(["schemas", "show", "nis", "contribution"]),
    ("schemas", "fingerprint"): lambda hub, mode: Call(["schemas", "fingerprint"]),
    ("schemas", "codebook"): lambda hub, mode: Call(
        ["schemas", "codebook", "--out", str(hub.path(f"codebook-{mode}"))]
    ),
    ("connector", "validate"): lambda hub, mode: Call(
        ["connector", "validate", "--config", str(hub.connector)]
    ),
    # Publishes, and with --follow never ends: refused at once, the config naming no key.
    ("connector", "run"): lambda hub, mode: Call(
        ["connector", "run", "--config", str(hub.connector_without_key), "--follow"],
        2,
        "connector.config_invalid",
    ),
    # The outbox is empty: nothing is sent, so no broker is needed.
    ("connector", "resend"): lambda hub, mode: Call(
        ["connector", "resend", "--config", str(hub.connector), "--all"]
    ),
    ("connector", "status"): lambda hub, mode: Call(
        ["connector", "status", "--config", str(hub.connector), "--refusals"]
    ),
    ("connector", "find"): _find,
    ("connector", "dag"): lambda hub, mode: Call(
        [
            "connector",
            "dag",
            "--config",
            str(hub.connector),
            "--out",
            str(hub.path("dags")),
            "--periodicity",
            "monthly",
        ]
    ),
    ("connector", "rewind"): lambda hub, mode: Call(
        ["connector", "rewind", "--config", str(hub.connector), "--to-start"]
    ),
    # Consumes until stopped: refused at once without the key-encryption key.
    ("ingest", "run"): lambda hub, mode: Call(
        ["ingest", "run"], 2, "config.invalid", {"HUB_KEY_ENCRYPTION_KEY": None}
    ),
    # No agreement notice is pending: nothing is sent, so no broker is needed.
    ("ingest", "notices"): lambda hub, mode: Call(["ingest", "notices"]),
    **_quarantine(("quarantine",)),
    **_quarantine(("ingest", "quarantine")),
    ("lake", "retention"): lambda hub, mode: Call(["lake", "retention"]),
    # The scratch hub's lake has no bronze table: the run is refused (and recorded failed).
    ("linkage", "run"): lambda hub, mode: Call(["linkage", "run"], 2, "linkage.no_input"),
    ("linkage", "runs"): lambda hub, mode: Call(["linkage", "runs"]),
    ("linkage", "review", "list"): lambda hub, mode: Call(["linkage", "review", "list"]),
    ("linkage", "review", "show"): lambda hub, mode: Call(
        ["linkage", "review", "show", "999"], 2, "linkage.pair_unknown"
    ),
    ("linkage", "review", "decide"): lambda hub, mode: Call(
        ["linkage", "review", "decide", "999", "match", "--actor", "reviewer"],
        2,
        "linkage.pair_unknown",
    ),
    ("linkage", "key"): lambda hub, mode: Call(
        ["linkage", "key", "0" * 32], 2, "linkage.key_unknown"
    ),
    ("research", "people", "add"): lambda hub, mode: Call(
        [
            "research",
            "people",
            "add",
            f"dr.{mode}",
            "--role",
            "researcher",
            "--name",
            "Dr R",
            "--institution",
            "UWI",
            "--accreditation-expires",
            "2099-12-31",
        ]
    ),
    ("research", "people", "list"): lambda hub, mode: Call(["research", "people", "list"]),
    # Nobody called "nobody" is registered for research access.
    ("research", "apply"): lambda hub, mode: Call(
        ["research", "apply", str(RESEARCH_APPLICATION), "--actor", "nobody"],
        2,
        "research.person_unknown",
    ),
    ("research", "list"): lambda hub, mode: Call(["research", "list", "--state", "approved"]),
    ("research", "expire"): lambda hub, mode: Call(["research", "expire"]),
    # No linkage has run on the scratch hub, so no extract holds anyone to rebuild.
    ("research", "consent-rebuild"): lambda hub, mode: Call(["research", "consent-rebuild"]),
    ("research", "extract", "list"): lambda hub, mode: Call(
        ["research", "extract", "list", "no-such-project"]
    ),
    ("research", "output", "list"): lambda hub, mode: Call(
        ["research", "output", "list", "no-such-project"]
    ),
    ("research", "output", "download"): lambda hub, mode: Call(
        ["research", "output", "download", "no-such-project", "1"], 2, "output.unknown"
    ),
    ("research", "output", "show"): lambda hub, mode: Call(
        ["research", "output", "show", "no-such-project", "1"], 2, "output.unknown"
    ),
    ("research", "output", "review"): lambda hub, mode: Call(
        ["research", "output", "review", "no-such-project", "1", "--approve", "--comment", "ok"],
        2,
        "output.unknown",
    ),
    ("research", "extract", "show"): lambda hub, mode: Call(
        ["research", "extract", "show", "no-such-project", "1"], 2, "extract.unknown"
    ),
    ("indicators", "list"): lambda hub, mode: Call(["indicators", "list"]),
    # The scratch hub's lake holds no delivery: the build is refused, nothing recorded.
    ("indicators", "build"): lambda hub, mode: Call(
        ["indicators", "build"], 2, "indicators.source_empty"
    ),
    ("indicators", "releases"): lambda hub, mode: Call(["indicators", "releases"]),
    ("indicators", "publish"): lambda hub, mode: Call(
        ["indicators", "publish", "1999-01-01.1"], 2, "indicators.release_unknown"
    ),
    ("indicators", "show"): lambda hub, mode: Call(
        ["indicators", "show", "1999-01-01.1"], 2, "indicators.release_unknown"
    ),
    **{
        ("research", *command): _no_such_project(args)
        for command, args in {
            ("show",): ["show", "no-such-project"],
            ("approve",): ["approve", "no-such-project"],
            ("refuse",): ["refuse", "no-such-project", "--reason", "out of scope"],
            ("agency-decide",): [
                "agency-decide",
                "no-such-project",
                "--agency",
                "nis",
                "--approve",
            ],
            ("suspend",): ["suspend", "no-such-project", "--reason", "ethics review"],
            ("resume",): ["resume", "no-such-project", "--reason", "cleared"],
            ("close",): ["close", "no-such-project"],
            ("members", "add"): ["members", "add", "no-such-project", "dr.text"],
            ("members", "approve"): ["members", "approve", "no-such-project", "dr.text"],
            ("members", "remove"): ["members", "remove", "no-such-project", "dr.text"],
            ("extract", "build"): ["extract", "build", "no-such-project"],
            ("output", "submit"): [
                "output",
                "submit",
                "no-such-project",
                str(AGREEMENT),
                "--counts",
                "n",
            ],
            ("extract", "download"): ["extract", "download", "no-such-project", "1", "a.parquet"],
        }.items()
    },
}

#: Mistakes people make with files: each is refused with its code, never a traceback.
#: (``missing`` does not exist; ``a-file`` is a file where a folder is wanted.)
MISTAKES: dict[str, Callable[[Hub, str], Call]] = {
    "agreements create: no such file": lambda hub, mode: Call(
        ["agreements", "create", str(hub.missing)], 2, "agreement.invalid"
    ),
    "agreements sign: no such key file": lambda hub, mode: Call(
        [
            "agreements",
            "sign",
            hub.agreement(f"mistake-{mode}"),
            "--agency",
            "nis",
            "--key",
            str(hub.missing),
            "--passphrase-file",
            str(hub.passphrase),
        ],
        2,
        "key.invalid",
    ),
    "keys register: no such key file": lambda hub, mode: Call(
        ["keys", "register", str(hub.missing), "--agency", "nis"], 2, "key.invalid"
    ),
    "keys generate: --out is a file": lambda hub, mode: Call(
        [
            "keys",
            "generate",
            "--agency",
            "nis",
            "--out",
            str(hub.a_file),
            "--passphrase-file",
            str(hub.passphrase),
        ],
        2,
        "config.invalid",
    ),
    "keys export-hub-public: --out under a file": lambda hub, mode: Call(
        ["keys", "export-hub-public", "--out", str(hub.a_file / "hub.pub.pem")],
        2,
        "config.invalid",
    ),
    "keys link-generate: --out under a file": lambda hub, mode: Call(
        [
            "keys",
            "link-generate",
            "--out",
            str(hub.a_file / "link.key"),
            "--passphrase-file",
            str(hub.passphrase),
        ],
        2,
        "config.invalid",
    ),
    "keys link-open: no such signing key": lambda hub, mode: Call(
        [
            "keys",
            "link-open",
            str(hub.sealed_link_key(f"mistake-{mode}")),
            "--signing-key",
            str(hub.missing),
            "--out",
            str(hub.path(f"mistake-{mode}.key")),
            "--passphrase-file",
            str(hub.passphrase),
            "--link-passphrase-file",
            str(hub.passphrase),
        ],
        2,
        "key.invalid",
    ),
    "audit export: --out under a file": lambda hub, mode: Call(
        ["audit", "export", "--out", str(hub.a_file / "audit.jsonl")], 2, "config.invalid"
    ),
    "audit hub-key: --out under a file": lambda hub, mode: Call(
        ["audit", "hub-key", "--out", str(hub.a_file / "hub.pem")], 2, "config.invalid"
    ),
    "audit verify: no such export": lambda hub, mode: Call(
        ["audit", "verify", "--file", str(hub.missing)], 2, "config.invalid"
    ),
    "schemas fingerprint: no such file": lambda hub, mode: Call(
        ["schemas", "fingerprint", str(hub.missing)], 2, "config.invalid"
    ),
    "schemas fingerprint: not a schema": lambda hub, mode: Call(
        ["schemas", "fingerprint", str(hub.a_file)], 2, "schema.invalid"
    ),
    "schemas check: no such --root": lambda hub, mode: Call(
        ["schemas", "check", "--root", str(hub.missing)], 2, "config.invalid"
    ),
    "schemas codebook: --out is a file": lambda hub, mode: Call(
        ["schemas", "codebook", "--out", str(hub.a_file)], 2, "config.invalid"
    ),
    "synth make: --out is a file": lambda hub, mode: Call(
        ["synth", "make", "--persons", "100", "--months", "1", "--out", str(hub.a_file)],
        2,
        "synth.error",
    ),
    "synth describe: no nation": lambda hub, mode: Call(
        ["synth", "describe", "--out", str(hub.missing)], 2, "synth.nation_not_found"
    ),
    "connector validate: no such config": lambda hub, mode: Call(
        ["connector", "validate", "--config", str(hub.missing)], 2, "connector.config_invalid"
    ),
    "config reference: no such README": lambda hub, mode: Call(
        ["config", "reference", "--write", str(hub.missing)], 2, "config.invalid"
    ),
}

#: Mistakes known to end in a traceback (none: keep it so).
TRACEBACK_YET: dict[str, str] = {}


#: Commands known not to give JSON with --json (none: keep it so).
NOT_JSON_YET: dict[tuple[str, ...], str] = {}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    scratch = Hub(tmp_path_factory.mktemp("every-command"))
    scratch.ok("agencies", "init")
    scratch.ok("keys", "init-hub")
    try:
        yield scratch
    finally:
        scratch.close()


def test_the_table_covers_every_command() -> None:
    commands = leaf_commands()
    missing = sorted(" ".join(p) for p in commands - INVOCATIONS.keys())
    stale = sorted(" ".join(p) for p in INVOCATIONS.keys() - commands)
    assert not missing, f"commands without an invocation in INVOCATIONS: {missing}"
    assert not stale, f"INVOCATIONS names commands that no longer exist: {stale}"


def _json_documents(stdout: str) -> list[Any]:
    """One JSON document, or JSON lines; raises ValueError when it is neither."""
    try:
        return [json.loads(stdout)]
    except ValueError:
        return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _cases() -> Iterator[Any]:
    for path in sorted(INVOCATIONS):
        for mode in MODES:
            marks = []
            if mode == "json" and path in NOT_JSON_YET:
                marks.append(pytest.mark.xfail(reason=NOT_JSON_YET[path], strict=True))
            yield pytest.param(path, mode, id=f"{' '.join(path)}-{mode}", marks=marks)


@pytest.mark.parametrize(("path", "mode"), _cases())
def test_command_exits_cleanly(hub: Hub, path: tuple[str, ...], mode: str) -> None:
    check(hub, INVOCATIONS[path](hub, mode), mode)


def _mistakes() -> Iterator[Any]:
    for name in MISTAKES:
        for mode in MODES:
            marks = []
            if name in TRACEBACK_YET:
                marks.append(pytest.mark.xfail(reason=TRACEBACK_YET[name], strict=True))
            yield pytest.param(name, mode, id=f"{name}-{mode}", marks=marks)


@pytest.mark.parametrize(("name", "mode"), _mistakes())
def test_a_mistake_is_refused_with_its_code(hub: Hub, name: str, mode: str) -> None:
    check(hub, MISTAKES[name](hub, mode), mode)


def check(hub: Hub, call: Call, mode: str) -> None:
    """Run ``call`` in ``mode``: no traceback, the exit status and error code it must give,
    and JSON on standard output with --json."""
    args = [*call.args, "--json"] if mode == "json" else call.args
    done = hub.run(*args, env=call.env)
    shown = f"lmis-hub {' '.join(args)}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert done.exception is None or isinstance(done.exception, SystemExit), (
        f"{shown}\nunhandled {done.exception!r}"
    )
    assert "Traceback" not in done.stdout + done.stderr, shown
    assert done.exit_code in EXIT_CODES, shown
    assert done.exit_code == call.code, shown
    if mode == "json" and done.stdout.strip():
        try:
            documents = _json_documents(done.stdout)
        except ValueError as exc:
            raise AssertionError(f"--json printed something that is not JSON\n{shown}") from exc
        if call.error is not None:
            assert documents[0]["error"]["code"] == call.error, shown
    elif call.error is not None:
        assert f"error [{call.error}]" in done.stderr, shown
    if call.code == 2 and call.error is None:  # a usage error, as click reports it
        assert "Error" in done.stderr, shown
