"""Ingest worker throughput: records/s through the worker's decision (verify, dedupe,
coverage, re-key, lake commit, ledger + delivery + audit, receipt) against open_batch
alone (verify + decode) on the same messages in the same run; each message decided
alone (a group of one: one lake commit per message) and in groups of the default size
(HUB_INGEST__MAX_GROUP_MESSAGES: one lake commit per group).

    .venv/bin/python -m benchmarks.ingest [--batches 128] [--records 500] [--group 64]

Everything runs in one SQLite hub database per variant (the embedded stack's setup,
lake catalog included) with a local warehouse folder; Kafka is not involved (the
end-to-end figure through the broker is another benchmark's).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from governance.agencies.services import AgencyService
from governance.agreements.document import parse_document
from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog
from governance.db import make_engine, migrate
from governance.keys.envelope import KeyEncryptionKey
from governance.keys.material import public_pem
from governance.keys.services import KeyService
from integration.ingest.ledger import Ledger
from integration.ingest.rekey import TokenRekeyer
from integration.ingest.worker import Delivered, IngestWorker
from integration.lake.catalog import open_catalog
from lmis_hub.settings import IngestSettings
from schemas.catalog import Catalog
from schemas.envelope import Message, open_batch, seal_batch
from schemas.signing import Signer
from tests.schemas.samples import sample_records

EXAMPLE = Path(__file__).parents[1] / "governance" / "examples" / "nis-contributions.yaml"
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
MAX_BYTES = 8 * 1024 * 1024


@dataclass
class Run:
    seconds: float
    lake_seconds: float
    snapshots: int


def _variant(
    tmp: Path, schemas: Catalog, batches: int, records: int, group: int
) -> tuple[Run, float | None]:
    """Set up a fresh hub, seal the messages, decide them in groups of ``group``.

    Returns the run and (for the first variant) the open_batch baseline on the same
    messages.
    """
    sv = schemas.current("nis", "contribution")
    clock = {"now": NOW - timedelta(days=1)}

    def now() -> datetime:
        return clock["now"]

    url = f"sqlite:///{tmp / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    with Session(engine) as session:
        audit = AuditLog(session, clock=now)
        AgencyService(session, clock=now, audit=audit).ensure_known(actor="bench")
        keys = KeyService(session, clock=now, audit=audit)
        agreements = AgreementService(session, clock=now, audit=audit, keys=keys)
        signers = {}
        for agency in ("nis", "hub"):
            private = Ed25519PrivateKey.generate()
            row = keys.register(agency, public_pem(private.public_key()), actor="bench")
            signers[agency] = Signer(row.key_id, private)
        data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
        fields = [f["name"] for f in sv.fields][1:]
        data["datasets"] = {
            "contribution": {"periodicity": "monthly", "delivery_lag_days": 20, "fields": fields}
        }
        agreement = agreements.create(parse_document(data, where="bench"), actor="bench")
        for agency, signer in signers.items():
            agreements.sign_with(
                agreement.id,
                agreement.version,
                agency=agency,
                key_id=signer.key_id,
                private_key=signer.private_key,
                actor=agency,
            )
        agreements.activate(agreement.id, agreement.version, actor="bench", reason="bench")
        session.commit()
        clock["now"] = NOW
        messages: list[Message] = []
        for b in range(batches):
            rows = sample_records(sv, records)
            for r in rows:
                r["record_id"] = f"{b}-{r['record_id']}"
            messages.extend(
                seal_batch(
                    rows,
                    schema=sv,
                    agreement_id=agreement.id,
                    agreement_version=agreement.version,
                    signer=signers["nis"],
                    now=NOW - timedelta(seconds=1),
                    max_message_bytes=MAX_BYTES,
                )
            )
        worker = IngestWorker(
            session,
            schemas=schemas,
            lake=open_catalog(database_url=url, warehouse=str(tmp / "lake")),
            keys=keys,
            agreements=agreements,
            audit=audit,
            ledger=Ledger(session, kek=KeyEncryptionKey(b"\x05" * 32)),
            rekeyer=TokenRekeyer(b"\x06" * 32, version=1),
            signer=signers["hub"],
            clock=now,
            max_skew=timedelta(minutes=5),
            max_message_bytes=MAX_BYTES,
        )
        public = signers["nis"].public_key()
        start = time.perf_counter()
        for m in messages:
            open_batch(
                m.value,
                m.headers,
                catalog=schemas,
                public_key_for=lambda _k: public,
                now=NOW,
                max_skew=timedelta(minutes=5),
                max_message_bytes=MAX_BYTES,
            )
        baseline = time.perf_counter() - start
        lake = {"s": 0.0}
        land: Callable[..., Any] = worker._land

        def timed_land(*args: Any) -> Any:
            t = time.perf_counter()
            try:
                return land(*args)
            finally:
                lake["s"] += time.perf_counter() - t

        worker._land = timed_land  # type: ignore[method-assign,assignment]
        deliveries = [
            Delivered("lmis.nis.contribution.v1", 0, i, m.value, m.headers)
            for i, m in enumerate(messages)
        ]
        start = time.perf_counter()
        outcomes = []
        for i in range(0, len(deliveries), group):
            outcomes.extend(worker.process_group(deliveries[i : i + group]))
        full = time.perf_counter() - start
        assert all(o.status == "accepted" for o in outcomes), outcomes[0]
        table = worker.lake.load_table("bronze.nis__contribution")
        snapshots = len(table.metadata.snapshots)
    engine.dispose()
    return Run(full, lake["s"], snapshots), baseline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=128)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--group", type=int, default=IngestSettings().max_group_messages)
    args = parser.parse_args()
    schemas = Catalog.load()
    total = args.batches * args.records
    runs: dict[int, Run] = {}
    baselines: list[float] = []
    for group in (1, args.group):
        with tempfile.TemporaryDirectory() as tmp:
            run, baseline = _variant(Path(tmp), schemas, args.batches, args.records, group)
        runs[group] = run
        if baseline is not None:
            baselines.append(baseline)
    baseline = min(baselines)
    print(f"messages: {args.batches}, records: {total}")
    print(f"open_batch alone        : {baseline:8.3f} s  {total / baseline:10.0f} records/s")
    for group, run in runs.items():
        print(
            f"ingest, groups of {group:<5} : {run.seconds:8.3f} s  {total / run.seconds:10.0f} "
            f"records/s  ratio to open_batch {baseline / run.seconds:.2f}  "
            f"lake {100 * run.lake_seconds / run.seconds:.0f} %  "
            f"snapshots {run.snapshots}"
        )
    single, grouped = runs[1], runs[args.group]
    print(f"groups of {args.group} vs groups of 1: {single.seconds / grouped.seconds:.1f}x faster")


if __name__ == "__main__":
    main()
