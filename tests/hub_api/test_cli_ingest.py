"""`lmis-hub ingest`: the quarantine commands and a worker run on a SQLite hub database."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from governance.db import make_engine
from governance.keys.wrapping import KeyEncryptionKey
from hub_api.cli import app
from integration.ingest.ledger import Ledger, Origin


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    kek = base64.b64encode(os.urandom(32)).decode()
    return {"HUB_DATA_DIR": str(tmp_path / "data"), "HUB_KEY_ENCRYPTION_KEY": kek, **extra}


def test_quarantine_list_and_show(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(app, ["--json", *args], env=env)

    first = cli("ingest", "quarantine", "list")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == []
    engine = make_engine(f"sqlite:///{(tmp_path / 'data' / 'hub.db').resolve()}")
    kek = KeyEncryptionKey(base64.b64decode(env["HUB_KEY_ENCRYPTION_KEY"]))
    with Session(engine) as session:
        row = Ledger(session, kek=kek).quarantine(
            value=b"not an avro container",
            headers=[("lmis-agency", b"dol")],
            origin=Origin("lmis.dol.case.v1", 2, 99),
            reason_code="envelope.bad_framing",
            message="value does not start with the Avro magic",
            received_at=datetime(2026, 4, 1, tzinfo=UTC),
            agency="dol",
        )
        qid = row.id
        session.commit()
    engine.dispose()
    listed = json.loads(cli("ingest", "quarantine", "list", "--agency", "dol").stdout)
    assert [(r["id"], r["reason_code"], r["offset"]) for r in listed] == [
        (qid, "envelope.bad_framing", 99)
    ]
    assert json.loads(cli("ingest", "quarantine", "list", "--reason", "x.y").stdout) == []
    out = tmp_path / "value.bin"
    shown = json.loads(cli("ingest", "quarantine", "show", qid, "--out", str(out)).stdout)
    assert shown["headers"] == {"lmis-agency": "dol"} and shown["value_bytes"] == 21
    assert out.read_bytes() == b"not an avro container"
    missing = cli("ingest", "quarantine", "show", "nope")
    assert missing.exit_code != 0
    assert getattr(missing.exception, "code", None) == "ingest.quarantine_unknown"


def test_run_once_needs_hub_secrets_then_runs(tmp_path: Path, kafka_bootstrap: str) -> None:
    env = _env(tmp_path, HUB_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap)
    runner = CliRunner()
    group = f"test-ingest-{os.urandom(4).hex()}"
    args = ["--json", "ingest", "run", "--once", "--idle-timeout", "1", "--group", group]
    refused = runner.invoke(app, args, env=env)
    assert refused.exit_code != 0
    assert getattr(refused.exception, "code", None) == "secret.missing"
    assert runner.invoke(app, ["--json", "keys", "init-hub"], env=env).exit_code == 0
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["processed"] == data["accepted"] + data["duplicate"] + data["quarantined"]


def test_quarantine_commands_at_top_level_and_replay(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(app, ["--json", *args], env=env)

    assert cli("keys", "init-hub").exit_code == 0
    engine = make_engine(f"sqlite:///{(tmp_path / 'data' / 'hub.db').resolve()}")
    kek = KeyEncryptionKey(base64.b64decode(env["HUB_KEY_ENCRYPTION_KEY"]))
    with Session(engine) as session:
        row = Ledger(session, kek=kek).quarantine(
            value=b"not an avro container",
            headers=[("lmis-agency", b"dol")],
            origin=Origin("lmis.dol.case.v1", 0, 7),
            reason_code="envelope.bad_framing",
            message="value does not start with the Avro magic",
            received_at=datetime(2026, 4, 1, tzinfo=UTC),
            agency="dol",
        )
        qid = row.id
        session.commit()
    engine.dispose()
    listed = json.loads(cli("quarantine", "list", "--state", "quarantined").stdout)
    assert [(r["id"], r["state"], r["replays"]) for r in listed] == [(qid, "quarantined", 0)]
    # In an 80-column terminal the table folds long values instead of cutting them: the
    # full id is there to copy into the next command.
    narrow = runner.invoke(app, ["quarantine", "list"], env={**env, "COLUMNS": "80"})
    assert narrow.exit_code == 0 and qid in narrow.output.replace("\n", "").replace("│", "")
    nothing = cli("quarantine", "replay")
    assert getattr(nothing.exception, "code", None) == "config.invalid"
    replayed = cli("quarantine", "replay", "--reason", "envelope.bad_framing", "--no-send")
    assert replayed.exit_code == 1, replayed.output  # it stayed quarantined: not a success
    (result,) = json.loads(replayed.stdout)
    # Still refused (now with the full envelope checks: the headers are missing).
    assert result["id"] == qid and result["outcome"] == "quarantined"
    assert result["reason_code"] == "envelope.missing_header"
    shown = json.loads(cli("quarantine", "show", qid).stdout)
    assert (shown["state"], shown["replays"], shown["first_reason_code"]) == (
        "quarantined",
        1,
        "envelope.bad_framing",
    )
    assert shown["reason_code"] == "envelope.missing_header"
    tags = json.loads(cli("audit", "search", "--tag", "quarantine:replay").stdout)
    assert len(tags) == 1
    text = runner.invoke(app, ["quarantine", "replay", qid, "--no-send"], env=env)
    assert text.exit_code == 1
    assert "0 landed, 1 still quarantined" in text.output
    assert "envelope.missing_header" in text.output


def test_lake_retention_on_an_empty_lake(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runner = CliRunner()
    for args in (["lake", "retention", "--dry-run"], ["lake", "retention"]):
        result = runner.invoke(app, ["--json", *args], env=env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == []
