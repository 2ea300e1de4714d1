"""Errors of the hub's accounts: signing in, sessions, API tokens and administration.

Authentication failures say as little as they can: an unknown user name and a wrong
password give the same :class:`InvalidCredentials`, and no message ever repeats a
password, a TOTP code, a recovery code, a token or a session id.
"""

from __future__ import annotations

from typing import ClassVar

from governance.errors import GovernanceError


class AuthenticationFailed(GovernanceError):
    """Who is asking could not be established; sign in again."""

    http_status = 401
    #: True when the service recorded the failure (count, lock, audit) before raising:
    #: commit the transaction, then report the error.
    keeps_changes: ClassVar[bool] = False


class InvalidCredentials(AuthenticationFailed):
    """The user name or the password is wrong; check both and try again (repeated
    failures lock the account for a while)."""

    code = "auth.invalid_credentials"
    keeps_changes = True


class AccountLocked(GovernanceError):
    """Too many failed sign-ins locked the account; wait until the lock ends or ask an
    LMIS administrator to unlock it."""

    code = "auth.locked"
    http_status = 403
    keeps_changes: ClassVar[bool] = True


class TotpInvalid(AuthenticationFailed):
    """The authenticator code is wrong, expired or already used; enter the current code
    from the authenticator app (repeated failures lock the account)."""

    code = "auth.totp_invalid"
    keeps_changes = True


class RecoveryCodeInvalid(AuthenticationFailed):
    """The recovery code is wrong or was already used; use another of your unused codes
    (repeated failures lock the account)."""

    code = "auth.recovery_code_invalid"
    keeps_changes = True


class TokenInvalid(AuthenticationFailed):
    """The API token is malformed or unknown; send the whole `lmis_…` token as issued."""

    code = "auth.token_invalid"


class TokenExpired(AuthenticationFailed):
    """The API token has expired; have a new one issued."""

    code = "auth.token_expired"


class TokenRevoked(AuthenticationFailed):
    """The API token was revoked (or its owner disabled); have a new one issued."""

    code = "auth.token_revoked"


class SessionInvalid(AuthenticationFailed):
    """The session is unknown, expired, idle too long or ended; sign in again."""

    code = "auth.session_invalid"


class TotpRequired(SessionInvalid):
    """The session has passed the password step only; enter the authenticator code (or
    enrol an authenticator, when asked) to finish signing in."""

    code = "auth.totp_required"


class CsrfInvalid(SessionInvalid):
    """The form's CSRF token is missing or does not match the session's; reload the page
    and submit again."""

    code = "auth.csrf_invalid"
    http_status = 403


class AccountUnknown(GovernanceError):
    """No account has this user name; check the name or create the account first."""

    code = "account.unknown"
    http_status = 404


class AccountExists(GovernanceError):
    """An account with this user name exists already; choose another name."""

    code = "account.exists"
    http_status = 409


class AccountInvalid(GovernanceError):
    """The account's user name, role, agency or display name is invalid; fix the named
    field (user names are 3-64 of a-z 0-9 . _ -, and only agency operators have an
    agency)."""

    code = "account.invalid"


class PasswordWeak(GovernanceError):
    """The new password breaks a password rule; choose a longer, less common one that
    does not contain the user name."""

    code = "account.password_weak"


class AccountDisabled(GovernanceError):
    """The account is disabled; ask an LMIS administrator to enable it."""

    code = "account.disabled"
    http_status = 403


class AccountForbidden(GovernanceError):
    """This account may not do that to accounts or tokens; ask an LMIS administrator."""

    code = "account.not_permitted"
    http_status = 403


class TokenUnknown(GovernanceError):
    """No API token has this id; list the tokens to find the right id."""

    code = "account.token_unknown"
    http_status = 404


class ExternalAccount(GovernanceError):
    """The account signs in with the identity provider, which holds its password, second
    factor and role; make the change at the provider."""

    code = "account.external"
    http_status = 409


class ExternalSignInRefused(GovernanceError):
    """The identity provider vouched for the person, but the hub does not let them in;
    read the code."""

    http_status = 403
    keeps_changes: ClassVar[bool] = True


class NoRoleFromGroups(ExternalSignInRefused):
    """None of the person's groups at the identity provider gives a hub role; ask the
    LMIS unit to add them to a group mapped in HUB_API__OIDC__ROLE_GROUPS."""

    code = "auth.oidc_no_role"


class AmbiguousRoleFromGroups(ExternalSignInRefused):
    """The person's groups at the identity provider give more than one hub role; ask the
    LMIS unit to leave them in the groups of one role only."""

    code = "auth.oidc_role_ambiguous"


class SecondFactorNotAttested(ExternalSignInRefused):
    """The role needs a second factor and the identity provider did not say one was used
    (no accepted `amr` value); sign in at the provider with your second factor."""

    code = "auth.oidc_mfa"


class ExternalAccountConflict(ExternalSignInRefused):
    """The user name given by the identity provider belongs to a hub account of someone
    else (a password account, or another person at the provider); ask the LMIS unit."""

    code = "auth.oidc_account_conflict"
