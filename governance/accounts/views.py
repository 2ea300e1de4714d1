"""What an account and an API token show people: the API and `lmis-hub users`."""

from __future__ import annotations

from typing import Any

from governance.accounts.models import Account, ApiToken


def account_view(a: Account) -> dict[str, Any]:
    return {
        "username": a.username,
        "display_name": a.display_name,
        "role": a.role,
        "agency": a.agency,
        "totp_enrolled": a.totp_confirmed_at is not None,
        "locked_until": a.locked_until.isoformat() if a.locked_until else None,
        "disabled": a.disabled_at is not None,
        "created_at": a.created_at.isoformat(),
        "created_by": a.created_by,
        "identity_provider": a.identity_provider,
    }


def token_view(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "owner": t.username,
        "role": t.role,
        "agency": t.agency,
        "created_at": t.created_at.isoformat(),
        "expires_at": t.expires_at.isoformat(),
        "revoked": t.revoked_at is not None,
        "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
    }
