"""Accounts: administration, signing in (password, then TOTP when needed), web sessions
and API tokens. The sign-in and session steps are in :mod:`governance.accounts.sessions`,
signing in through an identity provider in :mod:`governance.accounts.external`.

Every change is audited in the caller's transaction. Failed attempts are counted in
that transaction too, and then the error is raised: when an error's ``keeps_changes``
is True, commit the transaction before reporting it, or the count (and so the lockout)
is lost with the rollback.

Who may administer: an enabled ``lmis_admin`` account, or the operator of the command
line (an actor that is no account: their login name, or ``cli``), who also makes the
first administrator. The API checks permissions before calling; these checks stand
behind it.
"""

from __future__ import annotations

import builtins
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.accounts.errors import (
    AccountDisabled,
    AccountExists,
    AccountForbidden,
    AccountInvalid,
    AccountUnknown,
    ExternalAccount,
    InvalidCredentials,
    PasswordWeak,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    TokenUnknown,
)
from governance.accounts.external import ExternalIdentity, ExternalSignIn
from governance.accounts.models import (
    ACCOUNT_ROLES,
    ADMIN_ROLE,
    AGENCY_ROLE,
    MFA_ROLES,
    RESERVED_USERNAMES,
    USERNAME,
    Account,
    ApiToken,
)
from governance.accounts.passwords import check_password, default_hasher, verify_password
from governance.accounts.sessions import (
    LoginStep,
    Principal,
    SignIn,
    TotpEnrolment,
    account_subject,
    revoke_sessions,
)
from governance.accounts.tokens import digest, digest_matches, new_token, parse_token, token_string
from governance.agencies.models import Agency
from governance.audit.services import AuditLog
from governance.keys.wrapping import KeyEncryptionKey
from governance.timestamps import Clock, iso

#: The actor name of the command line when no login name is given (no account has it).
CLI_ACTOR = "cli"
#: The longest an API token may live.
MAX_TOKEN_TTL = timedelta(days=730)


