"""The hub's recurring duties, one function each: what the DAGs in dags/ schedule.

Each duty takes the loaded :class:`~lmis_hub.settings.Settings` (and, where its work is
keyed by it, the data :class:`Interval` of the scheduled run), does its work through the
services of the composition root (:mod:`hub_api.wiring`) — the ones the matching
`lmis-hub` command uses — and returns a small JSON-able summary (a DAG task's XCom).

Every duty is idempotent for the same data interval: run again, it changes nothing more.
Most are so by nature (an expired agreement is not expired twice, retention finds
nothing left to delete, a checkpoint is not signed over its own announcement); the
agreement monitor and the audit verification record their entry once per interval;
linkage and indicator releases skip when the lake has not moved since their last run.

Nothing here imports Airflow: the hub's CLI and API never load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from governance.agreements.views import summary
from governance.audit.views import verification_view
from governance.deliveries.views import quarantine_view
from governance.errors import AuditTampered
from governance.indicators.views import release_view
from governance.keys.wrapping import KeyEncryptionKey
from governance.linkage.views import run_view
from governance.research.views import extract_view
from governance.timestamps import iso
from hub_api.wiring import (
    database,
    governance,
    governance_in_steps,
    governance_session,
    indicator_releases,
    lake_catalog,
    linkage_job,
    research,
    research_extracts,
)
from integration.indicators.calendar import publication_due
from integration.ingest.ledger import Ledger
from integration.lake.retention import run_retention
from integration.linkage.bronze_input import bronze_snapshots
from integration.linkage.job import last_committed
from lmis_hub.errors import ConfigurationError
from lmis_hub.settings import Settings
from schemas.keys import load_public_pem

#: Who the scheduled duties act as in the audit log.
SCHEDULER = "scheduler"
#: The agreement monitor lists agreements whose validity ends within this many days.
EXPIRING_WITHIN_DAYS = 30


@dataclass(frozen=True)
class Interval:
    """The data interval of a scheduled run: ``[start, end)``, timezone-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ConfigurationError("a data interval needs timezone-aware start and end")
        if self.end < self.start:
            raise ConfigurationError(f"data interval ends before it starts: {self.subject}")

    @property
    def subject(self) -> str:
        """The audit subject of a duty's entry for this interval."""
        return f"interval:{iso(self.start)}/{iso(self.end)}"

    def as_dict(self) -> dict[str, str]:
        return {"start": iso(self.start), "end": iso(self.end)}


# The audit log -----------------------------------------------------------------------


def audit_checkpoint(settings: Settings, *, actor: str = SCHEDULER) -> dict[str, Any]:
    """Sign a checkpoint if one is due (`lmis-hub audit checkpoint --if-due`): entries
    written in an idle period get covered too. Needs the key-encryption key."""
    with governance_session(settings, actor=actor) as gov:
        gov.secrets().hub_signing_key()  # without the hub key: fail, never skip silently
        cp = gov.audit.checkpoint_if_due(actor=gov.actor)
        if cp is None:
            return {"signed": False, "head": gov.audit.head()[0]}
        return {
            "signed": True,
            "seq": cp.seq,
            "first_seq": cp.first_seq,
            "key_id": cp.key_id,
            "at": iso(cp.at),
        }


def audit_verify(
    settings: Settings, interval: Interval, *, actor: str = SCHEDULER
) -> dict[str, Any]:
    """Verify the whole chain and its signed checkpoints with the hub keys of the hub
    database (`lmis-hub audit verify`); raise :class:`AuditTampered` naming the first
    bad entry when it is broken. An intact chain is recorded once per interval."""
    with governance_session(settings, actor=actor) as gov:
        trusted = {
            k.key_id: load_public_pem(k.public_key_pem, where=k.key_id)
            for k in gov.keys.list("hub")
        }
        result = gov.audit.verify(public_keys=trusted)
        if not result.ok:
            raise AuditTampered(result.summary())
        data = verification_view(result, keys="hub database", interval=interval.as_dict())
        recorded = not gov.audit.search(tag="audit:verify", subject=interval.subject, limit=1)
        if recorded:
            gov.audit.record("audit:verify", gov.actor, interval.subject, data)
    return data | {"summary": result.summary(), "recorded": recorded}


# Agreements --------------------------------------------------------------------------


