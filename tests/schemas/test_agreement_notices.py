"""Agreement notices: signed like receipts, told apart from them by a header and a schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.agreement_notices import (
    AGREEMENT_NOTICE_KIND,
    RECEIPT_KIND,
    Supersession,
    message_kind,
    open_agreement_notice,
    seal_agreement_notice,
)
from schemas.errors import EnvelopeError, SchemaMismatch
from schemas.receipts import open_receipt, seal_receipt
from schemas.signing import Signer
from tests.schemas.conftest import NOW
from tests.schemas.test_receipts import HUB, _receipt

NOTICE = Supersession(
    agency="tvet",
    agreement_id="dsa-tvet-lmis",
    superseded_version=1,
    current_version=2,
    activated_at=datetime(2026, 1, 15, 11, 30, 0, 125000, tzinfo=UTC),
)


def _open(catalog, message, signer: Signer = HUB):
    return open_agreement_notice(
        message.value,
        message.headers,
        catalog=catalog,
        public_key_for={signer.key_id: signer.public_key()}.get,
        now=NOW,
        max_skew=timedelta(0),
    )


def test_a_notice_round_trips_signed_by_the_hub(catalog):
    message = seal_agreement_notice(NOTICE, catalog=catalog, signer=HUB, now=NOW)
    assert _open(catalog, message) == NOTICE
    headers = dict(message.headers)
    assert headers["lmis-agency"] == b"hub" and headers["lmis-dataset"] == b"agreement_notice"
    assert (headers["lmis-agreement-id"], headers["lmis-agreement-version"]) == (
        b"dsa-tvet-lmis",
        b"2",
    )
    assert message_kind(message.headers) == AGREEMENT_NOTICE_KIND
    again = seal_agreement_notice(NOTICE, catalog=catalog, signer=HUB, now=NOW)
    assert again == message  # the same notice, the same bytes


def test_a_notice_is_not_a_receipt_and_a_receipt_not_a_notice(catalog):
    notice = seal_agreement_notice(NOTICE, catalog=catalog, signer=HUB, now=NOW)
    keys = {HUB.key_id: HUB.public_key()}.get
    with pytest.raises(SchemaMismatch):
        open_receipt(notice.value, notice.headers, catalog=catalog, public_key_for=keys,
                     now=NOW, max_skew=timedelta(0))  # fmt: skip
    receipt = seal_receipt(_receipt(), catalog=catalog, agreement_id="dsa-1",
                           agreement_version=2, signer=HUB, now=NOW)  # fmt: skip
    assert message_kind(receipt.headers) == RECEIPT_KIND  # receipts carry no kind header
    with pytest.raises(SchemaMismatch):
        _open(catalog, receipt)


def test_a_notice_signed_by_another_key_is_refused(catalog):
    forger = Signer(HUB.key_id, Ed25519PrivateKey.generate())
    message = seal_agreement_notice(NOTICE, catalog=catalog, signer=forger, now=NOW)
    with pytest.raises(EnvelopeError) as info:
        _open(catalog, message)
    assert info.value.code == "envelope.bad_signature"
