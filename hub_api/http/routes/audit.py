"""The audit log for the steering committee and auditors: filter, verify the chain with
its signed checkpoints, export (verifiable offline with `lmis-hub audit verify --file`)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from governance.accounts.services import Principal
from governance.audit.export import write_export
from governance.audit.views import verification_view
from hub_api.http.auth import Require
from hub_api.http.unit import Unit, unit
from schemas.keys import load_public_pem

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Work = Annotated[Unit, Depends(unit, scope="function")]
Reviewer = Annotated[Principal, Depends(Require("audit:read"))]
CHUNK = 1 << 16


@router.get("/entries", summary="Entries matching every given filter, in order")
def entries(
    _: Reviewer,
    work: Work,
    tag: Annotated[str | None, Query(description="a tag, or a prefix ending in ':'")] = None,
    actor: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[dict[str, Any]]:
    found = work.services().audit.search(
        tag=tag, actor=actor, subject=subject, since=since, until=until, limit=limit
    )
    return [e.as_dict() for e in found]


@router.get("/checkpoints", summary="The signed checkpoints")
def checkpoints(_: Reviewer, work: Work) -> list[dict[str, Any]]:
    return [
        {
            "seq": cp.seq,
            "first_seq": cp.first_seq,
            "hash": cp.hash,
            "at": cp.at.isoformat(),
            "key_id": cp.key_id,
            "signature": cp.signature.hex(),
        }
        for cp in work.services().audit.list_checkpoints()
    ]


@router.post("/verify", summary="Recompute the chain and check every signed checkpoint")
def verify(
    reviewer: Annotated[Principal, Depends(Require("audit:verify"))], work: Work
) -> dict[str, Any]:
    return verify_chain(work, reviewer.username)


def verify_chain(work: Unit, reviewer: str) -> dict[str, Any]:
    """Verify the chain against the hub keys in the database, and audit that it was."""
    gov = work.services()
    trusted = {
        k.key_id: load_public_pem(k.public_key_pem, where=k.key_id) for k in gov.keys.list("hub")
    }
    result = gov.audit.verify(public_keys=trusted)
    data = verification_view(result)
    gov.audit.record("audit:verify", reviewer, "audit", data)
    return data | {
        "summary": result.summary(),
        "keys": "hub database",
        "warnings": [
            "the hub keys were read from the hub database; for an independent check export "
            "the log and run `lmis-hub audit verify --file` with the hub's public key"
        ],
    }


@router.get("/export", summary="Every entry with the signed checkpoints and hub keys (JSON lines)")
def export(
    reviewer: Annotated[Principal, Depends(Require("audit:read"))], work: Work
) -> StreamingResponse:
    gov = work.services()
    # closed by the response once streamed (chunks() below)
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8")  # noqa: SIM115
    head = gov.audit.head()
    count = write_export(
        spool,  # type: ignore[arg-type]
        exported_at=gov.audit.clock(),
        head=head,
        hub_keys={k.key_id: k.public_key_pem for k in gov.keys.list("hub")},
        checkpoints=gov.audit.list_checkpoints(),
        entries=gov.audit.iter_chain(head[0]),
    )
    gov.audit.record(
        "audit:export",
        reviewer.username,
        "audit",
        {"format": "jsonl", "entries": count, "to": "api"},
    )
    spool.seek(0)

    def chunks() -> Iterator[str]:
        with spool:
            while block := spool.read(CHUNK):
                yield block

    return StreamingResponse(
        chunks(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit-export.jsonl"'},
    )
