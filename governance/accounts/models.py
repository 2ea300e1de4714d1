"""Tables of the hub's accounts: people (and machine owners) who sign in, their TOTP
secrets and recovery codes, their API tokens and their web sessions.

Nothing here holds a secret in clear: passwords are Argon2id hashes, TOTP secrets are
envelope-encrypted with the KEK, and recovery codes, token secrets and session ids are
stored as SHA-256 digests only.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.keys.wrapping import SealedColumns
from governance.timestamps import UtcDateTime

#: Every role an account can hold; one role per account.
ACCOUNT_ROLES = (
    "agency_operator",
    "lmis_admin",
    "lmis_analyst",
    "researcher",
    "output_checker",
    "steering_member",
    "auditor",
)
#: Roles that must sign in with a second factor (TOTP). The others may enrol anyway,
#: and once enrolled they need it too.
MFA_ROLES = tuple(r for r in ACCOUNT_ROLES if r not in ("agency_operator", "lmis_analyst"))
#: The only role that belongs to an agency (and must name one).
AGENCY_ROLE = "agency_operator"
#: The role that administers accounts and may issue tokens scoped to another role.
ADMIN_ROLE = "lmis_admin"

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
#: Actor names the hub itself writes into the audit log; no account may take them.
RESERVED_USERNAMES = frozenset({"cli", "hub", "system"})


class Account(Base):
    """Someone who signs in to the hub, with one role (and, for an agency operator, the
    agency they act for).

    ``failed_logins`` counts wrong passwords and codes since the last complete sign-in;
    reaching the limit sets ``locked_until``. ``totp_confirmed_at`` is set once a TOTP
    secret is confirmed (the secret itself is in :class:`TotpSecret`);
    ``totp_last_step`` is the last time step whose code was accepted, so no code is
    accepted twice.

    An account made by signing in with an identity provider has ``identity_provider``
    (the provider's issuer) and ``external_subject`` (the person's ``sub`` there) set and
    no usable password: the provider checks who they are and gives their role.
    """

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("identity_provider", "external_subject"),)

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    agency: Mapped[str | None] = mapped_column(ForeignKey("agencies.code"), default=None)
    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    identity_provider: Mapped[str | None] = mapped_column(String(300), default=None)
    external_subject: Mapped[str | None] = mapped_column(String(255), default=None)

    @property
    def external(self) -> bool:
        """True when an identity provider signs this account in (no password, no TOTP)."""
        return self.identity_provider is not None

    @property
    def totp_enrolled(self) -> bool:
        return self.totp_confirmed_at is not None

    @property
    def mfa_required(self) -> bool:
        """True when signing in needs a second factor: by role, or by choice."""
        return self.role in MFA_ROLES or self.totp_enrolled

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


class TotpSecret(SealedColumns, Base):
    """An account's TOTP secret, envelope-encrypted (associated data
    ``totp:<username>:<id>``). At most one confirmed secret per account (the one in use)
    and at most one unconfirmed one (an enrolment under way); confirming replaces the
    old secret, and an administrator's reset deletes both."""

    __tablename__ = "account_totp_secrets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("accounts.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class RecoveryCode(Base):
    """A one-time code that replaces a TOTP code when the authenticator is lost; only its
    SHA-256 is stored. A fresh set of ten replaces the old one at each enrolment."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(ForeignKey("accounts.username"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ApiToken(Base):
    """A bearer token for the API, owned by an account and scoped to a role and agency
    (the owner's, or one an LMIS administrator chose for a machine client). Only the
    SHA-256 of its secret is stored; the token is shown once, when issued."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("accounts.username"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    agency: Mapped[str | None] = mapped_column(ForeignKey("agencies.code"), default=None)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(200), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class WebSession(Base):
    """A browser session, keyed by the SHA-256 of the id in its cookie.

    ``mfa_passed`` is False while the session has passed the password step only: it
    then serves the TOTP step (or the enrolment) and nothing else. A session ends at
    ``expires_at``, after the idle timeout since ``last_seen_at``, or when revoked
    (logout, disable, reset).
    """

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("accounts.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    csrf_token: Mapped[str] = mapped_column(String(64))
    mfa_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
