"""`lmis-hub connector status | rewind`: what the connector's state database holds, and
going back over batches to read their rows again."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from connectors.sdk.config import load_config
from connectors.sdk.outbox import Outbox
from connectors.sdk.receipts import (
    ways_back,
)
from connectors.sdk.rewind import REWIND_EVENT, rewind
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import WatermarkStore
from hub_api.cli.connector_common import CONFIG, now, superseded_message
from hub_api.cli.context import get_context


def status(
    ctx: typer.Context,
    config: Path = CONFIG,
    refusals: bool = typer.Option(
        False, "--refusals", help="List the refused rows: row key, field and reason code."
    ),
    limit: int = typer.Option(200, help="With --refusals: at most this many, newest first."),
) -> None:
    """Batches by state (pending, sent, accepted, rejected), refusals and the watermark;
    each rejected batch with the ways back, and whether the hub's agreement notices say
    the config's agreement version is superseded.

    Refused rows are counted as rows (a row that breaks two rules counts once), as
    `validate` counts them; --refusals lists each broken rule, never the value.
    """
    cli = get_context(ctx)
    cfg = load_config(config)
    state = StateDB.open(cfg.state_db_path)
    try:
        held = Outbox(state).batches(dataset=cfg.dataset)
        unverified = Outbox(state).unverified(dataset=cfg.dataset)
        counts = Counter(b.state for b in held)
        mark = WatermarkStore(state).get(cfg.dataset)
        refused, broken = state.connection.execute(
            "SELECT COUNT(DISTINCT row_key), COUNT(*) FROM refusals WHERE dataset = ?",
            (cfg.dataset,),
        ).fetchone()
        agreement_notice = superseded_message(cfg, state)
        rewinds = state.events(cfg.dataset, kind=REWIND_EVENT)
        listed = [
            {"row": row, "field": field, "reason": reason, "at": at}
            for row, field, reason, at in state.connection.execute(
                "SELECT row_key, field, reason, recorded_at FROM refusals WHERE dataset = ? "
                "ORDER BY id DESC LIMIT ?",
                (cfg.dataset, limit),
            )
        ]
    finally:
        state.close()
    rejected: list[dict[str, Any]] = [
        {
            "batch_id": b.batch_id,
            "reason_code": b.reason_code,
            "records": b.record_count,
            "rows": list(b.rejected_rows),
            "rewound_at": None if b.rewound_at is None else b.rewound_at.isoformat(),
            "ways_back": ways_back(b.batch_id),
        }
        for b in held
        if b.state == "rejected"
    ]
    data = {
        "dataset": cfg.dataset,
        "batches": {s: counts.get(s, 0) for s in ("pending", "sent", "accepted", "rejected")},
        "records": sum(b.record_count for b in held),
        "refused_rows": int(refused),
        "refusals": int(broken),
        "rejected": rejected,
        "unverified": [
            {
                "batch_id": u.batch_id,
                "part": u.part_index,
                "reason_code": u.reason_code,
                "at": u.noted_at.isoformat(),
                "message": f"the hub could not verify this message: {u.reason_code}",
            }
            for u in unverified
        ],
        "watermark": None if mark is None else {"value": str(mark.value), "key": str(mark.key)},
        "agreement": {
            "id": cfg.agreement_id,
            "version": cfg.agreement_version,
            "superseded": agreement_notice,
        },
        "last_rewind": rewinds[-1] if rewinds else None,
    }
    if refusals:
        data["refused"] = listed

    def render(c: Console) -> None:
        table = Table(title=f"{cfg.topic}")
        table.add_column("state")
        table.add_column("batches", justify="right")
        for s, n in data["batches"].items():  # type: ignore[attr-defined]
            table.add_row(s, str(n))
        c.print(table)
        c.print(
            f"refused rows: {refused} ({broken} broken rule(s)); "
            f"watermark: {data['watermark'] or 'none'}"
        )
        if refusals:
            refused_rows = Table(
                "row", "field", "reason", "at", title="refused rows (newest first)"
            )
            for item in listed:
                refused_rows.add_row(item["row"], item["field"], item["reason"], item["at"])
            c.print(refused_rows)
        for r in rejected:
            rows = r["rows"]
            shown = ", ".join(rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
            c.print(f"  rejected {r['batch_id']}: {r['reason_code']}; rows {shown or 'none named'}")
            if r["rewound_at"] is not None:
                c.print(f"    its rows were read again after a rewind ({r['rewound_at']})")
            else:
                c.print(f"    {r['ways_back']}", markup=False)
        if agreement_notice is not None:
            c.print(agreement_notice, style="yellow", markup=False)
        for u in unverified:
            c.print(
                f"  waiting {u.batch_id} (part {u.part_index}): the hub could not verify this "
                f"message: {u.reason_code} ({u.noted_at:%Y-%m-%d %H:%M}); it is sent again, "
                "signed with the connector's current key",
                markup=False,
            )

    cli.emit(data, render)


def rewind_command(
    ctx: typer.Context,
    config: Path = CONFIG,
    to_batch: str | None = typer.Option(
        None,
        "--to-batch",
        help="Go back to where this batch's rows start (a batch id from `connector status`).",
    ),
    to_start: bool = typer.Option(False, "--to-start", help="Go back to the source's start."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Rewind although batches from that point still await a receipt (they are still "
        "sent as they are).",
    ),
) -> None:
    """Move the watermark back so that the next `connector run` reads rows again.

    For a batch the hub rejected because the mapping was wrong: correct the mapping,
    rewind to the batch and run. Rows now mapped differently go out as new batches (new
    batch ids); rows giving the same records as a rejected batch send that batch again
    under the config's agreement; batches the hub accepted or still has to answer are not
    sent twice. Logged in the state database (`events`).
    """
    if (to_batch is None) == (not to_start):
        raise typer.BadParameter("give either --to-batch ID or --to-start")
    cli = get_context(ctx)
    cfg = load_config(config)
    state = StateDB.open(cfg.state_db_path)
    try:
        done = rewind(state, cfg.dataset, to_batch=to_batch, force=force, at=now())
    finally:
        state.close()

    def shown(mark: Any) -> dict[str, str] | None:
        return None if mark is None else {"value": str(mark.value), "key": str(mark.key)}

    data = {
        "dataset": done.dataset,
        "to_batch": done.to_batch,
        "watermark_from": shown(done.watermark_from),
        "watermark_to": shown(done.watermark_to),
        "batches": list(done.batches),
        "unanswered": list(done.unanswered),
        "refusals_cleared": done.refusals_cleared,
        "event_id": done.event_id,
    }

    def render(c: Console) -> None:
        where = data["watermark_to"] or "the start of the source"
        c.print(
            f"{cfg.topic}: watermark moved back to {where}; the next `connector run` reads "
            f"the rows of {len(done.batches)} batch(es) again under the current config",
            markup=False,
        )
        if done.unanswered:
            c.print(
                f"  {len(done.unanswered)} of them still await a receipt and are sent as they are",
                style="yellow",
            )

    cli.emit(data, render)
