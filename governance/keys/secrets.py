"""The hub's own secrets: its Ed25519 signing key and the pseudonymisation key K_hub.

Each is versioned; every version is stored envelope-encrypted (see
:mod:`governance.keys.wrapping`). Rotation creates a new current version and keeps the
old ones readable (old K_hub versions are needed to re-key data made with them; old
signing keys stay registered under agency ``hub`` so past receipts still verify).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from governance.audit.services import AuditLog
from governance.errors import SecretMissing
from governance.keys.models import HubSecret
from governance.keys.services import KeyService
from governance.keys.wrapping import KeyEncryptionKey, SealedColumns, open_envelope, seal
from governance.timestamps import Clock
from schemas.keys import key_id_for, public_pem

log = logging.getLogger(__name__)

SIGNING_KEY = "hub_signing_key"
PSEUDONYMISATION_KEY = "pseudonymisation_key"
HUB_AGENCY = "hub"


@dataclass(frozen=True)
class HubSigningKey:
    version: int
    key_id: str
    private_key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def __repr__(self) -> str:
        return f"HubSigningKey(version={self.version}, key_id={self.key_id!r})"


@dataclass(frozen=True)
class VersionedKey:
    version: int
    key: bytes

    def __repr__(self) -> str:
        return f"VersionedKey(version={self.version})"


class HubSecrets:
    def __init__(
        self,
        session: Session,
        *,
        kek: KeyEncryptionKey,
        keys: KeyService,
        clock: Clock,
        audit: AuditLog,
    ) -> None:
        self.session = session
        self.kek = kek
        self.keys = keys
        self.clock = clock
        self.audit = audit

    # Storage ---------------------------------------------------------------------

    def _store(self, name: str, plaintext: bytes) -> int:
        version = (
            self.session.scalar(select(func.max(HubSecret.version)).where(HubSecret.name == name))
            or 0
        ) + 1
        env = seal(self.kek, plaintext, aad=f"{name}:{version}".encode())
        self.session.execute(update(HubSecret).where(HubSecret.name == name).values(current=False))
        self.session.add(
            HubSecret(
                name=name,
                version=version,
                created_at=self.clock(),
                current=True,
                **SealedColumns.columns_of(env),
            )
        )
        self.session.flush()
        log.info("stored hub secret %s version %d (wrapped by KEK %s)", name, version, env.kek_id)
        return version

    def _load(self, name: str, version: int | None) -> tuple[int, bytes]:
        query = select(HubSecret).where(HubSecret.name == name)
        query = (
            query.where(HubSecret.current.is_(True))
            if version is None
            else query.where(HubSecret.version == version)
        )
        row = self.session.scalars(query).first()
        if row is None:
            which = "current version" if version is None else f"version {version}"
            raise SecretMissing(f"hub secret {name} ({which}) does not exist")
        env = row.envelope()
        log.debug("opening hub secret %s version %d", name, row.version)
        return row.version, open_envelope(self.kek, env, aad=f"{name}:{row.version}".encode())

    def versions(self, name: str) -> list[int]:
        return list(
            self.session.scalars(
                select(HubSecret.version).where(HubSecret.name == name).order_by(HubSecret.version)
            )
        )

    # Signing key -----------------------------------------------------------------

    def rotate_signing_key(self, *, actor: str) -> HubSigningKey:
        """Create a new hub signing key, register its public half under agency ``hub``."""
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        version = self._store(SIGNING_KEY, raw)
        pem = public_pem(private.public_key())
        if self.keys.current_keys(HUB_AGENCY):
            row = self.keys.rotate(HUB_AGENCY, pem, actor=actor)
        else:
            row = self.keys.register(HUB_AGENCY, pem, actor=actor)
        tag = "secret:create" if version == 1 else "secret:rotate"
        self.audit.record(
            tag, actor, f"secret:{SIGNING_KEY}", {"version": version, "key_id": row.key_id}
        )
        return HubSigningKey(version, row.key_id, private)

    def hub_signing_key(self, version: int | None = None) -> HubSigningKey:
        version, raw = self._load(SIGNING_KEY, version)
        private = Ed25519PrivateKey.from_private_bytes(raw)
        return HubSigningKey(version, key_id_for(HUB_AGENCY, private.public_key()), private)

    # Pseudonymisation key ----------------------------------------------------------

    def rotate_pseudonymisation_key(self, *, actor: str) -> VersionedKey:
        key = os.urandom(32)
        version = self._store(PSEUDONYMISATION_KEY, key)
        tag = "secret:create" if version == 1 else "secret:rotate"
        self.audit.record(tag, actor, f"secret:{PSEUDONYMISATION_KEY}", {"version": version})
        return VersionedKey(version, key)

    def pseudonymisation_key(self, version: int | None = None) -> VersionedKey:
        """K_hub, the current version unless ``version`` is given."""
        found, key = self._load(PSEUDONYMISATION_KEY, version)
        return VersionedKey(found, key)

    def initialise(self, *, actor: str) -> dict[str, int]:
        """Create whichever hub secret does not exist yet; returns name -> current version."""
        if not self.versions(SIGNING_KEY):
            self.rotate_signing_key(actor=actor)
        if not self.versions(PSEUDONYMISATION_KEY):
            self.rotate_pseudonymisation_key(actor=actor)
        return {
            SIGNING_KEY: self.hub_signing_key().version,
            PSEUDONYMISATION_KEY: self.pseudonymisation_key().version,
        }
