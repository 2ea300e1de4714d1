"""The composition root: every hub service built from the settings, in one place.

The CLI, the demo and the benchmarks (and later the HTTP API and the DAG tasks) take
their services from here, so they are wired one way: the same clock, the same audit
writer with its checkpoint policy, the same schema catalog (the packaged schemas and
``HUB_SCHEMAS__EXTRA_DIR``), the same lake catalog. Nothing here reads the
environment: callers pass the :class:`~lmis_hub.settings.Settings` they loaded once.

* :func:`database` — an engine on the hub database, migrated;
* :func:`governance` / :func:`governance_session` — agencies, keys, agreements and the
  audit log on one session (one transaction per unit of work);
* :func:`activate_agreement` — an agreement put in force in one step (create or amend,
  every party signs, activate), for the set-ups that need one: benchmarks and tests;
* :func:`ingest_worker`, :func:`group_limits`, :func:`subscription`,
  :func:`notice_sender` — the ingest side;
* :func:`connector_kit` — what a connector run needs from its config and the settings;
* :func:`linkage_job` — the linkage run over bronze into silver;
* :func:`accounts` — accounts, sign-in and API tokens (the HTTP API, `lmis-hub users`);
* :func:`research` — research access (projects, approvals, project keys) on the
  governance services of one session; :func:`research_extracts` — their extracts;
  :func:`airlock` — outputs checked before they leave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from pyiceberg.catalog import Catalog as LakeCatalog
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from connectors.sdk.kit import ConnectorKit
from governance.accounts.services import AccountService
from governance.agencies.services import AgencyService, registered_codes
from governance.agreements.document import AgreementDocument
from governance.agreements.models import Agreement
from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog, CheckpointPolicy, CheckpointSigner
from governance.db import make_engine, migrate
from governance.errors import SecretMissing
from governance.keys.secrets import HubSecrets, HubSigningKey
from governance.keys.services import KeyService
from governance.keys.wrapping import KeyEncryptionKey
from governance.policy.services import PolicyService
from governance.research.services import ResearchService
from governance.timestamps import Clock, utc_now
from integration.indicators.definition import Definition, load_definitions
from integration.indicators.release import ReleaseService
from integration.ingest.agreement_notices import AgreementNoticeSender
from integration.ingest.ledger import Ledger
from integration.ingest.loop import GroupLimits, Subscription
from integration.ingest.rekey import TokenRekeyer
from integration.ingest.worker import IngestWorker
from integration.lake.catalog import open_catalog
from integration.linkage.job import LinkageJob
from integration.linkage.model import ModelSettings
from integration.research.airlock import AIRLOCK_FOLDER, Airlock
from integration.research.job import ExtractService, end_extracts
from integration.research.workspace import Workspace
from lmis_hub.settings import Settings
from lmis_hub.topics import delivery_pattern
from schemas.catalog import SchemaCatalog
from schemas.signing import Signer

INGEST_ACTOR = "ingest"


def schema_catalog(settings: Settings) -> SchemaCatalog:
    """The packaged schemas and those of ``HUB_SCHEMAS__EXTRA_DIR``."""
    return SchemaCatalog.load(extra_dir=settings.schemas.extra_dir)


def database(settings: Settings) -> Engine:
    """An engine on the hub database, migrated to the current schema."""
    engine = make_engine(settings.database_url_value())
    migrate(engine)
    return engine


def lake_catalog(settings: Settings) -> LakeCatalog:
    """The lake's Iceberg catalog (in the hub database) with its warehouse."""
    return open_catalog(
        database_url=settings.database_url_value(),
        warehouse=settings.lake_warehouse,
        lake=settings.lake,
    )


def _checkpoints(
    settings: Settings, signer: Callable[[], CheckpointSigner | None], actor: str
) -> CheckpointPolicy:
    return CheckpointPolicy(
        every_entries=settings.audit.checkpoint_every_entries,
        every_s=settings.audit.checkpoint_every_s,
        signer=signer,
        actor=actor,
    )


