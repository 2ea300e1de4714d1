"""Agency keys: registration, rotation, revocation and "was this key valid at T?"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agencies.models import Agency
from governance.audit.services import AuditLog
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
from governance.keys.models import AgencyKey
from governance.timestamps import Clock, iso
from schemas.keys import key_id_for, load_public_pem, public_pem

DEFAULT_VALIDITY = timedelta(days=2 * 365)


@dataclass(frozen=True)
class KeyStatus:
    key_id: str
    agency: str
    not_before: datetime
    not_after: datetime
    superseded_by: str | None
    superseded_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None

    def state_at(self, at: datetime) -> str:
        if self.revoked_at is not None and at >= self.revoked_at:
            return "revoked"
        if at < self.not_before:
            return "not_yet_valid"
        if at >= self.not_after:
            return "expired"
        if self.superseded_at is not None and at >= self.superseded_at:
            return "superseded"
        return "valid"


class KeyService:
    """Agency public keys. ``public_key_at`` is what signature checks call.

    Rotation: the new key is valid from the rotation time; the old key stays valid for
    signatures made before it (and during an optional grace period after it).
    Revocation: a signature made at or after the revocation time is invalid; one made
    before stays valid.
    """

    def __init__(self, session: Session, *, clock: Clock, audit: AuditLog) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self._pem_cache: dict[str, Ed25519PublicKey] = {}

    def register(
        self,
        agency: str,
        public_key_pem: str,
        *,
        actor: str,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> AgencyKey:
        if self.session.get(Agency, agency) is None:
            raise AgencyUnknown(f"agency {agency!r} is not registered")
        key = load_public_pem(public_key_pem, where=f"public key for {agency}")
        key_id = key_id_for(agency, key)
        if self.session.get(AgencyKey, key_id) is not None:
            raise KeyExists(f"key {key_id} is already registered")
        pem = public_pem(key)
        other = self.session.scalar(select(AgencyKey).where(AgencyKey.public_key_pem == pem))
        if other is not None:
            # One key pair, one agency: otherwise a signature could not say who signed.
            raise KeyExists(
                f"this public key is already registered for {other.agency} as {other.key_id}; "
                f"every agency signs with its own key pair"
            )
        now = self.clock()
        start = not_before or now
        end = not_after or start + DEFAULT_VALIDITY
        if end <= start:
            raise KeyInvalid(f"key {key_id}: not_after {iso(end)} is not after not_before")
        row = AgencyKey(
            key_id=key_id,
            agency=agency,
            public_key_pem=pem,
            not_before=start,
            not_after=end,
            registered_at=now,
            registered_by=actor,
        )
        self.session.add(row)
        self.session.flush()
        self.audit.record(
            "key:register",
            actor,
            f"key:{key_id}",
            {"agency": agency, "not_before": iso(start), "not_after": iso(end)},
        )
        return row

    def rotate(
        self,
        agency: str,
        new_public_key_pem: str,
        *,
        actor: str,
        grace: timedelta = timedelta(0),
        not_after: datetime | None = None,
    ) -> AgencyKey:
        """Register a new key that supersedes every current key of ``agency``."""
        now = self.clock()
        current = self.current_keys(agency, now)
        new = self.register(agency, new_public_key_pem, actor=actor, not_after=not_after)
        for old in current:
            old.superseded_by = new.key_id
            old.superseded_at = now + grace
        self.session.flush()
        self.audit.record(
            "key:rotate",
            actor,
            f"agency:{agency}",
            {
                "new": new.key_id,
                "superseded": [k.key_id for k in current],
                "grace_s": grace.total_seconds(),
            },
        )
        return new

    def revoke(
        self, key_id: str, *, reason: str, actor: str, at: datetime | None = None
    ) -> AgencyKey:
        row = self._get(key_id)
        when = at or self.clock()
        if row.revoked_at is not None and row.revoked_at <= when:
            return row
        row.revoked_at = when
        row.revoked_reason = reason
        row.revoked_by = actor
        self.session.flush()
        self._pem_cache.pop(key_id, None)
        self.audit.record("key:revoke", actor, f"key:{key_id}", {"reason": reason, "at": iso(when)})
        return row

    def _get(self, key_id: str) -> AgencyKey:
        row = self.session.get(AgencyKey, key_id)
        if row is None:
            raise KeyUnknown(f"no key with id {key_id!r}")
        return row

    def status(self, key_id: str) -> KeyStatus:
        r = self._get(key_id)
        return KeyStatus(
            r.key_id,
            r.agency,
            r.not_before,
            r.not_after,
            r.superseded_by,
            r.superseded_at,
            r.revoked_at,
            r.revoked_reason,
        )

    def public_key_at(self, key_id: str, at: datetime) -> Ed25519PublicKey:
        """The key if it was valid at ``at`` (the signing time), else the precise reason."""
        status = self.status(key_id)
        state = status.state_at(at)
        when = iso(at)
        if state == "revoked":
            raise KeyRevoked(
                f"key {key_id} was revoked at {iso(status.revoked_at)} "  # type: ignore[arg-type]
                f"({status.revoked_reason}); signing time {when}"
            )
        if state == "not_yet_valid":
            raise KeyNotYetValid(
                f"key {key_id} is valid from {iso(status.not_before)}; signing time {when}"
            )
        if state == "expired":
            raise KeyExpired(
                f"key {key_id} expired at {iso(status.not_after)}; signing time {when}"
            )
        if state == "superseded":
            raise KeySuperseded(
                f"key {key_id} was superseded by {status.superseded_by} at "
                f"{iso(status.superseded_at)}; signing time {when}"  # type: ignore[arg-type]
            )
        cached = self._pem_cache.get(key_id)
        if cached is None:
            cached = load_public_pem(self._get(key_id).public_key_pem, where=f"key {key_id}")
            self._pem_cache[key_id] = cached
        return cached

    def current_keys(self, agency: str, at: datetime | None = None) -> list[AgencyKey]:
        when = at or self.clock()
        return [k for k in self.list(agency) if self.status(k.key_id).state_at(when) == "valid"]

    def list(self, agency: str | None = None) -> list[AgencyKey]:
        query = select(AgencyKey).order_by(AgencyKey.agency, AgencyKey.not_before)
        if agency is not None:
            query = query.where(AgencyKey.agency == agency)
        return list(self.session.scalars(query))
