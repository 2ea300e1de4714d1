"""Rewinding a connector: read again rows the watermark has already moved past.

A batch the hub refused because the mapping was wrong cannot be sent again as it is:
the outbox holds records already mapped. Once the mapping is corrected,
:func:`rewind` moves the dataset's watermark back to where it was before a named batch
was read (kept per batch in the outbox, see :meth:`connectors.sdk.outbox.Outbox.note_span`),
or to the start of the source, and the next run reads those rows again under the config
as it is now:

- rows now mapped differently give other records, hence other batch ids (a batch id is
  computed from the records and where they end in the source), and go out as new
  batches;
- rows that give the same records as before are the same batch: skipped when the hub
  accepted it or it still awaits a receipt, sent again (under the agreement the config
  names now) when the hub rejected it.

Batches from the rewind point that still await a receipt stop a rewind (their rows and
their records would both be in flight) unless it is forced. The refusals recorded from
the rewind point are cleared, since those rows are read and checked again. Every rewind
is logged in the state database (``events``, kind ``rewind``) and marks the batches it
went back over (``rewound_at``, shown by ``connector status``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from connectors.sdk.errors import RewindBlocked, RewindPointUnknown, UnknownBatch
from connectors.sdk.outbox import Outbox
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import (
    Watermark,
    WatermarkStore,
    decode_watermark,
    encode_watermark,
)

log = logging.getLogger(__name__)

REWIND_EVENT = "rewind"


@dataclass(frozen=True)
class RewindReport:
    """What a rewind did."""

    dataset: str
    #: The batch whose rows are read first again; None: the whole source.
    to_batch: str | None
    watermark_from: Watermark | None
    watermark_to: Watermark | None
    #: Batches from the rewind point, in the order they were stored.
    batches: tuple[str, ...]
    #: Those of them still awaiting a receipt (a forced rewind).
    unanswered: tuple[str, ...]
    refusals_cleared: int
    event_id: int


def rewind(
    state: StateDB,
    dataset: str,
    *,
    to_batch: str | None,
    force: bool = False,
    at: datetime,
) -> RewindReport:
    """Move ``dataset``'s watermark back to before ``to_batch`` (None: to the start).

    Raises :class:`UnknownBatch` when the outbox never held ``to_batch`` for
    ``dataset``, :class:`RewindPointUnknown` when it did not keep where the batch
    starts (stored by an older connector), :class:`RewindBlocked` when batches from
    that point await a receipt and ``force`` is not given. Nothing changes then.
    """
    outbox = Outbox(state)
    watermarks = WatermarkStore(state)
    with state.transaction() as conn:
        if to_batch is None:
            target: Watermark | None = None
            since: str | None = None
            rows = conn.execute(
                "SELECT batch_id, state FROM batches WHERE dataset = ? ORDER BY created_at, rowid",
                (dataset,),
            ).fetchall()
        else:
            held = outbox.get(to_batch)
            if held.dataset != dataset:
                raise UnknownBatch(
                    f"batch {to_batch!r} is of dataset {held.dataset}, not {dataset}",
                    batch_id=to_batch,
                )
            start, rowid = conn.execute(
                "SELECT watermark_before, rowid FROM batches WHERE batch_id = ?", (to_batch,)
            ).fetchone()
            if start is None:
                raise RewindPointUnknown(
                    f"the outbox did not keep where batch {to_batch} starts in the source (it "
                    "was stored by an older connector); rewind with --to-start instead",
                    batch_id=to_batch,
                )
            target = decode_watermark(str(start))
            since = held.created_at.isoformat()
            rows = conn.execute(
                "SELECT batch_id, state FROM batches WHERE dataset = ? "
                "AND (created_at > ? OR (created_at = ? AND rowid >= ?)) "
                "ORDER BY created_at, rowid",
                (dataset, since, since, rowid),
            ).fetchall()
        batches = tuple(str(r[0]) for r in rows)
        unanswered = tuple(str(r[0]) for r in rows if r[1] in ("pending", "sent"))
        if unanswered and not force:
            raise RewindBlocked(
                f"{len(unanswered)} batch(es) from that point await the hub's receipt "
                f"(first: {unanswered[0]}); let `connector run` apply their receipts first, "
                "or rewind with --force (they are still sent as they are, and their rows "
                "are read again too)",
                batch_id=unanswered[0],
            )
        current = watermarks.get(dataset)
        watermarks.set(dataset, target, at=at)
        conn.executemany(
            "UPDATE batches SET rewound_at = ? WHERE batch_id = ?",
            [(at.isoformat(), batch_id) for batch_id in batches],
        )
        cleared = conn.execute(
            "DELETE FROM refusals WHERE dataset = ? AND (? IS NULL OR recorded_at >= ?)",
            (dataset, since, since),
        ).rowcount
        event_id = state.record_event(
            dataset,
            REWIND_EVENT,
            {
                "to_batch": to_batch,
                "watermark_from": encode_watermark(current),
                "watermark_to": encode_watermark(target),
                "batches": len(batches),
                "unanswered": list(unanswered),
                "forced": force,
                "refusals_cleared": int(cleared),
            },
            at=at,
        )
    log.info(
        "%s: watermark moved back to %s (%s); the next run reads %d batch(es) of rows again",
        dataset,
        "the start of the source" if target is None else f"{target.value}/{target.key}",
        f"before batch {to_batch}" if to_batch else "--to-start",
        len(batches),
    )
    return RewindReport(
        dataset=dataset,
        to_batch=to_batch,
        watermark_from=current,
        watermark_to=target,
        batches=batches,
        unanswered=unanswered,
        refusals_cleared=int(cleared),
        event_id=event_id,
    )