def agreement_monitor(
    settings: Settings,
    interval: Interval,
    *,
    within_days: int = EXPIRING_WITHIN_DAYS,
    actor: str = SCHEDULER,
) -> dict[str, Any]:
    """As of the interval's end: expire the agreements whose validity has ended
    (`agreements expire-due`), list the late deliveries against each agreement's
    periodicity (`agreements late`) and the agreements expiring within ``within_days``
    (`agreements expiring`). The report is recorded in the audit log once per interval
    (``recorded`` says whether this run did it, so the notice goes out once)."""
    at = interval.end
    with governance_session(settings, actor=actor) as gov:
        expired = [summary(r) for r in gov.agreements.expire_due(actor=gov.actor, at=at)]
        late = [x.as_dict() for x in gov.agreements.late(at=at)]
        expiring = [summary(r) for r in gov.agreements.expiring(within_days, at=at)]
        recorded = not gov.audit.search(tag="agreement:monitor", subject=interval.subject, limit=1)
        if recorded:
            gov.audit.record(
                "agreement:monitor",
                gov.actor,
                interval.subject,
                {
                    "expired": [f"{a['id']}:v{a['version']}" for a in expired],
                    "late": [
                        f"{x['agreement_id']}:v{x['version']}:{x['dataset']}:{x['period_start']}"
                        for x in late
                    ],
                    "expiring": [f"{a['id']}:v{a['version']}" for a in expiring],
                    "within_days": within_days,
                },
            )
    return {
        "interval": interval.as_dict(),
        "as_of": iso(at),
        "expired": expired,
        "late": late,
        "expiring": expiring,
        "within_days": within_days,
        "recorded": recorded,
    }


def monitor_message(report: dict[str, Any]) -> tuple[str, str] | None:
    """The subject and plain-text body of the LMIS unit's notice of a monitor report;
    None when there is nothing to tell."""
    expired, late, expiring = report["expired"], report["late"], report["expiring"]
    if not (expired or late or expiring):
        return None
    lines = [f"Agreement monitor as of {report['as_of']}.", ""]
    if expired:
        lines.append(f"Expired now ({len(expired)}):")
        lines += [
            f"  {a['id']} v{a['version']} ({a['provider']}), valid until {a['valid_until']}"
            for a in expired
        ]
        lines.append("")
    if late:
        lines.append(f"Late deliveries ({len(late)}):")
        lines += [
            f"  {x['provider']} {x['dataset']} under {x['agreement_id']} v{x['version']}: "
            f"period {x['period_start']} to {x['period_end']}, due {x['due']}, last delivery "
            f"{x['last_delivery'] or 'never'}"
            for x in late
        ]
        lines.append("")
    if expiring:
        lines.append(f"Expiring within {report['within_days']} days ({len(expiring)}):")
        lines += [
            f"  {a['id']} v{a['version']} ({a['provider']}), valid until {a['valid_until']}"
            for a in expiring
        ]
        lines.append("")
    lines.append(
        "Details: lmis-hub agreements late / expiring, and the audit log (tag agreement:monitor)."
    )
    subject = (
        f"LMIS hub: {len(expired)} agreement(s) expired, {len(late)} late deliver"
        f"{'y' if len(late) == 1 else 'ies'}, {len(expiring)} expiring soon"
    )
    return subject, "\n".join(lines)


# The lake ----------------------------------------------------------------------------


def lake_retention(settings: Settings, *, actor: str = SCHEDULER) -> dict[str, Any]:
    """Delete bronze rows past their agreement's retention period, expire old snapshots
    and delete the files only they referenced (`lmis-hub lake retention`)."""
    engine = database(settings)
    try:
        lake = lake_catalog(settings)
        with Session(engine) as session:
            gov = governance(session, settings, actor=actor)
            results = run_retention(
                lake,
                session=session,
                audit=gov.audit,
                clock=gov.clock,
                keep_snapshots=timedelta(hours=settings.lake.keep_snapshots_h),
                actor=actor,
            )
            session.commit()
    finally:
        engine.dispose()
    tables = [r.as_dict() for r in results]
    return {
        "tables": tables,
        "rows_deleted": sum(r.rows_deleted for r in results),
        "snapshots_expired": sum(r.snapshots_expired for r in results),
        "files_deleted": sum(r.files_deleted for r in results),
    }


def linkage_run(settings: Settings, *, actor: str = SCHEDULER) -> dict[str, Any]:
    """Link what landed in bronze since the last committed run (`lmis-hub linkage run
    --incremental`; a full run when there is none). Skipped when no bronze table with
    tokens has moved since that run: the silver layer already reflects it."""
    engine = database(settings)
    try:
        with Session(engine) as session:
            previous = last_committed(session)
            current = {k: v for k, v in bronze_snapshots(lake_catalog(settings)).items() if v}
            if not current:
                return {"ran": False, "reason": "no bronze table with tokens holds data"}
            if previous is not None and all(
                previous.snapshots.get(name) == snapshot for name, snapshot in current.items()
            ):
                return {"ran": False, "reason": "bronze unchanged", "run": previous.id}
            job = linkage_job(session, settings, actor=actor)
            view = run_view(job.run(incremental=previous is not None))
    finally:
        engine.dispose()
    return {"ran": True, "run": view["id"]} | view


