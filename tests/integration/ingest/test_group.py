"""Groups of messages per lake commit, on both backends and a real lake: one snapshot
naming every batch, duplicates and conflicts inside a group, crashes between the
steps, and lake commit conflicts retried."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from pyiceberg.table import Table

from governance.deliveries.models import IngestedBatch, QuarantinedMessage
from integration.ingest import landing
from integration.lake import bronze
from integration.lake.bronze import BATCH_IDS_PROPERTY, StagedAppend, bronze_identifier
from integration.lake.data_files import ColumnBatch
from integration.lake.errors import LakeCommitFailed
from schemas.envelope import Message
from tests.integration.ingest.conftest import delivered
from tests.integration.ingest.test_worker import receipt_of
from tests.schemas.envelope_helpers import resign

TABLE = bronze_identifier("nis", "contribution")


def _batch_id(message: Message) -> str:
    return dict(message.headers)["lmis-batch-id"].decode()


def _rows(hub, batch_id: str) -> int:
    table = hub.worker.lake.load_table(TABLE)
    rows = table.scan(row_filter=f"_batch_id == '{batch_id}'").to_arrow()
    return int(pc.sum(pc.equal(rows["_batch_id"], batch_id)).as_py() or 0)


def _snapshots(hub) -> int:
    return len(hub.worker.lake.load_table(TABLE).metadata.snapshots)


def test_a_group_lands_in_one_snapshot_naming_every_batch(hub, db_session):
    hub.worker.process(delivered(hub.seal(1)))  # the table exists before we count
    messages = [hub.seal(n) for n in (2, 3, 4)]
    before = _snapshots(hub)
    outcomes = hub.worker.process_group([delivered(m, offset=i) for i, m in enumerate(messages)])
    assert [o.status for o in outcomes] == ["accepted"] * 3
    assert len({o.snapshot_id for o in outcomes}) == 1
    assert _snapshots(hub) == before + 1
    table = hub.worker.lake.load_table(TABLE)
    summary = table.current_snapshot().summary
    assert set(summary[BATCH_IDS_PROPERTY].split(",")) == {_batch_id(m) for m in messages}
    for message, n in zip(messages, (2, 3, 4), strict=True):
        assert _rows(hub, _batch_id(message)) == n
        assert db_session.get(IngestedBatch, _batch_id(message)).snapshot_id == str(
            outcomes[0].snapshot_id
        )
    for outcome in outcomes:
        receipt = receipt_of(hub, outcome)
        assert receipt.outcome == "accepted"
        assert receipt.lake_commit_id == str(outcome.snapshot_id)
    # One audit entry per accepted batch, carrying the agreement delivery too.
    entries = [e for e in hub.audit.tail(20) if e.subject.startswith("batch:")]
    accepted = {e.subject: e for e in entries if e.tag == "delivery:accepted"}
    for message in messages:
        details = accepted[f"batch:{_batch_id(message)}"].details
        assert details["agreement"] == "nis-lmis-2026:v1" and details["dataset"] == "contribution"
    assert not [e for e in hub.audit.tail(20) if e.tag == "delivery:recorded"]


def test_the_same_batch_twice_in_a_group_lands_once(hub):
    message = hub.seal(3)
    first, again = hub.worker.process_group([delivered(message), delivered(message, offset=1)])
    assert (first.status, again.status) == ("accepted", "duplicate")
    assert again.snapshot_id == first.snapshot_id
    assert receipt_of(hub, again).lake_commit_id == str(first.snapshot_id)
    assert _rows(hub, first.batch_id) == 3


def test_a_reused_batch_id_in_a_group_is_refused_without_naming_the_batch(hub):
    original = hub.seal(2)
    forged = resign(hub.seal(2), hub.nis, batch_id=_batch_id(original).encode())
    first, second = hub.worker.process_group([delivered(original), delivered(forged, offset=1)])
    assert first.status == "accepted"
    assert second.status == "quarantined"
    assert second.reason_code == "envelope.batch_id_mismatch"
    # The rejection names the forged message's bytes, never the genuine batch's id.
    assert receipt_of(hub, second).batch_id == hashlib.sha256(forged.value).hexdigest()
    assert _rows(hub, first.batch_id) == 2


def test_crash_before_the_database_commit_loses_and_doubles_nothing(hub, db_session, monkeypatch):
    messages = [hub.seal(2), hub.seal(3)]
    bad = Message(b"k", b"garbage", [("lmis-agency", b"nis")])
    group = [delivered(messages[0]), delivered(bad, offset=1), delivered(messages[1], offset=2)]
    real = hub.worker.audit.record
    calls = {"n": 0}

    def crash_on_second(*args: Any, **kwargs: Any):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed between the lake commit and the database commit")
        return real(*args, **kwargs)

    monkeypatch.setattr(hub.worker.audit, "record", crash_on_second)
    with pytest.raises(RuntimeError):
        hub.worker.process_group(group)
    monkeypatch.setattr(hub.worker.audit, "record", real)
    landed_snapshot = hub.worker.lake.load_table(TABLE).current_snapshot().snapshot_id
    assert db_session.get(IngestedBatch, _batch_id(messages[0])) is None
    assert hub.ledger.quarantined() == []

    again = hub.worker.process_group(group)  # the group is read again
    assert [o.status for o in again] == ["accepted", "quarantined", "accepted"]
    assert again[0].snapshot_id == again[2].snapshot_id == landed_snapshot
    assert _rows(hub, _batch_id(messages[0])) == 2 and _rows(hub, _batch_id(messages[1])) == 3
    assert len(hub.ledger.quarantined()) == 1


def test_crash_after_the_database_commit_reuses_decisions(hub):
    message = hub.seal(2)
    bad = Message(b"k", b"garbage", [("lmis-agency", b"nis")])
    group = [delivered(message), delivered(bad, offset=1)]
    first = hub.worker.process_group(group)
    # Killed before the offsets were committed: the same messages come again.
    again = hub.worker.process_group(group)
    assert [o.status for o in again] == ["duplicate", "quarantined"]
    assert again[1].quarantine_id == first[1].quarantine_id
    assert len(hub.ledger.quarantined()) == 1
    tags = [
        e.tag for e in hub.audit.tail(10) if e.subject == f"quarantine:{first[1].quarantine_id}"
    ]
    assert tags == ["delivery:quarantined"]
    assert _rows(hub, first[0].batch_id) == 2


class _Conflicting:
    """The lake commit, whose next attempts fail as if another writer committed first.

    With ``other`` set, "the other writer" really commits those batches first, with
    its own data files (as a second worker of the group would after a rebalance), so
    the attempt then meets a real conflict on the stale table."""

    def __init__(self, failures: int, other: Table | None = None, other_takes: int = 0) -> None:
        self.failures = failures
        self.other = other
        self.other_takes = other_takes  # how many of the batches the other writer lands
        self.appends = 0
        self.staged: list[list[ColumnBatch]] = []

    def stage(self, table: Table, batches: Sequence[ColumnBatch]) -> StagedAppend:
        self.staged.append(list(batches))
        return bronze.stage_batches(table, batches)

    def __call__(self, table: Table, staged: StagedAppend) -> int:
        self.appends += 1
        if self.failures > 0:
            self.failures -= 1
            if self.other is None:
                raise LakeCommitFailed("the table changed under this commit")
            bronze.append_batches(self.other, self.staged[-1][: self.other_takes or None])
        return bronze.commit_staged(table, staged)


def _conflicting(
    hub, monkeypatch, failures: int, *, other: bool = False, other_takes: int = 0
) -> _Conflicting:
    hub.worker.process(delivered(hub.seal(1)))  # the table exists and is cached
    other_table = hub.worker.lake.load_table(TABLE) if other else None
    proxy = _Conflicting(failures, other_table, other_takes)
    monkeypatch.setattr(landing, "commit_staged", proxy)
    monkeypatch.setattr(landing, "stage_batches", proxy.stage)
    hub.worker.landing.sleep = lambda _s: None
    return proxy


def _data_files_on_disk(table: Table) -> set[str]:
    root = Path(table.location().removeprefix("file://")) / "data"
    return {str(p) for p in root.rglob("*.parquet")}


def _data_files_in_snapshot(table: Table) -> set[str]:
    table.refresh()
    return {t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()}


def test_a_lake_commit_conflict_is_retried_with_the_same_data_files(hub, monkeypatch):
    proxy = _conflicting(hub, monkeypatch, failures=2)
    messages = [hub.seal(2), hub.seal(2)]
    outcomes = hub.worker.process_group([delivered(m, offset=i) for i, m in enumerate(messages)])
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert proxy.appends == 3
    assert len(proxy.staged) == 1  # written once, committed on the third attempt
    assert all(_rows(hub, _batch_id(m)) == 2 for m in messages)
    table = hub.worker.lake.load_table(TABLE)
    assert _data_files_on_disk(table) == _data_files_in_snapshot(table)


def test_batches_another_worker_committed_meanwhile_are_not_appended_again(hub, monkeypatch):
    proxy = _conflicting(hub, monkeypatch, failures=1, other=True)
    messages = [hub.seal(2), hub.seal(3)]
    outcomes = hub.worker.process_group([delivered(m, offset=i) for i, m in enumerate(messages)])
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert proxy.appends == 1  # the retry found both batches in the lake
    assert _rows(hub, _batch_id(messages[0])) == 2 and _rows(hub, _batch_id(messages[1])) == 3
    table = hub.worker.lake.load_table(TABLE)
    assert _data_files_on_disk(table) == _data_files_in_snapshot(table)  # ours were deleted


def test_the_rest_of_a_group_is_written_again_when_another_worker_landed_part_of_it(
    hub, monkeypatch
):
    proxy = _conflicting(hub, monkeypatch, failures=1, other=True, other_takes=1)
    messages = [hub.seal(2), hub.seal(3)]
    outcomes = hub.worker.process_group([delivered(m, offset=i) for i, m in enumerate(messages)])
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert proxy.appends == 2
    assert [len(batches) for batches in proxy.staged] == [2, 1]
    assert _rows(hub, _batch_id(messages[0])) == 2 and _rows(hub, _batch_id(messages[1])) == 3
    table = hub.worker.lake.load_table(TABLE)
    assert _data_files_on_disk(table) == _data_files_in_snapshot(table)


def test_a_lake_commit_that_keeps_conflicting_fails_the_group(hub, db_session, monkeypatch):
    proxy = _conflicting(hub, monkeypatch, failures=100)
    message = hub.seal(2)
    with pytest.raises(LakeCommitFailed):
        hub.worker.process_group([delivered(message)])
    assert proxy.appends == hub.worker.landing.commit_attempts
    assert db_session.get(IngestedBatch, _batch_id(message)) is None
    assert db_session.query(QuarantinedMessage).count() == 0
    table = hub.worker.lake.load_table(TABLE)
    assert _data_files_on_disk(table) == _data_files_in_snapshot(table)  # no orphan files
