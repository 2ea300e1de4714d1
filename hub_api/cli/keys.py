"""`lmis-hub keys …`: agency Ed25519 keys and the hub's own secrets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from connectors.sdk.handover import SealedLinkKey, open_link_key, seal_link_key
from connectors.sdk.linkkey import (
    LinkKey,
    load_link_key,
    read_link_key_id,
    write_link_key_file,
)
from governance.errors import KeyInvalid
from governance.keys.models import AgencyKey
from hub_api.cli.context import ACTOR_OPTION, file_errors, get_context, governance, parse_instant
from lmis_hub.errors import ConfigurationError
from lmis_hub.tokens import MAX_KEY_ID, MIN_KEY_ID
from lmis_hub.topics import HUB
from schemas.keys import (
    encrypted_private_pem,
    key_id_for,
    load_private_pem,
    load_public_pem,
    public_pem,
)

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
    with file_errors("--out", out, "make the folder"):
        out.mkdir(parents=True, exist_ok=True)
    # The names the connector configs expect (signing_key_file: …/<agency>.key.pem).
    private_path = out / f"{agency}.key.pem"
    public_path = out / f"{agency}.pub.pem"
    for existing in (private_path, public_path):
        if existing.exists():
            raise ConfigurationError(
                f"{existing} exists; keep the current key and write the new pair to another "
                f"folder (--out), then register it with `keys rotate`"
            )
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
            # ids are never cut: they are what the next command needs
            table.add_column(col, overflow="fold", min_width=20 if col == "key_id" else None)
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
        gov.agencies.ensure(HUB, actor=gov.actor)  # its public keys are registered under it
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


@app.command("export-hub-public")
def export_hub_public(
    ctx: typer.Context,
    out: Path = typer.Option(..., help="File to write (hub_public_key_file of the configs)."),
) -> None:
    """Write the hub's receipt-signing public key, which every agency's connector needs."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        hub = gov.secrets().hub_signing_key()
        key_id, pem = hub.key_id, public_pem(hub.private_key.public_key())
    with file_errors("--out", out, "write"):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(pem, encoding="ascii")
    data = {"key_id": key_id, "public_key": str(out)}
    cli.emit(data, lambda c: c.print(f"hub public key {key_id} written to {out}"))


# The linkage key K_link: made by a custodian, sealed to each agency, never at the hub.


def _link_passphrase(path: Path | None, *, confirm: bool) -> SecretStr:
    return SecretStr(read_passphrase(path, confirm=confirm).decode("utf-8"))


@app.command("link-generate")
def link_generate(
    ctx: typer.Context,
    out: Path = typer.Option(..., help="File for the custodian's encrypted copy."),
    key_id: int | None = typer.Option(
        None,
        min=MIN_KEY_ID,
        max=MAX_KEY_ID,
        help="Generation of the new key, which every token it makes carries; default: 1, "
        "or one more than the --previous key's.",
    ),
    previous: Path | None = typer.Option(
        None, help="The key file of the generation this one replaces (only its id is read)."
    ),
    passphrase_file: Path | None = typer.Option(
        None, help="File whose first line is the passphrase of the copy; default: prompt."
    ),
) -> None:
    """The key custodian makes a new linkage key K_link (never run this at the hub)."""
    cli = get_context(ctx)
    if out.exists():
        raise ConfigurationError(f"{out} exists; a linkage key is never overwritten")
    key_id = _next_key_id(key_id, previous)
    passphrase = _link_passphrase(passphrase_file, confirm=True)
    with file_errors("--out", out, "write"):
        out.parent.mkdir(parents=True, exist_ok=True)
        write_link_key_file(out, LinkKey.generate(key_id=key_id), passphrase)
    data = {"link_key_id": key_id, "file": str(out)}
    cli.emit(
        data,
        lambda c: c.print(f"linkage key generation {key_id} written (encrypted) to {out}"),
    )


def _next_key_id(key_id: int | None, previous: Path | None) -> int:
    """The new key's id: as given (above the previous one's), else the previous one + 1."""
    if previous is None:
        return MIN_KEY_ID if key_id is None else key_id
    before = read_link_key_id(previous)
    if key_id is None:
        if before >= MAX_KEY_ID:
            raise ConfigurationError(
                f"--previous {previous} is generation {before}, the last there can be"
            )
        return before + 1
    if key_id <= before:
        raise ConfigurationError(
            f"--key-id {key_id}: the new generation must be above the previous one's "
            f"({before} in {previous})"
        )
    return key_id


