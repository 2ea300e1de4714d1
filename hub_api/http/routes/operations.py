"""The quarantine (messages the ingest worker refused), ingest status and the lake's
tables (metadata only). An agency operator sees their own agency's refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table.snapshots import Snapshot

from governance.accounts.services import Principal
from governance.deliveries.models import QuarantinedMessage
from governance.deliveries.status import ingest_status
from governance.deliveries.views import quarantine_view
from hub_api.http.auth import Require, subject_of
from hub_api.http.errors import RouteNotFound
from hub_api.http.unit import Unit, unit
from hub_api.replay import replay_messages
from hub_api.wiring import lake_catalog
from integration.ingest.errors import QuarantineAlreadyReplayed
from integration.ingest.ledger import Ledger

router = APIRouter(prefix="/api/v1", tags=["ingest"])
Work = Annotated[Unit, Depends(unit, scope="function")]
STATES = ("quarantined", "replayed")


class Replay(BaseModel):
    send_receipts: bool = Field(
        True, description="Publish the new outcome's receipt to the agency's receipts topic."
    )


def _ledger(work: Unit) -> Ledger:
    return Ledger(work.session, kek=work.state.kek)


@router.get(
    "/ingest/status", summary="Per agency dataset: batches and records landed, refusals waiting"
)
def status(
    principal: Annotated[
        Principal,
        Depends(Require("deliveries:read", agency_of=lambda r: r.query_params.get("agency"))),
    ],
    work: Work,
    agency: str | None = None,
) -> list[dict[str, Any]]:
    if principal.role == "agency_operator":
        agency = principal.agency
    return ingest_status(work.session, agency=agency)


@router.get("/quarantine", summary="Refused messages, newest first (never their content)")
def list_quarantine(
    principal: Annotated[
        Principal,
        Depends(Require("quarantine:read", agency_of=lambda r: r.query_params.get("agency"))),
    ],
    work: Work,
    reason: str | None = None,
    agency: str | None = None,
    state: Annotated[str | None, Query(pattern="^(quarantined|replayed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    if principal.role == "agency_operator":
        agency = principal.agency
    rows = _ledger(work).quarantined(reason_code=reason, agency=agency, state=state, limit=limit)
    return [quarantine_view(q) for q in rows]


@router.get("/quarantine/{quarantine_id}", summary="One refused message: reason, origin, replays")
def show_quarantine(
    quarantine_id: str,
    principal: Annotated[Principal, Depends(Require("quarantine:read", agency_of=lambda r: None))],
    work: Work,
) -> dict[str, Any]:
    return quarantine_view(quarantined_for(work, principal, quarantine_id))


def quarantined_for(work: Unit, principal: Principal, quarantine_id: str) -> QuarantinedMessage:
    """The refused message, once the policy lets ``principal`` read its agency's."""
    row = _ledger(work).get_quarantined(quarantine_id)
    work.authorise(
        subject_of(principal),
        "quarantine:read",
        resource=f"quarantine:{row.id}",
        resource_agency=row.agency or "",
    )
    return row


@router.post("/quarantine/{quarantine_id}/replay", summary="Decide a refused message again")
def replay(
    quarantine_id: str,
    body: Replay,
    admin: Annotated[Principal, Depends(Require("quarantine:replay"))],
    work: Work,
) -> dict[str, Any]:
    return replay_one(work, admin, quarantine_id, send=body.send_receipts)


def replay_one(work: Unit, admin: Principal, quarantine_id: str, *, send: bool) -> dict[str, Any]:
    """Decide one refused message again (``send``: publish the new receipt)."""
    row = _ledger(work).get_quarantined(quarantine_id)
    if row.state != "quarantined":
        raise QuarantineAlreadyReplayed(f"already replayed: {row.id}")
    [result] = replay_messages(work.session, work.settings, [row], actor=admin.username, send=send)
    return result


@router.get("/lake/tables", summary="The lake's tables and their current snapshots (metadata only)")
def lake_tables(
    _: Annotated[Principal, Depends(Require("lake:read"))], work: Work
) -> list[dict[str, Any]]:
    catalog = lake_catalog(work.settings)
    out: list[dict[str, Any]] = []
    for namespace in catalog.list_namespaces():
        for identifier in catalog.list_tables(namespace):
            table = catalog.load_table(identifier)
            snapshot = table.current_snapshot()
            out.append(
                {
                    "table": ".".join(identifier),
                    "snapshot_id": snapshot.snapshot_id if snapshot else None,
                    "committed_at_ms": snapshot.timestamp_ms if snapshot else None,
                    "snapshots": len(table.metadata.snapshots),
                    "columns": [f.name for f in table.schema().fields],
                    "summary": dict(snapshot.summary.additional_properties)
                    if snapshot and snapshot.summary
                    else {},
                }
            )
    return out


def _snapshot_view(snapshot: Snapshot, current: int | None) -> dict[str, Any]:
    summary = snapshot.summary
    return {
        "snapshot_id": snapshot.snapshot_id,
        "parent_id": snapshot.parent_snapshot_id,
        "committed_at": datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat(),
        "operation": summary.operation.value if summary else None,
        "summary": dict(summary.additional_properties) if summary else {},
        "current": snapshot.snapshot_id == current,
    }


@router.get(
    "/lake/tables/{table}/snapshots", summary="A lake table's snapshots, newest first (metadata)"
)
def lake_snapshots(
    table: str, _: Annotated[Principal, Depends(Require("lake:read"))], work: Work
) -> list[dict[str, Any]]:
    catalog = lake_catalog(work.settings)
    try:
        loaded = catalog.load_table(table)
    except (NoSuchTableError, ValueError) as exc:
        raise RouteNotFound(f"the lake has no table {table!r} (`namespace.name`)") from exc
    current = loaded.current_snapshot()
    current_id = current.snapshot_id if current else None
    rows = [_snapshot_view(s, current_id) for s in loaded.metadata.snapshots]
    return sorted(rows, key=lambda r: str(r["committed_at"]), reverse=True)
