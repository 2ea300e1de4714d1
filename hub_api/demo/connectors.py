"""Run the sixteen agency connectors of ``connectors/agencies/`` against the demo's nation.

Each config follows one path convention (see its header): ``data/nation/`` is the
synthetic nation, ``data/`` the connector's own folder (state, keys), the job board's
API ``http://127.0.0.1:8088`` and the broker ``127.0.0.1:19092``. :func:`deploy`
rewrites those to the demo's data directory, job-board server and broker and writes
the result to ``<data dir>/connectors/<agency>/<dataset>.yaml``, next to the
connector's state folder, so ``lmis-hub connector status --config …`` works on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from connectors.sdk.config import ConnectorConfig, parse_config
from connectors.sdk.kit import ConnectorKit
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.outbox import Outbox
from connectors.sdk.pipeline import Pipeline, RunReport
from connectors.sdk.publisher import EnvelopePublisher, KafkaSender
from connectors.sdk.receipt_reader import ReceiptReader
from connectors.sdk.receipts import ReceiptApplier, load_hub_key, resend_due
from connectors.sdk.state import StateDB
from hub_api.wiring import connector_kit
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import Settings
from schemas.receipts import receipt_topic
from synth.jobboard_api import serve

AGENCY_CONFIGS = Path(__file__).parents[2] / "connectors" / "agencies"
JOBBOARD_URL = "http://127.0.0.1:8088"


def agency_config_files() -> list[Path]:
    """Every agency config, ``<agency>/<dataset>.yaml``, sorted."""
    return sorted(AGENCY_CONFIGS.glob("*/*.yaml"))


def _rewrite(value: Any, *, data_dir: Path, nation: Path, jobboard_url: str) -> Any:
    if isinstance(value, dict):
        return {
            k: _rewrite(v, data_dir=data_dir, nation=nation, jobboard_url=jobboard_url)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, data_dir=data_dir, nation=nation, jobboard_url=jobboard_url)
                for v in value]  # fmt: skip
    if not isinstance(value, str):
        return value
    for prefix in ("sqlite:///", ""):
        if value.startswith(prefix + "data/nation/"):
            return f"{prefix}{nation.as_posix()}/{value.removeprefix(prefix + 'data/nation/')}"
        if value.startswith(prefix + "data/"):
            return f"{prefix}{data_dir.as_posix()}/{value.removeprefix(prefix + 'data/')}"
    if value.startswith(JOBBOARD_URL):
        return jobboard_url + value.removeprefix(JOBBOARD_URL)
    return value


def deployment_document(
    path: Path, *, nation: Path, data_dir: Path, bootstrap: str, jobboard_url: str = JOBBOARD_URL
) -> dict[str, Any]:
    """An agency config's YAML document with the conventional locations replaced.

    Every config in ``connectors/agencies/`` follows one convention: paths relative to
    the folder the connector runs in, ``data/nation/`` the synthetic nation and
    ``data/`` the connector's own data folder (state, keys); the job board's API at
    ``http://127.0.0.1:8088``. This rewrites those prefixes and names the broker.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc: dict[str, Any] = _rewrite(
        data, data_dir=data_dir, nation=nation, jobboard_url=jobboard_url
    )
    doc["kafka"]["bootstrap_servers"] = bootstrap
    return doc


def deploy(
    path: Path, *, data_dir: Path, nation: Path, bootstrap: str, jobboard_url: str
) -> tuple[Path, ConnectorConfig]:
    """Write the config for this data directory; its path and the validated config."""
    doc = deployment_document(
        path,
        nation=nation.resolve(),
        data_dir=data_dir.resolve(),
        bootstrap=bootstrap,
        jobboard_url=jobboard_url,
    )
    out = data_dir / "connectors" / path.parent.name / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"# Written by `lmis-hub demo` from connectors/agencies/{path.parent.name}/{path.name}\n"
        + yaml.safe_dump(doc, sort_keys=False),
        encoding="utf-8",
    )
    return out, parse_config(doc, origin=str(out))


@contextmanager
def jobboard_api(nation: Path) -> Iterator[str]:
    """The nation's job-board API on a free local port, for the length of the block."""
    server = serve(nation / "sources" / "jobboard" / "jobboard.db", "127.0.0.1", 0)
    server.start_background()
    try:
        yield server.url
    finally:
        server.stop()


def _now() -> datetime:
    return datetime.now(UTC)


def demo_kit(
    *, link_key: LinkKey, signing_passphrase: SecretStr, settings: Settings
) -> ConnectorKit:
    """The connector kit of the composition root, with the demo's own linkage key and
    the passphrase of the demo agencies' signing keys."""
    kit = connector_kit(settings)
    secrets = kit.secrets.model_copy(update={"signing_key_passphrase": signing_passphrase})
    return replace(kit, secrets=secrets, fixed_link_key=link_key)


