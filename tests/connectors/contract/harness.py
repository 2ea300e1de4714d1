"""Wiring for the connector contract suite: a deployed agency config run in-process
against the real broker, with fixed keys and a fixed clock so runs can be compared
byte for byte, and the scan of produced bytes for the nation's raw identifiers."""

from __future__ import annotations

import csv
import re
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from confluent_kafka import Consumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka.admin import KafkaAdminClient, NewTopic

from connectors.sdk.config import ConnectorConfig, parse_config
from connectors.sdk.errors import PublishFailed
from connectors.sdk.kit import packaged_code_lists
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.outbox import Outbox
from connectors.sdk.pipeline import Pipeline, RunReport
from connectors.sdk.publisher import EnvelopePublisher, KafkaSender
from connectors.sdk.sources.base import load_source
from connectors.sdk.state import StateDB
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, open_batch, parse_headers
from schemas.signing import Signer
from tests.connectors.agencies.deployment import deployment_document

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LINK_KEY = LinkKey(bytes(range(32)), key_id=1)
AGENCY_KEY = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
HUB_KEY = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
AGREEMENT = "dsa-contract"
#: Batches per dataset the suite aims for (the batch size is set from the row count).
BATCHES = 4


def code_lists() -> dict[str, frozenset[str]]:
    return packaged_code_lists()


def new_topic(admin: KafkaAdminClient, prefix: str) -> str:
    name = f"{prefix}.{uuid.uuid4().hex}"
    admin.create_topics([NewTopic(name=name, num_partitions=1, replication_factor=1)])
    return name


def consumer(bootstrap: str) -> Consumer:
    return Consumer(
        librdkafka_config(
            KafkaSettings(bootstrap_servers=bootstrap),
            **{"group.id": "contract-unused", "enable.auto.commit": False},
        )
    )


def topic_size(bootstrap: str, topic: str) -> int:
    """Messages in partition 0 of ``topic`` (its high watermark)."""
    c = consumer(bootstrap)
    try:
        _, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high)
    finally:
        c.close()


def read_topic(bootstrap: str, topic: str) -> list[Message]:
    """Every message of partition 0 of ``topic``, in order."""
    count = topic_size(bootstrap, topic)
    c = consumer(bootstrap)
    c.assign([TopicPartition(topic, 0, 0)])
    out: list[Message] = []
    try:
        while len(out) < count:
            got = c.consume(num_messages=count - len(out), timeout=10)
            if not got:
                break
            for m in got:
                assert m.error() is None, m.error()
                pairs = cast(list[tuple[str, Any]], m.headers() or [])
                headers = [(str(n), v if isinstance(v, bytes) else b"") for n, v in pairs]
                out.append(Message(key=m.key() or b"", value=m.value() or b"", headers=headers))
    finally:
        c.close()
    assert len(out) == count, (len(out), count)
    return out


def sqlite_cells(path: Path) -> bytes:
    """Every value of every table of a SQLite file, one per line.

    The raw file is no place to look for numbers: a value that overflows a page is cut
    by the next page's number, so the contribution id ``K0000000369`` can read as
    ``K000000036`` followed by binary bytes, a whole run of digits that is no value.
    """
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cells: list[bytes] = []
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                cells.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return b"\n".join(cells)


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def message_bytes(m: Message) -> bytes:
    return m.key + m.value + b"".join(n.encode() + v for n, v in m.headers)


#: The headers every send signs anew (the rest of a resent message is the stored bytes).
RESIGNED_HEADERS = frozenset({"lmis-producer-time", "lmis-key-id", "lmis-signature"})


def content_bytes(m: Message) -> bytes:
    """A message's bytes without the headers each send signs anew: what a resend keeps."""
    return (
        m.key
        + m.value
        + b"".join(n.encode() + v for n, v in m.headers if n not in RESIGNED_HEADERS)
    )


def envelope_id(m: Message) -> str:
    return parse_headers(m.headers).batch_id


def open_all(messages: Iterable[Message], *, catalog: SchemaCatalog) -> list[dict[str, Any]]:
    """The records of every message, each verified with the agency key."""
    records: list[dict[str, Any]] = []
    for m in messages:
        opened = open_batch(
            m.value,
            m.headers,
            catalog=catalog,
            public_key_for=lambda kid: AGENCY_KEY.public_key(),
            now=NOW + timedelta(days=1),
            max_skew=timedelta(seconds=1),
        )
        records.extend(opened.records)
    return records


def count_rows(config: ConnectorConfig) -> int:
    """Rows the source holds, read alone."""
    source = load_source(config.source)
    try:
        return sum(len(chunk) for chunk in source.read(None))
    finally:
        source.close()


@dataclass
class Deployment:
    """An agency config deployed in a folder: where its state is and how it reads."""

    name: str
    document: dict[str, Any]
    config: ConnectorConfig

    @classmethod
    def of(
        cls,
        path: Path,
        *,
        nation: Path,
        data_dir: Path,
        bootstrap: str,
        jobboard_url: str,
        batch_size: int | None = None,
    ) -> Deployment:
        document = deployment_document(
            path, nation=nation, data_dir=data_dir, bootstrap=bootstrap, jobboard_url=jobboard_url
        )
        if batch_size is not None:
            document["batch_size"] = batch_size
        config = parse_config(document, origin=str(path))
        return cls(f"{path.parent.name}/{path.stem}", document, config)

    def moved(self, data_dir: Path) -> Deployment:
        """The same deployment with a copy of its state under ``data_dir``."""
        state = data_dir / "state"
        shutil.copytree(self.config.state_dir, state)
        document = {**self.document, "state_dir": str(state)}
        return Deployment(self.name, document, parse_config(document, origin=self.name))


