"""The receipt reader takes the hub's agreement notices: verified, kept once, the
connector's agreement only; a kind it does not know is skipped, never an error."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import schemas
from connectors.sdk.agreement_notices import superseded
from connectors.sdk.receipts import ReceiptApplier, ReceiptReport
from connectors.sdk.state import StateDB
from schemas.agreement_notices import KIND_HEADER, Supersession, seal_agreement_notice
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message
from schemas.errors import EnvelopeError
from schemas.keys import key_id_for
from schemas.signing import Signer
from tests.connectors.sdk.test_publisher import CATALOG, NOW
from tests.connectors.sdk.test_receipts import HUB, HUB_SIGNER


def notice(current: int = 2, agreement_id: str = "dsa-tvet-lmis", agency: str = "tvet"):
    return Supersession(
        agency=agency,
        agreement_id=agreement_id,
        superseded_version=current - 1,
        current_version=current,
        activated_at=NOW - timedelta(hours=1),
    )


def sealed(n: Supersession, signer: Signer = HUB_SIGNER) -> Message:
    return seal_agreement_notice(n, catalog=CATALOG, signer=signer, now=NOW)


def applier(state: StateDB, version: int = 1) -> ReceiptApplier:
    return ReceiptApplier(
        state,
        catalog=CATALOG,
        hub_keys=[HUB.public_key()],
        agency="tvet",
        dataset="trainee",
        clock=lambda: NOW,
        max_skew=timedelta(minutes=5),
        agreement=("dsa-tvet-lmis", version),
    )


def apply(app: ReceiptApplier, message: Message) -> ReceiptReport:
    report = ReceiptReport()
    app.apply_message(message.value, message.headers, report)
    return report


def test_a_notice_of_the_connectors_agreement_is_kept_once_and_says_what_to_set(
    state: StateDB, caplog: pytest.LogCaptureFixture
) -> None:
    app = applier(state)
    assert superseded(state, "dsa-tvet-lmis", 1) is None
    with caplog.at_level(logging.WARNING):
        report = apply(app, sealed(notice()))
    assert (report.notices, report.invalid, report.applied) == (1, [], 0)
    found = superseded(state, "dsa-tvet-lmis", 1)
    assert found is not None
    assert found.message == (
        "agreement dsa-tvet-lmis version 1 is superseded by version 2: set agreement_version: 2"
    )
    assert "set agreement_version: 2" in caplog.text
    assert apply(app, sealed(notice())).notices == 0  # the same notice again: kept once
    assert superseded(state, "dsa-tvet-lmis", 2) is None  # the config already names v2
    apply(app, sealed(notice(current=3)))
    assert superseded(state, "dsa-tvet-lmis", 1).current_version == 3  # type: ignore[union-attr]


def test_notices_of_other_agreements_are_skipped(state: StateDB) -> None:
    app = applier(state)
    report = apply(app, sealed(notice(agreement_id="dsa-tvet-research")))
    report2 = apply(app, sealed(notice(agency="nis")))
    assert report.notices_other == report2.notices_other == 1
    assert state.connection.execute("SELECT COUNT(*) FROM agreement_notices").fetchone()[0] == 0


def test_a_notice_that_does_not_verify_is_logged_and_ignored(
    state: StateDB, caplog: pytest.LogCaptureFixture
) -> None:
    forger = Ed25519PrivateKey.generate()
    forged = sealed(notice(current=9), Signer(key_id_for("hub", forger.public_key()), forger))
    with caplog.at_level(logging.WARNING):
        report = apply(applier(state), forged)
    assert report.invalid == ["envelope.unknown_key"] and report.notices == 0
    assert "agreement notice refused: [envelope.unknown_key]" in caplog.text
    assert superseded(state, "dsa-tvet-lmis", 1) is None


def test_a_kind_the_connector_does_not_know_is_skipped(state: StateDB) -> None:
    message = sealed(notice())
    unknown = Message(
        message.key,
        message.value,
        [(n, v) for n, v in message.headers if n != KIND_HEADER] + [(KIND_HEADER, b"forecast")],
    )
    report = apply(applier(state), unknown)
    assert report.other_kinds == 1 and report.invalid == [] and report.notices == 0
    # Without its header a notice is read as a receipt: refused as one, not an error.
    bare = Message(message.key, message.value, [h for h in message.headers if h[0] != KIND_HEADER])
    assert apply(applier(state), bare).invalid == ["envelope.schema_mismatch"]


def test_a_connector_older_than_notices_refuses_one_as_a_receipt_and_reads_on(
    state: StateDB, tmp_path: Path
) -> None:
    """An older connector knows neither the header nor the schema: it reads a notice as a
    receipt, which does not verify (an EnvelopeError, which its reader logs and skips)."""
    root = tmp_path / "avro"
    shutil.copytree(Path(schemas.__file__).parent / "avro", root)
    shutil.rmtree(root / "hub" / "agreement_notice")
    older = ReceiptApplier(
        state,
        catalog=SchemaCatalog.load(root),
        hub_keys=[HUB.public_key()],
        agency="tvet",
        clock=lambda: NOW,
        max_skew=timedelta(minutes=5),
    )
    message = sealed(notice())
    with pytest.raises(EnvelopeError) as info:
        older.verify(message.value, message.headers)  # what an older reader did with it
    assert info.value.code == "envelope.unknown_schema"
