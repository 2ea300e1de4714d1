"""The ingest worker's decisions on both backends, on a real lake: accepted, deduped, refused."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pyarrow.compute as pc
import pytest

from governance.deliveries.models import IngestedBatch
from integration.ingest.decisions import Delivered
from integration.lake.bronze import bronze_identifier, committed_batch_ids
from schemas.envelope import Message, open_batch
from schemas.receipts import UNVERIFIED_REASONS, open_receipt
from schemas.signing import SIGNATURE_HEADER
from tests.integration.ingest.conftest import K_HUB, contribution_fields, delivered
from tests.schemas.envelope_helpers import resign


def receipt_of(hub, outcome):
    assert outcome.receipt is not None
    return open_receipt(
        outcome.receipt.value,
        outcome.receipt.headers,
        catalog=hub.schemas,
        public_key_for=lambda key_id: hub.hub.public_key() if key_id == hub.hub.key_id else None,
        now=hub.clock.now,
        max_skew=timedelta(minutes=5),
    )


def landed(hub, batch_id):
    table = hub.worker.lake.load_table(bronze_identifier("nis", "contribution"))
    rows = table.scan().to_arrow()
    return rows.filter(pc.equal(rows["_batch_id"], batch_id))


def audit_tags(hub, subject_prefix):
    return [e.tag for e in hub.audit.tail(50) if e.subject.startswith(subject_prefix)]


def test_accepted_batch_lands_rekeyed_with_lineage_ledger_audit_and_receipt(hub, db_session):
    sv = hub.schemas.current("nis", "contribution")
    message = hub.seal(4)
    outcome = hub.worker.process(delivered(message))
    assert outcome.status == "accepted", outcome.message
    batch_id = outcome.batch_id
    rows = landed(hub, batch_id)
    assert rows.num_rows == 4
    row = rows.to_pylist()[0]
    assert row["_agreement_id"] == "nis-lmis-2026" and row["_agreement_version"] == 1
    assert row["_schema_fingerprint"] == sv.fingerprint_hex
    originals = {r["record_id"]: r["nis_number_token"] for r in _records(hub, message)}
    for r in rows.to_pylist():
        original = originals[r["record_id"]]
        # The key id (K_link generation) in front, then 30 bytes of HMAC(K_hub, token).
        expected = original[:2] + hmac.new(K_HUB, original, hashlib.sha256).digest()[:30]
        assert r["nis_number_token"] == expected != original
    ledger_row = db_session.get(IngestedBatch, batch_id)
    assert ledger_row.snapshot_id == str(outcome.snapshot_id)
    assert ledger_row.content_digest == hashlib.sha256(message.value).hexdigest()
    assert "delivery:accepted" in audit_tags(hub, f"batch:{batch_id}")
    receipt = receipt_of(hub, outcome)
    assert receipt.outcome == "accepted" and receipt.lake_commit_id == str(outcome.snapshot_id)
    assert receipt.records_accepted == 4 and outcome.receipt_topic == "lmis.receipts.nis"


def _records(hub, message: Message):
    return open_batch(
        message.value,
        message.headers,
        catalog=hub.schemas,
        public_key_for=lambda _k: hub.nis.public_key(),
        now=hub.clock.now,
        max_skew=timedelta(minutes=5),
    ).records


def test_replay_is_answered_again_quietly(hub):
    message = hub.seal(2)
    first = hub.worker.process(delivered(message))
    table = hub.worker.lake.load_table(bronze_identifier("nis", "contribution"))
    snapshots = len(table.metadata.snapshots)
    again = hub.worker.process(delivered(message, offset=7))
    assert again.status == "duplicate" and again.snapshot_id == first.snapshot_id
    assert again.receipt.value == first.receipt.value
    table.refresh()
    assert len(table.metadata.snapshots) == snapshots
    assert landed(hub, first.batch_id).num_rows == 2
    assert hub.ledger.quarantined() == []


def test_crash_between_lake_commit_and_ledger_does_not_append_twice(hub, db_session):
    message = hub.seal(3)
    first = hub.worker.process(delivered(message))
    # Forget the ledger row as if the hub-database transaction had never committed.
    db_session.delete(db_session.get(IngestedBatch, first.batch_id))
    db_session.flush()
    again = hub.worker.process(delivered(message))
    assert again.status == "accepted" and again.snapshot_id == first.snapshot_id
    table = hub.worker.lake.load_table(bronze_identifier("nis", "contribution"))
    assert first.batch_id in committed_batch_ids(table)
    assert landed(hub, first.batch_id).num_rows == 3


def _quarantined(hub, message_or_delivery, code):
    d = (
        message_or_delivery
        if not isinstance(message_or_delivery, Message)
        else delivered(message_or_delivery)
    )
    outcome = hub.worker.process(d)
    assert outcome.status == "quarantined"
    assert outcome.reason_code == code, outcome.message
    row = hub.ledger.get_quarantined(outcome.quarantine_id)
    assert row.reason_code == code
    original = hub.ledger.original(row)
    assert original.value == (d.value or b"") and original.headers == list(d.headers)
    assert "delivery:quarantined" in audit_tags(hub, f"quarantine:{row.id}")
    receipt = receipt_of(hub, outcome)
    assert receipt.outcome == "rejected" and receipt.reason_code == code
    # The receipt names the batch only for a refusal of the signed bytes themselves.
    claimed = dict(d.headers).get("lmis-batch-id", b"").decode("ascii", "replace")
    digest = hashlib.sha256(d.value or b"").hexdigest()
    assert receipt.batch_id == (digest if code in UNVERIFIED_REASONS else claimed)
    # The worker stays up: the next good batch is accepted.
    assert hub.worker.process(delivered(hub.seal(1))).status == "accepted"
    return outcome


def test_batch_id_conflict(hub, db_session):
    message = hub.seal(2)
    batch_id = dict(message.headers)["lmis-batch-id"].decode()
    db_session.add(
        IngestedBatch(
            batch_id=batch_id,
            agency="nis",
            dataset="contribution",
            content_digest="0" * 64,
            agreement_id="nis-lmis-2026",
            agreement_version=1,
            lake_table="bronze.nis__contribution",
            snapshot_id="1",
            records=2,
            received_at=hub.clock.now,
        )
    )
    db_session.commit()
    outcome = _quarantined(hub, message, "ingest.batch_conflict")
    assert outcome.batch_id == batch_id
    assert landed(hub, batch_id).num_rows == 0


def test_bad_signature(hub):
    message = hub.seal(1)
    headers = [(k, (b"0" * 128 if k == SIGNATURE_HEADER else v)) for k, v in message.headers]
    _quarantined(hub, Message(message.key, message.value, headers), "envelope.bad_signature")


def test_revoked_key(hub):
    message = hub.seal(1)
    hub.keys.revoke(
        hub.nis.key_id, reason="laptop stolen", actor="ops", at=hub.clock.now - timedelta(hours=1)
    )
    outcome = hub.worker.process(delivered(message))
    assert outcome.status == "quarantined" and outcome.reason_code == "key.revoked"
    assert receipt_of(hub, outcome).outcome == "rejected"
    assert hub.ledger.get_quarantined(outcome.quarantine_id).agency == "nis"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("absent", "agreement.unknown"),
        ("suspended", "agreement.suspended"),
    ],
)
def test_agreement_absent_or_suspended(hub, change, code):
    message = hub.seal(1)
    if change == "absent":
        message = resign(message, hub.nis, agreement_id=b"no-such-agreement")
    else:
        hub.agreements.suspend("nis-lmis-2026", 1, actor="lmis", reason="audit finding")
    outcome = hub.worker.process(delivered(message))
    assert outcome.status == "quarantined" and outcome.reason_code == code, outcome.message
    assert receipt_of(hub, outcome).reason_code == code


def test_field_not_covered(hub, db_session):
    fields = contribution_fields(hub.schemas)
    version = hub.activate_version([f for f in fields if f != "nis_number_token"])
    message = resign(hub.seal(1), hub.nis, agreement_version=str(version).encode())
    outcome = hub.worker.process(delivered(message))
    assert outcome.reason_code == "agreement.field_not_covered", outcome.message
    assert "nis_number_token" in outcome.message


def test_wrong_agency_on_topic(hub):
    _quarantined(
        hub, delivered(hub.seal(1), topic="lmis.nso.contribution.v1"), "ingest.wrong_agency"
    )


def test_unknown_schema(hub):
    message = resign(hub.seal(1), hub.nis, schema_fingerprint=b"0123456789abcdef")
    _quarantined(hub, message, "envelope.unknown_schema")


@pytest.mark.parametrize("value", [b"garbage", b"", None, b"Obj\x01" + b"\xff" * 40])
def test_garbage_value(hub, value):
    headers = [("lmis-agency", b"nis"), ("x", b"\x00\xff")]
    outcome = hub.worker.process(Delivered("lmis.nis.contribution.v1", 0, 3, value, headers))
    assert outcome.status == "quarantined"
    assert outcome.reason_code.startswith("envelope.")
    assert receipt_of(hub, outcome).outcome == "rejected"
    assert hub.worker.process(delivered(hub.seal(1))).status == "accepted"


def test_key_of_another_agency(hub):
    hub.nis = hub.new_key("nso")
    hub.clock.now += timedelta(seconds=10)  # the new key is valid from its registration
    outcome = hub.worker.process(delivered(hub.seal(1)))
    assert outcome.status == "quarantined"
    assert outcome.reason_code == "ingest.key_agency_mismatch", outcome.message


def test_dataset_on_another_datasets_topic(hub):
    _quarantined(
        hub, delivered(hub.seal(1), topic="lmis.nis.insured_person.v1"), "ingest.wrong_topic"
    )
