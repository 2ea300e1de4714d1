"""The published indicators without signing in: releases, their files (only those the
signed manifest lists), and SDMX REST data and structure queries that an SDMX client
reads; unpublished releases stay out of sight."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import pytest
from pyiceberg.catalog import Catalog

from hub_api.wiring import Governance, governance_in_steps, indicator_releases, lake_catalog
from integration.indicators.release import ReleaseService
from lmis_hub.settings import Settings
from schemas.catalog import SchemaCatalog
from tests.hub_api.http.conftest import ServedHub
from tests.hub_api.http.server import client
from tests.integration.indicators.test_release import land_complaints, land_vacancies, read_sdmx

FLOW = "JOBBOARD_VACANCIES"


@pytest.fixture(scope="module")
def hub_datasets() -> tuple[str, ...]:
    return ("jobboard/vacancy", "dol/complaint")


def two_indicators(gov: Governance) -> ReleaseService:
    """The package's service with two of its indicators (the others need a linkage run)."""
    service = indicator_releases(gov)
    kept = [
        d for d in service.definitions if d.id in ("jobboard_vacancies", "dol_complaints_received")
    ]
    return dataclasses.replace(service, definitions=kept)


def publish_two(
    settings: Settings, land_vacancies: Callable[[Catalog, SchemaCatalog], object]
) -> str:
    """Land vacancies (with ``land_vacancies``) and complaints, then build and publish a
    release of their two indicators; its id."""
    schemas = SchemaCatalog.load()
    lake = lake_catalog(settings)
    land_vacancies(lake, schemas)
    land_complaints(lake, schemas)
    with governance_in_steps(settings, actor="lmis-unit") as gov:
        release_id = two_indicators(gov).build(actor="lmis-unit").id
    with governance_in_steps(settings, actor="lmis-unit") as gov:
        two_indicators(gov).publish(release_id, actor="lmis-unit")
    return release_id


@pytest.fixture(scope="module")
def release(served_hub: ServedHub) -> str:
    return publish_two(served_hub.settings, land_vacancies)


def test_published_releases_and_their_files_are_public(served_hub: ServedHub, release: str) -> None:
    with client(served_hub.url) as http:
        listed = http.get("/api/v1/public/releases").json()
        assert [r["id"] for r in listed] == [release]
        lineage = http.get(f"/api/v1/public/releases/{release}").json()
        assert lineage["signature"] and lineage["lake_snapshots"]
        manifest = http.get(f"/api/v1/public/releases/{release}/files/release.json")
        assert manifest.status_code == 200 and manifest.json()["release"] == release
        for name in ("..%2Fhub.db", ".hidden", "nothing.csv", "release.json.bak"):
            r = http.get(f"/api/v1/public/releases/{release}/files/{name}")
            assert r.status_code == 404, (name, r.text)
        assert http.get("/api/v1/public/releases/1999-01-01.1").status_code == 404
        # the LMIS unit's view of releases is not public
        assert http.get("/api/v1/indicators/releases").status_code == 401
        definitions = http.get("/api/v1/public/indicators").json()
        assert {"jobboard_vacancies", "lfs_unemployment_rate"} <= {d["id"] for d in definitions}


def test_sdmx_rest_data_is_read_by_an_sdmx_client(served_hub: ServedHub, release: str) -> None:
    with client(served_hub.url) as http:
        structure = http.get("/sdmx/rest/dataflow/LMIS/all/latest")
        assert structure.status_code == 200
        assert structure.headers["content-type"].startswith("application/vnd.sdmx.structure+xml")
        msg = read_sdmx(io.BytesIO(structure.content))
        assert FLOW in msg.dataflow
        data = http.get(
            f"/sdmx/rest/data/LMIS,{FLOW},1.0/all",
            headers={"Accept": "application/vnd.sdmx.structurespecificdata+xml;version=2.1"},
        )
        assert data.status_code == 200 and data.headers["x-lmis-release"] == release
        message = read_sdmx(
            io.BytesIO(data.content), structure=msg.structure[msg.dataflow[FLOW].structure.id]
        )
        dataset = message.data[0]
        observations = sum(len(s) for s in dataset.series.values()) or len(dataset.obs)
        csv = http.get(f"/sdmx/rest/data/{FLOW}", params={"format": "csv"}).text
        header, *rows = [line for line in csv.split("\r\n") if line]
        assert header.startswith("DATAFLOW,REF_AREA,FREQ")
        # the XML an SDMX client reads holds every observation the CSV holds
        assert rows and observations == len(rows)


