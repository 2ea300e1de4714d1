"""A sixth agency, from the docs alone: the Ministry of Education joins with a
school-leavers dataset the hub was not shipped with, and delivers end to end with no
code change — registered through the CLI, its schema in a folder the hub and the
connector read, an agreement, keys, the linkage-key hand-over and a connector config
(`examples/new-agency/`, walked in "Adding an agency" of docs/guide/agency-connector.md,
whose commands this test runs).

Every step is a `lmis-hub` command, as the people involved run them: the LMIS unit at
the hub, the agency's IT officer and the linkage-key custodian, each with their own
environment (the agency and the custodian have no hub database).
"""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub_api.cli import app

EXAMPLE = Path(__file__).parents[2] / "examples" / "new-agency"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str) -> Path:
    """The agency's folder with the example copied in; its broker is the test broker."""
    folder = tmp_path / "moe"
    shutil.copytree(EXAMPLE, folder)
    config = folder / "school_leaver.yaml"
    text = config.read_text(encoding="utf-8")
    assert "bootstrap_servers: 127.0.0.1:19092" in text
    config.write_text(text.replace("127.0.0.1:19092", kafka_bootstrap), encoding="utf-8")
    monkeypatch.chdir(folder)  # every path in the example is relative to where it runs
    return folder


def test_a_sixth_agency_delivers_with_no_code_change(
    site: Path, tmp_path: Path, kafka_bootstrap: str
) -> None:
    runner = CliRunner()
    kek = base64.b64encode(os.urandom(32)).decode()
    (tmp_path / "moe.pass").write_text("moe signing passphrase\n", encoding="utf-8")
    (tmp_path / "link.pass").write_text("moe link passphrase\n", encoding="utf-8")
    (tmp_path / "custodian.pass").write_text("custodian passphrase\n", encoding="utf-8")
    hub = {
        "HUB_DATA_DIR": str(tmp_path / "hub"),
        "HUB_KEY_ENCRYPTION_KEY": kek,
        "HUB_SCHEMAS__EXTRA_DIR": str(site / "schemas"),  # the schema, handed to the hub
        "HUB_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
    }
    agency = {
        "HUB_DATA_DIR": str(tmp_path / "agency-data"),  # no hub database there
        "HUB_CONNECTOR__SIGNING_KEY_PASSPHRASE": "moe signing passphrase",
        "HUB_CONNECTOR__LINK_KEY_PASSPHRASE": "moe link passphrase",
    }
    custodian = {"HUB_DATA_DIR": str(tmp_path / "custodian")}

    def cli(*args: str, env: dict[str, str], code: int = 0) -> Any:
        result = runner.invoke(app, ["--json", *args], env=env)
        assert "Traceback" not in result.output, result.output
        assert result.exit_code == code, (args, result.output[:3000], result.exception)
        return json.loads(result.stdout) if result.stdout.strip() else None

    # LMIS unit: the hub's own secrets, then the new agency, which the hub never heard of.
    cli("keys", "init-hub", env=hub)
    added = cli("agencies", "add", "moe", "--name", "Ministry of Education", env=hub)
    assert added == {"code": "moe", "name": "Ministry of Education"}
    shown = cli("schemas", "show", "moe", "school_leaver", env=hub)
    assert (shown["lmis.agency"], shown["lmis.dataset"]) == ("moe", "school_leaver")
    assert cli("schemas", "check", env=hub)["incompatibilities"] == []

    # Agency: its signing key pair; the hub registers the public key and hands back its own.
    made = cli("keys", "generate", "--agency", "moe", "--out", "data/keys",
               "--passphrase-file", str(tmp_path / "moe.pass"), env=agency)  # fmt: skip
    assert made["private_key"].endswith("moe.key.pem")
    cli("keys", "register", made["public_key"], "--agency", "moe", env=hub)
    cli("keys", "export-hub-public", "--out", "data/keys/hub.pub.pem", env=hub)

    # Custodian: K_link sealed to the agency's registered key; the hub records the
    # hand-over without seeing the key; the agency opens its copy.
    master = tmp_path / "custodian" / "link-master.key"
    cli("keys", "link-generate", "--out", str(master),
        "--passphrase-file", str(tmp_path / "custodian.pass"), env=custodian)  # fmt: skip
    cli("keys", "link-seal", "--link-key", str(master), "--agency", "moe",
        "--public-key", made["public_key"], "--out", "data/keys/link.sealed",
        "--passphrase-file", str(tmp_path / "custodian.pass"), env=custodian)  # fmt: skip
    cli("keys", "link-handover", "data/keys/link.sealed", env=hub)
    cli("keys", "link-open", "data/keys/link.sealed", "--signing-key", made["private_key"],
        "--passphrase-file", str(tmp_path / "moe.pass"),
        "--link-passphrase-file", str(tmp_path / "link.pass"),
        "--out", "data/keys/link.key", env=agency)  # fmt: skip

    # The agreement: created at the hub, checked against the new schema, signed by both.
    created = cli("agreements", "create", "agreement.yaml", env=hub)
    assert (created["id"], created["state"]) == ("dsa-moe-lmis", "draft")
    cli("agreements", "sign", "dsa-moe-lmis", "--agency", "moe", "--key", made["private_key"],
        "--passphrase-file", str(tmp_path / "moe.pass"), env=hub)  # fmt: skip
    cli("agreements", "sign", "dsa-moe-lmis", "--agency", "hub", env=hub)
    cli("agreements", "activate", "dsa-moe-lmis", "--reason", "approved", env=hub)

    # Agency: a dry run, then the delivery.
    checked = cli("connector", "validate", "--config", "school_leaver.yaml", env=agency)
    assert (checked["records"], checked["refused_rows"]) == (40, 0), checked
    sent = cli("connector", "run", "--config", "school_leaver.yaml", "--once", env=agency)
    assert (sent["records_published"], sent["batches"], sent["refused_rows"]) == (40, 1, 0), sent

    # Hub: the ingest worker reads the new agency's topic because it is registered.
    group = f"test-new-agency-{os.urandom(4).hex()}"
    ingested = cli("ingest", "run", "--once", "--idle-timeout", "3", "--group", group, env=hub)
    assert (ingested["accepted"], ingested["quarantined"]) == (1, 0), ingested

    # Agency: the signed receipt arrives and settles the batch.
    settled = cli("connector", "run", "--config", "school_leaver.yaml", "--once", env=agency)
    assert settled["receipts_applied"] >= 1, settled
    status = cli("connector", "status", "--config", "school_leaver.yaml", env=agency)
    assert status["batches"] == {"pending": 0, "sent": 0, "accepted": 1, "rejected": 0}
    assert status["records"] == 40

    # The agency maps an opaque record id back to its own row (only it holds the key).
    first = next(csv.DictReader((site / "source" / "school_leavers.csv").open()))
    record_id = checked["sample"][0]["record_id"]
    found = cli("connector", "find", record_id, "0" * 32, "--config", "school_leaver.yaml",
                env=agency, code=1)  # fmt: skip
    assert found == {"dataset": "school_leaver", "rows_read": 40,
                     "found": {record_id: [first["entry_uid"]]}, "missing": ["0" * 32]}  # fmt: skip

    # The production ACLs name the new agency by default (it is registered).
    acls = runner.invoke(app, ["stack", "acls", "--bootstrap", "k1:9093"], env=hub)
    assert acls.exit_code == 0, acls.output
    assert "User:lmis-moe" in acls.output and "User:lmis-nis" not in acls.output
