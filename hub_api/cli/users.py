"""`lmis-hub users …`: accounts on the hub's own machine — the first administrator, and
a way back in when nobody can sign in. Everything else is done through the API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from governance.accounts.views import account_view
from hub_api.cli.agreements import table
from hub_api.cli.context import ACTOR_OPTION, file_errors, get_context, governance
from hub_api.wiring import accounts
from lmis_hub.errors import ConfigurationError

app = typer.Typer(help="Accounts of the hub: create, list, reset, unlock, disable, tokens.")

PASSWORD_FILE = typer.Option(
    None, "--password-file", help="Read the password from this file's first line (default: prompt)."
)


def _password(path: Path | None, *, confirm: bool = True) -> str:
    """From the file's first line or a hidden prompt; never from an argument."""
    if path is None:
        value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
        return value
    with file_errors("--password-file", path, "read"):
        lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0]:
        raise ConfigurationError(f"--password-file {path.name}: the first line is empty")
    return lines[0]


COLUMNS = (
    "username",
    "display_name",
    "role",
    "agency",
    "totp_enrolled",
    "locked_until",
    "disabled",
)


@app.command()
def create(
    ctx: typer.Context,
    username: str = typer.Argument(
        ..., help="Sign-in name: 3-64 lower-case letters, digits, . _ -"
    ),
    role: str = typer.Option(
        ...,
        help="lmis_admin, lmis_analyst, agency_operator, researcher, "
        "output_checker, steering_member or auditor.",
    ),
    name: str = typer.Option(..., "--name", help="The person's name, as shown to others."),
    agency: str | None = typer.Option(None, help="The agency of an agency_operator."),
    password_file: Path | None = PASSWORD_FILE,
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Create an account; roles that need a second factor enrol it at first sign-in."""
    cli = get_context(ctx)
    password = _password(password_file)
    with governance(cli, actor) as gov:
        row = accounts(gov).create(
            username,
            role=role,
            display_name=name,
            password=password,
            actor=gov.actor,
            agency=agency,
        )
        data = account_view(row)
    cli.emit(data, lambda c: c.print(f"account {data['username']} ({data['role']}) created"))


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every account."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [account_view(a) for a in accounts(gov).list()]
    cli.emit(rows, table("accounts", rows, COLUMNS))


@app.command()
def reset(
    ctx: typer.Context,
    username: str,
    password_file: Path | None = PASSWORD_FILE,
    actor: str | None = ACTOR_OPTION,
) -> None:
    """New password (to be changed at next sign-in); the second factor and recovery codes
    are cleared, so the user enrols again; sessions end."""
    cli = get_context(ctx)
    password = _password(password_file)
    with governance(cli, actor) as gov:
        accounts(gov).reset(username, actor=gov.actor, password=password)
    cli.emit({"username": username, "reset": True}, lambda c: c.print(f"{username} reset"))


def _simple(ctx: typer.Context, method: str, username: str, actor: str | None, said: str) -> None:
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        getattr(accounts(gov), method)(username, actor=gov.actor)
    cli.emit({"username": username, method: True}, lambda c: c.print(f"{username} {said}"))


@app.command()
def unlock(ctx: typer.Context, username: str, actor: str | None = ACTOR_OPTION) -> None:
    """Lift a lockout after too many failed sign-ins."""
    _simple(ctx, "unlock", username, actor, "unlocked")


@app.command()
def disable(ctx: typer.Context, username: str, actor: str | None = ACTOR_OPTION) -> None:
    """Disable an account: its sessions and API tokens end at once."""
    _simple(ctx, "disable", username, actor, "disabled")


@app.command()
def enable(ctx: typer.Context, username: str, actor: str | None = ACTOR_OPTION) -> None:
    """Enable a disabled account again."""
    _simple(ctx, "enable", username, actor, "enabled")


@app.command("token")
def token(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="The token's owner."),
    name: str = typer.Option(..., "--name", help="What the token is for (e.g. nis-airflow)."),
    days: int = typer.Option(90, min=1, max=730, help="Days until it expires."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Issue an API token for an account (printed once; only its hash is kept)."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        row, secret = accounts(gov).issue_token(
            username, name=name, actor=gov.actor, ttl=timedelta(days=days)
        )
        data = {"id": row.id, "owner": username, "expires_at": row.expires_at.isoformat()}
    cli.emit(
        data | {"token": secret},
        lambda c: c.print(f"token {data['id']} (shown once, keep it secret):\n{secret}"),
    )


@app.command("revoke-token")
def revoke_token(ctx: typer.Context, token_id: str, actor: str | None = ACTOR_OPTION) -> None:
    """Revoke an API token by its id."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        accounts(gov).revoke_token(token_id, actor=gov.actor)
    cli.emit({"id": token_id, "revoked": True}, lambda c: c.print(f"token {token_id} revoked"))
