"""The public LMI site, without sign-in: the indicators with charts and the same
figures as tables (suppressed cells marked), each indicator's metadata, the published
releases with their lineage and downloads, and the release calendar."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from governance.indicators.models import IndicatorRelease, published_releases
from governance.indicators.views import lineage_view
from hub_api.http.errors import RouteNotFound
from hub_api.web.access import Work, mark_page, viewer
from hub_api.web.charts import bar_chart
from hub_api.web.figures import Code, FlowFigures, Observation, read_sdmx_json
from hub_api.web.templating import Viewer, render
from integration.indicators.calendar import planned
from integration.indicators.definition import Definition
from integration.indicators.errors import ReleaseUnknown

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)
Seen = Annotated[Viewer, Depends(viewer)]

#: The source areas of the package, by indicator id prefix, in the order shown.
AREAS = (
    ("lfs", "Labour Force Survey (statistics office)"),
    ("nis", "National insurance"),
    ("jobboard", "Job boards"),
    ("jobseekers", "Linked across agencies"),
    ("tvet", "Training authority"),
    ("dol", "Labour department"),
)
HEADLINES = (
    "lfs_unemployment_rate",
    "lfs_participation_rate",
    "lfs_employment_to_population",
    "nis_insured_employment",
    "jobboard_vacancies",
    "tvet_certified_insured_6m",
)


def area_of(definition: Definition) -> str:
    if definition.id.endswith(("_insured_6m", "_insured_12m")):
        return "Linked across agencies"
    prefix = definition.id.split("_", 1)[0]
    return next((name for key, name in AREAS if key == prefix), "Other")


@lru_cache(maxsize=64)
def _figures(path: Path, flow: str) -> FlowFigures:
    """A published file never changes once its release is published."""
    return read_sdmx_json(path.read_bytes(), flow)


def _published(work: Work) -> list[IndicatorRelease]:
    return [r for r in published_releases(work.session) if r.folder]


def _definition(work: Work, indicator_id: str) -> Definition:
    for d in work.state.definitions:
        if d.id == indicator_id:
            return d
    raise RouteNotFound(f"there is no indicator {indicator_id!r} in the package")


def _latest_with(work: Work, flow: str) -> IndicatorRelease | None:
    for row in _published(work):
        if f"{flow}.json" in (row.manifest or {}).get("files", {}):
            return row
    return None


def figures_of(work: Work, definition: Definition) -> tuple[IndicatorRelease, FlowFigures] | None:
    flow = definition.id.upper()
    row = _latest_with(work, flow)
    if row is None or row.folder is None:
        return None
    return row, _figures(work.settings.publication_dir / row.folder / f"{flow}.json", flow)


def printed(definition: Definition, obs: Observation | None) -> str:
    if obs is None:
        return "no figure"
    if obs.suppressed:
        return "suppressed"
    assert obs.value is not None
    if definition.unit in ("PT", "RATE"):
        return f"{obs.value:,.1f}"
    return f"{obs.value:,.0f}" if float(obs.value).is_integer() else f"{obs.value:,.1f}"


@router.get("/")
def home(request: Request, work: Work, seen: Seen) -> Response:
    defs = {d.id: d for d in work.state.definitions}
    cards = []
    for indicator_id in HEADLINES:
        d = defs.get(indicator_id)
        found = figures_of(work, d) if d is not None and d.computable else None
        headline = found[1].headline() if found else None
        if d is not None and headline is not None:
            cards.append({"definition": d, "period": headline[0], "text": printed(d, headline[1])})
    releases = _published(work)
    return render(
        request,
        "public/home.html",
        seen,
        title="Labour market information",
        cards=cards,
        latest=releases[0] if releases else None,
        upcoming=planned(
            work.state.definitions,
            work.state.clock().date(),
            work.state.clock().date() + timedelta(days=62),
        )[:4],
    )


@router.get("/indicators")
def indicators(request: Request, work: Work, seen: Seen) -> Response:
    groups: dict[str, list[Definition]] = {}
    for d in work.state.definitions:
        groups.setdefault(area_of(d), []).append(d)
    order = [name for _, name in AREAS] + ["Other"]
    return render(
        request,
        "public/indicators.html",
        seen,
        title="Indicators",
        groups=[(name, groups[name]) for name in order if name in groups],
    )


@router.get("/indicators/{indicator_id}")
def indicator(indicator_id: str, request: Request, work: Work, seen: Seen) -> Response:
    d = _definition(work, indicator_id)
    found = figures_of(work, d) if d.computable else None
    context: dict[str, Any] = {"definition": d, "release": None}
    if found is not None and found[1].periods:
        row, figs = found
        asked = dict(request.query_params)
        fixed = figs.selection(asked)
        dims = [dim.id for dim in figs.dimensions]
        by = asked["by"] if asked.get("by") in dims else (dims[0] if dims else None)
        period = asked["period"] if asked.get("period") in figs.periods else figs.periods[-1]
        if by is not None:
            rows = figs.breakdown(by, fixed, period)
            title = f"{d.name}, {period}, by {figs.dimension(by).name.lower()}"
        else:  # no breakdown: the periods
            rows = [(Code(p, p), o) for p, o in figs.series(fixed)]
            title = f"{d.name}, by period"
        chart = bar_chart(
            title,
            [
                (code.name, None if o is None or o.suppressed else o.value, printed(d, o))
                for code, o in rows
            ],
            unit=d.unit,
        )
        context |= {
            "release": row,
            "figures": figs,
            "fixed": fixed,
            "by": by,
            "period": period,
            "rows": rows,
            "chart": chart,
            "series": figs.series(fixed),
            "printed": lambda o: printed(d, o),
            "flow": d.id.upper(),
        }
    return render(request, "public/indicator.html", seen, title=d.name, **context)


@router.get("/releases")
def releases(request: Request, work: Work, seen: Seen) -> Response:
    return render(
        request, "public/releases.html", seen, title="Releases", releases=_published(work)
    )


@router.get("/releases/{release_id}")
def release(release_id: str, request: Request, work: Work, seen: Seen) -> Response:
    row = next((r for r in _published(work) if r.id == release_id), None)
    if row is None:
        raise ReleaseUnknown(f"there is no published indicator release {release_id!r}")
    names = {d.id: d.name for d in work.state.definitions}
    return render(
        request,
        "public/release.html",
        seen,
        title=f"Release {row.id}",
        release=row,
        lineage=lineage_view(row),
        names=names,
        files=sorted((row.manifest or {}).get("files", {})),
    )


@router.get("/calendar")
def calendar(request: Request, work: Work, seen: Seen) -> Response:
    today = work.state.clock().date()
    names = {d.id: d.name for d in work.state.definitions}
    return render(
        request,
        "public/calendar.html",
        seen,
        title="Release calendar",
        upcoming=planned(work.state.definitions, today, today + timedelta(days=366)),
        past=_published(work),
        names=names,
    )