@dataclass(frozen=True)
class _HubSigned:
    """The services of a writer that holds the hub's secrets (the ingest worker, the
    notice sender): its audit log signs checkpoints with the hub key."""

    kek: KeyEncryptionKey
    audit: AuditLog
    keys: KeyService
    secrets: HubSecrets
    hub_key: HubSigningKey

    @classmethod
    def on(cls, session: Session, settings: Settings, actor: str) -> _HubSigned:
        kek = KeyEncryptionKey.from_setting(settings.key_encryption_key)
        audit = AuditLog(session, clock=utc_now)
        keys = KeyService(session, clock=utc_now, audit=audit)
        secrets = HubSecrets(session, kek=kek, keys=keys, clock=utc_now, audit=audit)
        hub_key = secrets.hub_signing_key()
        audit.checkpoints = _checkpoints(settings, lambda: hub_key, actor)
        return cls(kek, audit, keys, secrets, hub_key)

    @property
    def signer(self) -> Signer:
        return Signer(self.hub_key.key_id, self.hub_key.private_key)


@dataclass
class Governance:
    """The governance services on one session, acting as ``actor``."""

    settings: Settings
    session: Session
    actor: str
    audit: AuditLog
    agencies: AgencyService
    keys: KeyService
    agreements: AgreementService
    clock: Clock = field(default=utc_now)

    def secrets(self) -> HubSecrets:
        """The hub's own secrets (needs ``HUB_KEY_ENCRYPTION_KEY``)."""
        kek = KeyEncryptionKey.from_setting(self.settings.key_encryption_key)
        return HubSecrets(self.session, kek=kek, keys=self.keys, clock=self.clock, audit=self.audit)

    def hub_signer(self) -> HubSigningKey | None:
        """The hub signing key for automatic audit checkpoints; None before `keys init-hub`
        or without the KEK (the entries then wait for a command that has it)."""
        if self.settings.key_encryption_key is None:
            return None
        try:
            return self.secrets().hub_signing_key()
        except SecretMissing:
            return None


def governance(
    session: Session,
    settings: Settings,
    *,
    actor: str,
    clock: Clock = utc_now,
    schemas: SchemaCatalog | None = None,
) -> Governance:
    """Agencies, keys, agreements (checked against the schema catalog: ``schemas``, or
    loaded from the settings) and the audit log on ``session``; the audit log signs its
    own checkpoints when the KEK is at hand. A long-running caller (the API) passes the
    catalog it loaded once instead of reading the schema files for every unit of work."""
    audit = AuditLog(session, clock=clock)
    keys = KeyService(session, clock=clock, audit=audit)
    gov = Governance(
        settings=settings,
        session=session,
        actor=actor,
        audit=audit,
        agencies=AgencyService(session, clock=clock, audit=audit),
        keys=keys,
        agreements=AgreementService(
            session,
            clock=clock,
            audit=audit,
            keys=keys,
            schemas=schemas or schema_catalog(settings),
        ),
        clock=clock,
    )
    audit.checkpoints = _checkpoints(settings, gov.hub_signer, actor)
    return gov


@contextmanager
def governance_session(settings: Settings, *, actor: str) -> Iterator[Governance]:
    """:func:`governance` on a fresh session of the migrated hub database, in one
    transaction that commits when the block ends (and rolls back if it raises)."""
    engine = database(settings)
    try:
        with Session(engine) as session, session.begin():
            yield governance(session, settings, actor=actor)
    finally:
        engine.dispose()


@contextmanager
def governance_in_steps(settings: Settings, *, actor: str) -> Iterator[Governance]:
    """Like :func:`governance_session`, but the service may commit between its steps:
    one that writes the lake catalog ends its reads first, because on SQLite the catalog
    shares the hub database's file and a read transaction left open would lock it out.
    What is left uncommitted when the block ends is committed then (rolled back if it
    raises)."""
    engine = database(settings)
    try:
        with Session(engine) as session:
            try:
                yield governance(session, settings, actor=actor)
                session.commit()
            except BaseException:
                session.rollback()
                raise
    finally:
        engine.dispose()