@app.command("link-seal")
def link_seal(
    ctx: typer.Context,
    link_key: Path = typer.Option(..., help="The custodian's encrypted linkage-key file."),
    agency: str = typer.Option(..., help="The agency the copy is for."),
    public_key: Path = typer.Option(..., help="That agency's registered public key (PEM)."),
    out: Path = typer.Option(..., help="File for the sealed copy, to hand to the agency."),
    passphrase_file: Path | None = typer.Option(
        None, help="Passphrase of the custodian's copy (first line); default: prompt."
    ),
) -> None:
    """Seal the linkage key to one agency: only that agency's private key opens it."""
    cli = get_context(ctx)
    key = load_link_key(link_key, _link_passphrase(passphrase_file, confirm=False))
    recipient = load_public_pem(_read_pem(public_key), where=str(public_key))
    sealed = seal_link_key(
        key,
        agency=agency,
        recipient_key_id=key_id_for(agency, recipient),
        recipient=recipient,
    )
    with file_errors("--out", out, "write"):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(sealed.to_bytes())
    data = {
        "agency": agency,
        "recipient_key_id": sealed.recipient_key_id,
        "link_key_id": sealed.link_key_id,
        "file": str(out),
        "sha256": sealed.digest,
    }
    cli.emit(
        data,
        lambda c: c.print(
            f"linkage key generation {data['link_key_id']} sealed to {agency} "
            f"({data['recipient_key_id']}) in {out}\n  sha256 {data['sha256']}\n"
            f"  at the hub: lmis-hub keys link-handover {out.name}"
        ),
    )


@app.command("link-open")
def link_open(
    ctx: typer.Context,
    sealed_file: Path = typer.Argument(..., help="The sealed copy from the custodian."),
    signing_key: Path = typer.Option(..., help="The agency's encrypted private key (PEM)."),
    out: Path = typer.Option(..., help="Linkage-key file to write (tokenise.link_key_file)."),
    passphrase_file: Path | None = typer.Option(
        None, help="Passphrase of the signing key (first line); default: prompt."
    ),
    link_passphrase_file: Path | None = typer.Option(
        None,
        help="Passphrase for the new linkage-key file (HUB_CONNECTOR__LINK_KEY_PASSPHRASE "
        "at run time); default: prompt.",
    ),
) -> None:
    """The agency opens its sealed copy and stores it encrypted for its connectors."""
    cli = get_context(ctx)
    if out.exists():
        raise ConfigurationError(f"{out} exists; move it away before installing a new key")
    sealed = _read_sealed(sealed_file)
    passphrase = read_passphrase(passphrase_file, confirm=False)
    try:
        pem = signing_key.read_bytes()
    except OSError as exc:
        raise KeyInvalid(f"--signing-key {signing_key}: cannot read ({exc.strerror})") from exc
    private = load_private_pem(pem, passphrase, where=str(signing_key))
    key = open_link_key(sealed, private, where=str(sealed_file))
    with file_errors("--out", out, "write"):
        out.parent.mkdir(parents=True, exist_ok=True)
        write_link_key_file(out, key, _link_passphrase(link_passphrase_file, confirm=True))
    data = {"agency": sealed.agency, "link_key_id": key.key_id, "file": str(out)}
    cli.emit(
        data,
        lambda c: c.print(
            f"linkage key generation {key.key_id} installed (encrypted) in {out}; the "
            f"connectors' tokens carry key id {key.key_id} once their "
            f"tokenise.link_key_file names it"
        ),
    )


@app.command("link-handover")
def link_handover(
    ctx: typer.Context,
    sealed_file: Path = typer.Argument(..., help="The sealed copy (the hub cannot open it)."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Record in the hub's audit log that a sealed linkage key was handed to an agency."""
    cli = get_context(ctx)
    sealed = _read_sealed(sealed_file)
    with governance(cli, actor) as gov:
        status = gov.keys.status(sealed.recipient_key_id)
        if status.agency != sealed.agency:
            raise KeyInvalid(
                f"{sealed_file}: sealed to key {sealed.recipient_key_id} of {status.agency}, "
                f"not of {sealed.agency}"
            )
        if status.state_at(gov.keys.clock()) != "valid":
            raise KeyInvalid(
                f"{sealed_file}: sealed to key {sealed.recipient_key_id}, which is "
                f"{status.state_at(gov.keys.clock())}; seal a copy to the agency's current key"
            )
        gov.keys.audit.record(
            "key:link_handover",
            gov.actor,
            f"agency:{sealed.agency}",
            {
                "link_key_id": sealed.link_key_id,
                "recipient_key_id": sealed.recipient_key_id,
                "sha256": sealed.digest,
            },
        )
    data = {"agency": sealed.agency, "link_key_id": sealed.link_key_id, "sha256": sealed.digest}
    cli.emit(
        data,
        lambda c: c.print(
            f"recorded: linkage key generation {data['link_key_id']} handed to {data['agency']}"
        ),
    )


def _read_sealed(path: Path) -> SealedLinkKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from exc
    return SealedLinkKey.from_bytes(data, where=str(path))
