"""Indicator releases on a real lake (SqlCatalog on SQLite) and hub database: a build
records the snapshots and agreement versions and appends to ``gold.indicators``; a
publication writes SDMX files sdmx1 reads and a signed manifest; a figure whose
agreement expired is withheld; a codelist change gives a new version with the old one
kept; an empty source refuses the build."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sdmx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from pyiceberg.catalog import Catalog
from sqlalchemy.orm import Session

from governance.canonical import canonical_json
from governance.indicators.models import IndicatorRelease
from governance.keys.secrets import HubSigningKey
from integration.indicators.definition import Definition
from integration.indicators.dimensions import TOTAL
from integration.indicators.errors import ReleaseNotBuilt, ReleaseUnknown, SourceEmpty
from integration.indicators.release import ReleaseService
from integration.indicators.release_files import (
    MANIFEST,
    SIGNATURE,
    STRUCTURE,
    sha256,
    write_folder,
)
from integration.indicators.release_gold import GOLD_INDICATORS, RELEASE, source_agreements
from integration.indicators.sdmx.structure_message import read_release
from integration.lake.bronze import LakeBatch, Lineage, append_batches, ensure_bronze_table
from integration.lake.catalog import open_catalog
from schemas.catalog import SchemaCatalog
from tests.fixtures.hub import Parties, agency_agreement, dataset_terms
from tests.integration.indicators.tables import rid

VACANCY = "bronze.jobboard__vacancy"
COMPLAINT = "bronze.dol__complaint"
JOBBOARD = "dsa-jobboard-lmis"
DOL = "dsa-dol-lmis"
DAY = datetime(2026, 12, 3, 10, tzinfo=UTC)
#: The dol agreement ends before the jobboard one (2028-12-31).
DOL_UNTIL = date(2027, 3, 31)


class Clock:
    def __init__(self) -> None:
        self.now = DAY

    def __call__(self) -> datetime:
        return self.now


def lineage(batch: str, agreement: str) -> Lineage:
    return Lineage(
        batch_id=batch,
        agreement_id=agreement,
        agreement_version=1,
        schema_fingerprint="0011223344556677",
        received_at=datetime(2026, 11, 1, 9, tzinfo=UTC),
    )


def land(
    lake: Catalog,
    schemas: SchemaCatalog,
    agency: str,
    dataset: str,
    date_field: str,
    rows: list[dict[str, Any]],
    agreement: str,
) -> int:
    schema = schemas.current(agency, dataset)
    table = ensure_bronze_table(
        lake,
        agency=agency,
        dataset=dataset,
        avro_schema=dict(schema.raw),
        event_date_field=date_field,
    )
    full = [{f["name"]: f.get("default") for f in schema.fields} | row for row in rows]
    return append_batches(table, [LakeBatch(full, lineage(f"{agency}-b1", agreement))])


#: Vacancies in 2026-01: six in TT-POS (occupation 2), four in TT-SJL (occupation 7).
VACANCIES = [("TT-POS", "2320")] * 6 + [("TT-SJL", "7211")] * 4
#: Complaints in 2026-Q1: five in TT-POS.
COMPLAINTS = 5


def land_vacancies(lake: Catalog, schemas: SchemaCatalog) -> int:
    rows = [
        {
            "record_id": rid(i),
            "posted_date": date(2026, 1, 5),
            "occupation": occ,
            "region": region,
            "positions": 1,
            "contract_type": "PERMANENT",
        }
        for i, (region, occ) in enumerate(VACANCIES)
    ]
    return land(lake, schemas, "jobboard", "vacancy", "posted_date", rows, JOBBOARD)


def land_complaints(lake: Catalog, schemas: SchemaCatalog) -> int:
    rows = [
        {
            "record_id": rid(100 + i),
            "received_date": date(2026, 2, 1),
            "region": "TT-POS",
            "category": "WAGES",
            "case_status": "OPEN",
        }
        for i in range(COMPLAINTS)
    ]
    return land(lake, schemas, "dol", "complaint", "received_date", rows, DOL)


@pytest.fixture
def key() -> HubSigningKey:
    return HubSigningKey(version=1, key_id="hub-1", private_key=Ed25519PrivateKey.generate())


@pytest.fixture
def parties(make_parties: Callable[..., Parties], schemas: SchemaCatalog) -> Parties:
    dol = agency_agreement(
        "dol",
        {"complaint": dataset_terms(schemas, "dol", "complaint")},
        valid_until=DOL_UNTIL.isoformat(),
    )
    return make_parties(datasets=["jobboard/vacancy"], documents=[dol])


@pytest.fixture
def lake(tmp_path: Path) -> Catalog:
    return open_catalog(
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=str(tmp_path / "lake")
    )


@pytest.fixture
def service(
    db_session: Session,
    parties: Parties,
    lake: Catalog,
    schemas: SchemaCatalog,
    package: dict[str, Definition],
    key: HubSigningKey,
    tmp_path: Path,
) -> ReleaseService:
    return ReleaseService(
        session=db_session,
        lake=lake,
        agreements=parties.agreements,
        definitions=[package["jobboard_vacancies"], package["dol_complaints_received"]],
        schemas=schemas,
        signing_key=lambda: key,
        publication_dir=tmp_path / "publication",
        ref_area="TT",
        ref_area_name="Trinidad and Tobago",
        audit=parties.audit,
        clock=Clock(),
    )


def manifest_of(row: IndicatorRelease) -> dict[str, Any]:
    assert row.manifest is not None
    return row.manifest


def read_sdmx(source: io.BytesIO, **kwargs: Any) -> Any:
    """A message as the sdmx1 client reads it."""
    return sdmx.read_sdmx(source, **kwargs)


def grand_total(observations: Any, indicator: str, **codes: str) -> Any:
    rows = observations.filter(pc.equal(observations["indicator"], indicator))
    for name, code in codes.items():
        rows = rows.filter(pc.equal(rows[name], code))
    return rows


def test_a_build_records_its_lineage_and_appends_to_gold(
    service: ReleaseService, lake: Catalog, schemas: SchemaCatalog
) -> None:
    vacancies = land_vacancies(lake, schemas)
    complaints = land_complaints(lake, schemas)
    row = service.build(actor="lmis")
    assert row.id == "2026-12-03.1" and row.state == "built" and row.built_by == "lmis"
    assert row.snapshots == {VACANCY: vacancies, COMPLAINT: complaints}
    assert row.linkage_run is None
    assert row.agreements == {
        "jobboard_vacancies": [{"id": JOBBOARD, "version": 1}],
        "dol_complaints_received": [{"id": DOL, "version": 1}],
    }
    gold = lake.load_table(GOLD_INDICATORS)
    current = gold.current_snapshot()
    assert current is not None and current.snapshot_id == row.gold_snapshot
    data = gold.scan(snapshot_id=row.gold_snapshot).to_arrow()
    assert set(data[RELEASE].to_pylist()) == {row.id}
    assert data.num_rows == row.observations == sum(row.indicators.values())
    # Hand-checked figures: ten vacancies in January, six in TT-POS; five complaints.
    total = grand_total(data, "jobboard_vacancies", region=TOTAL, isco_major=TOTAL)
    assert total["time_period"].to_pylist() == ["2026-01"]
    assert total["obs_value"].to_pylist() == [10.0]
    pos = grand_total(data, "jobboard_vacancies", region="TT-POS", isco_major=TOTAL)
    assert pos["obs_value"].to_pylist() == [6.0]
    complaints_total = grand_total(data, "dol_complaints_received", region=TOTAL)
    assert complaints_total["time_period"].to_pylist() == ["2026-Q1"]
    assert complaints_total["obs_value"].to_pylist() == [5.0]

    # A second build the same day: the next id, one more commit, the first kept.
    second = service.build(actor="lmis")
    assert second.id == "2026-12-03.2" and second.gold_snapshot != row.gold_snapshot
    both = lake.load_table(GOLD_INDICATORS).scan(snapshot_id=second.gold_snapshot).to_arrow()
    assert both.num_rows == 2 * row.observations
    assert [r.id for r in service.releases()] == [row.id, second.id]


def test_a_publication_is_read_by_sdmx1_and_its_manifest_verifies(
    service: ReleaseService, lake: Catalog, schemas: SchemaCatalog, key: HubSigningKey
) -> None:
    land_vacancies(lake, schemas)
    land_complaints(lake, schemas)
    built = service.build(actor="lmis")
    row = service.publish(built.id, actor="head")
    assert row.state == "published" and row.published_by == "head" and row.withheld == {}
    folder = service.publication_dir / built.id
    assert not [p for p in service.publication_dir.iterdir() if p.name.startswith(".")]

    data = (folder / MANIFEST).read_bytes()
    key_id, signature = (folder / SIGNATURE).read_text().split()
    assert key_id == key.key_id
    key.private_key.public_key().verify(bytes.fromhex(signature), data)
    document = json.loads(data)
    assert canonical_json(document) == data and document == row.manifest
    assert document["lake_snapshots"] == built.snapshots
    assert document["gold"]["snapshot"] == built.gold_snapshot
    assert document["indicators"]["jobboard_vacancies"]["agreements"] == [
        {"id": JOBBOARD, "version": 1}
    ]
    assert document["indicators"]["jobboard_vacancies"]["flow"] == "LMIS:JOBBOARD_VACANCIES(1.0)"
    for name, listed in document["files"].items():
        assert sha256((folder / name).read_bytes()) == listed["sha256"]
    assert set(document["files"]) == {
        STRUCTURE,
        *(
            f"{f}.{ext}"
            for f in ("JOBBOARD_VACANCIES", "DOL_COMPLAINTS_RECEIVED")
            for ext in ("csv", "v2.csv", "json", "xml")
        ),
    }

    structures = read_sdmx(io.BytesIO((folder / STRUCTURE).read_bytes()))
    dsd = structures.structure["DSD_JOBBOARD_VACANCIES"]
    xml = read_sdmx(io.BytesIO((folder / "JOBBOARD_VACANCIES.xml").read_bytes()), structure=dsd)
    from_json = read_sdmx(io.BytesIO((folder / "JOBBOARD_VACANCIES.json").read_bytes()))
    from_csv = read_sdmx(
        io.BytesIO((folder / "JOBBOARD_VACANCIES.v2.csv").read_bytes()),
        format="CSV",
        structure=structures.dataflow["JOBBOARD_VACANCIES"],
    )
    gold = grand_total(lake.load_table(GOLD_INDICATORS).scan().to_arrow(), "jobboard_vacancies")
    for message in (xml, from_json, from_csv):
        assert len(message.data[0].obs) == gold.num_rows
    csv_lines = (folder / "JOBBOARD_VACANCIES.csv").read_text().splitlines()
    assert csv_lines[0].startswith("DATAFLOW,REF_AREA,FREQ,")
    assert len(csv_lines) == 1 + gold.num_rows
    assert sorted(
        float(o.value) for o in xml.data[0].obs if o.value is not None and o.value == o.value
    ) == sorted(v for v in gold["obs_value"].to_pylist() if v is not None)

    with pytest.raises(ReleaseNotBuilt):
        service.publish(built.id, actor="head")
    with pytest.raises(ReleaseUnknown):
        service.publish("1999-01-01.1", actor="head")


def test_a_figure_whose_agreement_expired_is_withheld(
    service: ReleaseService, lake: Catalog, schemas: SchemaCatalog
) -> None:
    land_vacancies(lake, schemas)
    land_complaints(lake, schemas)
    built = service.build(actor="lmis")
    assert isinstance(service.clock, Clock)
    service.clock.now = datetime(2027, 4, 1, 9, tzinfo=UTC)  # the dol agreement has ended
    row = service.publish(built.id, actor="head")
    assert list(row.withheld) == ["dol_complaints_received"]
    assert "2027-04-01" in row.withheld["dol_complaints_received"]
    assert DOL in row.withheld["dol_complaints_received"]
    folder = service.publication_dir / built.id
    assert not (folder / "DOL_COMPLAINTS_RECEIVED.csv").exists()
    assert (folder / "JOBBOARD_VACANCIES.csv").exists()
    assert list(manifest_of(row)["indicators"]) == ["jobboard_vacancies"]
    assert manifest_of(row)["withheld"] == row.withheld


def test_a_suspended_agreement_withholds_its_figures(
    service: ReleaseService, parties: Parties, lake: Catalog, schemas: SchemaCatalog
) -> None:
    land_vacancies(lake, schemas)
    land_complaints(lake, schemas)
    built = service.build(actor="lmis")
    parties.agreements.suspend(JOBBOARD, 1, actor="lmis", reason="breach")
    row = service.publish(built.id, actor="head")
    assert row.withheld == {"jobboard_vacancies": f"agreement {JOBBOARD} v1 is suspended"}


def test_a_codelist_change_gives_a_new_version_and_keeps_the_old(
    service: ReleaseService, lake: Catalog, schemas: SchemaCatalog
) -> None:
    land_vacancies(lake, schemas)
    land_complaints(lake, schemas)
    first = service.publish(service.build(actor="lmis").id, actor="head")
    # The same structures again: the same versions.
    again = service.publish(service.build(actor="lmis").id, actor="head")
    assert manifest_of(again)["indicators"] == manifest_of(first)["indicators"]
    # The reference area is renamed: CL_AREA changes, so do the flows that use it.
    service.ref_area_name = "Republic of Trinidad and Tobago"
    third = service.publish(service.build(actor="lmis").id, actor="head")
    flows = {i: v["flow"] for i, v in manifest_of(third)["indicators"].items()}
    assert flows["jobboard_vacancies"] == "LMIS:JOBBOARD_VACANCIES(1.1)"
    message = (service.publication_dir / third.id / STRUCTURE).read_bytes()
    kept = read_release(message)
    areas = {c.version: c.name_of("TT") for c in kept.codelists if c.id == "CL_AREA"}
    assert areas == {"1.0": "Trinidad and Tobago", "1.1": "Republic of Trinidad and Tobago"}
    assert {s.version for s in kept.structures if s.id == "JOBBOARD_VACANCIES"} == {"1.0", "1.1"}
    # The earlier publication is untouched; sdmx1 reads the new message.
    earlier = read_release((service.publication_dir / first.id / STRUCTURE).read_bytes())
    assert {c.version for c in earlier.codelists if c.id == "CL_AREA"} == {"1.0"}
    assert "LMIS:JOBBOARD_VACANCIES(1.1)" in read_sdmx(io.BytesIO(message)).dataflow


def test_an_empty_source_withholds_its_indicators_and_all_empty_refuses_the_build(
    service: ReleaseService, lake: Catalog, schemas: SchemaCatalog
) -> None:
    ensure_bronze_table(
        lake,
        agency="dol",
        dataset="complaint",
        avro_schema=dict(schemas.current("dol", "complaint").raw),
        event_date_field="received_date",
    )
    with pytest.raises(SourceEmpty, match="every indicator has an empty source"):
        service.build(actor="lmis")
    assert service.releases() == []
    assert GOLD_INDICATORS not in {".".join(t) for t in lake.list_tables("gold")}
    land_vacancies(lake, schemas)
    row = service.build(actor="lmis")
    assert "dol_complaints_received" not in row.indicators
    assert COMPLAINT in row.withheld["dol_complaints_received"]
    assert row.withheld["dol_complaints_received"].startswith("source empty: ")
    published = service.publish(row.id, actor="head")
    assert "dol_complaints_received" in published.withheld  # still withheld, with its reason
    assert manifest_of(published)["indicators"]["jobboard_vacancies"]["observations"] > 0


def test_a_build_whose_record_was_lost_does_not_give_its_id_again(
    service: ReleaseService, lake: Catalog, schemas: SchemaCatalog
) -> None:
    land_vacancies(lake, schemas)
    land_complaints(lake, schemas)
    first = service.build(actor="lmis")
    service.session.delete(first)  # as if its transaction had not committed
    service.session.flush()
    second = service.build(actor="lmis")
    assert second.id == "2026-12-03.2"
    published = service.publish(second.id, actor="head")
    assert (
        manifest_of(published)["indicators"]["jobboard_vacancies"]["observations"]
        == (second.indicators["jobboard_vacancies"])
    )
    rows = (service.publication_dir / second.id / "JOBBOARD_VACANCIES.csv").read_text()
    assert len(rows.splitlines()) == 1 + second.indicators["jobboard_vacancies"]


AGREEMENT_IDS = st.sampled_from(["dsa-a", "dsa-b", "dsa-c"])


@given(
    st.lists(
        st.tuples(st.one_of(st.none(), AGREEMENT_IDS), st.integers(min_value=1, max_value=3)),
        max_size=30,
    )
)
def test_the_agreements_of_a_table_are_its_distinct_delivered_versions(
    pairs: list[tuple[str | None, int]],
) -> None:
    table = pa.table(
        {
            "record_id": pa.array([rid(i) for i in range(len(pairs))], pa.string()),
            "_agreement_id": pa.array([a for a, _ in pairs], pa.string()),
            "_agreement_version": pa.array([v for _, v in pairs], pa.int32()),
        }
    )
    expected = sorted({(a, v) for a, v in pairs if a is not None})
    assert source_agreements(table) == expected
    assert source_agreements(table.drop_columns(["_agreement_id"])) == []


def test_a_publication_folder_is_written_all_or_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_folder(tmp_path, "r1", {"a.csv": b"a", "missing/b.csv": b"b"})
    assert list(tmp_path.iterdir()) == []
    written = write_folder(tmp_path, "r1", {"a.csv": b"a"})
    assert [p.name for p in tmp_path.iterdir()] == ["r1"]
    assert (written / "a.csv").read_bytes() == b"a"
    with pytest.raises(ReleaseNotBuilt):
        write_folder(tmp_path, "r1", {"a.csv": b"changed"})
    assert (written / "a.csv").read_bytes() == b"a"
