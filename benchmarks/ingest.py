"""Ingest worker throughput: records/s through IngestWorker.process (verify, dedupe,
coverage, re-key, one lake commit, ledger + delivery + audit, receipt) against
open_batch alone (verify + decode) on the same messages in the same run.

    .venv/bin/python -m benchmarks.ingest [--batches 20] [--records 1000]

Everything runs in one SQLite hub database (the embedded stack's setup, lake
catalog included) with a local warehouse folder; Kafka is not involved.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from schemas.catalog import Catalog
from schemas.envelope import open_batch, seal_batch
from schemas.signing import Signer
from tests.schemas.samples import sample_records

EXAMPLE = Path(__file__).parents[1] / "governance" / "examples" / "nis-contributions.yaml"
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()
    schemas = Catalog.load()
    sv = schemas.current("nis", "contribution")
    clock = {"now": NOW - timedelta(days=1)}

    def now() -> datetime:
        return clock["now"]

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'hub.db'}"
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
                "contribution": {
                    "periodicity": "monthly",
                    "delivery_lag_days": 20,
                    "fields": fields,
                }
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
            messages = []
            for b in range(args.batches):
                records = sample_records(sv, args.records)
                for r in records:
                    r["record_id"] = f"{b}-{r['record_id']}"
                messages.extend(
                    seal_batch(
                        records,
                        schema=sv,
                        agreement_id=agreement.id,
                        agreement_version=agreement.version,
                        signer=signers["nis"],
                        now=NOW - timedelta(seconds=1),
                        max_message_bytes=8 * 1024 * 1024,
                    )
                )
            worker = IngestWorker(
                session,
                schemas=schemas,
                lake=open_catalog(database_url=url, warehouse=str(Path(tmp) / "lake")),
                keys=keys,
                agreements=agreements,
                audit=audit,
                ledger=Ledger(session, kek=KeyEncryptionKey(b"\x05" * 32)),
                rekeyer=TokenRekeyer(b"\x06" * 32, version=1),
                signer=signers["hub"],
                clock=now,
                max_skew=timedelta(minutes=5),
                max_message_bytes=8 * 1024 * 1024,
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
                    max_message_bytes=8 * 1024 * 1024,
                )
            baseline = time.perf_counter() - start
            start = time.perf_counter()
            statuses = [
                worker.process(Delivered("lmis.nis.contribution.v1", 0, i, m.value, m.headers))
                for i, m in enumerate(messages)
            ]
            full = time.perf_counter() - start
            assert all(o.status == "accepted" for o in statuses), statuses[0]
        engine.dispose()
    total = args.batches * args.records
    print(f"messages: {len(messages)}, records: {total}")
    print(f"open_batch alone : {baseline:8.3f} s  {total / baseline:10.0f} records/s")
    print(f"ingest process   : {full:8.3f} s  {total / full:10.0f} records/s")
    print(f"ratio (process / open_batch time): {full / baseline:.1f}x")
    print(f"per batch: {1000 * full / len(messages):.1f} ms")


if __name__ == "__main__":
    main()
