"""The scheduled duties (hub_api/duties.py) on a hub on PostgreSQL: each does its work
through the composition root and, run again for the same data interval, changes nothing
more."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from governance.errors import AuditTampered
from hub_api import duties
from hub_api.duties import Interval
from integration.indicators.errors import SourceEmpty
from tests.dags.hubs import at, deliver, postgres_hub, quarantine, scalar, tamper, with_settings
from tests.fixtures.hub import ProvisionedHub
from tests.test_layers import RANKS
from tests.test_layers import _imports as imported_packages

HEAD = "SELECT seq FROM audit_head"


@pytest.fixture
def hub(postgres_server_url: str, tmp_path: Path) -> Iterator[ProvisionedHub]:
    with postgres_hub(postgres_server_url, tmp_path) as provisioned:
        yield provisioned


def day(end: str) -> Interval:
    """The day-long interval ending at ``end`` (an ISO date-time, UTC)."""
    stop = at(end)
    return Interval(stop.replace(day=stop.day - 1), stop)


def test_checkpoint_signs_what_is_due_once_and_verify_records_once(hub) -> None:
    settings = with_settings(hub, audit={"checkpoint_every_entries": 5})
    first = duties.audit_checkpoint(settings)
    assert first["signed"] and first["first_seq"] == 1
    assert duties.audit_checkpoint(settings) == {"signed": False, "head": first["seq"] + 1}
    assert scalar(settings, "SELECT count(*) FROM audit_checkpoints") == 1

    interval = day("2026-12-03T02:30:00")
    verified = duties.audit_verify(settings, interval)
    assert verified["ok"] and verified["recorded"] and verified["checkpoints_verified"] == 1
    head = scalar(settings, HEAD)
    again = duties.audit_verify(settings, interval)
    assert again["ok"] and not again["recorded"]
    assert scalar(settings, HEAD) == head  # nothing more written for the same interval
    entry = scalar(
        settings,
        "SELECT count(*) FROM audit_entries WHERE tag = 'audit:verify' AND subject = :s",
        s=interval.subject,
    )
    assert entry == 1


def test_verify_names_the_rewritten_entry(hub) -> None:
    settings = with_settings(hub, audit={"checkpoint_every_entries": 5})
    duties.audit_checkpoint(settings)
    tamper(settings, 3)
    with pytest.raises(AuditTampered) as caught:
        duties.audit_verify(settings, day("2026-12-04T02:30:00"))
    assert caught.value.code == "audit.tampered"
    assert "3" in caught.value.message
    assert scalar(settings, "SELECT count(*) FROM audit_entries WHERE tag = 'audit:verify'") == 0


def test_the_agreement_monitor_reports_late_and_expiring_then_expires(hub) -> None:
    settings = hub.settings
    december = day("2028-12-10T05:00:00")
    report = duties.agreement_monitor(settings, december)
    assert report["recorded"] and report["expired"] == []
    late = {(x["provider"], x["dataset"], x["period_start"]) for x in report["late"]}
    assert late == {("nis", "contribution", "2028-10-01"), ("tvet", "trainee", "2028-10-01")}
    assert {a["provider"] for a in report["expiring"]} == {"nis", "tvet"}
    subject, body = duties.monitor_message(report) or ("", "")
    assert "2 late deliveries" in subject and "tvet trainee under dsa-tvet-lmis v1" in body

    head = scalar(settings, HEAD)
    again = duties.agreement_monitor(settings, december)
    assert not again["recorded"] and again["late"] == report["late"]
    assert scalar(settings, HEAD) == head

    january = duties.agreement_monitor(settings, day("2029-01-05T05:00:00"))
    assert {a["id"] for a in january["expired"]} == {"dsa-nis-lmis", "dsa-tvet-lmis"}
    assert january["late"] == [] and january["expiring"] == []
    states = scalar(settings, "SELECT string_agg(DISTINCT state, ',') FROM agreements")
    assert states == "expired"
    assert duties.agreement_monitor(settings, day("2029-01-05T05:00:00"))["expired"] == []
    entries = scalar(settings, "SELECT count(*) FROM audit_entries WHERE tag = 'agreement:monitor'")
    assert entries == 2


def test_nothing_to_tell_is_no_message() -> None:
    empty = {"expired": [], "late": [], "expiring": [], "as_of": "x", "within_days": 30}
    assert duties.monitor_message(empty) is None
    assert duties.digest_message({"agencies": {}, "interval": {}}) is None


def test_the_quarantine_digest_counts_per_agency(hub) -> None:
    settings = hub.settings
    quarantine(settings, "nis", "signature.invalid", at("2026-12-02T10:00:00"))
    quarantine(settings, "nis", "schema.unknown", at("2026-11-20T10:00:00"))
    quarantine(settings, "tvet", "signature.invalid", at("2026-12-02T11:00:00"))
    digest = duties.quarantine_digest(settings, day("2026-12-03T06:00:00"))
    assert digest["agencies"] == {
        "nis": {
            "open": 2,
            "new": 1,
            "by_reason": {"schema.unknown": 1, "signature.invalid": 1},
            "oldest": "2026-11-20T10:00:00+00:00",
        },
        "tvet": {
            "open": 1,
            "new": 1,
            "by_reason": {"signature.invalid": 1},
            "oldest": "2026-12-02T11:00:00+00:00",
        },
    }
    subject, body = duties.digest_message(digest) or ("", "")
    assert subject == "LMIS hub: 3 message(s) in quarantine"
    assert "nis: 2 in quarantine (1 new)" in body


def test_on_an_empty_lake_the_lake_duties_have_nothing_to_do(hub) -> None:
    settings = hub.settings
    head = scalar(settings, HEAD)
    assert duties.lake_retention(settings)["rows_deleted"] == 0
    assert duties.research_expiry(settings) == {"expired": [], "rebuilt": []}
    assert duties.linkage_run(settings) == {
        "ran": False,
        "reason": "no bronze table with tokens holds data",
    }
    assert duties.indicator_release(settings, day("2026-12-14T06:00:00")) == {
        "due": [],
        "built": False,
        "release": None,
    }
    assert scalar(settings, HEAD) == head
    with pytest.raises(SourceEmpty):  # the calendar's day, but nothing to compute from
        duties.indicator_release(settings, day("2026-12-15T06:00:00"))


def test_retention_deletes_what_the_agreement_no_longer_allows_once(hub) -> None:
    today = datetime.now(UTC).date()
    months = [today - timedelta(days=2600), today - timedelta(days=400)]  # it keeps 2555
    deliver(hub, dates=("contribution_month", months))
    first = duties.lake_retention(hub.settings)
    assert first["rows_deleted"] == 1
    [table] = first["tables"]
    assert table["table"] == "bronze.nis__contribution" and table["rows_before"] == 2
    head = scalar(hub.settings, HEAD)
    assert duties.lake_retention(hub.settings)["rows_deleted"] == 0
    assert scalar(hub.settings, HEAD) == head  # nothing changed, nothing recorded
    retained = "audit_entries WHERE tag = 'lake:retention'"
    assert scalar(hub.settings, f"SELECT count(*) FROM {retained}") == 1


def test_an_interval_is_timezone_aware_and_ordered() -> None:
    with pytest.raises(Exception, match="timezone-aware"):
        Interval(at("2026-01-01T00:00:00").replace(tzinfo=None), at("2026-01-02T00:00:00"))
    with pytest.raises(Exception, match="ends before"):
        Interval(at("2026-01-02T00:00:00"), at("2026-01-01T00:00:00"))


def test_only_the_dags_import_airflow() -> None:
    """The CLI, the API and the duties never load Airflow (a hub without the `airflow`
    extra runs them): only dags/ and tests/dags import it."""
    root = Path(__file__).parents[2]
    allowed = {root / "dags", root / "tests" / "dags"}
    found = []
    for package in RANKS:
        for path in (root / package).rglob("*.py"):
            outside = not any(path.is_relative_to(a) for a in allowed)
            if outside and "airflow" in imported_packages(path):
                found.append(str(path.relative_to(root)))
    assert not found, f"these modules import airflow: {found}"
