"""The ledger and quarantine tables on both backends; payloads are encrypted at rest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from governance.deliveries.models import IngestedBatch, QuarantinedMessage
from governance.errors import SecretUndecryptable
from governance.keys.wrapping import KeyEncryptionKey
from integration.ingest.errors import QuarantineUnknown
from integration.ingest.ledger import Ledger, Origin

AT = datetime(2026, 2, 1, 8, tzinfo=UTC)


def test_quarantine_round_trip_and_ciphertext_hides_payload(db_session) -> None:
    ledger = Ledger(db_session, kek=KeyEncryptionKey(b"\x01" * 32))
    value = b"Obj\x01 secret-payload-NATIONAL-ID-123"
    headers = [("lmis-agency", b"nis"), ("lmis-batch-id", b"ab" * 32)]
    row = ledger.quarantine(
        value=value,
        headers=headers,
        origin=Origin("lmis.nis.contribution.v1", 0, 41),
        reason_code="envelope.bad_signature",
        message="signature does not verify",
        received_at=AT,
        agency="nis",
    )
    stored = db_session.scalars(
        select(QuarantinedMessage).where(QuarantinedMessage.id == row.id)
    ).one()
    assert b"NATIONAL-ID" not in stored.ciphertext
    assert stored.offset == 41 and stored.reason_code == "envelope.bad_signature"
    original = ledger.original(ledger.get_quarantined(row.id))
    assert original.value == value and original.headers == headers
    assert [r.id for r in ledger.quarantined(reason_code="envelope.bad_signature")] == [row.id]
    assert ledger.quarantined(agency="tvet") == []
    with pytest.raises(SecretUndecryptable):
        Ledger(db_session, kek=KeyEncryptionKey(b"\x02" * 32)).original(stored)
    with pytest.raises(QuarantineUnknown):
        ledger.get_quarantined("nope")


def test_accepted_batches_by_id(db_session) -> None:
    ledger = Ledger(db_session, kek=KeyEncryptionKey(b"\x01" * 32))
    assert ledger.accepted("cd" * 32) is None
    ledger.record_accepted(
        IngestedBatch(
            batch_id="cd" * 32,
            agency="nis",
            dataset="contribution",
            content_digest="ef" * 32,
            agreement_id="nis-lmis-2026",
            agreement_version=1,
            lake_table="bronze.nis__contribution",
            snapshot_id="123",
            records=10,
            received_at=AT,
        )
    )
    row = ledger.accepted("cd" * 32)
    assert row is not None and row.records == 10 and row.received_at == AT
