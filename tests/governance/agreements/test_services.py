"""Agreements on both backends: signing, lifecycle, delivery coverage, monitoring."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from governance.agreements.services import AgreementService
from governance.errors import (
    AgreementExists,
    AgreementExpired,
    AgreementUnchanged,
    NotAParty,
    SignatureInvalid,
    TransitionRefused,
)
from schemas.keys import public_pem
from tests.governance.agreements.factories import make_doc

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
FIELDS = frozenset({"nis_number_token", "period", "insurable_earnings"})


@pytest.fixture
def signers(keys) -> dict[str, tuple[str, Ed25519PrivateKey]]:
    out = {}
    for agency in ("nis", "hub", "tvet"):
        private = Ed25519PrivateKey.generate()
        row = keys.register(agency, public_pem(private.public_key()), actor="ops")
        out[agency] = (row.key_id, private)
    return out


@pytest.fixture
def service(db_session, clock, audit, keys) -> AgreementService:
    return AgreementService(db_session, clock=clock, audit=audit, keys=keys)


def sign_all(service, signers, agreement_id, version) -> None:
    for agency in ("nis", "hub"):
        key_id, private = signers[agency]
        service.sign_with(
            agreement_id,
            version,
            agency=agency,
            key_id=key_id,
            private_key=private,
            actor=f"{agency}-director",
        )


def active(service, signers, **overrides):
    row = service.create(make_doc(**overrides), actor="lmis")
    sign_all(service, signers, row.id, row.version)
    service.activate(row.id, row.version, actor="lmis", reason="go live")
    return row


def test_create_sign_activate_and_history(service, signers, audit) -> None:
    row = service.create(make_doc(), actor="lmis")
    assert row.state == "draft" and row.version == 1
    with pytest.raises(AgreementExists):
        service.create(make_doc(), actor="lmis")
    key_id, private = signers["nis"]
    service.sign_with(row.id, 1, agency="nis", key_id=key_id, private_key=private, actor="d")
    assert row.state == "draft"  # waiting for the hub's signature
    with pytest.raises(TransitionRefused):
        service.activate(row.id, 1, actor="lmis", reason="too early")
    key_id, private = signers["hub"]
    service.sign_with(row.id, 1, agency="hub", key_id=key_id, private_key=private, actor="h")
    assert row.state == "signed"
    service.activate(row.id, 1, actor="lmis", reason="approved by the steering committee")
    assert [(t.from_state, t.to_state, t.actor) for t in service.history(row.id, 1)] == [
        ("draft", "signed", "h"),
        ("signed", "active", "lmis"),
    ]
    assert service.verify_signatures(row.id, 1) == {"hub": "valid", "nis": "valid"}
    tags = [e.tag for e in audit.search(subject=f"agreement:{row.id}:v1")]
    assert tags == [
        "agreement:create",
        "agreement:sign",
        "agreement:sign",
        "agreement:transition",
        "agreement:transition",
    ]


def test_bad_signatures_are_refused(service, signers) -> None:
    row = service.create(make_doc(), actor="lmis")
    key_id, private = signers["nis"]
    with pytest.raises(SignatureInvalid):
        service.sign(
            row.id,
            1,
            agency="nis",
            key_id=key_id,
            actor="x",
            signature=private.sign(b"another document"),
        )
    tvet_key, tvet_private = signers["tvet"]
    with pytest.raises(NotAParty):
        service.sign_with(
            row.id, 1, agency="tvet", key_id=tvet_key, private_key=tvet_private, actor="x"
        )
    with pytest.raises(SignatureInvalid, match="belongs to tvet"):
        service.sign_with(
            row.id, 1, agency="nis", key_id=tvet_key, private_key=tvet_private, actor="x"
        )


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (["active", "suspended", "active"], True),
        (["active", "terminated"], True),
        (["active", "expired"], False),  # expiry happens by date, see expire_due
        (["terminated", "active"], False),
        (["active", "suspended", "terminated", "active"], False),
    ],
)
def test_lifecycle_transitions(service, signers, path, allowed) -> None:
    row = service.create(make_doc(), actor="lmis")
    sign_all(service, signers, row.id, 1)
    moves = {
        "active": service.activate,
        "suspended": service.suspend,
        "terminated": service.terminate,
    }
    if not allowed:
        with pytest.raises((TransitionRefused, KeyError)):
            for state in path:
                moves[state](row.id, 1, actor="lmis", reason="because")
        return
    for state in path:
        moves[state](row.id, 1, actor="lmis", reason="because")
    assert row.state == path[-1]


def test_check_delivery_reasons(service, signers, clock) -> None:
    row = active(service, signers)
    ok = service.check_delivery("nis", "contributions", FIELDS, row.id, 1, AT)
    assert ok.covered and ok.code is None
    cases = {
        ("tvet", "contributions", FIELDS, row.id, 1, AT): "agreement.wrong_agency",
        ("nis", "claims", FIELDS, row.id, 1, AT): "agreement.dataset_not_covered",
        (
            "nis",
            "contributions",
            FIELDS | {"name_token"},
            row.id,
            1,
            AT,
        ): "agreement.field_not_covered",
        ("nis", "contributions", FIELDS, "nope", 1, AT): "agreement.unknown",
        ("nis", "contributions", FIELDS, row.id, 9, AT): "agreement.unknown",
        (
            "nis",
            "contributions",
            FIELDS,
            row.id,
            1,
            datetime(2029, 1, 1, tzinfo=UTC),
        ): "agreement.expired",
        (
            "nis",
            "contributions",
            FIELDS,
            row.id,
            1,
            datetime(2025, 12, 31, tzinfo=UTC),
        ): "agreement.not_active",
    }
    for args, code in cases.items():
        assert service.check_delivery(*args).code == code, args
    extra = service.check_delivery(
        "nis", "contributions", FIELDS | {"name_token", "dob"}, row.id, 1, AT
    )
    assert extra.fields_not_covered == ("dob", "name_token")
    assert "dob, name_token" in extra.message
    service.suspend(row.id, 1, actor="lmis", reason="breach under review")
    assert service.check_delivery("nis", "contributions", FIELDS, row.id, 1, AT).code == (
        "agreement.suspended"
    )
    service.activate(row.id, 1, actor="lmis", reason="cleared")
    assert service.check_delivery("nis", "contributions", FIELDS, row.id, 1, AT).covered


def test_draft_and_amended_versions(service, signers) -> None:
    row = service.create(make_doc(), actor="lmis")
    assert service.check_delivery("nis", "contributions", FIELDS, row.id, 1, AT).code == (
        "agreement.not_active"
    )
    sign_all(service, signers, row.id, 1)
    service.activate(row.id, 1, actor="lmis", reason="go")
    data = make_doc().model_dump(mode="json")
    data["datasets"]["contributions"]["fields"].append("occupation_isco08")
    v2 = service.amend(make_doc(datasets=data["datasets"]), actor="lmis")
    assert v2.version == 2 and v2.state == "draft"
    # v1 still governs until v2 is active.
    assert service.check_delivery("nis", "contributions", FIELDS, row.id, 1, AT).covered
    sign_all(service, signers, row.id, 2)
    service.activate(row.id, 2, actor="lmis", reason="amendment 1")
    assert service.get(row.id, 1).state == "terminated"
    old = service.check_delivery("nis", "contributions", FIELDS, row.id, 1, AT)
    assert old.code == "agreement.version_superseded"
    assert service.check_delivery(
        "nis", "contributions", FIELDS | {"occupation_isco08"}, row.id, 2, AT
    ).covered


def test_raise_if_refused_uses_the_code(service, signers) -> None:
    row = active(service, signers)
    coverage = service.check_delivery("nis", "claims", FIELDS, row.id, 1, AT)
    with pytest.raises(Exception) as info:
        coverage.raise_if_refused()
    assert getattr(info.value, "code", None) == "agreement.dataset_not_covered"


def test_expiring_and_expire_due(service, signers, clock) -> None:
    row = active(service, signers, id="soon-ending", valid_until="2026-02-01")
    active(service, signers, id="long-running")
    names = [r.id for r in service.expiring(30, at=datetime(2026, 1, 10, tzinfo=UTC))]
    assert names == ["soon-ending"]
    assert service.expiring(10, at=datetime(2026, 1, 10, tzinfo=UTC)) == []
    expired = service.expire_due(actor="monitor", at=datetime(2026, 2, 2, tzinfo=UTC))
    assert [r.id for r in expired] == [row.id] and row.state == "expired"


def test_late_deliveries(service, signers, clock) -> None:
    row = active(service, signers)
    # On 2026-03-25 February's contributions (due 20 days after 1 March) are late,
    # insured persons (lag 15) too.
    at = datetime(2026, 3, 25, tzinfo=UTC)
    late = {(x.dataset, x.period_start.isoformat()) for x in service.late(at=at)}
    assert late == {("contributions", "2026-02-01"), ("insured_persons", "2026-02-01")}
    service.record_delivery(row.id, 1, "contributions", datetime(2026, 3, 18, tzinfo=UTC))
    # A delivery made before February closed does not serve February.
    service.record_delivery(row.id, 1, "insured_persons", datetime(2026, 2, 20, tzinfo=UTC))
    assert [x.dataset for x in service.late(at=at)] == ["insured_persons"]
    # Earlier, January was the period due, and the 20 February delivery served it.
    assert service.late(at=datetime(2026, 3, 5, tzinfo=UTC)) == []
    (late_ip,) = service.late(at=at)
    assert late_ip.last_delivery == datetime(2026, 2, 20, tzinfo=UTC)
    assert late_ip.due.isoformat() == "2026-03-16"


def test_an_amendment_identical_to_the_current_version_is_refused(service, signers) -> None:
    row = active(service, signers)
    with pytest.raises(AgreementUnchanged, match="identical to v1"):
        service.amend(make_doc(), actor="lmis")
    assert [r.version for r in service.find() if r.id == row.id] == [1]


def test_activation_names_missing_signatures_and_refuses_an_ended_validity(
    service, signers, clock
) -> None:
    row = service.create(make_doc(id="ends-soon", valid_until="2026-02-01"), actor="lmis")
    key_id, private = signers["nis"]
    service.sign_with(row.id, 1, agency="nis", key_id=key_id, private_key=private, actor="nis")
    with pytest.raises(TransitionRefused, match=r"still needs the signature of hub$"):
        service.activate(row.id, 1, actor="lmis", reason="go")
    key_id, private = signers["hub"]
    service.sign_with(row.id, 1, agency="hub", key_id=key_id, private_key=private, actor="hub")
    clock.now = datetime(2026, 2, 2, tzinfo=UTC)
    with pytest.raises(AgreementExpired, match="valid until 2026-02-01"):
        service.activate(row.id, 1, actor="lmis", reason="go")
    assert service.get(row.id, 1).state == "signed"


def test_activating_a_newer_version_queues_a_notice_for_the_provider(
    service, signers, audit, clock, db_session
) -> None:
    row = active(service, signers)
    assert service.pending_notices() == []  # a first version supersedes nothing
    data = make_doc().model_dump(mode="json")
    data["datasets"]["contributions"]["fields"].append("occupation_isco08")
    service.amend(make_doc(datasets=data["datasets"]), actor="lmis")
    sign_all(service, signers, row.id, 2)
    savepoint = db_session.begin_nested()
    service.activate(row.id, 2, actor="lmis", reason="amendment 1")
    assert len(service.pending_notices()) == 1
    savepoint.rollback()  # the activation did not commit: neither did its notice
    assert service.pending_notices() == [] and service.get(row.id, 1).state == "active"

    service.activate(row.id, 2, actor="lmis", reason="amendment 1")
    (notice,) = service.pending_notices()
    assert (notice.agency, notice.agreement_id, notice.superseded_version) == ("nis", row.id, 1)
    assert (notice.current_version, notice.created_at, notice.sent_at) == (2, clock.now, None)
    queued = audit.search(subject=f"agreement:{row.id}:v1")[-1]
    assert queued.tag == "agreement_notice:queue"
    assert queued.details == {"agency": "nis", "superseded_version": 1, "current_version": 2}

    sent_at = clock.advance(seconds=3)
    service.mark_notice_sent(notice, at=sent_at, actor="ingest")
    assert service.pending_notices() == []
    assert [n.sent_at for n in service.notices(row.id)] == [sent_at]
    tags = [e.tag for e in audit.search(subject=f"agreement:{row.id}:v1")]
    assert tags[-2:] == ["agreement_notice:queue", "agreement_notice:send"]
