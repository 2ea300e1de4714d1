"""`lmis-hub audit` checkpoints, export and offline verification, end to end."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from governance.db import make_engine
from hub_api.cli import app
from hub_api.wiring import ingest_worker as build_worker
from lmis_hub.errors import HubError
from lmis_hub.settings import load_settings
from schemas.keys import public_pem

EXAMPLE = Path(__file__).parents[2] / "governance" / "examples" / "nis-contributions.yaml"
Hub = Callable[..., Any]


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    env = {
        "HUB_DATA_DIR": str(tmp_path / "data"),
        "HUB_KEY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "HUB_AUDIT__CHECKPOINT_EVERY_ENTRIES": "4",
    }
    runner = CliRunner()

    def run(*args: str, ok: bool = True, env_: dict[str, str] | None = None) -> Any:
        result = runner.invoke(app, ["--json", *args], env=env if env_ is None else env_)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
            return json.loads(result.stdout) if result.stdout.strip() else None
        return result

    run.env = env  # type: ignore[attr-defined]
    return run


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """No database and no KEK: a data directory that stays empty."""
    return {"HUB_DATA_DIR": str(tmp_path / "auditor"), "HUB_KEY_ENCRYPTION_KEY": ""}


def _hub_key_file(tmp_path: Path) -> Path:
    db = sqlite3.connect(tmp_path / "data" / "hub.db")
    (pem,) = db.execute("SELECT public_key_pem FROM agency_keys WHERE agency = 'hub'").fetchone()
    db.close()
    path = tmp_path / "hub.pub.pem"
    path.write_text(pem, encoding="ascii")
    return path


def _prepare(hub: Hub, tmp_path: Path) -> Path:
    hub("agencies", "init")
    hub("keys", "init-hub")
    hub("agreements", "create", str(EXAMPLE))
    out = tmp_path / "audit.jsonl"
    assert hub("audit", "export", "--out", str(out))["entries"] > 8
    return out


def test_writers_sign_checkpoints_by_themselves(hub: Hub, tmp_path: Path) -> None:
    hub("agencies", "init")
    hub("keys", "init-hub")
    hub("agreements", "create", str(EXAMPLE))
    key = tmp_path / "hub.pub.pem"
    written = hub("audit", "hub-key", "--out", str(key))
    assert key.read_text(encoding="ascii") == _hub_key_file(tmp_path).read_text(encoding="ascii")
    assert len(written["key_ids"]) == 1
    verified = hub("audit", "verify", "--hub-key", str(key))
    assert verified["ok"] and verified["checkpoints_verified"] >= 2  # none made by hand
    assert verified["uncovered_entries"] < 4 + 1
    assert verified["keys"] == "trusted key file" and verified["warnings"] == []
    from_db = hub("audit", "verify")
    assert "read from the hub database" in from_db["warnings"][0]
    assert hub("audit", "checkpoint", "--if-due") == {"signed": False}
    signed = hub("audit", "checkpoint")
    assert signed["signed"] and signed["first_seq"] <= signed["seq"]


def test_export_then_offline_verify(hub: Hub, tmp_path: Path) -> None:
    out = _prepare(hub, tmp_path)
    key = _hub_key_file(tmp_path)
    offline = _offline_env(tmp_path)
    result = hub("audit", "verify", "--file", str(out), "--hub-key", str(key), env_=offline)
    assert result["ok"] and result["checkpoints_verified"] >= 2
    assert result["keys"] == "trusted key file" and result["warnings"] == []
    assert not (tmp_path / "auditor").exists()  # no database was opened or created
    embedded = hub("audit", "verify", "--file", str(out), env_=offline)
    assert embedded["ok"] and "only the hub keys embedded" in embedded["warnings"][0]


def test_an_edited_export_names_the_entry(hub: Hub, tmp_path: Path) -> None:
    out = _prepare(hub, tmp_path)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    target = next(x for x in lines if x["type"] == "checkpoint")["first_seq"] + 2
    for x in lines:
        if x["type"] == "entry" and x["seq"] == target:
            x["actor"] = "someone else"
    out.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    key = _hub_key_file(tmp_path)
    result = hub(
        "audit",
        "verify",
        "--file",
        str(out),
        "--hub-key",
        str(key),
        ok=False,
        env_=_offline_env(tmp_path),
    )
    assert result.exception.code == "audit.tampered"
    assert f"first bad entry {target}" in result.exception.message


def test_a_wrong_trusted_key_fails(hub: Hub, tmp_path: Path) -> None:
    out = _prepare(hub, tmp_path)
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(public_pem(Ed25519PrivateKey.generate().public_key()), encoding="ascii")
    result: Result = hub(
        "audit",
        "verify",
        "--file",
        str(out),
        "--hub-key",
        str(wrong),
        ok=False,
        env_=_offline_env(tmp_path),
    )
    assert isinstance(result.exception, HubError)
    assert result.exception.code == "audit.tampered"
    assert "unknown key" in result.exception.message


def test_exit_codes_of_the_console_script(hub: Hub, tmp_path: Path) -> None:
    out = _prepare(hub, tmp_path)
    key = _hub_key_file(tmp_path)
    exe = Path(sys.executable).with_name("lmis-hub")
    env = {**os.environ, **_offline_env(tmp_path)}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), "--json", "audit", "verify", "--file", str(out), "--hub-key", str(key)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )

    good = run()
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["ok"] is True
    text = out.read_text(encoding="utf-8").splitlines()
    text = text[:-1]  # the last entry dropped (the header still names the head)
    out.write_text("\n".join(text) + "\n", encoding="utf-8")
    bad = run()
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error"]["code"] == "audit.tampered"


def test_the_ingest_worker_signs_checkpoints_in_its_own_transactions(
    hub: Hub, tmp_path: Path
) -> None:
    hub("keys", "init-hub")
    settings = load_settings(
        data_dir=tmp_path / "data",
        key_encryption_key=hub.env["HUB_KEY_ENCRYPTION_KEY"],  # type: ignore[attr-defined]
        audit={"checkpoint_every_entries": 3},
    )
    engine = make_engine(settings.database_url_value())
    try:
        with Session(engine) as session:
            worker, _ = build_worker(session, settings, actor="ingest-test")
            before = len(worker.audit.list_checkpoints())
            for i in range(3):
                worker.audit.record("delivery:recorded", "ingest-test", f"batch:{i}", {})
            session.commit()
            made = len(worker.audit.list_checkpoints()) - before
            assert made >= 1
            # The policy signs once 3 entries are uncovered, wherever that falls among them.
            announcements = [e for e in worker.audit.tail(4) if e.tag == "audit:checkpoint"]
            assert [e.actor for e in announcements] == ["ingest-test"] * made
    finally:
        engine.dispose()
    verified = hub("audit", "verify", "--hub-key", str(_hub_key_file(tmp_path)))
    assert verified["ok"] and verified["checkpoints_verified"] == before + made
