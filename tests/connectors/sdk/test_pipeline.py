from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from connectors.sdk.config import parse_config
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.outbox import Outbox
from connectors.sdk.pipeline import Batch, Pipeline, Published, batch_id_for
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import WatermarkStore
from lmis_hub.errors import Arises, registered_codes

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = LinkKey(bytes(range(32)), key_id=1)

FIRST = ["Ann", "Brian", "Chantal", "Dwayne", "Esther", "Fitz", "Grace", "Hugh", "Ines", "Jai"]


def agency_rows() -> list[dict[str, Any]]:
    rows = []
    for i, first in enumerate(FIRST, start=1):
        rows.append(
            {
                "enrolment_id": i,
                "updated_at": f"2026-02-0{1 + i // 4} 10:00:00",  # ties of up to 4 rows
                "national_id": f"{870000000 + i * 1111:09d}",
                "first_name": f"Mr {first}",
                "surname": f"Braithwaite-{first}son",
                "dob": f"1990-0{1 + i % 9}-1{i % 9}",
                "gender": "F" if i % 2 else "M",
                "occ": "ELEC" if i % 3 else "WELD",
            }
        )
    rows[3]["occ"] = "ASTRONAUT"  # enrolment 4: unknown code -> refused
    rows[6]["national_id"] = "12345"  # enrolment 7: wrong length -> refused
    return rows


CONFIG = {
    "agency": "tvet",
    "dataset": "enrolments",
    "state_dir": "unused",
    "batch_size": 3,
    "source": {
        "type": "sql",
        "url": "sqlite://",
        "table": "enrolments",
        "watermark_column": "updated_at",
        "key_column": "enrolment_id",
        "chunk_size": 2,
    },
    "mapping": {
        "key_column": "enrolment_id",
        "fields": {
            "enrolment_id": {"column": "enrolment_id"},
            "sex": {"column": "gender", "code_table": "sex"},
            "birth_year": {"column": "dob", "date_formats": ["%Y-%m-%d"], "date_part": "year"},
            "programme_isco": {"column": "occ", "code_table": "occ"},
        },
        "identifiers": {
            "national_id": "national_id",
            "given_name": "first_name",
            "family_name": "surname",
            "dob": "dob",
        },
        "code_tables": {"sex": {"M": "1", "F": "2"}, "occ": {"ELEC": "7411", "WELD": "7212"}},
    },
    "validation": {
        "sex": {"required": True, "code_list": "sex"},
        "programme_isco": {"required": True},
    },
    "tokenise": {"link_key_file": "unused"},
    "kafka": {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"},
}


@pytest.fixture
def agency_db(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'agency.db'}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE enrolments (enrolment_id INTEGER PRIMARY KEY, updated_at TEXT, "
                "national_id TEXT, first_name TEXT, surname TEXT, dob TEXT, gender TEXT, occ TEXT)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO enrolments VALUES (:enrolment_id, :updated_at, :national_id, "
                ":first_name, :surname, :dob, :gender, :occ)"
            ),
            agency_rows(),
        )
    yield engine
    engine.dispose()


def pipeline(engine: Engine, state: StateDB) -> Pipeline:
    from connectors.sdk.sources.sql import SqlSource

    config = parse_config(CONFIG)
    source = SqlSource(config.source, engine=engine)  # type: ignore[arg-type]
    return Pipeline.from_config(
        config,
        state=state,
        link_key=KEY,
        clock=lambda: NOW,
        code_lists={"sex": {"1", "2", "9"}},
        source=source,
    )


