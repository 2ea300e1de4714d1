"""Hub secrets are envelope-encrypted: nothing secret in the database or the logs."""

from __future__ import annotations

import base64
import logging
import os

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr
from sqlalchemy import Connection

from governance.errors import SecretMissing, SecretUndecryptable
from governance.keys.secrets import PSEUDONYMISATION_KEY, HubSecrets
from governance.keys.wrapping import KeyEncryptionKey
from lmis_hub.errors import ConfigurationError
from tests.fixtures.database import database_dump

KEK_B64 = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def secrets(db_session, keys, clock, audit) -> HubSecrets:
    kek = KeyEncryptionKey.from_setting(SecretStr(KEK_B64))
    return HubSecrets(db_session, kek=kek, keys=keys, clock=clock, audit=audit)


def test_secrets_round_trip_and_rotate(secrets: HubSecrets, keys) -> None:
    with pytest.raises(SecretMissing):
        secrets.pseudonymisation_key()
    secrets.initialise(actor="ops")
    k1 = secrets.pseudonymisation_key()
    k2 = secrets.rotate_pseudonymisation_key(actor="ops")
    assert (k1.version, k2.version) == (1, 2)
    assert secrets.pseudonymisation_key() == k2
    assert secrets.pseudonymisation_key(1) == k1
    s1 = secrets.hub_signing_key()
    s2 = secrets.rotate_signing_key(actor="ops")
    assert secrets.hub_signing_key().key_id == s2.key_id != s1.key_id
    # The hub's public keys are registered so receipts and checkpoints can be verified.
    keys.public_key_at(s2.key_id, keys.clock()).verify(s2.sign(b"r"), b"r")


def test_nothing_secret_in_database_or_logs(
    secrets: HubSecrets, db_connection: Connection, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets.initialise(actor="ops")
    secrets.session.flush()
    k_hub = secrets.pseudonymisation_key().key
    signing = secrets.hub_signing_key().private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    kek = base64.b64decode(KEK_B64)
    dump = database_dump(db_connection)
    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert b"stored hub secret pseudonymisation_key version 1" in logged  # it does log
    for secret in (k_hub, signing, kek):
        for form in (secret, secret.hex().encode(), base64.b64encode(secret)):
            assert form not in dump
            assert form not in logged
            assert form.decode("latin-1") not in repr(secrets.pseudonymisation_key())
    assert KEK_B64 not in repr(secrets.kek)


def test_wrong_kek_or_altered_row_fails_loudly(
    secrets: HubSecrets, db_session, keys, clock, audit
) -> None:
    secrets.rotate_pseudonymisation_key(actor="ops")
    other = KeyEncryptionKey(os.urandom(32))
    with pytest.raises(SecretUndecryptable):
        HubSecrets(
            db_session, kek=other, keys=keys, clock=clock, audit=audit
        ).pseudonymisation_key()
    db_session.execute(
        sa.text("UPDATE hub_secrets SET version = 7 WHERE name = :n"), {"n": PSEUDONYMISATION_KEY}
    )
    with pytest.raises(SecretUndecryptable):
        secrets.pseudonymisation_key(7)


@pytest.mark.parametrize("value", [None, "not base64!", base64.b64encode(b"short").decode()])
def test_kek_setting_is_validated(value) -> None:
    with pytest.raises(ConfigurationError):
        KeyEncryptionKey.from_setting(None if value is None else SecretStr(value))
