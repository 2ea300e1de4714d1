"""Accounts (administered by the LMIS unit) and API tokens (each user their own; the
LMIS unit issues machine tokens for agency systems)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from governance.accounts.errors import TokenUnknown
from governance.accounts.services import Principal
from governance.accounts.views import account_view, token_view
from hub_api.http.auth import Require
from hub_api.http.unit import Unit, unit

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class NewAccount(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=200)
    role: str
    agency: str | None = None
    password: str = Field(min_length=1, max_length=1024)


class NewPassword(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    days: int | None = Field(None, ge=1, le=730)
    role: str | None = None
    agency: str | None = None


Admin = Annotated[Principal, Depends(Require("accounts:write"))]
Work = Annotated[Unit, Depends(unit, scope="function")]


@router.get("/accounts", summary="Every account")
def list_accounts(
    _: Annotated[Principal, Depends(Require("accounts:read"))], work: Work
) -> list[dict[str, Any]]:
    return [account_view(a) for a in work.accounts().list()]


@router.post("/accounts", status_code=201, summary="Create an account")
def create_account(body: NewAccount, admin: Admin, work: Work) -> dict[str, Any]:
    account = work.accounts().create(
        body.username,
        role=body.role,
        display_name=body.display_name,
        password=body.password,
        actor=admin.username,
        agency=body.agency,
    )
    return account_view(account)


@router.get("/accounts/{username}", summary="One account")
def show_account(
    username: str, _: Annotated[Principal, Depends(Require("accounts:read"))], work: Work
) -> dict[str, Any]:
    return account_view(work.accounts().get(username))


@router.post("/accounts/{username}/reset", summary="Reset password and second factor")
def reset_account(username: str, body: NewPassword, admin: Admin, work: Work) -> dict[str, Any]:
    work.accounts().reset(username, actor=admin.username, password=body.password)
    return account_view(work.accounts().get(username))


@router.post("/accounts/{username}/unlock", summary="Lift a lockout")
def unlock_account(username: str, admin: Admin, work: Work) -> dict[str, Any]:
    work.accounts().unlock(username, actor=admin.username)
    return account_view(work.accounts().get(username))


@router.post("/accounts/{username}/disable", summary="Disable (sessions and tokens end)")
def disable_account(username: str, admin: Admin, work: Work) -> dict[str, Any]:
    work.accounts().disable(username, actor=admin.username)
    return account_view(work.accounts().get(username))


@router.post("/accounts/{username}/enable", summary="Enable again")
def enable_account(username: str, admin: Admin, work: Work) -> dict[str, Any]:
    work.accounts().enable(username, actor=admin.username)
    return account_view(work.accounts().get(username))


Own = Annotated[Principal, Depends(Require("tokens:own"))]


@router.get("/tokens", summary="The API tokens one owns (every token, for the LMIS unit)")
def list_tokens(me: Own, work: Work) -> list[dict[str, Any]]:
    owner = None if me.role == "lmis_admin" else me.username
    return [token_view(t) for t in work.accounts().tokens(owner)]


@router.post("/tokens", status_code=201, summary="Issue an API token (shown once)")
def issue_token(body: NewToken, me: Own, work: Work) -> dict[str, Any]:
    days = body.days or work.settings.api.token_days
    row, secret = work.accounts().issue_token(
        me.username,
        name=body.name,
        actor=me.username,
        ttl=timedelta(days=days),
        role=body.role,
        agency=body.agency,
    )
    return token_view(row) | {"token": secret}


@router.delete("/tokens/{token_id}", summary="Revoke an API token")
def revoke_token(token_id: str, me: Own, work: Work) -> dict[str, Any]:
    accounts = work.accounts()
    mine = {t.id for t in accounts.tokens(me.username)}
    if me.role != "lmis_admin" and token_id not in mine:
        raise TokenUnknown(f"no token {token_id!r} of yours")
    accounts.revoke_token(token_id, actor=me.username)
    return {"id": token_id, "revoked": True}
