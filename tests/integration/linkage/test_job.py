"""The linkage job on a real lake and hub database: silver written, keys kept across
runs, reviewers' decisions applied, and a failure or crash leaving silver as it was."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.sdk.linkkey import LinkKey
from governance.audit.models import AuditEntry
from governance.audit.services import AuditLog
from governance.linkage.models import LinkageRun, PersonKey, ReviewPair
from governance.timestamps import utc_now
from integration.lake.catalog import open_catalog
from integration.linkage import silver
from integration.linkage.errors import LinkageInputUnreadable, NoLinkageInput, TokenKeyIdsMixed
from integration.linkage.features import Source
from integration.linkage.job import LinkageJob
from integration.linkage.model import ModelSettings
from integration.linkage.review import ReviewQueue, key_history
from tests.integration.linkage.bronze import land
from tests.integration.linkage.people import people, recorded

NIS = Source("nis", "insured_person")
JOBS = Source("jobboard", "jobseeker")


@pytest.fixture
def lake(tmp_path: Path):
    return open_catalog(
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=str(tmp_path)
    )


@pytest.fixture(scope="module")
def key() -> LinkKey:
    return LinkKey(os.urandom(32), key_id=2)


@pytest.fixture
def job(db_session: Session, lake) -> LinkageJob:
    return LinkageJob(
        session=db_session,
        lake=lake,
        audit=AuditLog(db_session, clock=utc_now),
        clock=utc_now,
        actor="linkage-test",
        settings=ModelSettings(u_pairs=100_000),
    )


@pytest.fixture
def landed(lake, key: LinkKey):
    population = people(600, seed=21)
    nis, nis_truth = recorded(population, agency="nis", dataset="insured_person", key=key, seed=1)
    jobs, jobs_truth = recorded(
        population[:300], agency="jobboard", dataset="jobseeker", key=key, seed=2
    )
    land(lake, NIS, nis)
    land(lake, JOBS, jobs)
    return {NIS: (nis, nis_truth), JOBS: (jobs, jobs_truth)}


def links(lake, run: LinkageRun) -> dict[tuple[str, str], str]:
    table = lake.load_table(silver.PERSON_LINKS)
    rows = table.scan(snapshot_id=run.snapshots[silver.PERSON_LINKS]).to_arrow()
    return {
        (f"{a}/{d}", r): k
        for a, d, r, k in zip(
            *(rows[c].to_pylist() for c in ("agency", "dataset", "record_id", "person_key")),
            strict=True,
        )
    }


def test_a_run_writes_silver_records_itself_and_is_audited(job, lake, landed, db_session) -> None:
    run = job.run()
    assert run.state == "committed" and run.mode == "full"
    linked = links(lake, run)
    assert len(linked) == 900
    persons = lake.load_table(silver.PERSONS).scan().to_arrow()
    assert persons.num_rows == run.counts["persons"] == len(set(linked.values()))
    assert sum(persons["records"].to_pylist()) == 900
    both = [s for s in persons["sources"].to_pylist() if len(s) == 2]
    assert len(both) >= 280  # most of the 300 job seekers found their NIS record
    assert run.counts["key_changes"]["issued"] == run.counts["persons"]
    assert db_session.scalar(select(func.count()).select_from(PersonKey)) == run.counts["persons"]
    assert set(run.snapshots) >= {"bronze.nis__insured_person", silver.PERSON_LINKS}
    tags = db_session.scalars(select(AuditEntry.tag).where(AuditEntry.tag.like("linkage:%")))
    assert list(tags) == ["linkage:run"]
    # No token reaches silver.
    for name in silver.SCHEMAS:
        columns = lake.load_table(name).schema().column_names
        assert not [c for c in columns if "token" in c], name


def test_a_second_run_keeps_every_key_and_a_new_record_joins_its_person(
    job, lake, landed, key
) -> None:
    first = job.run()
    before = links(lake, first)
    nis, _ = landed[NIS]
    again = nis.slice(0, 1).set_column(0, "record_id", pa.array(["f" * 32]))
    land(lake, NIS, again)
    second = job.run()
    after = links(lake, second)
    assert second.counts["key_changes"] == {"issued": 0, "merged": 0, "split": 0}
    assert all(after[record] == k for record, k in before.items())
    assert (
        after[("nis/insured_person", "f" * 32)]
        == before[("nis/insured_person", nis["record_id"][0].as_py())]
    )


def test_decisions_merge_to_the_oldest_key_and_split_to_a_new_one(job, lake, landed, db_session):
    first = job.run()
    linked = links(lake, first)
    by_key: dict[str, list[tuple[str, str]]] = {}
    for record, k in linked.items():
        by_key.setdefault(k, []).append(record)
    pair_person = next(records for records in by_key.values() if len(records) == 2)
    singles = [records[0] for records in by_key.values() if len(records) == 1][:2]
    queue = ReviewQueue(db_session, audit=job.audit, clock=utc_now)

    def decide(left, right, decision: str) -> None:
        pair = ReviewPair(
            run_id=first.id,
            state="open",
            left_source=left[0],
            left_record=left[1],
            right_source=right[0],
            right_record=right[1],
            match_weight=-3.0,
            match_probability=0.1,
            pattern={},
            attributes={},
        )
        db_session.add(pair)
        db_session.flush()
        queue.decide(pair.id, decision, reviewer="reviewer-1")

    decide(singles[0], singles[1], "match")
    decide(pair_person[0], pair_person[1], "no_match")
    db_session.commit()
    second = job.run()
    after = links(lake, second)
    assert second.counts["decisions_applied"] == {"match": 1, "no_match": 1}
    assert after[singles[0]] == after[singles[1]]
    survivor = after[singles[0]]
    retired = ({linked[singles[0]], linked[singles[1]]} - {survivor}).pop()
    history = key_history(db_session, retired)
    assert history["forwards_to"] == survivor and history["current_key"] == survivor
    assert after[pair_person[0]] != after[pair_person[1]]
    assert linked[pair_person[0]] in {after[pair_person[0]], after[pair_person[1]]}
    assert second.counts["key_changes"] == {"issued": 1, "merged": 1, "split": 1}
    reviews = db_session.scalars(select(AuditEntry.tag).where(AuditEntry.tag == "linkage:review"))
    assert len(list(reviews)) == 2


def test_a_failed_run_is_recorded_with_its_code_and_leaves_silver_as_it_was(
    job, lake, landed, key, db_session
) -> None:
    first = job.run()
    table = lake.load_table(silver.PERSON_LINKS)
    other = LinkKey(os.urandom(32), key_id=9)
    bad, _ = recorded(people(1, seed=3), agency="nis", dataset="insured_person", key=key, seed=5)
    mixed, _ = recorded(
        people(1, seed=3), agency="nis", dataset="insured_person", key=other, seed=5
    )
    bad = bad.set_column(bad.schema.get_field_index("dob_token"), "dob_token", mixed["dob_token"])
    land(lake, NIS, bad)
    with pytest.raises(TokenKeyIdsMixed):
        job.run()
    failed = db_session.scalars(select(LinkageRun).order_by(LinkageRun.id.desc())).first()
    assert failed.state == "failed" and failed.error_code == "linkage.key_id_mixed"
    table.refresh()
    assert table.current_snapshot().snapshot_id == first.snapshots[silver.PERSON_LINKS]
    tags = list(
        db_session.scalars(
            select(AuditEntry.tag).where(AuditEntry.tag.like("linkage:%")).order_by(AuditEntry.seq)
        )
    )
    assert tags == ["linkage:run", "linkage:fail"]


def test_a_crash_between_the_lake_and_the_database_is_undone(job, lake, landed, monkeypatch):
    first = job.run()

    def crash(*_args, **_kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(LinkageJob, "_record_keys", crash)
    with pytest.raises(RuntimeError):
        job.run()
    table = lake.load_table(silver.PERSON_LINKS)
    assert table.current_snapshot().snapshot_id == first.snapshots[silver.PERSON_LINKS]
    monkeypatch.undo()
    # A process killed outright leaves silver ahead of the database: the next run
    # sets it back before it starts.
    silver.write(
        silver.ensure_tables(lake), {silver.PERSON_LINKS: table.scan().to_arrow().slice(0, 3)}
    )
    table.refresh()
    assert table.current_snapshot().snapshot_id != first.snapshots[silver.PERSON_LINKS]
    third = job.run()
    assert third.counts["key_changes"] == {"issued": 0, "merged": 0, "split": 0}
    assert len(links(lake, third)) == 900
    assert np.isfinite(third.counts["seconds"]["total"])


def test_an_incremental_run_compares_only_new_records_and_agrees_with_a_full_one(
    job, lake, landed, key
) -> None:
    first = job.run(incremental=True)
    assert first.mode == "full"
    assert first.counts["full_because"] == "no committed run with a model to start from"
    before = links(lake, first)
    # New deliveries: 40 people already known to NIS register as job seekers again
    # (new record ids), and 30 people nobody has seen.
    population = people(600, seed=21)
    known, _ = recorded(
        population[300:340], agency="jobboard", dataset="jobseeker", key=key, seed=7
    )
    known = known.set_column(0, "record_id", pa.array([f"{i:032x}" for i in range(40)]))
    strangers, _ = recorded(
        people(30, seed=99), agency="jobboard", dataset="jobseeker", key=key, seed=8
    )
    strangers = strangers.set_column(
        0, "record_id", pa.array([f"{i + 1000:032x}" for i in range(30)])
    )
    land(lake, JOBS, pa.concat_tables([known, strangers]))
    # A pair left open by the first run (this population leaves none of its own).
    nis_ids = landed[NIS][0]["record_id"].to_pylist()
    waiting = ReviewPair(
        run_id=first.id, state="open", left_source="nis/insured_person",
        left_record=nis_ids[0], right_source="nis/insured_person", right_record=nis_ids[1],
        match_weight=-5.0, match_probability=0.03, pattern={}, attributes={},
    )  # fmt: skip
    job.session.add(waiting)
    job.session.flush()
    open_before = set(job.session.scalars(select(ReviewPair.id).where(ReviewPair.state == "open")))
    second = job.run(incremental=True)
    assert second.mode == "incremental" and second.counts["new_records"] == 70
    # The earlier run's open review pairs stay open: the incremental run only adds pairs.
    still_open = set(job.session.scalars(select(ReviewPair.id).where(ReviewPair.state == "open")))
    assert open_before and open_before <= still_open
    assert second.model["retrained"] is False
    assert second.counts["pairs_scored"] < first.counts["pairs_scored"]
    after = links(lake, second)
    assert all(after[record] == k for record, k in before.items())
    nis = landed[NIS][0]["record_id"].to_pylist()
    found = sum(
        after[("jobboard/jobseeker", f"{i:032x}")] == after[("nis/insured_person", nis[300 + i])]
        for i in range(40)
    )
    assert found >= 36
    assert len({after[("jobboard/jobseeker", f"{i + 1000:032x}")] for i in range(30)}) == 30
    # A full run now gives the same keys for every unchanged person.
    third = job.run()
    assert third.mode == "full" and third.model["retrained"] is True
    superseded = set(
        job.session.scalars(select(ReviewPair.id).where(ReviewPair.state == "superseded"))
    )
    assert still_open <= superseded  # a full run compares everything again
    full = links(lake, third)
    unchanged = sum(full[record] == k for record, k in after.items())
    assert unchanged >= 0.995 * len(after)


def test_an_unreadable_bronze_table_fails_the_run_with_its_code(job, lake, landed, db_session):
    first = job.run()
    table = lake.load_table("bronze.jobboard__jobseeker")
    for task in table.scan().plan_files():
        Path(task.file.file_path.removeprefix("file://")).unlink()
    with pytest.raises(LinkageInputUnreadable) as raised:
        job.run()
    assert "bronze.jobboard__jobseeker" in raised.value.message
    failed = db_session.scalars(select(LinkageRun).order_by(LinkageRun.id.desc())).first()
    assert (failed.state, failed.error_code) == ("failed", "linkage.input_unreadable")
    links_table = lake.load_table(silver.PERSON_LINKS)
    assert links_table.current_snapshot().snapshot_id == first.snapshots[silver.PERSON_LINKS]


def test_a_lake_without_person_records_is_refused(job, lake, key, db_session) -> None:
    land(
        lake,
        Source("nis", "contribution"),
        pa.table(
            {
                "record_id": pa.array(["a" * 32]),
                "nis_number_token": pa.array([b"\x00\x02" + os.urandom(30)], pa.binary(32)),
            }
        ),
    )
    with pytest.raises(NoLinkageInput):
        job.run()
    failed = db_session.scalars(select(LinkageRun)).one()
    assert failed.error_code == "linkage.no_input"
