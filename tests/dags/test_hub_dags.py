"""Each hub DAG run end to end with ``dag.test()`` on a hub on PostgreSQL: the task
states, and the effect in the hub database and at an SMTP server started here.

``dag.test()`` runs the tasks in this process, so they load the HUB_* environment that
:func:`~tests.dags.hubs.use_settings` sets; it does not raise when a task fails (the
states are asserted) and would wait out a retry delay (no task here is retried: the
tampering failure is final).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.dags.hubs import (
    at,
    deliver,
    postgres_hub,
    quarantine,
    scalar,
    smtp_sink,
    tamper,
    use_settings,
    with_settings,
)
from tests.fixtures.hub import ProvisionedHub


@pytest.fixture
def hub(postgres_server_url: str, tmp_path: Path) -> Iterator[ProvisionedHub]:
    with postgres_hub(postgres_server_url, tmp_path) as provisioned:
        yield provisioned


def run(dagbag: Any, dag_id: str, logical_date: str) -> tuple[str, dict[str, str]]:
    """Run ``dag_id`` for ``logical_date`` (UTC); the run's state and each task's."""
    dag_run = dagbag.dags[dag_id].test(logical_date=at(logical_date))
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    return str(dag_run.state), states


def count(hub_settings: Any, where: str, **params: Any) -> int:
    return int(scalar(hub_settings, f"SELECT count(*) FROM {where}", **params))


def test_the_checkpoint_dag_signs_a_checkpoint_once(dagbag, hub, monkeypatch) -> None:
    settings = with_settings(hub, audit={"checkpoint_every_entries": 5})
    use_settings(monkeypatch, settings)
    assert count(settings, "audit_checkpoints") == 0
    assert run(dagbag, "hub_audit_checkpoint", "2026-12-03T10:00:00") == (
        "success",
        {"checkpoint": "success"},
    )
    assert count(settings, "audit_checkpoints") == 1
    assert run(dagbag, "hub_audit_checkpoint", "2026-12-03T11:00:00")[0] == "success"
    assert count(settings, "audit_checkpoints") == 1  # only its own announcement since


def test_the_verify_dag_passes_then_fails_loudly_on_tampering(dagbag, hub, monkeypatch) -> None:
    with smtp_sink() as sink:
        settings = with_settings(
            hub, audit={"checkpoint_every_entries": 5}, notify=sink.notify_settings()
        )
        use_settings(monkeypatch, settings)
        assert run(dagbag, "hub_audit_checkpoint", "2026-12-03T10:00:00")[0] == "success"
        assert run(dagbag, "hub_audit_verify", "2026-12-03T02:30:00") == (
            "success",
            {"verify": "success"},
        )
        assert count(settings, "audit_entries WHERE tag = 'audit:verify'") == 1
        assert sink.messages == []

        tamper(settings, 4)
        assert run(dagbag, "hub_audit_verify", "2026-12-04T02:30:00") == (
            "failed",
            {"verify": "failed"},
        )
    assert count(settings, "audit_entries WHERE tag = 'audit:verify'") == 1
    [mail] = sink.messages
    assert mail["Subject"] == "LMIS hub: the audit log does not verify"
    assert "audit.tampered" in sink.text(mail) and "first bad entry 4" in sink.text(mail)


def test_the_agreement_monitor_dag_reports_expires_and_mails(dagbag, hub, monkeypatch) -> None:
    with smtp_sink() as sink:
        settings = with_settings(hub, notify=sink.notify_settings())
        use_settings(monkeypatch, settings)
        december = run(dagbag, "hub_agreements", "2028-12-10T05:00:00")
        assert december == ("success", {"monitor": "success", "notify_lmis_unit": "success"})
        [mail] = sink.messages
        assert mail["To"] == "lmis-unit@example.org"
        assert mail["Subject"] == (
            "LMIS hub: 0 agreement(s) expired, 2 late deliveries, 2 expiring soon"
        )
        body = sink.text(mail)
        assert "nis contribution under dsa-nis-lmis v1: period 2028-10-01" in body
        assert "Expiring within 30 days (2)" in body

        # The same interval again: nothing more recorded, the notice is not sent twice.
        again = run(dagbag, "hub_agreements", "2028-12-10T05:10:00")
        assert again == ("success", {"monitor": "success", "notify_lmis_unit": "skipped"})
        assert len(sink.messages) == 1
        assert count(settings, "audit_entries WHERE tag = 'agreement:monitor'") == 1

        january = run(dagbag, "hub_agreements", "2029-01-05T05:00:00")
        assert january == ("success", {"monitor": "success", "notify_lmis_unit": "success"})
    assert count(settings, "agreements WHERE state = 'expired'") == 2
    assert count(settings, "agreements WHERE state = 'active'") == 0
    assert sink.messages[-1]["Subject"].startswith("LMIS hub: 2 agreement(s) expired")


def test_the_quarantine_digest_dag_mails_when_a_server_is_set(dagbag, hub, monkeypatch) -> None:
    quarantine(hub.settings, "nis", "signature.invalid", at("2026-12-02T10:00:00"))
    use_settings(monkeypatch, hub.settings)  # no SMTP server: the e-mail is skipped
    assert run(dagbag, "hub_quarantine_digest", "2026-12-03T06:00:00") == (
        "success",
        {"digest": "success", "notify_lmis_unit": "skipped"},
    )
    with smtp_sink() as sink:
        use_settings(monkeypatch, with_settings(hub, notify=sink.notify_settings()))
        assert run(dagbag, "hub_quarantine_digest", "2026-12-03T06:05:00") == (
            "success",
            {"digest": "success", "notify_lmis_unit": "success"},
        )
    [mail] = sink.messages
    assert mail["Subject"] == "LMIS hub: 1 message(s) in quarantine"
    assert "nis: 1 in quarantine (1 new)" in sink.text(mail)


def test_the_retention_dag_deletes_what_no_agreement_allows_any_more(
    dagbag, hub, monkeypatch
) -> None:
    today = datetime.now(UTC).date()
    months = [today - timedelta(days=2600), today - timedelta(days=400)]  # it keeps 2555
    deliver(hub, dates=("contribution_month", months))
    use_settings(monkeypatch, hub.settings)
    retained = "audit_entries WHERE tag = 'lake:retention' AND subject = :t"
    table = "lake:bronze.nis__contribution"
    assert run(dagbag, "hub_lake_retention", "2026-12-03T03:00:00") == (
        "success",
        {"retention": "success"},
    )
    assert count(hub.settings, retained, t=table) == 1
    assert run(dagbag, "hub_lake_retention", "2026-12-04T03:00:00")[0] == "success"
    assert count(hub.settings, retained, t=table) == 1  # nothing left to delete


def test_the_lake_dags_run_on_a_hub_without_data(dagbag, hub, monkeypatch) -> None:
    use_settings(monkeypatch, hub.settings)
    head = scalar(hub.settings, "SELECT seq FROM audit_head")
    assert run(dagbag, "hub_lake_retention", "2026-12-03T03:00:00") == (
        "success",
        {"retention": "success"},
    )
    assert run(dagbag, "hub_research", "2026-12-03T04:00:00") == (
        "success",
        {"expire_and_propagate_consent": "success"},
    )
    assert run(dagbag, "hub_linkage", "2026-12-03T10:15:00") == ("success", {"link": "success"})
    # The release calendar dates no publication on 14 December: nothing to do.
    assert run(dagbag, "hub_indicators", "2026-12-14T06:00:00") == (
        "success",
        {"build_and_publish": "success"},
    )
    # It dates November's monthly figures on the 15th; with no linkage run yet there is
    # no silver layer, so the release is skipped, not failed.
    assert run(dagbag, "hub_indicators", "2026-12-15T06:00:00") == (
        "success",
        {"build_and_publish": "skipped"},
    )
    assert scalar(hub.settings, "SELECT seq FROM audit_head") == head
    assert count(hub.settings, "linkage_runs") == 0
    assert count(hub.settings, "indicator_releases") == 0
