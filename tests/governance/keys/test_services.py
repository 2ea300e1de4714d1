"""Agency keys: validity windows, rotation and revocation decide signature validity."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.errors import (
    AgencyUnknown,
    KeyExists,
    KeyExpired,
    KeyInvalid,
    KeyNotYetValid,
    KeyRevoked,
    KeySuperseded,
    KeyUnknown,
)
from governance.keys.services import KeyService
from schemas.keys import (
    encrypted_private_pem,
    key_id_for,
    load_private_pem,
    public_pem,
)


def new_pem() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    return key, public_pem(key.public_key())


def test_register_and_look_up_at_signing_time(keys: KeyService, clock) -> None:
    private, pem = new_pem()
    row = keys.register("nis", pem, actor="ops")
    assert row.key_id == key_id_for("nis", private.public_key())
    signature = private.sign(b"batch")
    keys.public_key_at(row.key_id, clock.now + timedelta(days=1)).verify(signature, b"batch")
    with pytest.raises(KeyNotYetValid):
        keys.public_key_at(row.key_id, clock.now - timedelta(seconds=1))
    with pytest.raises(KeyExpired):
        keys.public_key_at(row.key_id, row.not_after)
    with pytest.raises(KeyUnknown):
        keys.public_key_at("nis-0000000000000000", clock.now)
    with pytest.raises(KeyExists):
        keys.register("nis", pem, actor="ops")


def test_unknown_agency_and_bad_pem_are_refused(keys: KeyService) -> None:
    with pytest.raises(AgencyUnknown):
        keys.register("nowhere", new_pem()[1], actor="ops")
    with pytest.raises(KeyInvalid):
        keys.register(
            "nis", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", actor="ops"
        )


def test_revocation_invalidates_only_later_signatures(keys: KeyService, clock) -> None:
    row = keys.register("tvet", new_pem()[1], actor="ops")
    before = clock.advance(days=3)
    revoked_at = clock.advance(days=1)
    keys.revoke(row.key_id, reason="laptop stolen", actor="lmis")
    assert keys.public_key_at(row.key_id, before) is not None
    with pytest.raises(KeyRevoked, match="laptop stolen"):
        keys.public_key_at(row.key_id, revoked_at)
    with pytest.raises(KeyRevoked):
        keys.public_key_at(row.key_id, revoked_at + timedelta(days=1))


def test_rotation_supersedes_but_past_signatures_stay_valid(keys: KeyService, clock) -> None:
    old = keys.register("dol", new_pem()[1], actor="ops")
    past = clock.advance(days=10)
    clock.advance(days=1)
    rotated_at = clock.now
    new = keys.rotate("dol", new_pem()[1], actor="ops")
    assert keys.public_key_at(old.key_id, past) is not None
    with pytest.raises(KeySuperseded, match=new.key_id):
        keys.public_key_at(old.key_id, rotated_at + timedelta(seconds=1))
    assert keys.public_key_at(new.key_id, rotated_at + timedelta(seconds=1)) is not None
    assert [k.key_id for k in keys.current_keys("dol")] == [new.key_id]


def test_rotation_grace_period(keys: KeyService, clock) -> None:
    old = keys.register("nso", new_pem()[1], actor="ops")
    clock.advance(days=1)
    keys.rotate("nso", new_pem()[1], actor="ops", grace=timedelta(hours=2))
    assert keys.public_key_at(old.key_id, clock.now + timedelta(hours=1)) is not None
    with pytest.raises(KeySuperseded):
        keys.public_key_at(old.key_id, clock.now + timedelta(hours=2))


def test_key_changes_are_audited(keys: KeyService, audit) -> None:
    row = keys.register("jobboard", new_pem()[1], actor="ops")
    keys.revoke(row.key_id, reason="test", actor="lmis")
    tags = [e.tag for e in audit.search(subject=f"key:{row.key_id}")]
    assert tags == ["key:register", "key:revoke"]


def test_private_key_file_is_encrypted() -> None:
    private = Ed25519PrivateKey.generate()
    pem = encrypted_private_pem(private, b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    loaded = load_private_pem(pem, b"correct horse")
    assert public_pem(loaded.public_key()) == public_pem(private.public_key())
    with pytest.raises(KeyInvalid):
        load_private_pem(pem, b"wrong")
    with pytest.raises(KeyInvalid):
        encrypted_private_pem(private, b"")


def test_one_public_key_cannot_serve_two_agencies(keys: KeyService) -> None:
    _, pem = new_pem()
    keys.register("nis", pem, actor="ops")
    with pytest.raises(KeyExists, match="already registered for nis"):
        keys.register("tvet", pem, actor="ops")