# Published indicators ----------------------------------------------------------------


def indicator_release(
    settings: Settings, interval: Interval, *, actor: str = SCHEDULER
) -> dict[str, Any]:
    """On a day the release calendar dates (the interval's end; `integration/indicators/
    release_calendar.yaml`): build a release from the lake as it is now (`lmis-hub
    indicators build`) and publish it (`indicators publish`). On other days nothing is
    done. A release this duty built after the interval ended (an earlier try of the same
    run) is published rather than built again."""
    with governance_in_steps(settings, actor=actor) as gov:
        releases = indicator_releases(gov)
        due = [
            {"frequency": p.frequency, "period": p.period, "indicators": list(p.indicators)}
            for p in publication_due(releases.definitions, interval.end.date())
        ]
        if not due:
            return {"due": [], "built": False, "release": None}
        mine = [
            r for r in releases.releases() if r.built_by == actor and r.built_at >= interval.end
        ]
        row = mine[-1] if mine else releases.build(actor=gov.actor)
        gov.session.commit()
        if row.state == "built":
            row = releases.publish(row.id, actor=gov.actor)
        view = release_view(row)
    return {"due": due, "built": not mine, "release": view["id"]} | view


# Research ----------------------------------------------------------------------------


def research_expiry(settings: Settings) -> dict[str, Any]:
    """Expire the research projects whose term has run out, destroying their keys
    (`lmis-hub research expire`), then rebuild every live extract holding a person who
    has withdrawn consent for research (`research consent-rebuild`)."""
    with governance_session(settings, actor="system") as gov:
        expired = [p.id for p in research(gov).expire_due()]
    with governance_session(settings, actor="consent-propagation") as gov:
        rebuilt = [
            extract_view(r) for r in research_extracts(gov).rebuild_for_consent(actor=gov.actor)
        ]
    return {
        "expired": expired,
        "rebuilt": [{"project": r["project"], "id": r["id"]} for r in rebuilt],
    }


# Quarantine --------------------------------------------------------------------------


def quarantine_digest(settings: Settings, interval: Interval) -> dict[str, Any]:
    """Per agency: the messages still in quarantine (by reason code, the oldest) and how
    many arrived in the interval (what `lmis-hub quarantine list` shows). Reads only."""
    kek = KeyEncryptionKey.from_setting(settings.key_encryption_key)
    engine = database(settings)
    try:
        with Session(engine) as session:
            rows = Ledger(session, kek=kek).quarantined(state="quarantined", limit=None)
            views = [quarantine_view(q) for q in rows]
            arrived = {q.id for q in rows if interval.start <= q.received_at < interval.end}
    finally:
        engine.dispose()
    agencies: dict[str, dict[str, Any]] = {}
    for view in sorted(views, key=lambda v: v["received_at"]):
        entry = agencies.setdefault(
            view["agency"] or "unknown",
            {"open": 0, "new": 0, "by_reason": {}, "oldest": view["received_at"]},
        )
        entry["open"] += 1
        entry["new"] += view["id"] in arrived
        entry["by_reason"][view["reason_code"]] = entry["by_reason"].get(view["reason_code"], 0) + 1
    return {"interval": interval.as_dict(), "agencies": agencies}


def digest_message(digest: dict[str, Any]) -> tuple[str, str] | None:
    """The subject and plain-text body of a quarantine digest; None when it is empty."""
    agencies = digest["agencies"]
    if not agencies:
        return None
    lines = [
        f"Quarantine digest for {digest['interval']['start']} to {digest['interval']['end']}.",
        "",
    ]
    for agency, entry in sorted(agencies.items()):
        reasons = ", ".join(f"{code}: {n}" for code, n in sorted(entry["by_reason"].items()))
        lines.append(
            f"{agency}: {entry['open']} in quarantine ({entry['new']} new), oldest "
            f"{entry['oldest']}; {reasons}"
        )
    lines += ["", "Details and replay: lmis-hub quarantine list --agency <agency>."]
    total = sum(e["open"] for e in agencies.values())
    return f"LMIS hub: {total} message(s) in quarantine", "\n".join(lines)