class AccountService(SignIn, ExternalSignIn):
    """Accounts, sign-in, sessions and API tokens (sign-in and sessions: :class:`SignIn`;
    signing in through an identity provider: :class:`ExternalSignIn`)."""

    def __init__(
        self,
        session: Session,
        *,
        clock: Clock,
        audit: AuditLog,
        kek: KeyEncryptionKey,
        max_failures: int = 5,
        lockout: timedelta = timedelta(minutes=15),
        session_ttl: timedelta = timedelta(hours=12),
        idle_timeout: timedelta = timedelta(minutes=30),
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.kek = kek
        self.max_failures = max_failures
        self.lockout = lockout
        self.session_ttl = session_ttl
        self.idle_timeout = idle_timeout
        self.hasher = hasher or default_hasher()

    # Administration ----------------------------------------------------------------

    def create(
        self,
        username: str,
        *,
        role: str,
        display_name: str,
        password: str,
        actor: str,
        agency: str | None = None,
        must_change_password: bool | None = None,
    ) -> Account:
        """A new account. By default its password must be changed at first sign-in when
        an administrator's account set it, not when the command line did."""
        self._authorise_admin(actor)
        if not USERNAME.match(username):
            raise AccountInvalid(
                "user name: 3-64 characters of a-z, 0-9, '.', '_' and '-', starting with a "
                "letter or a digit"
            )
        if username in RESERVED_USERNAMES:
            raise AccountInvalid(f"user name {username!r} is reserved for the hub itself")
        self._check_scope(role, agency)
        display_name = display_name.strip()
        if not 1 <= len(display_name) <= 200:
            raise AccountInvalid("display name: 1-200 characters")
        if self.session.get(Account, username) is not None:
            raise AccountExists(f"account {username!r} exists already")
        check_password(password, username=username)
        now = self.clock()
        must_change = (
            self.session.get(Account, actor) is not None
            if must_change_password is None
            else must_change_password
        )
        account = Account(
            username=username,
            display_name=display_name,
            role=role,
            agency=agency,
            password_hash=self.hasher.hash(password),
            password_changed_at=now,
            must_change_password=must_change,
            failed_logins=0,
            created_at=now,
            created_by=actor,
        )
        self.session.add(account)
        self.session.flush()
        self.audit.record(
            "account:create",
            actor,
            account_subject(username),
            {"role": role, "agency": agency, "must_change_password": must_change},
        )
        return account

    def get(self, username: str) -> Account:
        account = self.session.get(Account, username)
        if account is None:
            raise AccountUnknown(f"no account {username!r}")
        return account

    def disable(self, username: str, *, actor: str) -> None:
        """Disable the account; its sessions end and its tokens are revoked."""
        self._authorise_admin(actor)
        account = self.get(username)
        if account.disabled:
            return
        now = self.clock()
        account.disabled_at = now
        sessions = revoke_sessions(self.session, username, now=now)
        tokens = list(
            self.session.scalars(
                select(ApiToken).where(ApiToken.username == username, ApiToken.revoked_at.is_(None))
            )
        )
        for token in tokens:
            token.revoked_at = now
            token.revoked_by = actor
        self.session.flush()
        self.audit.record(
            "account:disable",
            actor,
            account_subject(username),
            {"sessions_ended": sessions, "tokens_revoked": len(tokens)},
        )

    def enable(self, username: str, *, actor: str) -> None:
        """Enable a disabled account (its revoked tokens stay revoked)."""
        self._authorise_admin(actor)
        account = self.get(username)
        if not account.disabled:
            return
        account.disabled_at = None
        self.session.flush()
        self.audit.record("account:enable", actor, account_subject(username), {})

    def reset(self, username: str, *, actor: str, password: str) -> None:
        """An administrator's reset: a new password to change at next sign-in, the TOTP
        enrolment and recovery codes removed, the lock lifted and every session ended."""
        self._authorise_admin(actor)
        account = self.get(username)
        if account.external:
            raise ExternalAccount(
                f"account {username!r} signs in with the identity provider: reset it there"
            )
        check_password(password, username=username)
        now = self.clock()
        account.password_hash = self.hasher.hash(password)
        account.password_changed_at = now
        account.must_change_password = True
        had_totp = account.totp_enrolled
        account.totp_confirmed_at = None
        account.totp_last_step = None
        account.failed_logins = 0
        account.locked_until = None
        self._delete_totp_secrets(username)
        self._delete_recovery_codes(username)
        sessions = revoke_sessions(self.session, username, now=now)
        self.session.flush()
        self.audit.record(
            "account:reset",
            actor,
            account_subject(username),
            {"totp_removed": had_totp, "sessions_ended": sessions},
        )

    def unlock(self, username: str, *, actor: str) -> None:
        """Lift a lock from failed sign-ins."""
        self._authorise_admin(actor)
        account = self.get(username)
        was_locked = account.locked_until is not None and account.locked_until > self.clock()
        account.failed_logins = 0
        account.locked_until = None
        self.session.flush()
        self.audit.record(
            "account:unlock", actor, account_subject(username), {"was_locked": was_locked}
        )

    def change_password(
        self, username: str, *, old: str, new: str, current_session: str | None = None
    ) -> None:
        """The account holder changes their password (the old one is checked and a wrong
        one counts as a failed sign-in). With ``current_session``, every other session of
        the account ends."""
        account = self.get(username)
        if account.external:
            raise ExternalAccount(
                f"account {username!r} signs in with the identity provider: its password is there"
            )
        now = self.clock()
        self._refuse_if_locked(account, now)
        if not verify_password(self.hasher, account.password_hash, old):
            self._fail(account, now, "password")
            raise InvalidCredentials("the current password is wrong")
        if account.disabled:
            raise AccountDisabled(f"account {username!r} is disabled")
        if new == old:
            raise PasswordWeak("the new password must differ from the current one")
        check_password(new, username=username)
        account.password_hash = self.hasher.hash(new)
        account.password_changed_at = now
        account.must_change_password = False
        ended = 0
        if current_session is not None:
            ended = revoke_sessions(self.session, username, now=now, keep=current_session)
        self.session.flush()
        self.audit.record(
            "account:password_change",
            username,
            account_subject(username),
            {"sessions_ended": ended},
        )

    # API tokens ---------------------------------------------------------------------

    def issue_token(
        self,
        owner: str,
        *,
        name: str,
        actor: str,
        ttl: timedelta = timedelta(days=90),
        role: str | None = None,
        agency: str | None = None,
    ) -> tuple[ApiToken, str]:
        """A new API token for ``owner``: the row and the token string, shown once.

        The token has the owner's role and agency unless ``role``/``agency`` say
        otherwise, which only an LMIS administrator's own tokens may (a machine client
        acting as one agency's operator, say). ``actor`` is the owner or an administrator.
        """
        account = self.get(owner)
        if actor != owner:
            self._authorise_admin(actor)
        if account.disabled:
            raise AccountDisabled(f"account {owner!r} is disabled")
        scope_role = account.role if role is None else role
        if agency is None and scope_role == account.role:
            agency = account.agency
        if (scope_role, agency) != (account.role, account.agency):
            if account.role != ADMIN_ROLE:
                raise AccountForbidden(
                    "only an LMIS administrator's tokens may have another role or agency"
                )
            self._check_scope(scope_role, agency)
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise AccountInvalid("token name: 1-100 characters")
        if not timedelta(0) < ttl <= MAX_TOKEN_TTL:
            raise AccountInvalid(f"a token lives more than 0 and at most {MAX_TOKEN_TTL.days} days")
        parts = new_token()
        while self.session.get(ApiToken, parts.id) is not None:
            parts = new_token()
        now = self.clock()
        row = ApiToken(
            id=parts.id,
            username=owner,
            name=name,
            role=scope_role,
            agency=agency,
            secret_hash=digest(parts.secret),
            created_at=now,
            created_by=actor,
            expires_at=now + ttl,
        )
        self.session.add(row)
        self.session.flush()
        self.audit.record(
            "api_token:issue",
            actor,
            f"api_token:{row.id}",
            {
                "owner": owner,
                "name": name,
                "role": scope_role,
                "agency": agency,
                "expires_at": iso(row.expires_at),
            },
        )
        return row, token_string(parts)

    def tokens(self, owner: str | None = None) -> builtins.list[ApiToken]:
        """Every token (of ``owner``), oldest first; revoked and expired ones included."""
        query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
        if owner is not None:
            query = query.where(ApiToken.username == owner)
        return list(self.session.scalars(query))

    def revoke_token(self, token_id: str, *, actor: str) -> None:
        """Revoke a token (its owner or an administrator may); revoking twice is a no-op."""
        row = self.session.get(ApiToken, token_id)
        if row is None:
            raise TokenUnknown(f"no API token {token_id!r}")
        if actor != row.username:
            self._authorise_admin(actor)
        if row.revoked_at is not None:
            return
        row.revoked_at = self.clock()
        row.revoked_by = actor
        self.session.flush()
        self.audit.record("api_token:revoke", actor, f"api_token:{row.id}", {"owner": row.username})

    def token_principal(self, token: str) -> Principal:
        """Who a bearer token acts for. Raises :class:`TokenInvalid`, :class:`TokenRevoked`
        (also when its owner is disabled) or :class:`TokenExpired`."""
        parts = parse_token(token)
        row = self.session.get(ApiToken, parts.id) if parts is not None else None
        if parts is None or row is None or not digest_matches(parts.secret, row.secret_hash):
            raise TokenInvalid("the API token is not valid")
        if row.revoked_at is not None:
            raise TokenRevoked(f"API token {row.id} was revoked")
        now = self.clock()
        if now >= row.expires_at:
            raise TokenExpired(f"API token {row.id} expired at {iso(row.expires_at)}")
        owner = self.get(row.username)
        if owner.disabled:
            raise TokenRevoked(f"the owner of API token {row.id} is disabled")
        row.last_used_at = now
        self.session.flush()
        return Principal(owner.username, row.role, row.agency, "token", token_id=row.id)

    # Helpers ------------------------------------------------------------------------

    def _authorise_admin(self, actor: str) -> None:
        """An account acting on accounts must be an enabled LMIS administrator. An actor
        that names no account is the operator of the command line (their login name, or
        ``cli``), trusted as whoever runs it holds the database and the KEK already."""
        account = self.session.get(Account, actor)
        if account is not None and (account.role != ADMIN_ROLE or account.disabled):
            raise AccountForbidden(f"{actor!r} is not an enabled LMIS administrator")

    def _check_scope(self, role: str, agency: str | None) -> None:
        if role not in ACCOUNT_ROLES:
            raise AccountInvalid(f"role {role!r} is not one of {', '.join(ACCOUNT_ROLES)}")
        if role == AGENCY_ROLE:
            if agency is None:
                raise AccountInvalid("an agency operator needs an agency")
            if self.session.get(Agency, agency) is None:
                raise AccountInvalid(f"agency {agency!r} is not registered")
        elif agency is not None:
            raise AccountInvalid(f"only agency operators have an agency, not the {role} role")

    def list(self) -> builtins.list[Account]:
        """Every account, by user name."""
        return builtins.list(self.session.scalars(select(Account).order_by(Account.username)))


__all__ = [
    "CLI_ACTOR",
    "MFA_ROLES",
    "AccountService",
    "ExternalIdentity",
    "LoginStep",
    "Principal",
    "TotpEnrolment",
]
