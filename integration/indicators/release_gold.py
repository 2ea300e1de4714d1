"""The gold layer of the indicators, and the lineage of each figure.

``gold.indicators`` holds every release's observations (the columns of
:func:`.compute.observations_schema` and ``release``, the release id); a release is
appended in one commit, so its snapshot holds exactly the releases up to it.
:func:`agreement_versions` reads, from the bronze lineage columns of the source tables
read, the agreement versions each indicator's rows were delivered under.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import DoubleType, LongType, NestedField, StringType

from integration.indicators.compute import dimension_columns
from integration.indicators.definition import Definition
from integration.indicators.errors import PublicationUnreadable
from integration.indicators.sources import bronze_dataset
from integration.lake.errors import LakeCommitFailed

GOLD_INDICATORS = "gold.indicators"
RELEASE = "release"
AGREEMENT_ID = "_agreement_id"
AGREEMENT_VERSION = "_agreement_version"


def gold_schema() -> Schema:
    """The Iceberg schema of ``gold.indicators``."""
    names: list[tuple[str, object, bool]] = [
        (RELEASE, StringType(), True),
        ("indicator", StringType(), True),
        ("time_period", StringType(), True),
        *((d, StringType(), False) for d in dimension_columns()),
        ("obs_value", DoubleType(), False),
        ("standard_error", DoubleType(), False),
        ("contributors", LongType(), False),
        ("obs_status", StringType(), True),
        ("conf_status", StringType(), True),
    ]
    return Schema(
        *(
            NestedField(i, name, kind, required=required)  # type: ignore[arg-type]
            for i, (name, kind, required) in enumerate(names, start=1)
        )
    )


def gold_table(lake: Catalog) -> Table:
    """``gold.indicators``, created on first use."""
    try:
        return lake.load_table(GOLD_INDICATORS)
    except NoSuchTableError:
        lake.create_namespace_if_not_exists("gold")
        return lake.create_table(GOLD_INDICATORS, schema=gold_schema())


def append_release(lake: Catalog, release_id: str, observations: pa.Table) -> int:
    """Append one release's observations to ``gold.indicators`` in one commit; the
    snapshot id written."""
    table = gold_table(lake)
    rows = observations.add_column(
        0, RELEASE, pa.array([release_id] * observations.num_rows, pa.string())
    )
    try:
        table.append(rows.select(table.schema().column_names).cast(table.schema().as_arrow()))
    except Exception as exc:
        raise LakeCommitFailed(
            f"appending release {release_id} to {GOLD_INDICATORS} failed: {type(exc).__name__}"
        ) from exc
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


def release_ids(lake: Catalog, prefix: str) -> set[str]:
    """The release ids starting with ``prefix`` (a date and a dot) that
    ``gold.indicators`` holds (a build whose record was not committed leaves its rows:
    its id is not given again)."""
    try:
        table = lake.load_table(GOLD_INDICATORS)
    except NoSuchTableError:
        return set()
    if table.current_snapshot() is None:
        return set()
    found = table.scan(
        row_filter=f"{RELEASE} LIKE '{prefix}%'", selected_fields=(RELEASE,)
    ).to_arrow()
    return {str(v) for v in pc.unique(found[RELEASE]).to_pylist()}


def read_release(lake: Catalog, release_id: str, snapshot_id: int) -> pa.Table:
    """The observations of one release, read at the gold snapshot it wrote (without the
    ``release`` column)."""
    try:
        table = lake.load_table(GOLD_INDICATORS)
        data = table.scan(snapshot_id=snapshot_id).to_arrow()
    except Exception as exc:
        raise PublicationUnreadable(
            f"{GOLD_INDICATORS} cannot be read at snapshot {snapshot_id}: {type(exc).__name__}"
        ) from exc
    return data.filter(pc.equal(data[RELEASE], release_id)).drop_columns([RELEASE])


def source_agreements(table: pa.Table) -> list[tuple[str, int]]:
    """The distinct (agreement id, version) pairs of a bronze table's rows, sorted."""
    if AGREEMENT_ID not in table.column_names or AGREEMENT_VERSION not in table.column_names:
        return []
    pairs = (
        table.select([AGREEMENT_ID, AGREEMENT_VERSION])
        .drop_null()
        .group_by([AGREEMENT_ID, AGREEMENT_VERSION])
        .aggregate([])
    )
    return sorted(
        zip(
            pairs[AGREEMENT_ID].to_pylist(),
            (int(v) for v in pairs[AGREEMENT_VERSION].to_pylist()),
            strict=True,
        )
    )


def agreement_versions(
    definitions: Iterable[Definition], tables: Mapping[str, pa.Table]
) -> dict[str, list[dict[str, object]]]:
    """Indicator id → the agreement versions (``{"id", "version"}``) its bronze sources'
    rows were delivered under (silver sources carry none of their own)."""
    per_table = {
        name: source_agreements(table)
        for name, table in tables.items()
        if bronze_dataset(name) is not None
    }
    out: dict[str, list[dict[str, object]]] = {}
    for d in definitions:
        if not d.computable:
            continue
        pairs = sorted({p for name in d.sources for p in per_table.get(name, [])})
        out[d.id] = [{"id": a, "version": v} for a, v in pairs]
    return out
