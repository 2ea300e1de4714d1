"""Agency public keys (Ed25519) and the hub's encrypted secrets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.keys.wrapping import SealedColumns
from governance.timestamps import UtcDateTime


class AgencyKey(Base):
    """A public key an agency signs with; private keys never reach the hub."""

    __tablename__ = "agency_keys"

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"), index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[datetime] = mapped_column(UtcDateTime)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    registered_by: Mapped[str] = mapped_column(String(200))
    superseded_by: Mapped[str | None] = mapped_column(String(100), default=None)
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_reason: Mapped[str | None] = mapped_column(Text, default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(200), default=None)


class HubSecret(SealedColumns, Base):
    """One version of a hub secret, envelope-encrypted.

    ``ciphertext`` is the secret under a random data key (AES-256-GCM, ``nonce``);
    ``wrapped_key`` is that data key under the key-encryption key (AES-256-GCM,
    ``wrap_nonce``). Both use ``<name>:<version>`` as associated data, so a row cannot
    be moved to another name or version.
    """

    __tablename__ = "hub_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    current: Mapped[bool] = mapped_column(Boolean)
