"""Every send of an outbox batch is signed at send time with the connector's current key.

A batch may wait in the outbox past its key's revocation or the hub's maximum message
age; it must go out under the current key and a fresh producer time, with the same
batch ids, bytes and parts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyiceberg.catalog.sql import SqlCatalog

from connectors.sdk.errors import BatchSettled, OutboxDataInvalid
from connectors.sdk.outbox import Outbox
from connectors.sdk.pipeline import Batch
from connectors.sdk.publisher import EnvelopePublisher, resign, unpack_messages
from connectors.sdk.receipts import ReceiptApplier, resend_due, resend_now
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import Watermark
from integration.lake.catalog import open_catalog
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, open_batch
from schemas.keys import key_id_for
from schemas.samples import sample_records
from schemas.signing import Signer
from tests.connectors.sdk.test_publisher import (
    CATALOG,
    NOW,
    RecordingSender,
    assert_resigned,
    make_batch,
    publisher,
)
from tests.integration.ingest.conftest import AGREEMENT, make_hub
from tests.integration.ingest.conftest import NOW as HUB_NOW
from tests.integration.ingest.conftest import delivered as hub_delivery


def new_signer(agency: str = "tvet") -> Signer:
    private = Ed25519PrivateKey.generate()
    return Signer(key_id_for(agency, private.public_key()), private)


def test_a_resend_is_signed_with_the_current_key_and_a_fresh_time(state: StateDB) -> None:
    key_a, key_b = new_signer(), new_signer()
    first = RecordingSender()
    batch = make_batch(300)  # more than one part
    publisher(state, key_a, first, "t", max_message_bytes=16 * 1024)(batch)
    assert len(first.calls[0]) > 1

    # The connector restarts with the agency's new key, two days later.
    later = NOW + timedelta(days=2)
    again = RecordingSender()
    pub = EnvelopePublisher(
        schema=CATALOG.current("tvet", "trainee"),
        topic="t",
        agreement_id="dsa-tvet-2026",
        agreement_version=3,
        signer=key_b,
        state=state,
        sender=again,
        clock=lambda: later,
    )
    assert resend_due(pub, state, now=later, timeout=timedelta(minutes=10)) == [batch.batch_id]
    assert_resigned(again.calls[0], first.calls[0], key_b, later)
    # The hub refuses messages older than a day: this one is as fresh as its send.
    for m in again.calls[0]:
        open_batch(
            m.value,
            m.headers,
            catalog=CATALOG,
            public_key_for={key_b.key_id: key_b.public_key()}.get,
            now=later,
            max_skew=timedelta(seconds=5),
            max_age=timedelta(hours=24),
        )
    held = Outbox(state).get(batch.batch_id)
    assert (held.state, held.attempts) == ("sent", 2)
    assert unpack_messages(held.payload, held.headers) == again.calls[0]  # as last sent

    # `resend` (the operator's) signs anew too, at its own time.
    clock = [later + timedelta(hours=1)]
    pub = EnvelopePublisher(
        schema=CATALOG.current("tvet", "trainee"),
        topic="t",
        agreement_id="dsa-tvet-2026",
        agreement_version=3,
        signer=key_b,
        state=state,
        sender=again,
        clock=lambda: clock[0],
    )
    assert resend_now(pub, state) == [batch.batch_id]
    assert_resigned(again.calls[1], first.calls[0], key_b, clock[0])


def test_resign_refuses_parts_that_are_not_envelopes() -> None:
    with pytest.raises(OutboxDataInvalid):
        resign([Message(b"k", b"v", [("lmis-envelope", b"1")])], signer=new_signer(), now=NOW)


@pytest.fixture(scope="module")
def ingest_lake(tmp_path_factory: pytest.TempPathFactory) -> SqlCatalog:
    root: Path = tmp_path_factory.mktemp("resign-lake")
    return open_catalog(database_url=f"sqlite:///{root / 'catalog.db'}", warehouse=str(root))


def test_a_batch_waiting_when_its_key_is_revoked_is_accepted_signed_with_the_new_key(
    db_session, ingest_lake: SqlCatalog, state: StateDB
) -> None:
    schemas = SchemaCatalog.load()
    hub = make_hub(db_session, schemas, ingest_lake)
    schema = schemas.current("nis", "contribution")
    records = sample_records(schema, 3)  # this module's own lake: no other batches
    tag = uuid.uuid4().hex[:8]
    batch = Batch(
        batch_id=uuid.uuid4().hex,
        dataset="contribution",
        records=tuple(records),
        refusals=(),
        watermark=Watermark("2026-03-01", tag),
        row_count=3,
    )
    clock = [HUB_NOW - timedelta(hours=2)]

    def connector(signer: Signer, sender: RecordingSender) -> EnvelopePublisher:
        return EnvelopePublisher(
            schema=schema,
            topic="lmis.nis.contribution.v1",
            agreement_id=AGREEMENT,
            agreement_version=1,
            signer=signer,
            state=state,
            sender=sender,
            clock=lambda: clock[0],
        )

    lost = RecordingSender()  # sent with key A, never answered (the broker lost it)
    connector(hub.nis, lost)(batch)

    # The agency's key A is replaced by B and revoked; the connector gets key B.
    key_b = hub.new_key("nis")
    hub.keys.revoke(
        hub.nis.key_id, reason="compromised", actor="ops", at=HUB_NOW - timedelta(hours=1)
    )
    db_session.commit()
    # As stored, signed with A: refused (a key revoked before the hub receives it).
    as_stored = hub.worker.process(hub_delivery(lost.calls[0][0]))
    assert (as_stored.status, as_stored.reason_code) == ("quarantined", "key.revoked")
    clock[0] = HUB_NOW
    resent = RecordingSender()
    sent = resend_due(connector(key_b, resent), state, now=HUB_NOW, timeout=timedelta(minutes=10))
    assert sent == [batch.batch_id]

    (message,) = resent.calls[0]
    outcome = hub.worker.process(hub_delivery(message, offset=1))
    assert outcome.status == "accepted", (outcome.reason_code, outcome.message)
    assert outcome.records == 3
    assert message.value == lost.calls[0][0].value  # the same batch, not a new one


def test_a_rejected_batch_goes_again_under_the_corrected_agreement(
    db_session, ingest_lake: SqlCatalog, state: StateDB
) -> None:
    """The config named a wrong agreement: the hub rejected the batch, the watermark had
    moved on, and `resend` refused a settled batch. After the config is corrected,
    `resend --batch ID --rejected` sends it again under the right agreement."""
    schemas = SchemaCatalog.load()
    hub = make_hub(db_session, schemas, ingest_lake)
    schema = schemas.current("nis", "contribution")
    batch = Batch(
        batch_id=uuid.uuid4().hex,
        dataset="contribution",
        records=tuple(sample_records(schema, 3)),
        refusals=(),
        watermark=Watermark("2026-03-01", uuid.uuid4().hex[:8]),
        row_count=3,
    )

    def connector(agreement_id: str, sender: RecordingSender) -> EnvelopePublisher:
        return EnvelopePublisher(
            schema=schema,
            topic="lmis.nis.contribution.v1",
            agreement_id=agreement_id,
            agreement_version=1,
            signer=hub.nis,
            state=state,
            sender=sender,
            clock=lambda: HUB_NOW,
        )

    receipts = ReceiptApplier(
        state,
        catalog=schemas,
        hub_keys=[hub.hub.public_key()],
        agency="nis",
        clock=lambda: HUB_NOW,
        max_skew=timedelta(minutes=5),
    )
    wrong = RecordingSender()
    connector("dsa-nis-typo", wrong)(batch)
    refused = hub.worker.process(hub_delivery(wrong.calls[0][0]))
    assert refused.reason_code == "agreement.unknown"
    assert refused.receipt is not None
    receipts.apply(receipts.verify(refused.receipt.value, refused.receipt.headers))
    assert Outbox(state).get(batch.batch_id).state == "rejected"

    fixed = RecordingSender()
    with pytest.raises(BatchSettled, match="--rejected"):
        resend_now(connector(AGREEMENT, fixed), state, batch_ids=[batch.batch_id])
    assert resend_now(
        connector(AGREEMENT, fixed), state, batch_ids=[batch.batch_id], rejected=True
    ) == [batch.batch_id]
    (message,) = fixed.calls[0]
    assert message.value == wrong.calls[0][0].value  # the same batch, its agreement fixed
    landed = hub.worker.process(hub_delivery(message, offset=1))
    assert landed.status == "accepted", landed.message
    assert landed.receipt is not None
    receipts.apply(receipts.verify(landed.receipt.value, landed.receipt.headers))
    assert Outbox(state).get(batch.batch_id).state == "accepted"
    with pytest.raises(BatchSettled, match="only a rejected batch"):
        Outbox(state).reopen(batch.batch_id)  # an accepted batch is final
