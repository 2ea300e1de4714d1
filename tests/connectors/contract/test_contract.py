"""The connector contract, for every agency config over one small synthetic nation and
the real broker (a fresh topic per test):

(a) a second run over the unchanged source publishes nothing;
(b) a run that dies after k batches (once between delivery and the watermark commit,
    once with the broker failing a delivery) resumes from its watermark: every source
    row is published exactly once, in batches with the ids of an uninterrupted run;
(c) batches without a receipt are sent again after the timeout (the stored parts, signed
    anew at the resend), and a rejection receipt reaches `connector status` with its
    reason code and rows;
(d) no byte produced — messages on the broker, the outbox and state files — holds a
    name, national ID, NIS number or date of birth of the nation's truth.

The reference is one uninterrupted run per config (module-scoped), in about four batches.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka.admin import KafkaAdminClient
from typer.testing import CliRunner

from connectors.sdk.config import load_config
from connectors.sdk.errors import PublishFailed
from connectors.sdk.pipeline import RunReport
from connectors.sdk.publisher import KafkaSender
from connectors.sdk.receipt_reader import ReceiptReader
from connectors.sdk.receipts import ReceiptApplier, resend_due
from hub_api.cli import app
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, parse_headers
from schemas.keys import key_id_for
from schemas.receipts import HUB_AGENCY, Receipt, seal_receipt
from schemas.signing import Signer
from tests.connectors.agencies.deployment import agency_config_files
from tests.connectors.conftest import Nation
from tests.connectors.contract.harness import (
    BATCHES,
    BUSINESS_NAME_FIELDS,
    HUB_KEY,
    NOW,
    Connector,
    Crash,
    Deployment,
    Secrets,
    content_bytes,
    count_rows,
    date_formats,
    envelope_id,
    is_sqlite,
    message_bytes,
    new_topic,
    open_all,
    read_topic,
    sqlite_cells,
    topic_size,
)

CONFIGS = agency_config_files()
IDS = [f"{p.parent.name}/{p.stem}" for p in CONFIGS]
REJECTION = "agreement.not_active"


@dataclass
class Reference:
    """One uninterrupted run of a config."""

    path: Path
    batch_size: int
    deployment: Deployment
    report: RunReport
    topic: str
    messages: list[Message]
    outbox_ids: list[str]
    parts: dict[str, list[str]]  # outbox batch id -> envelope ids of its parts
    records: list[dict[str, Any]]

    def record_ids(self) -> list[str]:
        return [str(r["record_id"]) for r in self.records]


def deploy(path: Path, nation: Nation, data_dir: Path, bootstrap: str, **kw: Any) -> Deployment:
    return Deployment.of(
        path,
        nation=nation.folder,
        data_dir=data_dir,
        bootstrap=bootstrap,
        jobboard_url=nation.jobboard_url,
        **kw,
    )


@pytest.fixture(scope="module", params=CONFIGS, ids=IDS)
def reference(
    request: pytest.FixtureRequest,
    nation: Nation,
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
    tmp_path_factory: pytest.TempPathFactory,
    sender: KafkaSender,
) -> Reference:
    path: Path = request.param
    data_dir = tmp_path_factory.mktemp("reference")
    rows = count_rows(deploy(path, nation, data_dir, kafka_bootstrap).config)
    assert rows >= 1, f"{path}: the nation holds no rows for it"
    size = max(1, -(-rows // BATCHES))
    deployment = deploy(path, nation, data_dir, kafka_bootstrap, batch_size=size)
    topic = new_topic(kafka_admin, f"contract.{path.parent.name}.{path.stem}")
    connector = Connector(deployment, topic, sender)
    try:
        report = connector.run()
        outbox_ids = connector.outbox_ids()
        parts = {
            b: [
                str(p)
                for (p,) in connector.state.connection.execute(
                    "SELECT part_id FROM batch_parts WHERE batch_id = ? ORDER BY part_index", (b,)
                )
            ]
            for b in outbox_ids
        }
    finally:
        connector.close()
    messages = read_topic(kafka_bootstrap, topic)
    records = open_all(messages, catalog=SchemaCatalog.load())
    return Reference(path, size, deployment, report, topic, messages, outbox_ids, parts, records)


def test_the_reference_run_publishes_every_row_once(reference: Reference) -> None:
    report = reference.report
    assert report.rows_read == len(reference.records) + len(report.refusals)
    assert report.refusals == [], report.refusals[:3]
    assert reference.outbox_ids == report.batches
    assert len(report.batches) == -(-report.rows_read // reference.batch_size)
    assert [envelope_id(m) for m in reference.messages] == [
        p for b in reference.outbox_ids for p in reference.parts[b]
    ]


# (a) ---------------------------------------------------------------------------------


def test_a_second_run_over_the_unchanged_source_publishes_nothing(
    reference: Reference,
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
    sender: KafkaSender,
) -> None:
    topic = new_topic(kafka_admin, "contract.again")
    connector = Connector(reference.deployment.moved(tmp_path), topic, sender)
    try:
        report = connector.run()
        held = connector.outbox_ids()
    finally:
        connector.close()
    assert (report.records_published, report.batches, report.skipped_batches) == (0, [], [])
    assert report.rows_read == 0
    assert held == reference.outbox_ids
    assert topic_size(kafka_bootstrap, topic) == 0


# (b) ---------------------------------------------------------------------------------


def test_a_crashed_run_resumes_from_its_watermark(
    reference: Reference,
    nation: Nation,
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
    sender: KafkaSender,
) -> None:
    deployment = deploy(
        reference.path, nation, tmp_path, kafka_bootstrap, batch_size=reference.batch_size
    )
    topic = new_topic(kafka_admin, "contract.crash")
    n = len(reference.outbox_ids)
    k = max(0, n // 2 - 1)
    # 1. batches 0..k-1 committed; batch k delivered, then the process dies
    first = Connector(deployment, topic, sender)
    try:
        with pytest.raises(Crash):
            first.run(crash_after=k)
    finally:
        first.close()
    # 2. the next batch is stored, but the broker fails its delivery
    if n >= k + 2:
        second = Connector(deployment, topic, sender, fail_send_at=1)
        try:
            with pytest.raises(PublishFailed):
                second.run()
        finally:
            second.close()
    # 3. the run completes; the batch that was never delivered goes from the outbox
    last = Connector(deployment, topic, sender)
    try:
        report = last.run()
        timeout = timedelta(seconds=deployment.config.resend_after_s)
        resent = resend_due(last.publisher, last.state, now=NOW, timeout=timeout)
        held = last.outbox_ids()
    finally:
        last.close()
    # the batch stored before the failure is skipped by the run and sent from the outbox
    assert report.skipped_batches == [reference.outbox_ids[k + 1 if n >= k + 2 else k]]
    assert resent == ([reference.outbox_ids[k + 1]] if n >= k + 2 else [])
    assert sorted(held) == sorted(reference.outbox_ids)
    messages = read_topic(kafka_bootstrap, topic)
    assert sorted(envelope_id(m) for m in messages) == sorted(
        envelope_id(m) for m in reference.messages
    )
    records = open_all(messages, catalog=SchemaCatalog.load())
    assert Counter(str(r["record_id"]) for r in records) == Counter(reference.record_ids())


# (c) ---------------------------------------------------------------------------------


def hub_receipts(reference: Reference, rejected_batch: str) -> list[Message]:
    """The hub's answer to every part: the parts of ``rejected_batch`` refused."""
    config = reference.deployment.config
    signer = Signer(key_id_for(HUB_AGENCY, HUB_KEY.public_key()), HUB_KEY)
    refused = set(reference.parts[rejected_batch])
    out = []
    for m in reference.messages:
        part = envelope_id(m)
        bad = part in refused
        receipt = Receipt(
            batch_id=part,
            agency=config.agency,
            dataset=config.dataset,
            outcome="rejected" if bad else "accepted",
            reason_code=REJECTION if bad else None,
            lake_commit_id=None,
            records_received=1,
            records_accepted=0 if bad else 1,
            records_rejected=1 if bad else 0,
            decided_at=NOW,
        )
        out.append(
            seal_receipt(
                receipt,
                catalog=SchemaCatalog.load(),
                agreement_id="dsa-contract",
                agreement_version=1,
                signer=signer,
                now=NOW,
            )
        )
    return out


