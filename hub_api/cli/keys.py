"""`lmis-hub keys …`: agency Ed25519 keys and the hub's own secrets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table

from governance.errors import KeyInvalid
from governance.keys.material import encrypted_private_pem, key_id_for, public_pem
from governance.keys.models import AgencyKey
from hub_api.cli.context import get_context
from hub_api.cli.governance_wiring import ACTOR_OPTION, governance, parse_instant
from lmis_hub.errors import ConfigurationError

app = typer.Typer(help="Generate, register, rotate and revoke keys; create hub secrets.")


def read_passphrase(passphrase_file: Path | None, *, confirm: bool) -> bytes:
    """From the file (first line) or an interactive prompt; never from an argument."""
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigurationError(
                f"--passphrase-file {passphrase_file}: cannot read ({exc.strerror})"
            ) from exc
        if not text or not text[0]:
            raise KeyInvalid(f"--passphrase-file {passphrase_file}: the first line is empty")
        return text[0].encode("utf-8")
    value: str = typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    return value.encode("utf-8")


def key_row(k: AgencyKey) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "agency": k.agency,
        "not_before": k.not_before.isoformat(),
        "not_after": k.not_after.isoformat(),
        "superseded_by": k.superseded_by,
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        "revoked_reason": k.revoked_reason,
    }


def _read_pem(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyInvalid(f"{path}: cannot read a PEM public key ({exc})") from exc


@app.command()
def generate(
    ctx: typer.Context,
    agency: str = typer.Option(..., help="Agency code the key belongs to."),
    out: Path = typer.Option(..., help="Folder to write the key files to."),
    passphrase_file: Path | None = typer.Option(
        None, help="File whose first line is the passphrase; default: prompt."
    ),
) -> None:
    """Make an Ed25519 key pair: the private key encrypted (PKCS#8), the public key to register."""
    cli = get_context(ctx)
    passphrase = read_passphrase(passphrase_file, confirm=True)
    private = Ed25519PrivateKey.generate()
    key_id = key_id_for(agency, private.public_key())
    out.mkdir(parents=True, exist_ok=True)
    private_path = out / f"{key_id}.key.pem"
    public_path = out / f"{key_id}.pub.pem"
    private_path.touch(mode=0o600, exist_ok=False)
    private_path.write_bytes(encrypted_private_pem(private, passphrase))
    public_path.write_text(public_pem(private.public_key()), encoding="ascii")
    data = {"key_id": key_id, "private_key": str(private_path), "public_key": str(public_path)}
    cli.emit(
        data,
        lambda c: c.print(
            f"key [bold]{key_id}[/]\n  private (encrypted): {private_path}\n"
            f"  public (register it): {public_path}"
        ),
    )


@app.command()
def register(
    ctx: typer.Context,
    public_key: Path = typer.Argument(..., help="PEM file of the public key."),
    agency: str = typer.Option(..., help="Agency the key belongs to."),
    not_before: str | None = typer.Option(None, help="Valid from (ISO); default now."),
    not_after: str | None = typer.Option(None, help="Valid until (ISO); default two years."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Register an agency's public key."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        row = gov.keys.register(
            agency,
            _read_pem(public_key),
            actor=gov.actor,
            not_before=parse_instant(not_before, "--not-before"),
            not_after=parse_instant(not_after, "--not-after"),
        )
        data = key_row(row)
    cli.emit(data, lambda c: c.print(f"registered key [bold]{data['key_id']}[/] for {agency}"))


@app.command()
def rotate(
    ctx: typer.Context,
    public_key: Path = typer.Argument(..., help="PEM file of the new public key."),
    agency: str = typer.Option(..., help="Agency whose current key is replaced."),
    grace_hours: float = typer.Option(0.0, help="Hours the old key stays valid for signing."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Register a new key that supersedes the agency's current key(s)."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        row = gov.keys.rotate(
            agency, _read_pem(public_key), actor=gov.actor, grace=timedelta(hours=grace_hours)
        )
        data = key_row(row)
    cli.emit(data, lambda c: c.print(f"{agency} now signs with [bold]{data['key_id']}[/]"))


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: str = typer.Argument(..., help="The key to revoke."),
    reason: str = typer.Option(..., help="Why (recorded)."),
    at: str | None = typer.Option(None, help="Revocation time (ISO); default now."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Revoke a key: signatures made at or after the revocation time are invalid."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        row = gov.keys.revoke(key_id, reason=reason, actor=gov.actor, at=parse_instant(at, "--at"))
        data = key_row(row)
    cli.emit(data, lambda c: c.print(f"revoked [bold]{key_id}[/] at {data['revoked_at']}"))


@app.command("list")
def list_(
    ctx: typer.Context, agency: str | None = typer.Option(None, help="Only this agency.")
) -> None:
    """List registered keys and their state."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [key_row(k) for k in gov.keys.list(agency)]

    def draw(console: Console) -> None:
        table = Table(title="Agency keys")
        for col in ("key_id", "agency", "not_before", "not_after", "superseded_by", "revoked_at"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["key_id"],
                r["agency"],
                r["not_before"][:19],
                r["not_after"][:19],
                r["superseded_by"] or "",
                (r["revoked_at"] or "")[:19],
            )
        console.print(table)

    cli.emit(rows, draw)


@app.command("init-hub")
def init_hub(ctx: typer.Context, actor: str | None = ACTOR_OPTION) -> None:
    """Create the hub's signing key and pseudonymisation key if missing (needs the KEK)."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        gov.agencies.ensure_known(actor=gov.actor)
        versions = gov.secrets().initialise(actor=gov.actor)
    listed = ", ".join(f"{name} v{version}" for name, version in versions.items())
    cli.emit(versions, lambda c: c.print(f"hub secrets ready: {listed}"))


@app.command("rotate-hub")
def rotate_hub(
    ctx: typer.Context,
    which: str = typer.Argument(..., help="signing or pseudonymisation"),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Rotate one hub secret to a new version (old versions stay readable)."""
    cli = get_context(ctx)
    if which not in ("signing", "pseudonymisation"):
        raise ConfigurationError(f"which: {which!r} is not 'signing' or 'pseudonymisation'")
    with governance(cli, actor) as gov:
        store = gov.secrets()
        if which == "signing":
            version = store.rotate_signing_key(actor=gov.actor).version
        else:
            version = store.rotate_pseudonymisation_key(actor=gov.actor).version
    data = {"secret": which, "version": version}
    cli.emit(data, lambda c: c.print(f"{which} key is now version {version}"))
