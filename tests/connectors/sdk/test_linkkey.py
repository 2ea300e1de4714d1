from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.sdk.errors import LinkKeyInvalid
from connectors.sdk.linkkey import (
    LinkKey,
    load_link_key,
    read_link_key_id,
    resolve_link_key,
    write_link_key_file,
)

PASS = SecretStr("correct horse battery staple")


def test_round_trip_through_an_encrypted_file(tmp_path: Path) -> None:
    key = LinkKey.generate(key_id=3)
    path = tmp_path / "link.key"
    write_link_key_file(path, key, PASS, scrypt_n=2**12)
    assert key.reveal() not in path.read_bytes()
    assert base64.b64encode(key.reveal()) not in path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600
    doc = json.loads(path.read_text())
    assert doc["format"] == "lmis-link-key/2" and doc["key_id"] == 3
    loaded = load_link_key(path, PASS)
    assert loaded.reveal() == key.reveal() and loaded.key_id == 3
    assert loaded.token_prefix == b"\x00\x03"
    assert read_link_key_id(path) == 3  # without the passphrase


def test_wrong_passphrase_and_altered_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.key"
    write_link_key_file(path, LinkKey.generate(key_id=1), PASS, scrypt_n=2**12)
    with pytest.raises(LinkKeyInvalid, match="wrong passphrase"):
        load_link_key(path, SecretStr("nope"))
    doc = json.loads(path.read_text())
    doc["key_id"] = 2  # a key relabelled as another generation
    path.write_text(json.dumps(doc))
    with pytest.raises(LinkKeyInvalid, match="altered"):
        load_link_key(path, PASS)
    for bad in ("2", 0, 70_000, None):
        path.write_text(json.dumps({**doc, "key_id": bad}))
        with pytest.raises(LinkKeyInvalid, match=r"key_id is not a number|key id is from"):
            load_link_key(path, PASS)


def _first_format_file(path: Path, key: bytes, label: str) -> None:
    """A key file as written before key ids: format 1, a free label as associated data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    salt, nonce = b"s" * 16, b"n" * 12
    kek = Scrypt(salt=salt, length=32, n=2**12, r=8, p=1).derive(PASS.get_secret_value().encode())
    doc = {
        "format": "lmis-link-key/1",
        "key_id": label,
        "kdf": {"name": "scrypt", "n": 2**12, "r": 8, "p": 1},
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(AESGCM(kek).encrypt(nonce, key, label.encode())).decode(),
    }
    path.write_text(json.dumps(doc))


def test_a_key_file_from_before_key_ids_is_generation_1(tmp_path: Path) -> None:
    path = tmp_path / "old.key"
    _first_format_file(path, bytes(range(32)), "link-2027-01")
    loaded = load_link_key(path, PASS)
    assert loaded.reveal() == bytes(range(32)) and loaded.key_id == 1
    assert read_link_key_id(path) == 1
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "key_id": "link-2027-02"}))  # still bound to its label
    with pytest.raises(LinkKeyInvalid, match="altered"):
        load_link_key(path, PASS)


@pytest.mark.parametrize(
    ("given", "expected"), [(1, 1), (65535, 65535), ("2", 2), (" 7 ", 7), ("link", 1)]
)
def test_key_ids_are_generations_and_old_labels_are_1(given: int | str, expected: int) -> None:
    assert LinkKey(bytes(32), key_id=given).key_id == expected


@pytest.mark.parametrize("bad", [0, 65536, "0", "65536", -1])
def test_key_ids_outside_the_generations_are_refused(bad: int | str) -> None:
    with pytest.raises(LinkKeyInvalid, match="key id is from 1 to 65535"):
        LinkKey(bytes(32), key_id=bad)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LinkKeyInvalid, match=r"missing\.key: cannot be read"):
        load_link_key(tmp_path / "missing.key", PASS)


def test_from_secret_setting(caplog: pytest.LogCaptureFixture) -> None:
    raw = bytes(range(32))
    key = LinkKey.from_secret(SecretStr(base64.b64encode(raw).decode()), key_id=4)
    assert key.reveal() == raw and key.key_id == 4
    logging.getLogger("t").warning("key %s", key)
    assert raw.hex() not in caplog.text and base64.b64encode(raw).decode() not in caplog.text
    with pytest.raises(LinkKeyInvalid, match="must be 32 bytes"):
        LinkKey.from_secret(SecretStr(base64.b64encode(b"short").decode()), key_id=1)


def test_resolve_prefers_the_setting_then_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmis_hub.settings import load_settings

    path = tmp_path / "link.key"
    stored = LinkKey.generate(key_id=5)
    write_link_key_file(path, stored, PASS, scrypt_n=2**12)
    monkeypatch.setenv("HUB_CONNECTOR__LINK_KEY_PASSPHRASE", PASS.get_secret_value())
    s = load_settings().connector
    got = resolve_link_key(key_file=path, passphrase=s.link_key_passphrase, key=s.link_key)
    assert got.reveal() == stored.reveal() and got.key_id == 5  # the file names its own
    with pytest.raises(LinkKeyInvalid, match="HUB_CONNECTOR__LINK_KEY_PASSPHRASE"):
        resolve_link_key(key_file=path, passphrase=None, key=None)
    monkeypatch.setenv("HUB_CONNECTOR__LINK_KEY", base64.b64encode(bytes(32)).decode())
    s = load_settings().connector
    got = resolve_link_key(key_file=path, passphrase=s.link_key_passphrase, key=s.link_key)
    assert got.reveal() == bytes(32) and got.key_id == 1
    # A key given in the setting has the generation HUB_CONNECTOR__LINK_KEY_ID names
    # (text, as the setting is; the old default "link" is generation 1).
    got = resolve_link_key(key_file=path, passphrase=None, key=s.link_key, key_id=s.link_key_id)
    assert got.key_id == 1
    got = resolve_link_key(key_file=None, passphrase=None, key=s.link_key, key_id="2")
    assert got.key_id == 2 and got.token_prefix == b"\x00\x02"
