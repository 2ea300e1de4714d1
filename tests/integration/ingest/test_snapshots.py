"""The worker keeps a bronze table's snapshot list short without losing what crash
recovery needs: snapshots whose batches the ledger holds go, the rest stay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from integration.ingest import landing as landing_module
from integration.ingest.landing import snapshots_holding
from integration.lake import bronze
from integration.lake.bronze import bronze_identifier
from tests.integration.ingest.conftest import delivered

TABLE = bronze_identifier("nis", "contribution")


def _rows(hub, batch_id: str) -> int:
    table = hub.worker.lake.load_table(TABLE)
    rows = table.scan(row_filter=f"_batch_id == '{batch_id}'").to_arrow()
    return int(pc.sum(pc.equal(rows["_batch_id"], batch_id)).as_py() or 0)


def test_recorded_snapshots_are_expired_and_an_unrecorded_one_is_kept(hub, monkeypatch):
    hub.worker.landing.max_snapshots = 4
    hub.worker.process(delivered(hub.seal(1)))  # the table exists and is cached
    # A crash between the lake commit and the ledger: the batch is only in the lake.
    crashed = hub.seal(2)
    real = hub.worker.audit.record

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("killed between the lake commit and the database commit")

    monkeypatch.setattr(hub.worker.audit, "record", crash)
    with pytest.raises(RuntimeError):
        hub.worker.process(delivered(crashed))
    monkeypatch.setattr(hub.worker.audit, "record", real)
    crashed_id = dict(crashed.headers)["lmis-batch-id"].decode()
    table = hub.worker.lake.load_table(TABLE)
    landed = snapshots_holding(table, {crashed_id})[crashed_id]

    accepted, manifest_lists = [], {}
    for n in range(1, 11):
        accepted.append(hub.worker.process(delivered(hub.seal(1), offset=n)))
        current = hub.worker.lake.load_table(TABLE).current_snapshot()
        manifest_lists[current.snapshot_id] = Path(current.manifest_list.removeprefix("file://"))
    table = hub.worker.lake.load_table(TABLE)
    live = {s.snapshot_id for s in table.metadata.snapshots}
    ours = [o.snapshot_id for o in accepted]
    # Older recorded snapshots went (the newest half of the bound stays, and up to a
    # bound's worth gathers again before the next expiry) ...
    assert set(ours[:-3]).isdisjoint(live)
    assert ours[-1] in live
    # Their manifest lists are gone from storage; the live ones are still there.
    assert [manifest_lists[i].exists() for i in ours] == [i in live for i in ours]
    # ... the one holding the unrecorded batch stayed, so the crash still recovers.
    assert landed in live
    again = hub.worker.process(delivered(crashed))
    assert again.status == "accepted" and again.snapshot_id == landed
    assert _rows(hub, crashed_id) == 2
    # Expiry touches no data: every accepted batch is still readable once.
    for outcome in accepted:
        assert _rows(hub, outcome.batch_id) == 1


def test_a_failed_expiry_does_not_fail_the_group(hub, monkeypatch, caplog):
    hub.worker.landing.max_snapshots = 2
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.table.update.snapshot import ExpireSnapshots

    def conflict(self: Any) -> None:
        raise CommitFailedException("the table changed under this commit")

    monkeypatch.setattr(ExpireSnapshots, "commit", conflict)
    outcomes = [hub.worker.process(delivered(hub.seal(1), offset=n)) for n in range(6)]
    assert [o.status for o in outcomes] == ["accepted"] * 6
    assert "expiring" in caplog.text


def test_snapshots_another_worker_expired_first_do_not_fail_the_group(hub, monkeypatch, caplog):
    # Two workers of a group bound the same table: the other one expires the same
    # snapshots just before this one does (after its refresh).
    hub.worker.landing.max_snapshots = 2
    real = bronze.expire_appends
    raced = []

    def other_worker_first(table: Any, snapshot_ids: Any) -> int:
        other = hub.worker.lake.load_table(TABLE)
        other.maintenance.expire_snapshots().by_ids(list(snapshot_ids)).commit()
        raced.append(list(snapshot_ids))
        return real(table, snapshot_ids)

    monkeypatch.setattr(landing_module, "expire_appends", other_worker_first)
    outcomes = [hub.worker.process(delivered(hub.seal(1), offset=n)) for n in range(6)]
    assert raced, "no expiry was attempted"
    assert [o.status for o in outcomes] == ["accepted"] * 6
    assert "another writer changed them meanwhile" in caplog.text
    for o in outcomes:
        assert _rows(hub, o.batch_id) == 1
