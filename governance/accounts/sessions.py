"""Signing in and web sessions: the password step, the second factor (TOTP or a
recovery code), and the life of a session from its cookie to its end.

The cookie carries a random id; the table keeps its SHA-256 only, so a copy of the
database opens no session. A session ends at its absolute expiry, after the idle
timeout without a request, or when revoked. A session opened by the password step of
an account that needs a second factor is pending: it serves that step only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.accounts.errors import (
    AccountDisabled,
    AccountLocked,
    CsrfInvalid,
    ExternalAccount,
    InvalidCredentials,
    RecoveryCodeInvalid,
    SessionInvalid,
    TotpInvalid,
    TotpRequired,
)
from governance.accounts.models import USERNAME, Account, RecoveryCode, TotpSecret, WebSession
from governance.accounts.passwords import spend_verify_time, verify_password
from governance.accounts.tokens import digest, new_secret
from governance.accounts.totp import (
    matching_step,
    new_recovery_codes,
    provisioning_uri,
    recovery_code_digest,
)
from governance.accounts.totp import new_secret as new_totp_secret
from governance.audit.services import AuditLog
from governance.keys.wrapping import KeyEncryptionKey, SealedColumns, open_envelope, seal
from governance.timestamps import Clock, iso

_BAD_CREDENTIALS = "the user name or the password is wrong"


@dataclass(frozen=True)
class Principal:
    """Who is acting, as the API sees it."""

    username: str
    role: str
    agency: str | None
    via: Literal["session", "token", "cli"]
    token_id: str | None = None


@dataclass(frozen=True)
class LoginStep:
    """What the password step gives: the cookie's session id and what comes next."""

    session_id: str  # the raw id for the cookie, the only time it exists in clear
    csrf_token: str
    mfa_required: bool  # the session is pending until verify_totp / use_recovery_code
    enrol_required: bool  # the role needs TOTP and none is enrolled: the session may only enrol
    must_change_password: bool = False  # an administrator set the password: change it first

    def __repr__(self) -> str:
        return (
            f"LoginStep(mfa_required={self.mfa_required}, enrol_required={self.enrol_required}, "
            f"must_change_password={self.must_change_password})"
        )


@dataclass(frozen=True)
class TotpEnrolment:
    """A TOTP secret being enrolled, shown once."""

    secret: str  # base32
    uri: str  # otpauth:// provisioning URI (issuer "LMIS Hub")

    def __repr__(self) -> str:
        return "TotpEnrolment(...)"


def account_subject(username: str) -> str:
    """How the audit log names an account."""
    return f"account:{username}"