def activate_agreement(
    agreements: AgreementService,
    doc: AgreementDocument,
    signers: Mapping[str, Signer | HubSigningKey],
    *,
    actor: str,
    reason: str,
    amend: bool = False,
) -> Agreement:
    """Store ``doc`` (with ``amend``, as the next version of its agreement), sign it with
    the key of each party in ``signers`` (agency -> its key) and activate it: what
    `lmis-hub agreements create`, `sign` (once per party) and `activate` do one command
    at a time, for a benchmark or a test that needs the agreement in force."""
    row = (agreements.amend if amend else agreements.create)(doc, actor=actor)
    for agency, signer in signers.items():
        agreements.sign_with(
            row.id,
            row.version,
            agency=agency,
            key_id=signer.key_id,
            private_key=signer.private_key,
            actor=agency,
        )
    return agreements.activate(row.id, row.version, actor=actor, reason=reason)


def ingest_worker(
    session: Session, settings: Settings, *, actor: str = INGEST_ACTOR
) -> tuple[IngestWorker, KeyEncryptionKey]:
    """The worker on ``session`` with the hub secrets, the lake and the settings."""
    hub = _HubSigned.on(session, settings, actor)
    k_hub = hub.secrets.pseudonymisation_key()
    session.commit()
    worker = IngestWorker(
        session,
        schemas=schema_catalog(settings),
        lake=lake_catalog(settings),
        keys=hub.keys,
        agreements=AgreementService(session, clock=utc_now, audit=hub.audit, keys=hub.keys),
        audit=hub.audit,
        ledger=Ledger(session, kek=hub.kek),
        rekeyer=TokenRekeyer(k_hub.key, version=k_hub.version),
        signer=hub.signer,
        clock=utc_now,
        max_skew=timedelta(seconds=settings.envelope.max_clock_skew_s),
        max_message_bytes=settings.envelope.max_message_bytes,
        max_age=timedelta(seconds=settings.envelope.max_producer_age_s),
        actor=actor,
        commit_attempts=settings.ingest.commit_attempts,
        commit_backoff_s=settings.ingest.commit_backoff_ms / 1000,
    )
    return worker, hub.kek


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


def worker_notice_sender(
    worker: IngestWorker, *, actor: str = INGEST_ACTOR
) -> AgreementNoticeSender:
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


def notice_sender(
    session: Session, settings: Settings, *, actor: str = INGEST_ACTOR
) -> AgreementNoticeSender:
    """An agreement-notice sender on ``session`` with the hub signing key (no lake), for
    `lmis-hub ingest notices`."""
    hub = _HubSigned.on(session, settings, actor)
    session.commit()
    return AgreementNoticeSender(
        session,
        agreements=AgreementService(session, clock=utc_now, audit=hub.audit, keys=hub.keys),
        schemas=schema_catalog(settings),
        signer=hub.signer,
        clock=utc_now,
        actor=actor,
    )


def connector_kit(settings: Settings) -> ConnectorKit:
    """What connector runs share: the code lists, the connector's secrets and the
    envelope limits (each config brings its own schema catalog, ``schemas_dir``)."""
    return ConnectorKit(
        secrets=settings.connector,
        max_message_bytes=settings.envelope.max_message_bytes,
        max_skew=timedelta(seconds=settings.envelope.max_clock_skew_s),
    )


