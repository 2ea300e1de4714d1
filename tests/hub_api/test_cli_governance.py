"""The LMIS unit's governance commands, end to end on a SQLite hub database."""

from __future__ import annotations

import base64
import csv
import json
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub_api.cli import app

EXAMPLE = Path(__file__).parents[2] / "governance" / "examples" / "nis-contributions.yaml"


@pytest.fixture
def hub(tmp_path: Path):
    kek = base64.b64encode(os.urandom(32)).decode()
    env = {"HUB_DATA_DIR": str(tmp_path / "data"), "HUB_KEY_ENCRYPTION_KEY": kek}
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, ["--json", *args], env=env)
        outputs.append(result.output)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
            return json.loads(result.stdout) if result.stdout.strip() else None
        return result

    run.env = env  # type: ignore[attr-defined]
    run.kek = kek  # type: ignore[attr-defined]
    run.outputs = outputs  # type: ignore[attr-defined]
    return run


def test_the_lmis_unit_workflow(hub, tmp_path: Path) -> None:
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("a long nis passphrase\n")
    assert "nis" in hub("agencies", "init")["added"]
    generated = hub(
        "keys",
        "generate",
        "--agency",
        "nis",
        "--out",
        str(tmp_path / "k"),
        "--passphrase-file",
        str(passphrase),
    )
    private = Path(generated["private_key"])
    assert b"ENCRYPTED PRIVATE KEY" in private.read_bytes()
    assert private.stat().st_mode & 0o077 == 0
    hub("keys", "register", generated["public_key"], "--agency", "nis")
    assert set(hub("keys", "init-hub")) == {"hub_signing_key", "pseudonymisation_key"}
    created = hub("agreements", "create", str(EXAMPLE))
    assert (created["state"], created["version"]) == ("draft", 1)
    hub(
        "agreements",
        "sign",
        "nis-lmis-2026",
        "--agency",
        "nis",
        "--key",
        str(private),
        "--passphrase-file",
        str(passphrase),
    )
    assert hub("agreements", "sign", "nis-lmis-2026", "--agency", "hub")["state"] == "signed"
    hub(
        "agreements",
        "activate",
        "nis-lmis-2026",
        "--reason",
        "steering committee 2026-01",
        "--actor",
        "lmis-officer",
    )
    shown = hub("agreements", "show", "nis-lmis-2026")
    assert shown["state"] == "active"
    assert shown["signature_check"] == {"hub": "valid", "nis": "valid"}
    assert [r["id"] for r in hub("agreements", "list", "--state", "active")] == ["nis-lmis-2026"]
    assert hub("agreements", "expiring", "--days", "30", "--at", "2028-12-15")[0]["id"] == (
        "nis-lmis-2026"
    )
    late = hub("agreements", "late", "--at", "2026-03-25")
    assert {r["dataset"] for r in late} == {"contribution", "insured_person"}
    suspended = hub("agreements", "suspend", "nis-lmis-2026", "--reason", "audit finding")
    assert suspended["state"] == "suspended"
    assert hub("agreements", "expire-due", "--at", "2028-12-31") == []
    expired = hub("agreements", "expire-due", "--at", "2029-01-01")
    assert [(r["id"], r["state"]) for r in expired] == [("nis-lmis-2026", "expired")]
    hub("keys", "revoke", generated["key_id"], "--reason", "officer left")
    hub("audit", "checkpoint")
    verified = hub("audit", "verify")
    assert verified["ok"] and verified["checkpoints_verified"] == 1
    tags = [e["tag"] for e in hub("audit", "search", "--tag", "agreement:")]
    assert tags[:2] == ["agreement:create", "agreement:sign"]
    by_officer = hub("audit", "search", "--actor", "lmis-officer")
    assert [e["details"]["to"] for e in by_officer] == ["active"]
    assert hub("audit", "tail", "-n", "1")[0]["tag"] == "audit:verify"
    out_csv, out_jsonl = tmp_path / "a.csv", tmp_path / "a.jsonl"
    n_csv = hub("audit", "export", "--format", "csv", "--out", str(out_csv))["entries"]
    n_jsonl = hub("audit", "export", "--format", "jsonl", "--out", str(out_jsonl))["entries"]
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == n_csv and n_jsonl == n_csv + 1  # the first export is itself audited
    lines = [json.loads(x) for x in out_jsonl.read_text().splitlines()]
    entries = [x for x in lines if x["type"] == "entry"]
    assert [x["seq"] for x in entries] == list(range(1, n_jsonl + 1))
    # Nothing secret in the database file.
    db = (tmp_path / "data" / "hub.db").read_bytes()
    assert hub.kek.encode() not in db and base64.b64decode(hub.kek) not in db
    assert not any(hub.kek in out for out in hub.outputs)


