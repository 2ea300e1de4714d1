"""Wiring of the governance services for CLI commands: one database session and one
transaction per command, so a command's change and its audit entry commit together."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import typer
from sqlalchemy.orm import Session

from governance.agencies.services import AgencyService
from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog, CheckpointPolicy
from governance.db import make_engine, migrate
from governance.errors import SecretMissing
from governance.keys.secrets import HubSecrets, HubSigningKey
from governance.keys.services import KeyService
from governance.keys.wrapping import KeyEncryptionKey
from governance.timestamps import utc_now
from hub_api.cli.context import CliContext
from lmis_hub.errors import ConfigurationError

ACTOR_OPTION = typer.Option(
    None, "--actor", help="Who acts (recorded in the audit log); default: your login name."
)


@dataclass
class Governance:
    cli: CliContext
    session: Session
    actor: str
    audit: AuditLog
    agencies: AgencyService
    keys: KeyService
    agreements: AgreementService

    def secrets(self) -> HubSecrets:
        kek = KeyEncryptionKey.from_setting(self.cli.settings.key_encryption_key)
        return HubSecrets(self.session, kek=kek, keys=self.keys, clock=utc_now, audit=self.audit)

    def hub_signer(self) -> HubSigningKey | None:
        """The hub signing key for automatic audit checkpoints; None before `keys init-hub`
        or without the KEK (the entries then wait for a command that has it)."""
        if self.cli.settings.key_encryption_key is None:
            return None
        try:
            return self.secrets().hub_signing_key()
        except SecretMissing:
            return None


@contextmanager
def governance(cli: CliContext, actor: str | None) -> Iterator[Governance]:
    """Services on one session; commits when the command body returns."""
    engine = make_engine(cli.settings.database_url_value())
    try:
        migrate(engine)
        with Session(engine) as session, session.begin():
            audit = AuditLog(session, clock=utc_now)
            keys = KeyService(session, clock=utc_now, audit=audit)
            gov = Governance(
                cli=cli,
                session=session,
                actor=actor or getpass.getuser(),
                audit=audit,
                agencies=AgencyService(session, clock=utc_now, audit=audit),
                keys=keys,
                agreements=AgreementService(
                    session, clock=utc_now, audit=audit, keys=keys, schemas=cli.catalog()
                ),
            )
            audit.checkpoints = CheckpointPolicy(
                every_entries=cli.settings.audit.checkpoint_every_entries,
                every_s=cli.settings.audit.checkpoint_every_s,
                signer=gov.hub_signer,
                actor=gov.actor,
            )
            yield gov
    finally:
        engine.dispose()


def parse_instant(value: str | None, option: str) -> datetime | None:
    """An ISO date or date-time; without a timezone it is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigurationError(f"{option}: {value!r} is not an ISO date or date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
