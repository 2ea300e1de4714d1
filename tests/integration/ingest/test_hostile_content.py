"""Hostile deliveries signed with real agency keys: content that breaks the schema's rules,
topics and ids that do not match the bytes, backdated or revoked keys, and the worker's
error policy. Each case asserts the exact reason code, the rejection receipt (naming the
batch only when the refusal follows from the signed bytes), nothing in the lake, and
that a valid batch sent afterwards lands (see ``_quarantined``)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from governance.deliveries.models import IngestedBatch
from integration.ingest.decisions import Delivered
from integration.lake.bronze import bronze_identifier
from lmis_hub.errors import ServiceUnavailable
from lmis_hub.tokens import key_id_prefix, token_key_id
from schemas.catalog import SchemaCatalog
from schemas.container import encode_records
from schemas.envelope import Message, seal_batch
from schemas.samples import opaque_sample_id, sample_records
from schemas.signing import SIGNATURE_HEADER, Signer
from tests.fixtures.hub import agency_agreement, dataset_terms
from tests.integration.ingest.conftest import Hub, delivered
from tests.integration.ingest.test_worker import _quarantined, landed, receipt_of
from tests.schemas.envelope_helpers import resign

WIDE = "nis-wide-2026"
NSO = "nso-lmis-2026"
NIS_DATASETS = ("contribution", "insured_person", "employer", "benefit_claim")


@dataclass
class Providers:
    hub: Hub
    nso: Signer

    def records(self, agency: str, dataset: str, n: int = 3) -> list[dict[str, Any]]:
        sv = self.hub.schemas.current(agency, dataset)
        records = sample_records(sv, n)
        tag = hashlib.sha256(repr(records).encode() + str(id(records)).encode()).hexdigest()
        for i, r in enumerate(records):
            r[sv.record_id_field] = opaque_sample_id(f"{tag}:{i}")
        return records

    def seal(
        self,
        agency: str,
        dataset: str,
        records: list[dict[str, Any]],
        *,
        signer: Signer | None = None,
        at: timedelta = timedelta(seconds=-5),
    ) -> Message:
        sv = self.hub.schemas.current(agency, dataset)
        (message,) = seal_batch(
            records,
            schema=sv,
            agreement_id=WIDE if agency == "nis" else NSO,
            agreement_version=1,
            signer=signer or (self.hub.nis if agency == "nis" else self.nso),
            now=self.hub.clock.now + at,
        )
        return message


@pytest.fixture
def parties(hub: Hub, db_session) -> Providers:
    """The hub of ``conftest`` plus an agreement covering every NIS dataset and an NSO
    key and agreement for the Labour Force Survey."""

    def terms(agency: str, datasets: tuple[str, ...]) -> dict[str, Any]:
        return {d: dataset_terms(hub.schemas, agency, d) for d in datasets}

    hub.activate(agency_agreement("nis", terms("nis", NIS_DATASETS), agreement_id=WIDE))
    nso = hub.new_key("nso", not_before=hub.clock.now - timedelta(days=1))
    hub.signers["nso"] = nso
    hub.activate(agency_agreement("nso", terms("nso", ("lfs_person",)), agreement_id=NSO))
    db_session.commit()
    return Providers(hub, nso)


def _topic(agency: str, dataset: str) -> str:
    return SchemaCatalog.load().current(agency, dataset).topic


def _refused(parties: Providers, message: Message, code: str, topic: str) -> Any:
    outcome = _quarantined(parties.hub, delivered(message, topic=topic), code)
    claimed = dict(message.headers)["lmis-batch-id"].decode()
    assert parties.hub.worker.session.get(IngestedBatch, claimed) is None
    return outcome


# Content that breaks the schema's rules: one case per rule and field kind ----------------


def _set(field: str, value: Any, *, record: int = 1) -> Callable[[list[dict[str, Any]]], None]:
    def change(records: list[dict[str, Any]]) -> None:
        records[record][field] = value

    return change


def _padded(text: bytes, fill: bytes = b"\x00") -> bytes:
    return text.ljust(32, fill)


def _digits_inside() -> bytes:
    noise = hashlib.sha256(b"noise").digest()
    return noise[:10] + b"19283746510" + noise[10:21]


CONTENT_CASES = [
    ("weeks_paid_99", "nis", "contribution", _set("weeks_paid", 99), "validation.range"),
    (
        "negative_earnings",
        "nis",
        "contribution",
        _set("insurable_earnings_cents", -100),
        "validation.range",
    ),
    (
        "date_1800",
        "nis",
        "contribution",
        _set("contribution_month", date(1800, 1, 1)),
        "validation.date",
    ),
    (
        "date_2999",
        "nis",
        "contribution",
        _set("contribution_month", date(2999, 1, 1)),
        "validation.date",
    ),
    (
        "date_0001",
        "nis",
        "contribution",
        _set("contribution_month", date(1, 1, 1)),
        "validation.date",
    ),
    ("sex_7", "nis", "insured_person", _set("sex", "7"), "validation.code_list"),
    ("region_unknown", "nis", "insured_person", _set("region", "TT-XXX"), "validation.code_list"),
    ("birth_year_1850", "nis", "insured_person", _set("birth_year", 1850), "validation.range"),
    ("isic_unknown", "nis", "employer", _set("industry", "9999"), "validation.code_list"),
    (
        "decided_before_claimed",
        "nis",
        "benefit_claim",
        lambda rs: rs[1].update(claim_date=date(2025, 6, 2), decision_date=date(2025, 6, 1)),
        "validation.order",
    ),
    (
        "national_id_zero_padded_in_a_token",
        "nis",
        "insured_person",
        _set("national_id_token", _padded(b"19283746510")),
        "validation.token",
    ),
    (
        "name_space_padded_in_a_token",
        "nis",
        "insured_person",
        _set("name_token", _padded(b"Jane Raw-Name", b" ")),
        "validation.token",
    ),
    (
        "national_id_inside_random_bytes",
        "nis",
        "contribution",
        _set("nis_number_token", _digits_inside()),
        "validation.token",
    ),
    (
        "identifier_as_record_id",
        "nis",
        "insured_person",
        _set("record_id", "NID 19283746510 Jane Raw-Name"),
        "validation.record_id",
    ),
    (
        "agency_row_number_as_record_id",
        "nis",
        "insured_person",
        _set("record_id", "nis-ip-1000123"),
        "validation.record_id",
    ),
    (
        "upper_case_record_id",
        "nis",
        "contribution",
        _set("record_id", "AB" * 16),
        "validation.record_id",
    ),
    ("age_500", "nso", "lfs_person", _set("age", 500), "validation.range"),
    ("weight_nan", "nso", "lfs_person", _set("survey_weight", math.nan), "validation.not_finite"),
    ("weight_inf", "nso", "lfs_person", _set("survey_weight", math.inf), "validation.not_finite"),
    ("isco_unknown", "nso", "lfs_person", _set("occupation", "9999"), "validation.code_list"),
]


@pytest.mark.parametrize(
    ("agency", "dataset", "change", "code"),
    [case[1:] for case in CONTENT_CASES],
    ids=[case[0] for case in CONTENT_CASES],
)
def test_content_breaking_a_rule_is_refused(parties, agency, dataset, change, code):
    records = parties.records(agency, dataset)
    change(records)
    message = parties.seal(agency, dataset, records)
    outcome = _refused(parties, message, code, _topic(agency, dataset))
    # The refusal names the record and the rule, never the value.
    assert "record 1 " in outcome.message
    row = parties.hub.ledger.get_quarantined(outcome.quarantine_id)
    assert "record 1 " in row.message
    for value in (b"19283746510", b"Jane", b"TT-XXX", b"nis-ip-"):
        assert value.decode() not in row.message
    assert landed(parties.hub, outcome.batch_id).num_rows == 0


def test_every_broken_record_is_named_by_number_and_rule(parties):
    records = parties.records("nis", "contribution", 6)
    records[0]["weeks_paid"] = 9
    records[4]["weeks_paid"] = -1
    records[4]["contribution_month"] = date(2999, 1, 1)
    outcome = _refused(
        parties,
        parties.seal("nis", "contribution", records),
        "validation.range",  # the first problem in record order decides the code
        _topic("nis", "contribution"),
    )
    assert "2 record(s)" in outcome.message and "3 rule(s)" in outcome.message
    for named in ("record 0 weeks_paid: maximum", "record 4 weeks_paid: minimum"):
        assert named in outcome.message
    assert "record 4 contribution_month: date" in outcome.message
    # The agency's rejection receipt lists them too, so its operator can fix the rows.
    receipt = receipt_of(parties.hub, outcome)
    assert [(p.record, p.field, p.rule) for p in receipt.problems] == [
        (0, "weeks_paid", "maximum"),
        (4, "contribution_month", "date"),
        (4, "weeks_paid", "minimum"),
    ]


def _of_generation(record: dict[str, Any], key_id: int) -> dict[str, Any]:
    """``record`` with every token (each element of an array) of link-key generation
    ``key_id``: the same MAC bytes behind another key id."""

    def moved(token: bytes) -> bytes:
        return key_id_prefix(key_id) + token[2:]

    out = dict(record)
    for name, value in record.items():
        if name.endswith("_token") and isinstance(value, bytes):
            out[name] = moved(value)
        elif name.endswith("_token") and value:
            out[name] = [moved(t) for t in value]
    return out


def test_a_batch_mixing_link_key_generations_is_refused(parties):
    """Generations 1 and 2 in one batch: quarantined as token.link_key_mixed, the fields
    and records of the other generation named in the message and the receipt; the
    tokens of an array field are looked at one by one."""
    records = [_of_generation(r, 1) for r in parties.records("nis", "insured_person", 7)]
    records[2] = _of_generation(records[2], 2)  # the batch's other tokens are generation 1
    variants = records[1]["national_id_variants_token"]
    assert variants and records[1]["name_token"] is not None
    records[1]["national_id_variants_token"] = [*variants[:-1], key_id_prefix(2) + variants[-1][2:]]
    message = parties.seal("nis", "insured_person", records)
    outcome = _refused(parties, message, "token.link_key_mixed", _topic("nis", "insured_person"))
    of_2 = {k for k, v in records[2].items() if k.endswith("_token") and v}
    expected = {(1, "national_id_variants_token")} | {(2, field) for field in of_2}
    receipt = receipt_of(parties.hub, outcome)
    assert {(p.record, p.field) for p in receipt.problems} == expected
    assert {p.rule for p in receipt.problems} == {"link_key"}
    row = parties.hub.ledger.get_quarantined(outcome.quarantine_id)
    assert "record 1 national_id_variants_token: link_key" in row.message
    assert "link-key generations 1 (" in row.message and ", 2 (" in row.message
    tokens = [t for r in records for v in r.values() if isinstance(v, bytes | list) for t in (
        [v] if isinstance(v, bytes) else v) if isinstance(t, bytes)]  # fmt: skip
    assert tokens and not any(t.hex() in row.message for t in tokens)


def test_a_batch_of_the_new_generation_lands_with_its_key_id(parties):
    """After a rotation a whole batch of generation 2 is accepted, and the lake's re-keyed
    tokens still say generation 2."""
    records = [_of_generation(r, 2) for r in parties.records("nis", "insured_person", 4)]
    message = parties.seal("nis", "insured_person", records)
    topic = _topic("nis", "insured_person")
    outcome = parties.hub.worker.process(delivered(message, topic=topic))
    assert outcome.status == "accepted", outcome.message
    table = parties.hub.worker.lake.load_table(bronze_identifier("nis", "insured_person"))
    rows = [r for r in table.scan().to_arrow().to_pylist() if r["_batch_id"] == outcome.batch_id]
    assert len(rows) == 4
    lake = [t for r in rows for k, v in r.items() if k.endswith("_token") and v is not None
            for t in ([v] if isinstance(v, bytes) else v)]  # fmt: skip
    sent = {t for r in records for k, v in r.items() if k.endswith("_token") and v is not None
            for t in ([v] if isinstance(v, bytes) else v)}  # fmt: skip
    assert lake and {token_key_id(t) for t in lake} == {2}
    assert not sent & set(lake)  # re-keyed all the same


def test_a_good_batch_of_every_covered_dataset_lands(parties):
    for agency, dataset in [("nis", d) for d in NIS_DATASETS] + [("nso", "lfs_person")]:
        message = parties.seal(agency, dataset, parties.records(agency, dataset))
        outcome = parties.hub.worker.process(delivered(message, topic=_topic(agency, dataset)))
        assert outcome.status == "accepted", (dataset, outcome.message)


# The envelope: topics, ids and counts bound to the bytes -----------------------------------


def test_a_batch_on_another_major_versions_topic_is_refused(parties):
    message = parties.seal("nis", "contribution", parties.records("nis", "contribution"))
    _refused(parties, message, "ingest.wrong_topic", "lmis.nis.contribution.v9")


def test_a_batch_on_a_topic_without_a_version_is_refused(parties):
    message = parties.seal("nis", "contribution", parties.records("nis", "contribution"))
    _refused(parties, message, "ingest.wrong_topic", "lmis.nis.contribution")


def test_a_signed_random_batch_id_is_refused(parties):
    message = parties.seal("nis", "contribution", parties.records("nis", "contribution"))
    forged = resign(message, parties.hub.nis, batch_id=hashlib.sha256(b"any").hexdigest().encode())
    _refused(parties, forged, "envelope.batch_id_mismatch", _topic("nis", "contribution"))


def test_a_one_part_batch_in_another_group_is_refused(parties):
    message = parties.seal("nis", "contribution", parties.records("nis", "contribution"))
    forged = resign(message, parties.hub.nis, batch_group=b"ab" * 32)
    _refused(parties, forged, "envelope.batch_id_mismatch", _topic("nis", "contribution"))


def _empty_container(hub: Hub, *, with_block: bool) -> bytes:
    sv = hub.schemas.current("nis", "contribution")
    header = encode_records(sv, [])  # header only: magic, metadata, sync marker
    return header + (b"\x00\x00" + header[-16:] if with_block else b"")


@pytest.mark.parametrize("with_block", [True, False], ids=["one_empty_block", "no_block"])
def test_an_empty_batch_is_refused(parties, with_block):
    template = parties.seal("nis", "contribution", parties.records("nis", "contribution", 1))
    empty = resign(
        template,
        parties.hub.nis,
        value=_empty_container(parties.hub, with_block=with_block),
        record_count=b"0",
    )
    _refused(parties, empty, "envelope.empty_batch", _topic("nis", "contribution"))


# Time: backdating, revocation, expiry -------------------------------------------------------


def _nis_key_since(hub: Hub, days: int) -> Signer:
    return hub.new_key("nis", not_before=hub.clock.now - timedelta(days=days))


def test_a_backdated_producer_time_is_stale(parties):
    message = parties.seal(
        "nis",
        "contribution",
        parties.records("nis", "contribution"),
        signer=_nis_key_since(parties.hub, 30),
        at=-timedelta(days=20),
    )
    outcome = _refused(parties, message, "envelope.stale", _topic("nis", "contribution"))
    assert "signed when they are sent" in outcome.message


def test_a_revoked_key_is_refused_whatever_producer_time_it_writes(parties):
    hub = parties.hub
    stolen = _nis_key_since(hub, 30)
    hub.keys.revoke(stolen.key_id, reason="laptop stolen", actor="ops", at=hub.clock.now)
    # Signed "an hour before the revocation", within every time limit.
    message = parties.seal(
        "nis",
        "contribution",
        parties.records("nis", "contribution"),
        signer=stolen,
        at=-timedelta(hours=1),
    )
    outcome = _refused(parties, message, "key.revoked", _topic("nis", "contribution"))
    assert "before this message was received" in outcome.message


def test_a_key_expired_twenty_days_ago_cannot_backdate_into_its_validity(parties):
    hub = parties.hub
    old = hub.new_key(
        "nis",
        not_before=hub.clock.now - timedelta(days=400),
        not_after=hub.clock.now - timedelta(days=20),
    )
    inside_validity = parties.seal(
        "nis",
        "contribution",
        parties.records("nis", "contribution"),
        signer=old,
        at=-timedelta(days=21),
    )
    _refused(parties, inside_validity, "envelope.stale", _topic("nis", "contribution"))
    current = parties.seal(
        "nis", "contribution", parties.records("nis", "contribution"), signer=old
    )
    _refused(parties, current, "key.expired", _topic("nis", "contribution"))


def test_a_replay_is_judged_at_its_first_delivery_not_today(parties):
    """A quarantined message replayed a week later is not stale for the wait."""
    hub = parties.hub
    records = parties.records("nis", "contribution")
    records[1]["weeks_paid"] = 9
    refused = _refused(
        parties,
        parties.seal("nis", "contribution", records),
        "validation.range",
        _topic("nis", "contribution"),
    )
    hub.clock.now += timedelta(days=7)
    (again,) = hub.worker.replay([hub.ledger.get_quarantined(refused.quarantine_id)])
    assert again.reason_code == "validation.range"  # still its own fault, not envelope.stale


# Receipts never vouch for what was not verified ---------------------------------------------


def test_a_forged_message_claiming_an_accepted_batch_id_does_not_name_it(parties):
    hub = parties.hub
    genuine = parties.seal("nis", "contribution", parties.records("nis", "contribution"))
    accepted = hub.worker.process(delivered(genuine))
    assert accepted.status == "accepted"
    forged_headers = [(k, (b"0" * 128 if k == SIGNATURE_HEADER else v)) for k, v in genuine.headers]
    forged = Message(b"k", b"Obj\x01 anything", forged_headers)
    outcome = _quarantined(hub, delivered(forged, offset=1), "envelope.bad_signature")
    receipt = receipt_of(hub, outcome)
    assert receipt.batch_id == hashlib.sha256(forged.value).hexdigest() != accepted.batch_id
    assert hub.worker.session.get(IngestedBatch, accepted.batch_id) is not None


def test_a_genuine_message_copied_to_another_topic_does_not_name_the_batch(parties):
    """Topics are not signed: a refusal for the topic must not settle the genuine batch."""
    hub = parties.hub
    genuine = parties.seal("nis", "contribution", parties.records("nis", "contribution"))
    outcome = _refused(parties, genuine, "ingest.wrong_topic", "lmis.nis.contribution.v2")
    assert receipt_of(hub, outcome).batch_id == hashlib.sha256(genuine.value).hexdigest()
    assert hub.worker.process(delivered(genuine)).status == "accepted"


# The error policy ---------------------------------------------------------------------------


def test_a_defect_of_the_checks_quarantines_as_check_failed(parties, monkeypatch):
    hub = parties.hub

    def broken(_schema: Any) -> Any:
        raise RuntimeError("a bug in a rule")

    monkeypatch.setattr(hub.worker, "rules", broken)
    message = parties.seal("nis", "contribution", parties.records("nis", "contribution"))
    outcome = hub.worker.process(delivered(message))
    assert (outcome.status, outcome.reason_code) == ("quarantined", "ingest.check_failed")
    monkeypatch.undo()
    row = hub.ledger.get_quarantined(outcome.quarantine_id)
    (replayed,) = hub.worker.replay([row])  # the defect fixed: the kept original lands
    assert replayed.status == "accepted"


def test_a_database_outage_during_the_checks_stores_nothing_and_raises(parties, monkeypatch):
    hub = parties.hub
    message = parties.seal("nis", "contribution", parties.records("nis", "contribution"))
    before = len(hub.ledger.quarantined(limit=None))

    def down(_key_id: str) -> Any:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(hub.keys, "status", down)
    with pytest.raises(ServiceUnavailable):
        hub.worker.process_group(
            [Delivered("lmis.nis.contribution.v1", 0, 0, message.value, message.headers)]
        )
    monkeypatch.undo()
    assert len(hub.ledger.quarantined(limit=None)) == before
    batch_id = dict(message.headers)["lmis-batch-id"].decode()
    assert hub.worker.session.get(IngestedBatch, batch_id) is None
    assert hub.worker.process(delivered(message)).status == "accepted"  # read again: lands
