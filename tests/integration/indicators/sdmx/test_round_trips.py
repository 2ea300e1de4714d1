"""Random small indicator tables survive CSV, JSON and XML and the sdmx1 reader unchanged."""

from __future__ import annotations

import csv
import io
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.indicators.sdmx.codelists import CodelistRegistry, Standard
from integration.indicators.sdmx.data_csv import data_csv
from integration.indicators.sdmx.data_json import data_json
from integration.indicators.sdmx.data_xml import data_xml
from integration.indicators.sdmx.model import Dimension, Flow
from integration.indicators.sdmx.structure_message import release_message
from integration.indicators.sdmx.structures import Release

from .conftest import PREPARED, assert_conforms, attributes_of, key_of, make_registry, read

SEXES = ["1", "2", "9", "_T"]
AGES = ["Y15-24", "Y25-34", "Y55-64", "YGE65", "Y15-64", "_T"]
OBS_STATUS = ["A", "E", "P", "Q", "M"]
CONF_STATUS = ["F", "C", "D"]


def flow(frequency: str) -> Flow:
    return Flow(
        id=f"RT_{frequency}",
        version="1.0",
        name=f"Round trip {frequency}",
        description="",
        unit="PT",
        frequency=frequency,
        dimensions=(
            Dimension("sex", "SEX", Standard.SEX),
            Dimension("age_group", "AGE", Standard.AGE),
        ),
    )


@pytest.fixture(scope="module")
def registry() -> CodelistRegistry:
    return make_registry()


@pytest.fixture(scope="module")
def dsds(registry: CodelistRegistry) -> dict[str, Any]:
    release = Release.build([flow(f) for f in "AQM"], registry)
    message = read(release_message(release, prepared=PREPARED, sender="LMIS"))
    return {f: message.dataflow[f"RT_{f}"] for f in "AQM"}


def period(frequency: str) -> st.SearchStrategy[str]:
    years = st.integers(2000, 2030).map(str)
    if frequency == "A":
        return years
    if frequency == "Q":
        return st.builds(lambda y, q: f"{y}-Q{q}", years, st.integers(1, 4))
    return st.builds(lambda y, m: f"{y}-{m:02d}", years, st.integers(1, 12))


values = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))
errors = st.one_of(st.none(), st.floats(min_value=0, allow_nan=False, allow_infinity=False))


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, pa.Table]:
    frequency = draw(st.sampled_from("AQM"))
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(SEXES), st.sampled_from(AGES), period(frequency)),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    size = len(keys)
    data: dict[str, Any] = {
        "time_period": [k[2] for k in keys],
        "sex": [k[0] for k in keys],
        "age_group": [k[1] for k in keys],
        "obs_value": pa.array(draw(st.lists(values, min_size=size, max_size=size)), pa.float64()),
        "obs_status": draw(st.lists(st.sampled_from(OBS_STATUS), min_size=size, max_size=size)),
        "conf_status": draw(st.lists(st.sampled_from(CONF_STATUS), min_size=size, max_size=size)),
    }
    if draw(st.booleans()):
        data["standard_error"] = pa.array(
            draw(st.lists(errors, min_size=size, max_size=size)), pa.float64()
        )
    return frequency, pa.table(data)


def expected(table: pa.Table, registry: CodelistRegistry) -> dict[tuple[str, ...], tuple[Any, ...]]:
    sex = dict(registry[Standard.SEX].local_codes)
    age = dict(registry[Standard.AGE].local_codes)
    rows = table.to_pylist()
    return {
        (sex[row["sex"]], age[row["age_group"]], row["time_period"]): (
            row["obs_value"],
            row["obs_status"],
            row["conf_status"],
            row.get("standard_error"),
        )
        for row in rows
    }


def number(text: Any) -> float | None:
    return None if text in (None, "") else float(text)


def read_back(message: Any) -> dict[tuple[str, ...], tuple[Any, ...]]:
    result: dict[tuple[str, ...], tuple[Any, ...]] = {}
    for observation in message.data[0].obs:
        key = dict(key_of(observation))
        attributes = attributes_of(observation)
        result[(key["SEX"], key["AGE"], key["TIME_PERIOD"])] = (
            number(observation.value),
            attributes["OBS_STATUS"],
            attributes["CONF_STATUS"],
            number(attributes.get("STD_ERROR")),
        )
    return result


common = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@common
@given(case=tables())
def test_csv_round_trips_through_sdmx1(
    case: tuple[str, pa.Table], registry: CodelistRegistry, dsds: dict[str, Any]
) -> None:
    frequency, table = case
    text = data_csv(flow(frequency), table, registry, ref_area="TT", version="2.0")
    message = read(text.encode(), format="CSV", structure=dsds[frequency])
    assert read_back(message) == expected(table, registry)
    assert_conforms(message.data[0].obs, dsds[frequency].structure)

    rows = list(
        csv.DictReader(io.StringIO(data_csv(flow(frequency), table, registry, ref_area="TT")))
    )
    assert {row["DATAFLOW"] for row in rows} == {f"LMIS:RT_{frequency}(1.0)"}
    published = {
        (row["SEX"], row["AGE"], row["TIME_PERIOD"]): (
            number(row["OBS_VALUE"]),
            row["OBS_STATUS"],
            row["CONF_STATUS"],
            number(row["STD_ERROR"]),
        )
        for row in rows
    }
    assert published == expected(table, registry)


@common
@given(case=tables())
def test_json_round_trips_through_sdmx1(
    case: tuple[str, pa.Table], registry: CodelistRegistry, dsds: dict[str, Any]
) -> None:
    frequency, table = case
    message = read(data_json(flow(frequency), table, registry, ref_area="TT", prepared=PREPARED))
    assert read_back(message) == expected(table, registry)
    assert_conforms(message.data[0].obs, dsds[frequency].structure)


@common
@given(case=tables())
def test_xml_round_trips_through_sdmx1_with_the_dsd(
    case: tuple[str, pa.Table], registry: CodelistRegistry, dsds: dict[str, Any]
) -> None:
    frequency, table = case
    dsd = dsds[frequency].structure
    xml = data_xml(flow(frequency), table, registry, ref_area="TT", prepared=PREPARED)
    message = read(xml, structure=dsd)
    assert read_back(message) == expected(table, registry)
    assert_conforms(message.data[0].obs, dsd)
