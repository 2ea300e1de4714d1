"""Indicators: releases for the LMIS unit (build, publish, lineage), and for everyone,
without signing in, the published releases, their files and SDMX REST data and
structure queries (the latest published release answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response

from governance.accounts.services import Principal
from governance.indicators.models import IndicatorRelease, published_releases
from governance.indicators.views import lineage_view, release_view
from hub_api.http.auth import Require
from hub_api.http.errors import RouteNotFound
from hub_api.http.sdmx_query import SdmxNotImplemented, choose_format, filter_csv
from hub_api.http.unit import Unit, unit
from hub_api.wiring import indicator_releases
from integration.indicators.errors import ReleaseUnknown
from integration.indicators.release import ReleaseService
from integration.indicators.release_files import MANIFEST, SIGNATURE, STRUCTURE

router = APIRouter(tags=["indicators"])
Work = Annotated[Unit, Depends(unit, scope="function")]

STRUCTURE_TYPE = "application/vnd.sdmx.structure+xml; version=2.1; charset=utf-8"
FILE_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/xml",
    ".sig": "text/plain; charset=utf-8",
}


def _releases(work: Unit) -> ReleaseService:
    """The release service on the catalog and definitions the application read once."""
    state = work.state
    return indicator_releases(work.services(), schemas=state.schemas, definitions=state.definitions)


def _published(work: Unit) -> list[IndicatorRelease]:
    """Newest first; read straight from the releases table (no release service)."""
    return [r for r in published_releases(work.session) if r.folder]


def _public(work: Unit, release_id: str) -> IndicatorRelease:
    for row in _published(work):
        if row.id == release_id:
            return row
    raise ReleaseUnknown(f"there is no published indicator release {release_id!r}")


def _latest(work: Unit) -> IndicatorRelease:
    rows = _published(work)
    if not rows:
        raise ReleaseUnknown("no indicator release is published yet")
    return rows[0]


def _file(work: Unit, row: IndicatorRelease, name: str) -> bytes:
    """A file the release's manifest lists (nothing else in its folder is served)."""
    listed = set((row.manifest or {}).get("files", {})) | {MANIFEST, SIGNATURE}
    if name not in listed or "/" in name or name.startswith("."):
        raise RouteNotFound(f"release {row.id} has no file {name!r}")
    assert row.folder is not None
    return (work.settings.publication_dir / row.folder / name).read_bytes()


# Public ------------------------------------------------------------------------------


@router.get("/api/v1/public/indicators", summary="The package's indicators and their metadata")
def definitions(work: Work) -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "name": d.name,
            "description": d.description,
            "unit": d.unit,
            "frequency": d.frequency,
            "dimensions": list(d.dimension_names),
            "sources": list(d.sources),
            "withheld": d.withheld,
        }
        for d in work.state.definitions
    ]


@router.get("/api/v1/public/releases", summary="Published releases, newest first")
def public_releases(work: Work) -> list[dict[str, Any]]:
    return [release_view(r) for r in _published(work)]


@router.get("/api/v1/public/releases/{release_id}", summary="A published release with its lineage")
def public_release(release_id: str, work: Work) -> dict[str, Any]:
    return lineage_view(_public(work, release_id))


@router.get(
    "/api/v1/public/releases/{release_id}/files/{name}", summary="A file of a published release"
)
def public_file(release_id: str, name: str, work: Work) -> Response:
    row = _public(work, release_id)
    data = _file(work, row, name)
    media = FILE_TYPES.get(Path(name).suffix, "application/octet-stream")
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _flow_of(row: IndicatorRelease, flow_ref: str) -> str:
    """The flow id from an SDMX flowRef (``UR``, ``LMIS,UR``, ``LMIS,UR,1.0``)."""
    parts = flow_ref.split(",")
    flow = (parts[1] if len(parts) > 1 else parts[0]).upper()
    if f"{flow}.csv" not in (row.manifest or {}).get("files", {}):
        raise RouteNotFound(f"no published dataflow {flow_ref!r}")
    return flow


@router.get("/sdmx/rest/data/{flow_ref}", summary="SDMX REST: every observation of a dataflow")
@router.get(
    "/sdmx/rest/data/{flow_ref}/{key}", summary="SDMX REST: a dataflow's observations by key"
)
def sdmx_data(
    flow_ref: str,
    work: Work,
    key: str = "all",
    format: Annotated[str | None, Query(description="csv, csv2, json or xml")] = None,
    start_period: Annotated[str | None, Query(alias="startPeriod", max_length=16)] = None,
    end_period: Annotated[str | None, Query(alias="endPeriod", max_length=16)] = None,
    accept: Annotated[str, Header()] = "",
) -> Response:
    row = _latest(work)
    flow = _flow_of(row, flow_ref)
    chosen = choose_format(format, accept)
    data = _file(work, row, f"{flow}{chosen.suffix}")
    filtered = key not in ("", "all") or start_period or end_period
    if filtered:
        if not chosen.suffix.endswith(".csv"):
            raise SdmxNotImplemented("key and period filters are offered on SDMX-CSV only")
        data = filter_csv(data.decode("utf-8"), key, start_period, end_period).encode("utf-8")
    return Response(data, media_type=chosen.media_type, headers={"X-LMIS-Release": row.id})


@router.get("/sdmx/rest/{structure}/{agency}", summary="SDMX REST: structures (the whole message)")
@router.get("/sdmx/rest/{structure}/{agency}/{resource}", summary="SDMX REST: structures")
@router.get("/sdmx/rest/{structure}/{agency}/{resource}/{version}", summary="SDMX REST: structures")
def sdmx_structure(
    structure: str, agency: str, work: Work, resource: str = "all", version: str = "latest"
) -> Response:
    if structure not in ("dataflow", "datastructure", "codelist", "conceptscheme", "structure"):
        raise RouteNotFound(f"no SDMX structure type {structure!r}")
    row = _latest(work)
    return Response(
        _file(work, row, STRUCTURE), media_type=STRUCTURE_TYPE, headers={"X-LMIS-Release": row.id}
    )


# The LMIS unit -------------------------------------------------------------------------


@router.get("/api/v1/indicators/releases", summary="Every release, built or published")
def releases(
    _: Annotated[Principal, Depends(Require("indicators:read"))], work: Work
) -> list[dict[str, Any]]:
    return [release_view(r) for r in _releases(work).releases()]


@router.get("/api/v1/indicators/releases/{release_id}", summary="A release's lineage")
def release(
    release_id: str, _: Annotated[Principal, Depends(Require("indicators:read"))], work: Work
) -> dict[str, Any]:
    return lineage_view(_releases(work).get(release_id))


@router.post(
    "/api/v1/indicators/releases", status_code=201, summary="Build a release from the lake"
)
def build(
    principal: Annotated[Principal, Depends(Require("indicators:build"))], work: Work
) -> dict[str, Any]:
    work.commit()  # on SQLite the lake catalog shares the database: end reads first
    return release_view(_releases(work).build(actor=principal.username))


@router.post(
    "/api/v1/indicators/releases/{release_id}/publish", summary="Publish a built release as SDMX"
)
def publish(
    release_id: str,
    principal: Annotated[Principal, Depends(Require("indicators:publish"))],
    work: Work,
) -> dict[str, Any]:
    return release_view(_releases(work).publish(release_id, actor=principal.username))
