"""The linkage-key ceremony through the CLI, as the people involved run it: a custodian
makes K_link and seals a copy to each agency's registered key, the hub records each
hand-over without seeing the key, and each agency opens only its own copy."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from typer.testing import CliRunner

from connectors.sdk.linkkey import load_link_key
from connectors.sdk.tokenise import Tokeniser
from hub_api.cli import app


def _write(path: Path, text: str) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_custodian_seals_hub_records_agencies_open(tmp_path: Path) -> None:
    kek = base64.b64encode(os.urandom(32)).decode()
    hub_env = {"HUB_DATA_DIR": str(tmp_path / "hub"), "HUB_KEY_ENCRYPTION_KEY": kek}
    elsewhere = {"HUB_DATA_DIR": str(tmp_path / "nowhere")}  # no hub database there
    runner = CliRunner()

    def cli(*args: str, env: dict[str, str], code: int = 0) -> Any:
        # (CliRunner reports a HubError as exit 1; the console script exits 2.)
        result = runner.invoke(app, ["--json", *args], env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return json.loads(result.stdout) if code == 0 else {"error": result.exception}

    custodian_pass = _write(tmp_path / "custodian.pass", "custodian passphrase")
    cli("agencies", "init", env=hub_env)
    cli("keys", "init-hub", env=hub_env)
    agencies: dict[str, dict[str, Path]] = {}
    for agency in ("nis", "tvet"):
        folder = tmp_path / agency
        signing_pass = _write(tmp_path / f"{agency}.pass", f"{agency} signing passphrase")
        made = cli("keys", "generate", "--agency", agency, "--out", str(folder),
                   "--passphrase-file", str(signing_pass), env=elsewhere)  # fmt: skip
        assert Path(made["private_key"]).name == f"{agency}.key.pem"  # as configs expect
        cli("keys", "register", made["public_key"], "--agency", agency, env=hub_env)
        agencies[agency] = {"folder": folder, "pass": signing_pass,
                            "private": Path(made["private_key"]),
                            "public": Path(made["public_key"])}  # fmt: skip

    hub_pub = tmp_path / "nis" / "hub.pub.pem"
    exported = cli("keys", "export-hub-public", "--out", str(hub_pub), env=hub_env)
    assert hub_pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert exported["key_id"].startswith("hub-")

    master = tmp_path / "custodian" / "link-master.key"
    cli("keys", "link-generate", "--key-id", "link-2027-01", "--out", str(master),
        "--passphrase-file", str(custodian_pass), env=elsewhere)  # fmt: skip
    digests = {}
    for agency, files in agencies.items():
        sealed = cli("keys", "link-seal", "--link-key", str(master), "--agency", agency,
                     "--public-key", str(files["public"]), "--out",
                     str(files["folder"] / "link.sealed"), "--passphrase-file",
                     str(custodian_pass), env=elsewhere)  # fmt: skip
        digests[agency] = sealed["sha256"]
        recorded = cli("keys", "link-handover", str(files["folder"] / "link.sealed"), env=hub_env)
        assert recorded == {"agency": agency, "link_key_id": "link-2027-01",
                            "sha256": sealed["sha256"]}  # fmt: skip

    # Each agency opens its own copy; the copies are the same key: tokens agree.
    tokens = []
    for agency, files in agencies.items():
        link_pass = _write(tmp_path / f"{agency}.link.pass", f"{agency} link passphrase")
        cli("keys", "link-open", str(files["folder"] / "link.sealed"), "--signing-key",
            str(files["private"]), "--passphrase-file", str(files["pass"]),
            "--link-passphrase-file", str(link_pass), "--out",
            str(files["folder"] / "link.key"), env=elsewhere)  # fmt: skip
        key = load_link_key(files["folder"] / "link.key", SecretStr(f"{agency} link passphrase"))
        assert key.key_id == "link-2027-01"
        tokens.append(Tokeniser(key).tokens({"national_id": "123456789"}))
    assert tokens[0] == tokens[1]

    # TVET's key cannot open NIS's copy.
    refused = cli("keys", "link-open", str(tmp_path / "nis" / "link.sealed"), "--signing-key",
                  str(agencies["tvet"]["private"]), "--passphrase-file",
                  str(agencies["tvet"]["pass"]), "--link-passphrase-file",
                  str(tmp_path / "tvet.link.pass"), "--out", str(tmp_path / "stolen.key"),
                  env=elsewhere, code=1)  # fmt: skip
    assert refused["error"].code == "connector.link_key_invalid"
    assert not (tmp_path / "stolen.key").exists()
    # A copy relabelled for another agency is refused by the hub (the key is NIS's).
    doc = json.loads((tmp_path / "nis" / "link.sealed").read_text())
    doc["agency"] = "tvet"
    relabelled = _write(tmp_path / "relabelled.sealed", json.dumps(doc))
    refused = cli("keys", "link-handover", str(relabelled), env=hub_env, code=1)
    assert refused["error"].code == "key.invalid"

    # The hub's audit log names each hand-over; the hub's files never hold the key.
    entries = cli("audit", "search", "--tag", "key:link_handover", env=hub_env)
    assert sorted(e["details"]["sha256"] for e in entries) == sorted(digests.values())
    secret = load_link_key(master, SecretStr("custodian passphrase")).reveal()
    for path in (tmp_path / "hub").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret not in data and base64.b64encode(secret) not in data, path
