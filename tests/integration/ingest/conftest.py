"""An ingest worker wired on the rolled-back session: NIS key, an active agreement, a lake."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy.engine import Engine

from governance.agencies.services import AgencyService
from governance.agreements.document import AgreementDocument
from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog
from governance.keys.services import KeyService
from governance.keys.wrapping import KeyEncryptionKey
from integration.ingest.decisions import Delivered
from integration.ingest.ledger import Ledger
from integration.ingest.rekey import TokenRekeyer
from integration.ingest.worker import IngestWorker
from integration.lake.catalog import open_catalog
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, seal_batch
from schemas.keys import public_pem
from schemas.samples import opaque_sample_id, sample_records
from schemas.signing import Signer
from tests.governance.agreements.factories import make_doc

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
K_HUB = bytes(range(32))
AGREEMENT = "nis-lmis-2026"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="session")
def schemas() -> SchemaCatalog:
    return SchemaCatalog.load()


@pytest.fixture(scope="session")
def lake(db_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> SqlCatalog:
    """The lake catalog on the same backend as the hub database of the test.

    On PostgreSQL it lives in the hub database itself, as a deployment's does. On SQLite
    it has its own file: the test's hub session holds an open (rolled-back) transaction,
    which would lock a shared SQLite file against the lake."""
    root: Path = tmp_path_factory.mktemp("ingest-lake")
    if db_engine.dialect.name == "postgresql":
        url = db_engine.url.render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{root / 'catalog.db'}"
    return open_catalog(database_url=url, warehouse=str(root))


@dataclass
class Hub:
    worker: IngestWorker
    clock: Clock
    keys: KeyService
    agreements: AgreementService
    audit: AuditLog
    ledger: Ledger
    nis: Signer
    hub: Signer
    schemas: SchemaCatalog

    def seal(self, n: int = 3, *, records: list[dict[str, Any]] | None = None) -> Message:
        sv = self.schemas.current("nis", "contribution")
        if records is None:
            records = sample_records(sv, n)
            tag = uuid.uuid4().hex[:8]  # batches of other tests stay in the shared lake
            for r in records:
                r["record_id"] = opaque_sample_id(f"{tag}:{r['record_id']}")
        (message,) = seal_batch(
            records,
            schema=sv,
            agreement_id=AGREEMENT,
            agreement_version=1,
            signer=self.nis,
            now=self.clock.now - timedelta(seconds=5),
        )
        return message


_TEST_SUFFIX = re.compile(r"\.[0-9a-f]{32}$")


def without_test_suffix(topic: str) -> str:
    """The topic a test's fresh copy stands for (``topic_factory`` appends a uuid)."""
    return _TEST_SUFFIX.sub("", topic)


def delivered(message: Message, topic: str = "lmis.nis.contribution.v1", offset: int = 0):
    return Delivered(topic, 0, offset, message.value, message.headers)


def contribution_fields(schemas: SchemaCatalog) -> list[str]:
    return [f["name"] for f in schemas.current("nis", "contribution").fields][1:]


def activate_agreement(
    agreements: AgreementService,
    doc: AgreementDocument,
    signers: Mapping[str, Signer],
    *,
    reason: str,
) -> None:
    """Store ``doc``, have every party of ``signers`` (agency -> signer) sign it, activate."""
    row = agreements.create(doc, actor="lmis")
    for agency, signer in signers.items():
        agreements.sign_with(
            row.id,
            row.version,
            agency=agency,
            key_id=signer.key_id,
            private_key=signer.private_key,
            actor=agency,
        )
    agreements.activate(row.id, row.version, actor="lmis", reason=reason)


@pytest.fixture
def hub(db_session, schemas: SchemaCatalog, lake: SqlCatalog) -> Hub:
    return make_hub(db_session, schemas, lake)


def make_hub(db_session, schemas: SchemaCatalog, lake: SqlCatalog) -> Hub:
    clock = Clock()
    clock.now = NOW - timedelta(days=1)  # keys and agreement exist before the deliveries
    audit = AuditLog(db_session, clock=clock)
    AgencyService(db_session, clock=clock, audit=audit).ensure_known(actor="setup")
    keys = KeyService(db_session, clock=clock, audit=audit)
    agreements = AgreementService(db_session, clock=clock, audit=audit, keys=keys)
    signers = {}
    for agency in ("nis", "hub"):
        private = Ed25519PrivateKey.generate()
        row = keys.register(agency, public_pem(private.public_key()), actor="ops")
        signers[agency] = Signer(row.key_id, private)
    datasets = {
        "contribution": {
            "periodicity": "monthly",
            "delivery_lag_days": 20,
            "fields": contribution_fields(schemas),
        }
    }
    activate_agreement(agreements, make_doc(datasets=datasets), signers, reason="go live")
    db_session.commit()
    clock.now = NOW
    ledger = Ledger(db_session, kek=KeyEncryptionKey(b"\x07" * 32))
    worker = IngestWorker(
        db_session,
        schemas=schemas,
        lake=lake,
        keys=keys,
        agreements=agreements,
        audit=audit,
        ledger=ledger,
        rekeyer=TokenRekeyer(K_HUB, version=1),
        signer=signers["hub"],
        clock=clock,
        max_skew=timedelta(minutes=5),
        max_message_bytes=1024 * 1024,
        max_age=timedelta(hours=24),
        canonical_topic=without_test_suffix,
    )
    return Hub(
        worker, clock, keys, agreements, audit, ledger, signers["nis"], signers["hub"], schemas
    )
