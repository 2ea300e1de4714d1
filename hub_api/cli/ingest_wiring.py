"""Wiring of the ingest worker for CLI commands (`ingest run`, `quarantine replay`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from governance.agencies.services import registered_codes
from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog, CheckpointPolicy
from governance.keys.secrets import HubSecrets
from governance.keys.services import KeyService
from governance.keys.wrapping import KeyEncryptionKey
from governance.timestamps import utc_now
from integration.ingest.agreement_notices import AgreementNoticeSender
from integration.ingest.ledger import Ledger
from integration.ingest.loop import GroupLimits, Subscription
from integration.ingest.rekey import TokenRekeyer
from integration.ingest.worker import IngestWorker
from integration.lake.catalog import open_catalog
from lmis_hub.settings import Settings
from lmis_hub.topics import delivery_pattern
from schemas.catalog import SchemaCatalog
from schemas.signing import Signer

ACTOR = "ingest"


def build_worker(
    session: Session, settings: Settings, *, actor: str = ACTOR
) -> tuple[IngestWorker, KeyEncryptionKey]:
    """The worker on ``session`` with the hub secrets, the lake and the settings."""
    kek = KeyEncryptionKey.from_setting(settings.key_encryption_key)
    audit = AuditLog(session, clock=utc_now)
    keys = KeyService(session, clock=utc_now, audit=audit)
    secrets = HubSecrets(session, kek=kek, keys=keys, clock=utc_now, audit=audit)
    hub_key = secrets.hub_signing_key()
    audit.checkpoints = CheckpointPolicy(
        every_entries=settings.audit.checkpoint_every_entries,
        every_s=settings.audit.checkpoint_every_s,
        signer=lambda: hub_key,
        actor=actor,
    )
    k_hub = secrets.pseudonymisation_key()
    session.commit()
    worker = IngestWorker(
        session,
        schemas=SchemaCatalog.load(extra_dir=settings.schemas.extra_dir),
        lake=open_catalog(
            database_url=settings.database_url_value(),
            warehouse=settings.lake_warehouse,
            lake=settings.lake,
        ),
        keys=keys,
        agreements=AgreementService(session, clock=utc_now, audit=audit, keys=keys),
        audit=audit,
        ledger=Ledger(session, kek=kek),
        rekeyer=TokenRekeyer(k_hub.key, version=k_hub.version),
        signer=Signer(hub_key.key_id, hub_key.private_key),
        clock=utc_now,
        max_skew=timedelta(seconds=settings.envelope.max_clock_skew_s),
        max_message_bytes=settings.envelope.max_message_bytes,
        max_age=timedelta(seconds=settings.envelope.max_producer_age_s),
        actor=actor,
        commit_attempts=settings.ingest.commit_attempts,
        commit_backoff_s=settings.ingest.commit_backoff_ms / 1000,
    )
    return worker, kek


def group_limits(settings: Settings) -> GroupLimits:
    return GroupLimits(
        max_messages=settings.ingest.max_group_messages,
        max_records=settings.ingest.max_group_records,
        max_wait_s=settings.ingest.max_group_wait_ms / 1000,
    )


def subscription(engine: Engine, settings: Settings) -> Subscription:
    """The dataset topics of the agencies registered in the hub database, looked up
    again every ``HUB_INGEST__AGENCY_REFRESH_S`` seconds."""

    def pattern() -> str:
        with Session(engine) as session:
            return delivery_pattern(registered_codes(session))

    return Subscription(pattern, refresh_s=settings.ingest.agency_refresh_s)


def worker_notice_sender(worker: IngestWorker, *, actor: str = ACTOR) -> AgreementNoticeSender:
    """The agreement-notice sender of a running worker: its session, audit writer,
    agreements, catalog and hub signing key."""
    return AgreementNoticeSender(
        worker.session,
        agreements=worker.agreements,
        schemas=worker.schemas,
        signer=worker.recorder.signer,
        clock=worker.clock,
        actor=actor,
    )


def build_notice_sender(
    session: Session, settings: Settings, *, actor: str = ACTOR
) -> AgreementNoticeSender:
    """An agreement-notice sender on ``session`` with the hub signing key (no lake), for
    `lmis-hub ingest notices`."""
    kek = KeyEncryptionKey.from_setting(settings.key_encryption_key)
    audit = AuditLog(session, clock=utc_now)
    keys = KeyService(session, clock=utc_now, audit=audit)
    hub_key = HubSecrets(session, kek=kek, keys=keys, clock=utc_now, audit=audit).hub_signing_key()
    audit.checkpoints = CheckpointPolicy(
        every_entries=settings.audit.checkpoint_every_entries,
        every_s=settings.audit.checkpoint_every_s,
        signer=lambda: hub_key,
        actor=actor,
    )
    session.commit()
    return AgreementNoticeSender(
        session,
        agreements=AgreementService(session, clock=utc_now, audit=audit, keys=keys),
        schemas=SchemaCatalog.load(),
        signer=Signer(hub_key.key_id, hub_key.private_key),
        clock=utc_now,
        actor=actor,
    )
