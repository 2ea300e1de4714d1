"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from governance.accounts.services import Principal
from hub_api.http.auth import Require
from hub_api.http.errors import NotReady
from hub_api.http.metrics import Metrics
from hub_api.http.unit import Unit, unit

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the hub database answers and is migrated")
def ready(work: Annotated[Unit, Depends(unit, scope="function")]) -> dict[str, Any]:
    try:
        version = work.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any driver error means not ready; the cause goes to the log
        raise NotReady("the hub database does not answer") from exc
    return {"status": "ready", "database": "ok", "schema": version}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(
    request: Request, _: Annotated[Principal, Depends(Require("metrics:read"))]
) -> PlainTextResponse:
    registry: Metrics = request.app.state.metrics
    return PlainTextResponse(registry.exposition(), media_type="text/plain; version=0.0.4")
