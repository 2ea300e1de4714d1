"""An ingest worker wired on the rolled-back session beside the parties of the shared hub
builder (NIS and hub keys, an active agreement), and a lake."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy.engine import Engine

from governance.keys.wrapping import KeyEncryptionKey
from integration.ingest.decisions import Delivered
from integration.ingest.ledger import Ledger
from integration.ingest.rekey import TokenRekeyer
from integration.ingest.worker import IngestWorker
from integration.lake.catalog import open_catalog
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, seal_batch
from schemas.samples import opaque_sample_id, sample_records
from schemas.signing import Signer
from tests.fixtures.hub import (
    Parties,
    agency_agreement,
    covered_fields,
    dataset_terms,
    hub_parties,
)

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


@dataclass(kw_only=True)
class Hub(Parties):
    """The parties of :func:`tests.fixtures.hub.hub_parties` (NIS, the hub, ``AGREEMENT``
    in force) and the ingest worker on the same session, at the test's clock."""

    clock: Clock
    worker: IngestWorker
    ledger: Ledger
    nis: Signer
    schemas: SchemaCatalog

    def activate_version(self, fields: list[str] | None = None, **overrides: Any) -> int:
        """Amend ``AGREEMENT`` to cover ``fields`` of the contributions (default: every
        one) with ``overrides`` of its terms, signed by NIS and the hub, in force; its
        version."""
        terms = dataset_terms(self.schemas, "nis", "contribution", fields)
        doc = agency_agreement("nis", {"contribution": terms}, agreement_id=AGREEMENT, **overrides)
        return int(self.activate(doc, amend=True, reason="amendment").version)

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
    return covered_fields(schemas, "nis", "contribution")


@pytest.fixture
def hub(db_session, schemas: SchemaCatalog, lake: SqlCatalog) -> Hub:
    return make_hub(db_session, schemas, lake)


def make_hub(db_session, schemas: SchemaCatalog, lake: SqlCatalog) -> Hub:
    clock = Clock()
    clock.now = NOW - timedelta(days=1)  # keys and agreement exist before the deliveries
    parties = hub_parties(
        db_session,
        datasets=["nis/contribution"],
        schemas=schemas,
        clock=clock,
        agreement_ids={"nis": AGREEMENT},
    )
    clock.now = NOW
    ledger = Ledger(db_session, kek=KeyEncryptionKey(b"\x07" * 32))
    worker = IngestWorker(
        db_session,
        schemas=schemas,
        lake=lake,
        keys=parties.keys,
        agreements=parties.agreements,
        audit=parties.audit,
        ledger=ledger,
        rekeyer=TokenRekeyer(K_HUB, version=1),
        signer=parties.hub,
        clock=clock,
        max_skew=timedelta(minutes=5),
        max_message_bytes=1024 * 1024,
        max_age=timedelta(hours=24),
        canonical_topic=without_test_suffix,
    )
    return Hub(
        **vars(parties), worker=worker, ledger=ledger, nis=parties.signers["nis"], schemas=schemas
    )