def test_refusals_carry_codes(hub, tmp_path: Path) -> None:
    hub("agencies", "init")
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("periodicity: monthly", "periodicity: hourly", 1))
    result = hub("agreements", "create", str(bad), ok=False)
    assert result.exception.code == "agreement.invalid"
    assert "datasets.insured_person.periodicity" in result.exception.message
    hub("agreements", "create", str(EXAMPLE))
    result = hub("agreements", "activate", "nis-lmis-2026", "--reason", "x", ok=False)
    assert result.exception.code == "agreement.transition_refused"
    assert "still needs the signature of hub, nis" in result.exception.message
    result = hub("keys", "revoke", "nis-0000", "--reason", "x", ok=False)
    assert result.exception.code == "key.unknown"
    # Only what can be delivered: datasets the provider holds, fields a schema has.
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        EXAMPLE.read_text()
        .replace("id: nis-lmis-2026", "id: nis-wrong-2026")
        .replace("  contribution:", "  contributions:")
        .replace("      - weeks_paid", "      - weeks_paid\n      - shoe_size")
        .replace("      - sex\n", "      - sex\n      - shoe_size\n")
    )
    result = hub("agreements", "create", str(wrong), ok=False)
    assert result.exception.code == "agreement.invalid"
    assert "datasets.contributions: nis holds no such dataset" in result.exception.message
    assert "datasets.insured_person.fields: no version of nis/insured_person has shoe_size" in (
        result.exception.message
    )


def test_verify_reports_tampering(hub, tmp_path: Path) -> None:
    hub("agencies", "init")
    hub("agreements", "create", str(EXAMPLE))
    db = sqlite3.connect(tmp_path / "data" / "hub.db")
    db.execute("DROP TRIGGER audit_entries_no_update")
    db.execute("UPDATE audit_entries SET actor = 'someone else' WHERE seq = 3")
    db.commit()
    db.close()
    result = hub("audit", "verify", ok=False)
    assert result.exception.code == "audit.tampered"
    assert "first bad entry 3" in result.exception.message


def test_the_workflow_in_text_mode_prints_no_traceback(tmp_path: Path) -> None:
    """Text mode renders after the command's session has closed: every printed value
    must come from plain data, not from a detached database row."""
    kek = base64.b64encode(os.urandom(32)).decode()
    env = {"HUB_DATA_DIR": str(tmp_path / "data"), "HUB_KEY_ENCRYPTION_KEY": kek}
    runner = CliRunner()
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("a long nis passphrase\n")

    def text(*args: str) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exception is None, (args, repr(result.exception))
        assert result.exit_code == 0, (args, result.output)
        assert "Traceback" not in result.output and "{'" not in result.output, args
        return result.output

    text("agencies", "init")
    text("keys", "generate", "--agency", "nis", "--out", str(tmp_path / "k"),
         "--passphrase-file", str(passphrase))  # fmt: skip
    public = next((tmp_path / "k").glob("*.pub.pem"), None) or next(
        p for p in (tmp_path / "k").iterdir() if "pub" in p.name
    )
    private = next(p for p in (tmp_path / "k").iterdir() if p != public)
    text("keys", "register", str(public), "--agency", "nis")
    text("keys", "init-hub")
    text("agreements", "create", str(EXAMPLE))
    assert "nis signed nis-lmis-2026 v1" in text(
        "agreements", "sign", "nis-lmis-2026", "--agency", "nis", "--key", str(private),
        "--passphrase-file", str(passphrase),
    )  # fmt: skip
    assert "(signed)" in text("agreements", "sign", "nis-lmis-2026", "--agency", "hub")
    for command, state in (("activate", "active"), ("suspend", "suspended"),
                           ("activate", "active"), ("terminate", "terminated")):  # fmt: skip
        out = text("agreements", command, "nis-lmis-2026", "--reason", "steering committee")
        assert f"nis-lmis-2026 v1 is now {state}" in out
    text("agreements", "list")
    text("agreements", "show", "nis-lmis-2026")
    amended = tmp_path / "amended.yaml"
    amended.write_text(EXAMPLE.read_text().replace("retention_days: 2555", "retention_days: 1825"))
    text("agreements", "create", str(amended), "--amend")
    out = text("agreements", "diff", "nis-lmis-2026", "1", "2")
    assert "1 change(s)" in out and "retention_days: 2555 -> 1825" in out
    text("audit", "checkpoint")
    text("audit", "verify")
    text("audit", "tail", "-n", "3")