def test_sdmx_csv_filters_by_key_and_period(served_hub: ServedHub, release: str) -> None:
    def rows_of(text: str) -> list[list[str]]:
        return [line.split(",") for line in text.split("\r\n") if line]

    with client(served_hub.url) as http:
        header, *rows = rows_of(http.get(f"/sdmx/rest/data/{FLOW}", params={"format": "csv"}).text)
        dims = header[header.index("REF_AREA") : header.index("TIME_PERIOD")]
        # a dimension with several values: ask for one of them, then for two
        split = next(d for d in dims if len({r[header.index(d)] for r in rows}) > 1)
        column = header.index(split)
        values = sorted({r[column] for r in rows})
        for wanted in ([values[0]], values[:2]):
            key = ["+".join(wanted) if d == split else "" for d in dims]
            got = rows_of(
                http.get(f"/sdmx/rest/data/{FLOW}/{'.'.join(key)}", params={"format": "csv"}).text
            )
            assert got[0] == header
            assert got[1:] == [r for r in rows if r[column] in wanted]
        key = ["XX" if d == "REF_AREA" else "" for d in dims]
        nothing = http.get(f"/sdmx/rest/data/{FLOW}/{'.'.join(key)}", params={"format": "csv"})
        assert rows_of(nothing.text) == [header]
        late = http.get(f"/sdmx/rest/data/{FLOW}", params={"format": "csv", "startPeriod": "2099"})
        assert rows_of(late.text) == [header]
        r = http.get(f"/sdmx/rest/data/{FLOW}/TT", params={"format": "csv"})
        assert r.status_code == 501 and "parts" in r.json()["error"]["message"]
        r = http.get(f"/sdmx/rest/data/{FLOW}/TT", params={"format": "json"})
        assert r.status_code == 501 and r.json()["error"]["code"] == "sdmx.not_implemented"
        r = http.get(f"/sdmx/rest/data/{FLOW}", params={"format": "pdf"})
        assert r.status_code == 406 and r.json()["error"]["code"] == "sdmx.format_unknown"
        assert http.get("/sdmx/rest/data/NO_SUCH_FLOW").status_code == 404


def test_the_lake_shows_its_tables_and_snapshots_as_metadata_only(
    served_hub: ServedHub, release: str
) -> None:
    with client(served_hub.url, served_hub.tokens["lmis_analyst"]) as http:
        tables = {t["table"]: t for t in http.get("/api/v1/lake/tables").json()}
        vacancies = tables["bronze.jobboard__vacancy"]
        assert vacancies["snapshot_id"] and "record_id" in vacancies["columns"]
        assert "rows" not in vacancies and "data" not in vacancies
        snapshots = http.get("/api/v1/lake/tables/bronze.jobboard__vacancy/snapshots").json()
        assert [s["current"] for s in snapshots].count(True) == 1
        assert snapshots[0]["snapshot_id"] == vacancies["snapshot_id"]
        assert snapshots[0]["operation"] == "append"
        r = http.get("/api/v1/lake/tables/bronze.nothing_here/snapshots")
        assert r.status_code == 404 and r.json()["error"]["code"] == "request.not_found"
    with client(served_hub.url, served_hub.tokens["researcher"]) as http:
        assert http.get("/api/v1/lake/tables").status_code == 403