def test_unanswered_batches_are_resent_signed_anew_and_rejections_reach_status(
    reference: Reference,
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
    sender: KafkaSender,
) -> None:
    deployment = reference.deployment.moved(tmp_path)
    timeout = timedelta(seconds=deployment.config.resend_after_s)
    topic = new_topic(kafka_admin, "contract.resend")
    connector = Connector(deployment, topic, sender, clock=lambda: NOW + timeout)
    receipts_topic = new_topic(kafka_admin, "contract.receipts")
    kafka = librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    try:
        early = resend_due(
            connector.publisher, connector.state, now=NOW + timeout / 2, timeout=timeout
        )
        assert early == []
        resent = resend_due(
            connector.publisher, connector.state, now=NOW + timeout, timeout=timeout
        )
        assert resent == reference.outbox_ids
        again = read_topic(kafka_bootstrap, topic)
        # The stored parts, signed anew at the resend (the connector's clock).
        assert [content_bytes(m) for m in again] == [content_bytes(m) for m in reference.messages]
        assert {parse_headers(m.headers).producer_time for m in again} == {NOW + timeout}
        assert len(open_all(again, catalog=SchemaCatalog.load())) == sum(
            parse_headers(m.headers).record_count for m in reference.messages
        )

        rejected = reference.outbox_ids[0]
        sender.send(receipts_topic, hub_receipts(reference, rejected))
        applier = ReceiptApplier(
            connector.state,
            catalog=SchemaCatalog.load(),
            hub_keys=[HUB_KEY.public_key()],
            agency=deployment.config.agency,
            clock=lambda: NOW + timeout,
            max_skew=timedelta(minutes=5),
        )
        reader = ReceiptReader(
            connector.state, topic=receipts_topic, consumer_config=kafka, applier=applier
        )
        try:
            applied = reader.poll(timeout_s=10)
        finally:
            reader.close()
    finally:
        connector.close()
    assert applied.applied == len(reference.messages) and applied.invalid == []

    config_file = tmp_path / "connector.yaml"
    config_file.write_text(yaml.safe_dump(deployment.document), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["--json", "connector", "status", "--config", str(config_file)]
    )
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    n = len(reference.outbox_ids)
    assert status["batches"] == {"pending": 0, "sent": 0, "accepted": n - 1, "rejected": 1}
    (shown,) = status["rejected"]
    first = [m for m in reference.messages if envelope_id(m) in reference.parts[rejected]]
    expected = [str(r["record_id"]) for r in open_all(first, catalog=SchemaCatalog.load())]
    assert (shown["batch_id"], shown["reason_code"]) == (rejected, REJECTION)
    assert shown["rows"] == expected and shown["records"] == len(expected)


