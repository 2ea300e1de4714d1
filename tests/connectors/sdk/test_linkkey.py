from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.sdk.errors import LinkKeyInvalid
from connectors.sdk.linkkey import LinkKey, load_link_key, write_link_key_file

PASS = SecretStr("correct horse battery staple")


def test_round_trip_through_an_encrypted_file(tmp_path: Path) -> None:
    key = LinkKey.generate(key_id="klink-2026-01")
    path = tmp_path / "link.key"
    write_link_key_file(path, key, PASS, scrypt_n=2**12)
    assert key.reveal() not in path.read_bytes()
    assert base64.b64encode(key.reveal()) not in path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load_link_key(path, PASS)
    assert loaded.reveal() == key.reveal() and loaded.key_id == "klink-2026-01"


def test_wrong_passphrase_and_altered_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.key"
    write_link_key_file(path, LinkKey.generate(key_id="k"), PASS, scrypt_n=2**12)
    with pytest.raises(LinkKeyInvalid, match="wrong passphrase"):
        load_link_key(path, SecretStr("nope"))
    doc = json.loads(path.read_text())
    doc["key_id"] = "relabelled"
    path.write_text(json.dumps(doc))
    with pytest.raises(LinkKeyInvalid, match="altered"):
        load_link_key(path, PASS)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LinkKeyInvalid, match=r"missing\.key: cannot be read"):
        load_link_key(tmp_path / "missing.key", PASS)


def test_from_secret_setting(caplog: pytest.LogCaptureFixture) -> None:
    raw = bytes(range(32))
    key = LinkKey.from_secret(SecretStr(base64.b64encode(raw).decode()), key_id="env")
    assert key.reveal() == raw
    logging.getLogger("t").warning("key %s", key)
    assert raw.hex() not in caplog.text and base64.b64encode(raw).decode() not in caplog.text
    with pytest.raises(LinkKeyInvalid, match="must be 32 bytes"):
        LinkKey.from_secret(SecretStr(base64.b64encode(b"short").decode()), key_id="env")


def test_resolve_prefers_the_setting_then_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.sdk.linkkey import resolve_link_key
    from lmis_hub.settings import load_settings

    path = tmp_path / "link.key"
    stored = LinkKey.generate(key_id="from-file")
    write_link_key_file(path, stored, PASS, scrypt_n=2**12)
    monkeypatch.setenv("HUB_CONNECTOR__LINK_KEY_PASSPHRASE", PASS.get_secret_value())
    s = load_settings().connector
    got = resolve_link_key(key_file=path, passphrase=s.link_key_passphrase, key=s.link_key)
    assert got.reveal() == stored.reveal()
    with pytest.raises(LinkKeyInvalid, match="HUB_CONNECTOR__LINK_KEY_PASSPHRASE"):
        resolve_link_key(key_file=path, passphrase=None, key=None)
    monkeypatch.setenv("HUB_CONNECTOR__LINK_KEY", base64.b64encode(bytes(32)).decode())
    s = load_settings().connector
    got = resolve_link_key(key_file=path, passphrase=s.link_key_passphrase, key=s.link_key)
    assert got.reveal() == bytes(32) and got.key_id == "link"