class FailingSender:
    """Sends through ``inner`` but fails the ``fail_at``-th call (1-based), delivering nothing."""

    def __init__(self, inner: KafkaSender, *, fail_at: int) -> None:
        self._inner = inner
        self._calls = 0
        self._fail_at = fail_at

    def send(self, topic: str, messages: Sequence[Message]) -> None:
        self._calls += 1
        if self._calls == self._fail_at:
            raise PublishFailed(f"topic {topic}: injected broker failure")
        self._inner.send(topic, messages)


class Crash(Exception):
    """Stands for the process dying between delivery and the watermark commit."""


@dataclass
class Connector:
    """One process's worth of a deployed connector: state opened, publisher wired.

    ``sender`` is shared by the suite (a producer's first delivery costs a connection
    and the idempotent-producer handshake); a process that dies loses nothing of it
    that the outbox does not hold.
    """

    deployment: Deployment
    topic: str
    sender: KafkaSender
    clock: Callable[[], datetime] = lambda: NOW
    fail_send_at: int | None = None
    state: StateDB = field(init=False)
    publisher: EnvelopePublisher = field(init=False)

    def __post_init__(self) -> None:
        config = self.deployment.config
        self.state = StateDB.open(config.state_db_path)
        sender: Any = self.sender
        if self.fail_send_at is not None:
            sender = FailingSender(self.sender, fail_at=self.fail_send_at)
        catalog = SchemaCatalog.load()
        self.publisher = EnvelopePublisher(
            schema=catalog.get(config.agency, config.dataset, config.schema_major),
            topic=self.topic,
            agreement_id=AGREEMENT,
            agreement_version=1,
            signer=Signer(f"{config.agency}-contract", AGENCY_KEY),
            state=self.state,
            sender=sender,
            clock=self.clock,
        )

    def pipeline(self) -> Pipeline:
        lists = code_lists()
        return Pipeline.from_config(
            self.deployment.config,
            state=self.state,
            link_key=LINK_KEY,
            clock=self.clock,
            code_lists=lists,  # type: ignore[arg-type]
            regions=frozenset(lists["region"]),
        )

    def run(self, *, crash_after: int | None = None) -> RunReport:
        """One run; with ``crash_after`` = k, the (k+1)-th published batch is delivered
        and then the run dies before its watermark is committed."""
        if crash_after is None:
            return self.pipeline().run(self.publisher)
        published = 0

        def publish(batch: Any) -> Any:
            nonlocal published
            out = self.publisher(batch)
            if published == crash_after:
                raise Crash
            published += 1
            return out

        return self.pipeline().run(publish)

    def outbox_ids(self) -> list[str]:
        return [b.batch_id for b in Outbox(self.state).batches()]

    def close(self) -> None:
        self.state.close()


# -- raw identifiers -------------------------------------------------------------------

#: Business names carry family names ("Achong Motors Limited"): in datasets that send
#: a business name only full personal names count as a leak.
BUSINESS_NAME_FIELDS = {"employer_name", "enterprise_name"}


def date_formats(configs: Iterable[ConnectorConfig]) -> set[str]:
    """The formats the sources hold dates of birth in (what each tokeniser parses), ISO
    and compact ISO."""
    out = {"%Y-%m-%d", "%Y%m%d"}
    for config in configs:
        out.update(config.tokenise.date_formats)
    return out


@dataclass
class Secrets:
    """The nation's raw identifiers, by kind, as bytes."""

    names: set[bytes]
    full_names: set[bytes]
    numbers: set[bytes]
    dates: set[bytes]

    @classmethod
    def of(cls, nation: Path, formats: Iterable[str]) -> Secrets:
        names: set[bytes] = set()
        full: set[bytes] = set()
        numbers: set[bytes] = set()
        dates: set[bytes] = set()
        with (nation / "truth" / "persons.csv").open(encoding="utf-8") as f:
            for p in csv.DictReader(f):
                numbers.add(p["national_id"].encode())
                born = date.fromisoformat(p["date_of_birth"])
                dates.update(born.strftime(fmt).encode() for fmt in formats)
                # 5+ letters, so that random token bytes cannot match by chance
                names.update(n.encode() for n in (p["given_name"], p["family_name"]) if len(n) >= 5)
                full.add(f"{p['given_name']} {p['family_name']}".encode())
        with (nation / "truth" / "person_links.csv").open(encoding="utf-8") as f:
            numbers.update(
                r["record_id"].encode()
                for r in csv.DictReader(f)
                if (r["agency"], r["table"]) == ("nis", "insured_persons")
            )
        return cls(names, full, numbers, dates)

    def found(self, data: bytes, *, single_names: bool = True, numbers: bool = True) -> list[bytes]:
        """Every secret in ``data``.

        Numbers count only as a whole run of digits (an NIS number ``000000214`` is part
        of the contribution id ``K0000000214``, which is no identifier); names and dates
        anywhere in a run of printable characters. ``numbers=False`` leaves numbers out,
        for bytes where a page boundary can cut a longer run of digits short.
        """
        hits: set[bytes] = set()
        # A date written only in digits (19850602) counts, like a number, as a whole run
        # of digits: inside the hex of an opaque record id or batch id it is chance.
        digit_dates = {d for d in self.dates if d.isdigit()}
        for run in re.findall(rb"[0-9]+", data):
            if (numbers and run in self.numbers) or run in digit_dates:
                hits.add(run)
        words = (
            self.full_names | (self.dates - digit_dates) | (self.names if single_names else set())
        )
        lengths = sorted({len(w) for w in words})
        for run in re.findall(rb"[\x20-\x7e]{%d,}" % lengths[0], data):
            for size in lengths:
                if size > len(run):
                    break
                for i in range(len(run) - size + 1):
                    if run[i : i + size] in words:
                        hits.add(run[i : i + size])
        return sorted(hits)