# (d) ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secrets(nation: Nation) -> Secrets:
    return Secrets.of(nation.folder, date_formats(load_config(p) for p in CONFIGS))


def test_the_scan_finds_every_kind_of_identifier_in_the_sources(
    nation: Nation, secrets: Secrets
) -> None:
    """The scan below can fail: the sources are full of what it looks for."""
    files = [f for f in (nation.folder / "sources").rglob("*") if f.is_file()]
    sources = b"".join(f.read_bytes()[:100_000] for f in files)
    hits = set(secrets.found(sources))
    # full names are not in the sources (given and family name are columns apart)
    for kind in (secrets.numbers, secrets.names, secrets.dates):
        assert len(hits & kind) > 50


def test_no_raw_identifier_in_any_byte_produced(reference: Reference, secrets: Secrets) -> None:
    schema = SchemaCatalog.load().get(
        reference.deployment.config.agency,
        reference.deployment.config.dataset,
        reference.deployment.config.schema_major,
    )
    names_a_business = bool(BUSINESS_NAME_FIELDS & {f["name"] for f in schema.fields})
    produced = b"".join(message_bytes(m) for m in reference.messages)
    state_dir = reference.deployment.config.state_dir
    files = [f for f in state_dir.rglob("*") if f.is_file()]
    assert any(f.name == "state.db" for f in files)
    held = b"".join(f.read_bytes() for f in files)
    databases = b"\n".join(sqlite_cells(f) for f in files if is_sqlite(f))
    others = b"".join(f.read_bytes() for f in files if not is_sqlite(f))
    single = not names_a_business
    assert secrets.found(produced, single_names=single) == []
    assert secrets.found(databases + b"\n" + others, single_names=single) == []
    assert secrets.found(held, single_names=single, numbers=False) == []