@dataclass(frozen=True)
class ConnectorRun:
    agency: str
    dataset: str
    rows_read: int
    records_published: int
    batches: int
    refused_rows: int
    batches_resent: int
    seconds: float

    @classmethod
    def of(
        cls, config: ConnectorConfig, report: RunReport, resent: int, seconds: float
    ) -> ConnectorRun:
        return cls(
            config.agency,
            config.dataset,
            report.rows_read,
            report.records_published,
            len(report.batches),
            len(report.refusals),
            resent,
            seconds,
        )


@dataclass
class ConnectorParts:
    """What one connector run is made of, open for the length of a ``wired`` block."""

    state: StateDB
    sender: KafkaSender
    publisher: EnvelopePublisher
    pipeline: Pipeline


@contextmanager
def wired(config: ConnectorConfig, kit: ConnectorKit) -> Iterator[ConnectorParts]:
    """The connector's state, sender, publisher and pipeline, as `connector run` wires them;
    the sender and state are closed when the block ends."""
    assert config.signing_key_file is not None and config.agreement_id is not None
    signer = kit.signer(config)
    state = StateDB.open(config.state_db_path)
    sender = KafkaSender(librdkafka_config(config.kafka.settings()))
    try:
        publisher = kit.publisher(config, state, sender, signer)
        pipeline = kit.pipeline(config, state)
        yield ConnectorParts(state, sender, publisher, pipeline)
    finally:
        sender.close()
        state.close()


def run_connector(config: ConnectorConfig, kit: ConnectorKit) -> ConnectorRun:
    """Publish the rows new since the watermark, then send again every batch of an earlier
    run that has no receipt yet (a memory-only broker restarted since may have lost it;
    the hub answers a batch it has already decided with the same receipt)."""
    started = time.perf_counter()
    run_started = _now()
    with wired(config, kit) as parts:
        report = parts.pipeline.run(parts.publisher)
        resent = resend_due(parts.publisher, parts.state, now=run_started, timeout=timedelta(0))
    return ConnectorRun.of(config, report, len(resent), time.perf_counter() - started)


def unsettled_parts(configs: Sequence[ConnectorConfig]) -> set[str]:
    """Envelope batch ids of every part still waiting for a receipt, over all outboxes."""
    parts: set[str] = set()
    for config in configs:
        state = StateDB.open(config.state_db_path)
        try:
            rows = state.connection.execute(
                "SELECT part_id FROM batch_parts WHERE outcome IS NULL"
            ).fetchall()
        finally:
            state.close()
        parts.update(r[0] for r in rows)
    return parts


def _open_batches(outbox: Outbox, dataset: str) -> int:
    return sum(len(outbox.batches(dataset=dataset, state=s)) for s in ("pending", "sent"))


def take_receipts(
    configs: Sequence[ConnectorConfig], kit: ConnectorKit, *, timeout_s: float = 30.0
) -> dict[str, int]:
    """Each connector reads its agency's receipts until its outbox is settled (or the
    time is up), all at once (each waits on the broker, not the CPU); returns
    ``agency/dataset -> batches still without a receipt``."""
    with ThreadPoolExecutor(max_workers=len(configs) or 1) as pool:
        waiting = pool.map(lambda c: _take_receipts(c, kit, timeout_s), configs)
        return {f"{c.agency}/{c.dataset}": n for c, n in zip(configs, waiting, strict=True)}


def _take_receipts(config: ConnectorConfig, kit: ConnectorKit, timeout_s: float) -> int:
    assert config.hub_public_key_file is not None
    state = StateDB.open(config.state_db_path)
    topic = receipt_topic(config.agency)
    if _open_batches(Outbox(state), config.dataset):
        # The embedded broker keeps topics in memory only: after a restart the receipts
        # topic starts again at offset 0 in every partition, and offsets kept from before
        # point past (or into) the new receipts. Read the topic from the start whenever a
        # receipt is awaited; applying a receipt again changes nothing.
        with state.transaction() as conn:
            conn.execute("DELETE FROM offsets WHERE topic = ?", (topic,))
    applier = ReceiptApplier(
        state,
        catalog=config.catalog(),
        hub_keys=[load_hub_key(config.hub_public_key_file)],
        agency=config.agency,
        dataset=config.dataset,
        clock=_now,
        max_skew=kit.max_skew,
    )
    reader = ReceiptReader(
        state,
        topic=topic,
        consumer_config={
            **librdkafka_config(config.kafka.settings()),
            "auto.offset.reset": "earliest",
        },
        applier=applier,
    )
    outbox = Outbox(state)
    deadline = time.monotonic() + timeout_s
    try:
        left = _open_batches(outbox, config.dataset)
        while left and time.monotonic() < deadline:
            reader.poll(timeout_s=2.0, max_messages=10_000)
            left = _open_batches(outbox, config.dataset)
    finally:
        reader.close()
        state.close()
    return left
