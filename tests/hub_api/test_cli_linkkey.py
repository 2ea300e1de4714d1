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

from connectors.sdk.linkkey import load_link_key, read_link_key_id
from connectors.sdk.tokenise import Tokeniser
from hub_api.cli import app
from lmis_hub.tokens import token_key_id


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
    made = cli("keys", "link-generate", "--out", str(master),
               "--passphrase-file", str(custodian_pass), env=elsewhere)  # fmt: skip
    assert made["link_key_id"] == 1  # the first generation
    digests = {}
    for agency, files in agencies.items():
        sealed = cli("keys", "link-seal", "--link-key", str(master), "--agency", agency,
                     "--public-key", str(files["public"]), "--out",
                     str(files["folder"] / "link.sealed"), "--passphrase-file",
                     str(custodian_pass), env=elsewhere)  # fmt: skip
        digests[agency] = sealed["sha256"]
        recorded = cli("keys", "link-handover", str(files["folder"] / "link.sealed"), env=hub_env)
        assert recorded == {"agency": agency, "link_key_id": 1,
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
        assert key.key_id == 1
        tokens.append(Tokeniser(key).tokens({"national_id": "123456789"}))
    assert tokens[0] == tokens[1]
    first = tokens[0]["national_id_token"]
    assert isinstance(first, bytes) and token_key_id(first) == 1

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

    # Rotation: the custodian makes generation 2 from the previous key file, seals it to
    # NIS; the hub records the hand-over with the new key id; NIS's tokens now carry 2.
    rotated = tmp_path / "custodian" / "link-master-2.key"
    made = cli("keys", "link-generate", "--previous", str(master), "--out", str(rotated),
               "--passphrase-file", str(custodian_pass), env=elsewhere)  # fmt: skip
    assert made["link_key_id"] == 2 and read_link_key_id(rotated) == 2
    nis = agencies["nis"]
    sealed = cli("keys", "link-seal", "--link-key", str(rotated), "--agency", "nis",
                 "--public-key", str(nis["public"]), "--out", str(nis["folder"] / "link-2.sealed"),
                 "--passphrase-file", str(custodian_pass), env=elsewhere)  # fmt: skip
    assert sealed["link_key_id"] == 2
    recorded = cli("keys", "link-handover", str(nis["folder"] / "link-2.sealed"), env=hub_env)
    assert recorded == {"agency": "nis", "link_key_id": 2, "sha256": sealed["sha256"]}
    opened = cli("keys", "link-open", str(nis["folder"] / "link-2.sealed"), "--signing-key",
                 str(nis["private"]), "--passphrase-file", str(nis["pass"]),
                 "--link-passphrase-file", str(tmp_path / "nis.link.pass"), "--out",
                 str(nis["folder"] / "link-2.key"), env=elsewhere)  # fmt: skip
    assert opened["link_key_id"] == 2
    key = load_link_key(nis["folder"] / "link-2.key", SecretStr("nis link passphrase"))
    new = Tokeniser(key).tokens({"national_id": "123456789"})["national_id_token"]
    assert isinstance(new, bytes) and token_key_id(new) == 2
    assert new[2:] != first[2:]
    entries = cli("audit", "search", "--tag", "key:link_handover", env=hub_env)
    assert sorted(e["details"]["link_key_id"] for e in entries) == [1, 1, 2]
    secrets = (secret, load_link_key(rotated, SecretStr("custodian passphrase")).reveal())

    for path in (tmp_path / "hub").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for each in secrets:
                assert each not in data and base64.b64encode(each) not in data, path


def test_link_generate_chooses_the_generation(tmp_path: Path) -> None:
    """--key-id N, default 1 or one more than --previous; never back, never out of range."""
    env = {"HUB_DATA_DIR": str(tmp_path / "nowhere")}
    passphrase = _write(tmp_path / "pass", "custodian passphrase")
    runner = CliRunner()

    def generate(name: str, *options: str) -> Any:
        args = ["--json", "keys", "link-generate", "--out", str(tmp_path / name),
                "--passphrase-file", str(passphrase), *options]  # fmt: skip
        return runner.invoke(app, args, env=env)

    made = generate("g7.key", "--key-id", "7")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["link_key_id"] == 7
    assert read_link_key_id(tmp_path / "g7.key") == 7
    made = generate("g8.key", "--previous", str(tmp_path / "g7.key"))
    assert json.loads(made.stdout)["link_key_id"] == 8
    made = generate("g20.key", "--previous", str(tmp_path / "g8.key"), "--key-id", "20")
    assert json.loads(made.stdout)["link_key_id"] == 20
    refused = generate("back.key", "--previous", str(tmp_path / "g20.key"), "--key-id", "20")
    assert refused.exit_code == 1 and refused.exception.code == "config.invalid"  # type: ignore[union-attr]
    assert "above the previous one's (20" in refused.exception.message  # type: ignore[union-attr]
    assert not (tmp_path / "back.key").exists()
    for out_of_range in ("0", "65536"):
        assert generate("bad.key", "--key-id", out_of_range).exit_code == 2  # usage error
    assert not (tmp_path / "bad.key").exists()


def test_a_copy_sealed_before_key_ids_is_refused_with_what_to_do(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.sealed", json.dumps({
        "format": "lmis-link-key-sealed/1", "agency": "nis", "recipient_key_id": "nis-x",
        "link_key_id": "link-2027-01", "sealed": base64.b64encode(b"x" * 80).decode(),
    }))  # fmt: skip
    result = CliRunner().invoke(
        app, ["keys", "link-handover", str(old)], env={"HUB_DATA_DIR": str(tmp_path / "h")}
    )
    assert result.exit_code == 1
    assert "ask the custodian to seal it again" in str(result.exception)
