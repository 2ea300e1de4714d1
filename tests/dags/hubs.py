"""A hub on PostgreSQL for the duty and DAG tests, and what they do to it: the HUB_*
environment a DAG task reads, a rewritten audit entry, a quarantined message, an SMTP
server that keeps what it receives."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from governance.db import make_engine
from governance.keys.wrapping import KeyEncryptionKey
from hub_api.wiring import ingest_worker
from integration.ingest.decisions import Delivered
from integration.ingest.ledger import Ledger, Origin
from lmis_hub.settings import Settings, settings_environment
from schemas.catalog import SchemaCatalog
from schemas.envelope import seal_batch
from schemas.samples import opaque_sample_id, sample_records
from tests.fixtures.database import new_postgres_database
from tests.fixtures.hub import ProvisionedHub, provision_hub

#: Monthly deliveries, lag 20 days, valid 2026-01-01 to 2028-12-31 (the test agreements).
DATASETS = ("nis/contribution", "tvet/trainee")


@contextmanager
def postgres_hub(server_url: str, root: Path) -> Iterator[ProvisionedHub]:
    """A provisioned hub (parties, hub secrets, one agreement per agency of
    :data:`DATASETS`) on a PostgreSQL database of its own, dropped afterwards."""
    with new_postgres_database(server_url, prefix="lmis_duties") as url:
        yield provision_hub(root, DATASETS, database_url=url)


def with_settings(hub: ProvisionedHub, **groups: dict[str, Any]) -> Settings:
    """The hub's settings with some groups changed (``audit={...}``, ``notify={...}``)."""
    update = {
        name: getattr(hub.settings, name).model_copy(update=values)
        for name, values in groups.items()
    }
    return hub.settings.model_copy(update=update)


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Make ``settings`` the HUB_* environment of this process (what a DAG task loads)."""
    for key in [k for k in os.environ if k.startswith("HUB_")]:
        monkeypatch.delenv(key)
    for key, value in settings_environment(settings).items():
        monkeypatch.setenv(key, value)


def scalar(settings: Settings, query: str, **params: Any) -> Any:
    engine = make_engine(settings.database_url_value())
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query), params).scalar()
    finally:
        engine.dispose()


def tamper(settings: Settings, seq: int) -> None:
    """Rewrite an audit entry as the database owner can: past the append-only trigger."""
    engine = make_engine(settings.database_url_value())
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            conn.execute(
                sa.text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = :s"), {"s": seq}
            )
            conn.execute(sa.text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
    finally:
        engine.dispose()


def deliver(
    hub: ProvisionedHub,
    dataset: str = "nis/contribution",
    *,
    count: int = 2,
    dates: tuple[str, list[date]] | None = None,
) -> str:
    """A batch of ``count`` sample records of ``dataset`` (``agency/name``; ``dates``: a
    date field and one value per record), decided by the hub's ingest worker (built by
    the composition root) and landed in bronze; its batch id."""
    agency, name = dataset.split("/")
    sv = SchemaCatalog.load().current(agency, name)
    records: list[dict[str, Any]] = sample_records(sv, count)
    tag = uuid.uuid4().hex[:8]
    for i, record in enumerate(records):
        record["record_id"] = opaque_sample_id(f"{tag}:{record['record_id']}")
        if dates is not None:
            record[dates[0]] = dates[1][i]
    (message,) = seal_batch(
        records,
        schema=sv,
        agreement_id=f"dsa-{agency}-lmis",
        agreement_version=1,
        signer=hub.signers[agency],
        now=datetime.now(UTC),
    )
    engine = make_engine(hub.database_url)
    try:
        with Session(engine) as session:
            worker, _ = ingest_worker(session, hub.settings)
            topic = f"lmis.{agency}.{name}.v{sv.version}"
            outcome = worker.process(Delivered(topic, 0, 0, message.value, message.headers))
            session.commit()
    finally:
        engine.dispose()
    assert outcome.status == "accepted", outcome.message
    return str(outcome.batch_id)


def quarantine(settings: Settings, agency: str, reason: str, received_at: datetime) -> str:
    """A message in quarantine, as the ingest worker leaves a refused one."""
    assert settings.key_encryption_key is not None
    kek = KeyEncryptionKey.from_setting(settings.key_encryption_key)
    engine = make_engine(settings.database_url_value())
    try:
        with Session(engine) as session:
            row = Ledger(session, kek=kek).quarantine(
                value=b"not a batch",
                headers=[("lmis-agency", agency.encode())],
                origin=Origin(f"lmis.{agency}.contribution.v1", 0, 7),
                reason_code=reason,
                message="refused for the test",
                received_at=received_at,
                agency=agency,
                dataset="contribution",
            )
            session.commit()
            return row.id
    finally:
        engine.dispose()


@dataclass
class SmtpSink:
    """An SMTP server on a free loopback port that keeps every message it receives."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        message["X-Rcpt-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted"

    def notify_settings(self) -> dict[str, Any]:
        return {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_security": "none",
            "mail_from": "lmis-hub@example.org",
            "mail_to": ["lmis-unit@example.org"],
            "timeout_s": 5,
        }

    @staticmethod
    def text(message: Message) -> str:
        parts = message.walk() if message.is_multipart() else [message]
        return "".join(
            str(p.get_payload(decode=True).decode())  # type: ignore[union-attr]
            for p in parts
            if p.get_content_maintype() == "text"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port, loop=asyncio.new_event_loop())
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
