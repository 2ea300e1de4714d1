from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.errors import EnvelopeError
from schemas.receipts import Receipt, open_receipt, receipt_topic, seal_receipt
from schemas.signing import Signer
from tests.schemas.conftest import NOW

HUB = Signer("hub-2026-1", Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))


def _receipt(outcome="rejected"):
    return Receipt(
        batch_id="ab" * 32,
        agency="nis",
        dataset="contribution",
        outcome=outcome,
        reason_code="envelope.bad_signature" if outcome == "rejected" else None,
        lake_commit_id=None if outcome == "rejected" else "5123401234",
        records_received=120,
        records_accepted=0 if outcome == "rejected" else 120,
        records_rejected=120 if outcome == "rejected" else 0,
        decided_at=datetime(2026, 1, 15, 12, 0, 1, 250000, tzinfo=UTC),
    )


@pytest.mark.parametrize("outcome", ["accepted", "rejected"])
def test_receipts_round_trip_signed(catalog, outcome):
    receipt = _receipt(outcome)
    message = seal_receipt(receipt, catalog=catalog, agreement_id="dsa-1", agreement_version=2,
                           signer=HUB, now=NOW)  # fmt: skip
    opened = open_receipt(message.value, message.headers, catalog=catalog,
                          public_key_for={HUB.key_id: HUB.public_key()}.get, now=NOW,
                          max_skew=timedelta(0))  # fmt: skip
    assert opened == receipt
    assert dict(message.headers)["lmis-agency"] == b"hub"
    again = seal_receipt(receipt, catalog=catalog, agreement_id="dsa-1", agreement_version=2,
                         signer=HUB, now=NOW)  # fmt: skip
    assert again.headers == message.headers
    assert receipt_topic("nis") == "lmis.receipts.nis"


def test_a_receipt_signed_by_another_key_is_refused(catalog):
    forger = Signer(HUB.key_id, Ed25519PrivateKey.generate())
    message = seal_receipt(_receipt(), catalog=catalog, agreement_id="dsa-1",
                           agreement_version=2, signer=forger, now=NOW)  # fmt: skip
    with pytest.raises(EnvelopeError) as info:
        open_receipt(message.value, message.headers, catalog=catalog,
                     public_key_for={HUB.key_id: HUB.public_key()}.get, now=NOW,
                     max_skew=timedelta(0))  # fmt: skip
    assert info.value.code == "envelope.bad_signature"