class SignIn:
    """The sign-in and session half of :class:`~governance.accounts.services.AccountService`
    (which sets these attributes)."""

    session: Session
    clock: Clock
    audit: AuditLog
    kek: KeyEncryptionKey
    hasher: PasswordHasher
    max_failures: int
    lockout: timedelta
    session_ttl: timedelta
    idle_timeout: timedelta

    def login(self, username: str, password: str) -> LoginStep:
        """The password step. Raises :class:`InvalidCredentials` (unknown user or wrong
        password, alike), :class:`AccountLocked` or :class:`AccountDisabled`. The session
        opened is complete, or pending the second factor when the account needs one."""
        name = username.strip().lower()
        account = self.session.get(Account, name) if USERNAME.match(name) else None
        if account is None or account.external:
            # An identity provider's account has no password: refused like a wrong one,
            # and not counted (the provider does the counting).
            spend_verify_time(self.hasher, password)
            raise InvalidCredentials(_BAD_CREDENTIALS)
        now = self.clock()
        # Refused before the password is checked: a lock must not confirm a guess.
        self._refuse_if_locked(account, now)
        if not verify_password(self.hasher, account.password_hash, password):
            self._fail(account, now, "password")
            raise InvalidCredentials(_BAD_CREDENTIALS)
        if account.disabled:
            raise AccountDisabled(f"account {name!r} is disabled")
        if self.hasher.check_needs_rehash(account.password_hash):
            account.password_hash = self.hasher.hash(password)
        mfa = account.mfa_required
        row, session_id = open_session(
            self.session, name, now=now, ttl=self.session_ttl, mfa_passed=not mfa
        )
        if not mfa:
            # With a second factor due, the count is reset only once it is passed, so
            # knowing the password does not buy unlimited guesses at the code.
            account.failed_logins = 0
            self.audit.record(
                "account:login",
                name,
                account_subject(name),
                {"via": "session", "second_factor": "none"},
            )
        self.session.flush()
        return LoginStep(
            session_id=session_id,
            csrf_token=row.csrf_token,
            mfa_required=mfa,
            enrol_required=mfa and not account.totp_enrolled,
            must_change_password=account.must_change_password,
        )

    def begin_enrolment(self, session_id: str) -> TotpEnrolment:
        """Start enrolling an authenticator: from a pending session whose account has none
        yet, or from a complete session (re-enrolment; the old one works until the new
        one is confirmed). The secret is stored unconfirmed."""
        row, account = self._enrolling(session_id)
        now = self.clock()
        self._delete_totp_secrets(account.username, unconfirmed_only=True)
        secret = new_totp_secret()
        secret_id = secrets.token_hex(16)
        envelope = seal(
            self.kek, secret.encode("ascii"), aad=_totp_aad(account.username, secret_id)
        )
        self.session.add(
            TotpSecret(
                id=secret_id,
                username=account.username,
                created_at=now,
                **SealedColumns.columns_of(envelope),
            )
        )
        row.last_seen_at = now
        self.session.flush()
        return TotpEnrolment(secret=secret, uri=provisioning_uri(secret, account.username))

    def confirm_enrolment(self, session_id: str, code: str) -> list[str]:
        """Confirm the enrolment with a code from the new authenticator: it replaces any
        older one, a pending session becomes complete, and ten fresh recovery codes
        (replacing the old) are returned, shown once."""
        row, account = self._enrolling(session_id)
        now = self.clock()
        pending = self.session.scalars(
            select(TotpSecret).where(
                TotpSecret.username == account.username, TotpSecret.confirmed_at.is_(None)
            )
        ).first()
        if pending is None:
            raise TotpInvalid("no authenticator enrolment is under way; start it again")
        step = matching_step(self._open_totp(pending), code, at=now, last_step=None)
        if step is None:
            raise TotpInvalid("the code does not match the new authenticator")
        re_enrolment = account.totp_enrolled
        self._delete_totp_secrets(account.username, keep=pending.id)
        self._delete_recovery_codes(account.username)
        pending.confirmed_at = now
        account.totp_confirmed_at = now
        account.totp_last_step = step
        codes = new_recovery_codes()
        self.session.add_all(
            RecoveryCode(
                username=account.username, code_hash=recovery_code_digest(c), created_at=now
            )
            for c in codes
        )
        self.session.flush()
        self.audit.record(
            "account:totp_enrol",
            account.username,
            account_subject(account.username),
            {"re_enrolment": re_enrolment, "recovery_codes": len(codes)},
        )
        if not row.mfa_passed:
            self._pass(row, account, now, "enrolment")
        return codes

    def verify_totp(self, session_id: str, code: str) -> None:
        """The second step: a pending session becomes complete with a valid code (each
        code is accepted once). A wrong code counts as a failed sign-in."""
        row, account = self._pending(session_id)
        now = self.clock()
        secret = self._confirmed_secret(account)
        if secret is None:
            raise TotpRequired("no authenticator is enrolled; enrol one to finish signing in")
        step = matching_step(secret, code, at=now, last_step=account.totp_last_step)
        if step is None:
            self._fail(account, now, "totp")
            raise TotpInvalid("the authenticator code is wrong, expired or already used")
        account.totp_last_step = step
        self._pass(row, account, now, "totp")

    def use_recovery_code(self, session_id: str, code: str) -> None:
        """The second step with a recovery code instead of TOTP; each code works once. A
        wrong code counts as a failed sign-in."""
        row, account = self._pending(session_id)
        if not account.totp_enrolled:
            raise TotpRequired("no authenticator is enrolled; enrol one to finish signing in")
        now = self.clock()
        wanted = recovery_code_digest(code)
        unused = list(
            self.session.scalars(
                select(RecoveryCode).where(
                    RecoveryCode.username == account.username, RecoveryCode.used_at.is_(None)
                )
            )
        )
        found = None
        for candidate in unused:  # every one compared, in constant time each
            if _same(wanted, candidate.code_hash) and found is None:
                found = candidate
        if found is None:
            self._fail(account, now, "recovery_code")
            raise RecoveryCodeInvalid("the recovery code is wrong or already used")
        found.used_at = now
        self._pass(row, account, now, "recovery_code", recovery_codes_left=len(unused) - 1)

    # Sessions -----------------------------------------------------------------------

    def session_principal(
        self, session_id: str, *, csrf: str | None = None, require_csrf: bool = False
    ) -> Principal:
        """Who a complete session acts for. Raises :class:`SessionInvalid` (unknown,
        expired, idle, ended, or its account disabled), :class:`TotpRequired` (a kind of
        SessionInvalid: pending the second factor) or :class:`CsrfInvalid` (when
        ``require_csrf`` and ``csrf`` is not the session's token)."""
        row, account = self._live(session_id)
        if not row.mfa_passed:
            raise TotpRequired("the session is waiting for the authenticator code")
        if require_csrf and (csrf is None or not _same(csrf, row.csrf_token)):
            raise CsrfInvalid("the CSRF token does not match the session")
        row.last_seen_at = self.clock()
        self.session.flush()
        return Principal(account.username, account.role, account.agency, "session")

    def pending_session(self, session_id: str) -> Account:
        """The account of a session waiting for its second factor (for the TOTP page)."""
        row, account = self._pending(session_id)
        row.last_seen_at = self.clock()
        self.session.flush()
        return account

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token of a live session, complete or pending."""
        row, _ = self._live(session_id)
        return row.csrf_token

    def logout(self, session_id: str) -> None:
        """End the session (nothing happens for an unknown or ended one)."""
        row = find_session(self.session, session_id)
        if row is None or row.revoked_at is not None:
            return
        row.revoked_at = self.clock()
        self.session.flush()
        self.audit.record("account:logout", row.username, account_subject(row.username), {})

    # Helpers ------------------------------------------------------------------------

    def _refuse_if_locked(self, account: Account, now: datetime) -> None:
        if account.locked_until is None:
            return
        if now < account.locked_until:
            raise AccountLocked(
                f"account {account.username!r} is locked until {iso(account.locked_until)}"
            )
        account.locked_until = None  # the lock has run out: a fresh set of attempts
        account.failed_logins = 0

    def _fail(self, account: Account, now: datetime, reason: str) -> None:
        """Count a failed attempt; at the limit, lock the account (raises AccountLocked)."""
        account.failed_logins += 1
        self.audit.record(
            "account:login_fail",
            account.username,
            account_subject(account.username),
            {"reason": reason, "failures": account.failed_logins},
        )
        if account.failed_logins < self.max_failures:
            self.session.flush()
            return
        account.locked_until = now + self.lockout
        ended = revoke_sessions(self.session, account.username, now=now, pending_only=True)
        self.session.flush()
        self.audit.record(
            "account:lock",
            account.username,
            account_subject(account.username),
            {
                "failures": account.failed_logins,
                "until": iso(account.locked_until),
                "pending_sessions_ended": ended,
            },
        )
        raise AccountLocked(
            f"account {account.username!r} is locked until {iso(account.locked_until)} after "
            f"{account.failed_logins} failed attempts"
        )

    def _live(self, session_id: str) -> tuple[WebSession, Account]:
        row = find_session(self.session, session_id)
        problem = session_problem(row, now=self.clock(), idle_timeout=self.idle_timeout)
        if problem is not None or row is None:
            raise SessionInvalid(problem or "no such session")
        account = self.session.get(Account, row.username)
        if account is None or account.disabled:
            raise SessionInvalid("the session's account is disabled")
        return row, account

    def _pending(self, session_id: str) -> tuple[WebSession, Account]:
        row, account = self._live(session_id)
        if row.mfa_passed:
            raise SessionInvalid("the session has already passed the second factor")
        self._refuse_if_locked(account, self.clock())
        return row, account

    def _enrolling(self, session_id: str) -> tuple[WebSession, Account]:
        row, account = self._live(session_id)
        if account.external:
            raise ExternalAccount("the identity provider holds this account's second factor")
        if not row.mfa_passed:
            self._refuse_if_locked(account, self.clock())
            if account.totp_enrolled:
                raise TotpRequired(
                    "enter the code of the enrolled authenticator first; re-enrol after "
                    "signing in (or ask an administrator to reset the account)"
                )
        return row, account

    def _pass(
        self, row: WebSession, account: Account, now: datetime, factor: str, **details: int
    ) -> None:
        row.mfa_passed = True
        row.last_seen_at = now
        account.failed_logins = 0
        self.session.flush()
        self.audit.record(
            "account:login",
            account.username,
            account_subject(account.username),
            {"via": "session", "second_factor": factor, **details},
        )

    def _open_totp(self, row: TotpSecret) -> str:
        aad = _totp_aad(row.username, row.id)
        return open_envelope(self.kek, row.envelope(), aad=aad).decode("ascii")

    def _delete_totp_secrets(
        self, username: str, *, keep: str | None = None, unconfirmed_only: bool = False
    ) -> None:
        query = select(TotpSecret).where(TotpSecret.username == username)
        if keep is not None:
            query = query.where(TotpSecret.id != keep)
        if unconfirmed_only:
            query = query.where(TotpSecret.confirmed_at.is_(None))
        for row in self.session.scalars(query):
            self.session.delete(row)
        self.session.flush()

    def _delete_recovery_codes(self, username: str) -> None:
        for row in self.session.scalars(
            select(RecoveryCode).where(RecoveryCode.username == username)
        ):
            self.session.delete(row)
        self.session.flush()

    def _confirmed_secret(self, account: Account) -> str | None:
        row = self.session.scalars(
            select(TotpSecret).where(
                TotpSecret.username == account.username, TotpSecret.confirmed_at.is_not(None)
            )
        ).first()
        return None if row is None else self._open_totp(row)


def open_session(
    db: Session, username: str, *, now: datetime, ttl: timedelta, mfa_passed: bool
) -> tuple[WebSession, str]:
    """A new session row and the raw id for the cookie (the only time it exists in clear)."""
    session_id = new_secret()
    row = WebSession(
        id_hash=digest(session_id),
        username=username,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ttl,
        csrf_token=new_secret(),
        mfa_passed=mfa_passed,
    )
    db.add(row)
    return row, session_id


def find_session(db: Session, session_id: str) -> WebSession | None:
    """The session whose cookie id is ``session_id`` (None when there is none)."""
    if not session_id:
        return None
    return db.get(WebSession, digest(session_id))


def session_problem(
    row: WebSession | None, *, now: datetime, idle_timeout: timedelta
) -> str | None:
    """Why the session cannot be used (None: it can, as far as time and revocation go)."""
    if row is None:
        return "no such session"
    if row.revoked_at is not None:
        return "the session has ended"
    if now >= row.expires_at:
        return "the session has expired"
    if now - row.last_seen_at >= idle_timeout:
        return "the session was idle too long"
    return None


def revoke_sessions(
    db: Session,
    username: str,
    *,
    now: datetime,
    keep: str | None = None,
    pending_only: bool = False,
) -> int:
    """End the account's open sessions (all of them, all but the one whose cookie id is
    ``keep``, or only those still waiting for the second factor); returns how many.

    Row by row rather than one bulk UPDATE, so that session objects already loaded in
    ``db`` see the change too (an account has a handful of sessions)."""
    query = select(WebSession).where(
        WebSession.username == username, WebSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(WebSession.id_hash != digest(keep))
    if pending_only:
        query = query.where(WebSession.mfa_passed.is_(False))
    rows = list(db.scalars(query))
    for row in rows:
        row.revoked_at = now
    return len(rows)


def _totp_aad(username: str, secret_id: str) -> bytes:
    return f"totp:{username}:{secret_id}".encode()


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
