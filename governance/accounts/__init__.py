"""The hub's accounts: people who sign in with a password and, for most roles, a TOTP
code, or through the ministry's identity provider; their web sessions; and the API
tokens they (or an LMIS administrator) issue."""

from governance.accounts.external import ExternalIdentity
from governance.accounts.models import ACCOUNT_ROLES, MFA_ROLES
from governance.accounts.services import (
    AccountService,
    LoginStep,
    Principal,
    TotpEnrolment,
)

__all__ = [
    "ACCOUNT_ROLES",
    "MFA_ROLES",
    "AccountService",
    "ExternalIdentity",
    "LoginStep",
    "Principal",
    "TotpEnrolment",
]