def linkage_job(session: Session, settings: Settings, *, actor: str) -> LinkageJob:
    """The linkage job on ``session``, the lake and the linkage settings; its audit log
    signs checkpoints when the KEK is at hand (like :func:`governance`)."""
    gov = governance(session, settings, actor=actor)
    linkage = settings.linkage
    return LinkageJob(
        session=session,
        lake=lake_catalog(settings),
        audit=gov.audit,
        clock=gov.clock,
        actor=actor,
        settings=ModelSettings(
            match_weight=linkage.match_weight,
            review_weight=linkage.review_weight,
            u_pairs=linkage.u_pairs,
        ),
    )


def accounts(gov: Governance) -> AccountService:
    """Accounts, sign-in, second factors and API tokens on ``gov``'s session, with the
    limits of ``HUB_API__*`` (second factors sealed by ``HUB_KEY_ENCRYPTION_KEY``)."""
    api = gov.settings.api
    return AccountService(
        gov.session,
        clock=gov.clock,
        audit=gov.audit,
        kek=KeyEncryptionKey.from_setting(gov.settings.key_encryption_key),
        max_failures=api.max_login_failures,
        lockout=timedelta(minutes=api.lockout_minutes),
        session_ttl=timedelta(hours=api.session_hours),
        idle_timeout=timedelta(minutes=api.idle_minutes),
    )


def research(gov: Governance) -> ResearchService:
    """Research access on ``gov``'s session, with the policy engine deciding, the project
    keys sealed by the key-encryption key (``HUB_KEY_ENCRYPTION_KEY``), and a project's
    extracts deleted from its workspace when it ends."""
    policy = PolicyService(gov.session, clock=gov.clock, audit=gov.audit)
    workspace = Workspace(gov.settings.research_workspace)

    def on_end(project_id: str, actor: str, reason: str) -> None:
        end_extracts(gov.session, workspace, gov.audit, gov.clock, project_id, actor, reason=reason)

    return ResearchService(
        gov.session,
        clock=gov.clock,
        audit=gov.audit,
        policy=policy,
        kek=KeyEncryptionKey.from_setting(gov.settings.key_encryption_key)
        if gov.settings.key_encryption_key is not None
        else None,
        on_end=on_end,
    )


def airlock(gov: Governance) -> Airlock:
    """The airlock of research outputs (kept apart from the project workspaces, so a
    released output outlives its project's extracts)."""
    return Airlock(
        session=gov.session,
        research=research(gov),
        store=Workspace(gov.settings.research_workspace / AIRLOCK_FOLDER),
        audit=gov.audit,
        clock=gov.clock,
    )


def research_extracts(gov: Governance) -> ExtractService:
    """Building, downloading and deleting research extracts (the lake, the project's
    workspace, the hub's signing key for the manifest)."""
    return ExtractService(
        session=gov.session,
        lake=lake_catalog(gov.settings),
        research=research(gov),
        signing_key=lambda: gov.secrets().hub_signing_key(),
        workspace=Workspace(gov.settings.research_workspace),
        schemas=schema_catalog(gov.settings),
        audit=gov.audit,
        clock=gov.clock,
    )


def indicator_releases(
    gov: Governance,
    *,
    schemas: SchemaCatalog | None = None,
    definitions: Sequence[Definition] | None = None,
) -> ReleaseService:
    """Building and publishing indicator releases: the package's definitions, the lake,
    the agreements (checked at publication), the hub's signing key for the manifest and
    the publication folder. A long-running caller passes the catalog and definitions it
    read once (reading the definitions takes a good part of a second)."""
    indicators = gov.settings.indicators
    schemas = schemas or schema_catalog(gov.settings)
    return ReleaseService(
        session=gov.session,
        lake=lake_catalog(gov.settings),
        agreements=gov.agreements,
        definitions=list(definitions)
        if definitions is not None
        else load_definitions(schemas=schemas),
        schemas=schemas,
        signing_key=lambda: gov.secrets().hub_signing_key(),
        publication_dir=gov.settings.publication_dir,
        ref_area=indicators.ref_area,
        ref_area_name=indicators.ref_area_name,
        audit=gov.audit,
        clock=gov.clock,
    )