class Recorder:
    """A publish callable that keeps what it sent and can fail on its n-th call."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.sent: list[Batch] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, batch: Batch) -> Published:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise ConnectionError("broker went away")
        self.sent.append(batch)
        return Published(payload=b"avro:" + batch.batch_id.encode(), headers=b"hdr")


def ids(batches: list[Batch]) -> list[int]:
    return [r["enrolment_id"] for b in batches for r in b.records]


def test_crash_inside_publish_resumes_with_nothing_lost_and_nothing_twice(
    agency_db: Engine, tmp_path: Path
) -> None:
    reference = Recorder()
    pipeline(agency_db, StateDB.open(tmp_path / "ref.db")).run(reference)
    assert ids(reference.sent) == [1, 2, 3, 5, 6, 8, 9, 10]

    state = StateDB.open(tmp_path / "state.db")
    crashing = Recorder(fail_on_call=2)
    with pytest.raises(ConnectionError):
        pipeline(agency_db, state).run(crashing)
    assert [b.batch_id for b in Outbox(state).batches()] == [reference.sent[0].batch_id]
    assert WatermarkStore(state).get("enrolments") == reference.sent[0].watermark
    state.close()

    state = StateDB.open(tmp_path / "state.db")  # the restarted connector
    resumed = Recorder()
    report = pipeline(agency_db, state).run(resumed)
    sent = crashing.sent + resumed.sent
    assert [b.batch_id for b in sent] == [b.batch_id for b in reference.sent]
    assert [b.records for b in sent] == [b.records for b in reference.sent]
    assert ids(sent) == [1, 2, 3, 5, 6, 8, 9, 10]
    assert [b.batch_id for b in Outbox(state).batches()] == [b.batch_id for b in sent]
    assert report.batches == [b.batch_id for b in resumed.sent]

    again = Recorder()
    assert pipeline(agency_db, state).run(again).batches == [] and again.sent == []
    assert len(Outbox(state).batches()) == len(sent)


def test_refused_rows_never_publish_and_are_reported(agency_db: Engine, state: StateDB) -> None:
    rec = Recorder()
    report = pipeline(agency_db, state).run(rec)
    assert {(r.row_key, r.field, r.reason) for r in report.refusals} == {
        ("4", "programme_isco", "mapping.unknown_code"),
        ("7", "national_id_token", "identifier.invalid"),
    }
    assert 4 not in ids(rec.sent) and 7 not in ids(rec.sent)
    stored = state.connection.execute("SELECT row_key, reason FROM refusals").fetchall()
    assert sorted(stored) == sorted((r.row_key, r.reason) for r in report.refusals)
    assert report.rows_read == 10 and report.records_published == 8
    assert "12345" not in repr(report.refusals)
    assert all(Arises.ROW_REFUSAL in registered_codes()[r.reason].arises for r in report.refusals)


def test_no_raw_identifier_reaches_a_batch(agency_db: Engine, state: StateDB) -> None:
    rec = Recorder()
    pipeline(agency_db, state).run(rec)
    dump = repr([b.records for b in rec.sent]).upper()
    for row in agency_rows():
        for column in ("national_id", "surname", "dob"):
            assert str(row[column]).upper() not in dump
        assert row["first_name"].split()[1].upper() not in dump
    record = rec.sent[0].records[0]
    assert set(record) == {
        "enrolment_id",
        "sex",
        "birth_year",
        "programme_isco",
        "national_id_token",
        "name_token",
        "given_name_token",
        "family_name_token",
        "given_name_phonetic_token",
        "family_name_phonetic_token",
        "dob_token",
        "family_phonetic_year_month_token",
        "family_phonetic_month_day_token",
        "family_phonetic_year_day_token",
        "name_pair_token",
        "national_id_variants_token",
    }
    assert all(len(record[f]) == 32 for f in record if f.endswith("_token") and "variants" not in f)
    assert all(len(t) == 32 for t in record["national_id_variants_token"])


def test_updates_are_published_as_a_new_batch(agency_db: Engine, state: StateDB) -> None:
    pipeline(agency_db, state).run(Recorder())
    with agency_db.begin() as conn:
        conn.execute(
            text(
                "UPDATE enrolments SET updated_at = '2026-02-09 08:00:00', occ = 'WELD' "
                "WHERE enrolment_id IN (4, 2)"
            )
        )
    rec = Recorder()
    report = pipeline(agency_db, state).run(rec)
    assert ids(rec.sent) == [2, 4] and report.refusals == []


def test_batch_id_is_computed_from_content() -> None:
    a = [{"x": 1, "t": b"\x01" * 32}, {"x": 2, "t": b"\x02" * 32}]
    assert batch_id_for("d", a) == batch_id_for("d", [dict(reversed(r.items())) for r in a])
    assert batch_id_for("d", a) != batch_id_for("d", list(reversed(a)))
    assert batch_id_for("d", a) != batch_id_for("e", a)
    assert batch_id_for("d", a) != batch_id_for("d", [a[0], {"x": 2, "t": b"\x03" * 32}])
    assert batch_id_for("d", a, span="w1") != batch_id_for("d", a, span="w2")


def test_a_batch_equal_in_content_to_an_earlier_one_is_still_published(
    agency_db: Engine, state: StateDB
) -> None:
    first = Recorder()
    pipeline(agency_db, state).run(first)
    with agency_db.begin() as conn:  # touched and reverted: same content, later watermark
        conn.execute(
            text(
                "UPDATE enrolments SET updated_at = '2026-02-09 08:00:00' "
                "WHERE enrolment_id IN (1, 2, 3)"
            )
        )
    again = Recorder()
    pipeline(agency_db, state).run(again)
    assert [b.records for b in again.sent] == [first.sent[0].records]
    assert again.sent[0].batch_id != first.sent[0].batch_id


def test_a_stop_request_ends_the_run_after_a_committed_batch(
    agency_db: Engine, tmp_path: Path
) -> None:
    state = StateDB.open(tmp_path / "state.db")
    try:
        first = Recorder()
        report = pipeline(agency_db, state).run(first, should_stop=lambda: len(first.sent) == 1)
        assert report.stopped and report.batches == [first.sent[0].batch_id]
        assert WatermarkStore(state).get("enrolments") == first.sent[0].watermark
        rest = Recorder()
        again = pipeline(agency_db, state).run(rest)
        assert not again.stopped
        whole = Recorder()
        fresh = StateDB.open(tmp_path / "fresh.db")
        try:
            pipeline(agency_db, fresh).run(whole)
        finally:
            fresh.close()
        assert [b.batch_id for b in first.sent + rest.sent] == [b.batch_id for b in whole.sent]
    finally:
        state.close()
