"""Signing in through an identity provider (OpenID Connect): the provider says who the
person is, which groups they are in and how they authenticated; the hub maps the groups
to one role, makes the account or brings it up to date at every sign-in (the provider
stays the source of truth for the role), and opens a complete session.

Nothing is guessed: no mapped group, or groups that give different roles, is a refusal,
and a role that needs a second factor needs the provider to attest one (an accepted
``amr`` value). A user name already held by a password account, or by another person at
the provider, is refused too. Every sign-in and every refusal is audited; a refusal is
recorded before it is raised, so commit the transaction before reporting it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.accounts.errors import (
    AccountDisabled,
    AccountInvalid,
    AmbiguousRoleFromGroups,
    ExternalAccountConflict,
    NoRoleFromGroups,
    SecondFactorNotAttested,
)
from governance.accounts.models import (
    MFA_ROLES,
    RESERVED_USERNAMES,
    USERNAME,
    Account,
    ApiToken,
)
from governance.accounts.sessions import LoginStep, account_subject, open_session
from governance.audit.services import AuditLog
from governance.errors import GovernanceError
from governance.timestamps import Clock

#: Stored instead of a password hash: not an Argon2 hash, so no password verifies.
NO_PASSWORD = "!external"  # noqa: S105 - a marker, not a secret
#: The audit actor of a refusal made before anyone is known (the hub's own name).
HUB_ACTOR = "hub"


@dataclass(frozen=True)
class ExternalIdentity:
    """What the identity provider vouched for, read from a validated id token."""

    provider: str  # the provider's issuer
    subject: str  # the person's ``sub`` at the provider: stable, never reassigned
    username: str  # as the provider gives it; lower-cased when used
    display_name: str | None
    groups: tuple[str, ...]
    methods: tuple[str, ...]  # the ``amr`` values: how the person authenticated


@dataclass(frozen=True, order=True)
class GroupRole:
    """A hub role (and, for an agency operator, the agency) that a group gives."""

    role: str
    agency: str | None = None

    @classmethod
    def parse(cls, value: str) -> GroupRole:
        """``lmis_admin`` or ``agency_operator:nis``."""
        role, _, agency = value.partition(":")
        return cls(role, agency or None)

    def __str__(self) -> str:
        return self.role if self.agency is None else f"{self.role}:{self.agency}"


def role_from_groups(
    groups: Iterable[str], role_groups: Mapping[str, str]
) -> tuple[GroupRole, tuple[str, ...]]:
    """The one role the person's groups give, and the groups that gave it. Raises
    :class:`NoRoleFromGroups` or :class:`AmbiguousRoleFromGroups`: several groups may
    map to the same role, never to different ones."""
    mapped = tuple(sorted({g for g in groups if g in role_groups}))
    if not mapped:
        raise NoRoleFromGroups("none of the person's groups at the provider maps to a hub role")
    roles = sorted({GroupRole.parse(role_groups[g]) for g in mapped})
    if len(roles) > 1:
        raise AmbiguousRoleFromGroups(
            f"the groups {', '.join(mapped)} give different roles: "
            f"{', '.join(str(r) for r in roles)}"
        )
    return roles[0], mapped


class ExternalSignIn:
    """The identity-provider half of sign-in, part of
    :class:`~governance.accounts.services.AccountService` (which sets these attributes)."""

    session: Session
    clock: Clock
    audit: AuditLog
    session_ttl: timedelta

    def _check_scope(self, role: str, agency: str | None) -> None:
        raise NotImplementedError  # AccountService's

    def external_sign_in(
        self,
        identity: ExternalIdentity,
        *,
        role_groups: Mapping[str, str],
        second_factors: Collection[str],
    ) -> LoginStep:
        """Sign in the person the provider vouched for: their role from their groups
        (``role_groups``: group -> ``role`` or ``agency_operator:<agency>``), a second
        factor proved by one of ``second_factors`` in their ``amr`` when the role needs
        one. The account is made, or its role, agency and name updated (a changed role
        or agency revokes its API tokens, which carry the old one). The session opened
        is complete. Refusals: :class:`NoRoleFromGroups`,
        :class:`AmbiguousRoleFromGroups`, :class:`SecondFactorNotAttested`,
        :class:`ExternalAccountConflict`, :class:`AccountInvalid` (a user name or a
        mapped role or agency the hub does not take), :class:`AccountDisabled`."""
        name = identity.username.strip().lower()
        mapped: tuple[str, ...] = ()
        try:
            scope, mapped = role_from_groups(identity.groups, role_groups)
            self._check_scope(scope.role, scope.agency)
            factors = _second_factor(identity.methods, scope.role, second_factors)
            _check_username(name)
            account, changes = self._provisioned(identity, name, scope, mapped)
        except GovernanceError as exc:
            self._refused(identity, name, exc, mapped)
            raise
        now = self.clock()
        row, session_id = open_session(
            self.session, name, now=now, ttl=self.session_ttl, mfa_passed=True
        )
        account.failed_logins = 0
        self.session.flush()
        details: dict[str, Any] = {
            "via": "oidc",
            "provider": identity.provider,
            "second_factor": "+".join(factors) or "none",
            "groups": list(mapped),
            "role": scope.role,
            "agency": scope.agency,
        }
        if changes:
            details["changed"] = changes
            details["tokens_revoked"] = self._revoke_stale_tokens(account, changes, now)
        self.audit.record("account:login", name, account_subject(name), details)
        return LoginStep(
            session_id=session_id,
            csrf_token=row.csrf_token,
            mfa_required=False,
            enrol_required=False,
        )

    def external_refusal(self, provider: str, reason: str) -> None:
        """Audit a sign-in at ``provider`` that ended before anyone was known (the
        provider's answer was refused, or it answered with an error)."""
        self.audit.record(
            "account:login_fail",
            HUB_ACTOR,
            f"identity_provider:{provider}",
            {"via": "oidc", "reason": reason},
        )

    # Helpers ------------------------------------------------------------------------

    def _provisioned(
        self, identity: ExternalIdentity, name: str, scope: GroupRole, groups: tuple[str, ...]
    ) -> tuple[Account, dict[str, list[str | None]]]:
        """The person's account, made or brought up to date, and what changed."""
        display_name = (identity.display_name or "").strip()[:200] or name
        account = self.session.get(Account, name)
        if account is None:
            return self._create(identity, name, scope, display_name, groups), {}
        if (account.identity_provider, account.external_subject) != (
            identity.provider,
            identity.subject,
        ):
            raise ExternalAccountConflict(f"the user name {name!r} belongs to another hub account")
        if account.disabled:
            raise AccountDisabled(f"account {name!r} is disabled")
        changes: dict[str, list[str | None]] = {}
        for field, value in (
            ("role", scope.role),
            ("agency", scope.agency),
            ("display_name", display_name),
        ):
            old = getattr(account, field)
            if old != value:
                changes[field] = [old, value]
                setattr(account, field, value)
        return account, changes

    def _create(
        self,
        identity: ExternalIdentity,
        name: str,
        scope: GroupRole,
        display_name: str,
        groups: tuple[str, ...],
    ) -> Account:
        same_person = self.session.scalars(
            select(Account).where(
                Account.identity_provider == identity.provider,
                Account.external_subject == identity.subject,
            )
        ).first()
        if same_person is not None:
            raise ExternalAccountConflict(
                f"this person has the hub account {same_person.username!r}; their user name "
                f"at the provider is now {name!r}"
            )
        now = self.clock()
        account = Account(
            username=name,
            display_name=display_name,
            role=scope.role,
            agency=scope.agency,
            password_hash=NO_PASSWORD,
            password_changed_at=now,
            must_change_password=False,
            failed_logins=0,
            created_at=now,
            created_by=f"oidc:{identity.provider}"[:200],
            identity_provider=identity.provider,
            external_subject=identity.subject,
        )
        self.session.add(account)
        self.session.flush()
        self.audit.record(
            "account:create",
            name,
            account_subject(name),
            {
                "via": "oidc",
                "provider": identity.provider,
                "role": scope.role,
                "agency": scope.agency,
                "groups": list(groups),
            },
        )
        return account

    def _revoke_stale_tokens(
        self, account: Account, changes: Mapping[str, object], now: datetime
    ) -> int:
        """A changed role or agency: the account's tokens carry the old one; revoke them."""
        if "role" not in changes and "agency" not in changes:
            return 0
        tokens = list(
            self.session.scalars(
                select(ApiToken).where(
                    ApiToken.username == account.username, ApiToken.revoked_at.is_(None)
                )
            )
        )
        for token in tokens:
            token.revoked_at = now
            token.revoked_by = HUB_ACTOR
        self.session.flush()
        return len(tokens)

    def _refused(
        self,
        identity: ExternalIdentity,
        name: str,
        error: GovernanceError,
        groups: tuple[str, ...],
    ) -> None:
        known = bool(USERNAME.match(name))
        self.audit.record(
            "account:login_fail",
            name if known else HUB_ACTOR,
            account_subject(name) if known else f"identity_provider:{identity.provider}",
            {
                "via": "oidc",
                "provider": identity.provider,
                "subject": identity.subject,
                "reason": error.code,
                "groups": list(groups),
                "groups_seen": len(identity.groups),
            },
        )


def _second_factor(
    methods: Collection[str], role: str, accepted: Collection[str]
) -> tuple[str, ...]:
    """The accepted second factors among ``methods``; none is a refusal for a role that
    needs one."""
    used = tuple(m for m in methods if m in accepted)
    if role in MFA_ROLES and not used:
        raise SecondFactorNotAttested(
            f"the {role} role needs a second factor and the provider attested none "
            f"(amr: {', '.join(methods) or 'none'})"
        )
    return used


def _check_username(name: str) -> None:
    if not USERNAME.match(name) or name in RESERVED_USERNAMES:
        raise AccountInvalid(
            "the user name given by the identity provider does not fit the hub's rule "
            "(3-64 characters of a-z, 0-9, '.', '_' and '-'); ask the LMIS unit"
        )
