"""SDMX-CSV, SDMX-JSON and SDMX-ML data messages, read back with sdmx1 and the DSD."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration.indicators.sdmx.codelists import CodelistRegistry
from integration.indicators.sdmx.data_csv import data_csv
from integration.indicators.sdmx.data_json import data_json
from integration.indicators.sdmx.data_schema import data_schema
from integration.indicators.sdmx.data_xml import data_xml
from integration.indicators.sdmx.errors import CodeUnknown, ObservationsInvalid
from integration.indicators.sdmx.structures import Release

from .conftest import (
    PREPARED,
    assert_conforms,
    attributes_of,
    insured_flow,
    key_of,
    make_registry,
    observations,
    read,
    unemployment_flow,
    xsd_errors,
    xsd_folder,
)

ROWS: list[dict[str, Any]] = [
    {"time_period": "2025-Q1", "sex": "_T", "age_group": "_T", "region": "_T", "obs_value": 7.0,
     "obs_status": "A", "conf_status": "F", "standard_error": 0.2},
    {"time_period": "2025-Q2", "sex": "2", "age_group": "Y15-24", "region": "TT-POS",
     "obs_value": None, "obs_status": "Q", "conf_status": "C"},
    {"time_period": "2025-Q1", "sex": "2", "age_group": "Y15-24", "region": "TT-POS",
     "obs_value": 12.5, "obs_status": "E", "conf_status": "F", "standard_error": 1.25},
    {"time_period": "2025-Q1", "sex": "1", "age_group": "Y15-64", "region": "TT-TOB",
     "obs_value": 0.1 + 0.2, "obs_status": "A", "conf_status": "F"},
]  # fmt: skip
COLUMNS = ("sex", "age_group", "region")

#: The rows above, as published: sorted by codelist order (sex M, F, T), then time.
EXPECTED_CSV = (
    "DATAFLOW,REF_AREA,FREQ,SEX,AGE,REGION,TIME_PERIOD,OBS_VALUE,OBS_STATUS,CONF_STATUS,"
    "UNIT_MEASURE,UNIT_MULT,STD_ERROR\r\n"
    "LMIS:UNE_RATE(1.0),TT,Q,SEX_M,AGE_YTHADULT_Y15-64,TT-TOB,2025-Q1,0.30000000000000004,"
    "A,F,PT,0,\r\n"
    "LMIS:UNE_RATE(1.0),TT,Q,SEX_F,AGE_10YRBANDS_Y15-24,TT-POS,2025-Q1,12.5,E,F,PT,0,1.25\r\n"
    "LMIS:UNE_RATE(1.0),TT,Q,SEX_F,AGE_10YRBANDS_Y15-24,TT-POS,2025-Q2,,Q,C,PT,0,\r\n"
    "LMIS:UNE_RATE(1.0),TT,Q,SEX_T,AGE_10YRBANDS_TOTAL,_T,2025-Q1,7,A,F,PT,0,0.2\r\n"
)

#: The same observations as sdmx1 reports them: key → (value, attributes).
EXPECTED: dict[tuple[str, ...], tuple[Any, ...]] = {
    ("SEX_M", "AGE_YTHADULT_Y15-64", "TT-TOB", "2025-Q1"): (0.30000000000000004, "A", "F", None),
    ("SEX_F", "AGE_10YRBANDS_Y15-24", "TT-POS", "2025-Q1"): (12.5, "E", "F", 1.25),
    ("SEX_F", "AGE_10YRBANDS_Y15-24", "TT-POS", "2025-Q2"): (None, "Q", "C", None),
    ("SEX_T", "AGE_10YRBANDS_TOTAL", "_T", "2025-Q1"): (7.0, "A", "F", 0.2),
}


def table() -> pa.Table:
    return observations(ROWS, COLUMNS)


def summary(message: Any) -> dict[tuple[str, ...], tuple[Any, ...]]:
    """The observations of an sdmx1 data message: key → (value, statuses, std error)."""
    result: dict[tuple[str, ...], tuple[Any, ...]] = {}
    for observation in message.data[0].obs:
        key = dict(key_of(observation))
        assert (key.pop("REF_AREA"), key.pop("FREQ")) == ("TT", "Q")
        attributes = attributes_of(observation)
        assert (attributes["UNIT_MEASURE"], attributes["UNIT_MULT"]) == ("PT", "0")
        value = observation.value
        error = attributes.get("STD_ERROR") or None
        result[(key["SEX"], key["AGE"], key["REGION"], key["TIME_PERIOD"])] = (
            None if value in (None, "") else float(value),
            attributes["OBS_STATUS"],
            attributes["CONF_STATUS"],
            None if error is None else float(error),
        )
    return result


def test_the_csv_message_is_sdmx_csv_1_0_with_sdmx_codes(registry: CodelistRegistry) -> None:
    assert data_csv(unemployment_flow(), table(), registry, ref_area="TT") == EXPECTED_CSV


def test_csv_2_0_has_the_same_rows_behind_structure_columns_and_sdmx1_reads_it(
    registry: CodelistRegistry, structures: Any
) -> None:
    flow = unemployment_flow()
    version_1 = list(csv.reader(io.StringIO(data_csv(flow, table(), registry, ref_area="TT"))))
    text = data_csv(flow, table(), registry, ref_area="TT", version="2.0")
    version_2 = list(csv.reader(io.StringIO(text)))
    assert version_2[0][:3] == ["STRUCTURE", "STRUCTURE_ID", "ACTION"]
    assert all(row[:3] == ["dataflow", "LMIS:UNE_RATE(1.0)", "I"] for row in version_2[1:])
    assert [row[3:] for row in version_2] == [row[1:] for row in version_1]

    message = read(text.encode(), format="CSV", structure=structures.dataflow["UNE_RATE"])
    assert summary(message) == EXPECTED
    assert_conforms(message.data[0].obs, structures.structure["DSD_UNE_RATE"])


def test_sdmx1_reads_the_json_message_with_keys_values_and_attributes(
    registry: CodelistRegistry, structures: Any
) -> None:
    message = data_json(unemployment_flow(), table(), registry, ref_area="TT", prepared=PREPARED)
    read_back = read(message)
    assert summary(read_back) == EXPECTED
    assert read_back.header.prepared == PREPARED
    assert_conforms(read_back.data[0].obs, structures.structure["DSD_UNE_RATE"])

    document = json.loads(message)
    dimensions = document["structure"]["dimensions"]
    assert [d["id"] for d in dimensions["dataSet"]] == ["REF_AREA", "FREQ"]
    assert [d["keyPosition"] for d in dimensions["observation"]] == [2, 3, 4, 5]
    sexes = [(v["id"], v["name"]) for v in dimensions["observation"][0]["values"]]
    assert sexes == [("SEX_M", "Male"), ("SEX_F", "Female"), ("SEX_T", "Total")]
    assert [v["id"] for v in dimensions["observation"][3]["values"]] == ["2025-Q1", "2025-Q2"]
    # SEX_F, the first age, the first region, 2025-Q2: suppressed, Q (3rd status), C.
    assert document["dataSets"][0]["observations"]["1:0:0:1"] == [None, 2, 1, 0, 0, None]
    assert document["structure"]["links"][0]["urn"].endswith("Dataflow=LMIS:UNE_RATE(1.0)")


def test_sdmx1_reads_the_xml_message_against_the_dsd(
    registry: CodelistRegistry, structures: Any
) -> None:
    dsd = structures.structure["DSD_UNE_RATE"]
    message = data_xml(unemployment_flow(), table(), registry, ref_area="TT", prepared=PREPARED)
    read_back = read(message, structure=dsd)
    assert summary(read_back) == EXPECTED
    assert read_back.dataflow.id == "UNE_RATE" and read_back.dataflow.version == "1.0"
    observations_read = read_back.data[0].obs
    assert_conforms(observations_read, dsd)
    # Read with the DSD, every code is resolved to the Code of the DSD's codelist.
    for observation in observations_read:
        sex = observation.key.values["SEX"].value
        assert sex in dsd.dimensions.get("SEX").local_representation.enumerated
        assert type(sex).__name__ == "Code"


def test_the_xml_message_validates_against_the_flow_schema(
    registry: CodelistRegistry, release: Release
) -> None:
    folder = xsd_folder()
    flow = release.flow("UNE_RATE")
    schema = data_schema(flow, release, base=f"{folder.as_uri()}/")
    message = data_xml(flow, table(), registry, ref_area="TT", prepared=PREPARED)
    assert xsd_errors(schema, message) == []
    wrong_code = message.replace(b'SEX="SEX_F"', b'SEX="SEX_X"', 1)
    assert any("SEX_X" in error for error in xsd_errors(schema, wrong_code))
    wrong_period = message.replace(b'TIME_PERIOD="2025-Q2"', b'TIME_PERIOD="2025-06"', 1)
    assert any("2025-06" in error for error in xsd_errors(schema, wrong_period))
    no_status = message.replace(b' OBS_STATUS="A"', b"", 1)
    assert any("OBS_STATUS" in error for error in xsd_errors(schema, no_status))


def test_dictionary_encoded_and_chunked_columns_give_the_same_message(
    registry: CodelistRegistry,
) -> None:
    plain = table()
    chunked = pa.concat_tables([plain.slice(0, 2), plain.slice(2)])
    encoded = chunked.set_column(
        chunked.schema.get_field_index("sex"), "sex", pc.dictionary_encode(chunked.column("sex"))
    )
    assert encoded.column("sex").num_chunks == 2
    flow = unemployment_flow()
    assert data_csv(flow, encoded, registry, ref_area="TT") == EXPECTED_CSV


def test_a_table_without_standard_errors_leaves_the_attribute_out_of_json_and_xml(
    registry: CodelistRegistry, structures: Any
) -> None:
    rows = [
        {"time_period": "2025-03", "isic_section": "C", "obs_value": 1200.0,
         "obs_status": "A", "conf_status": "F"},
        {"time_period": "2025-03", "isic_section": "_T", "obs_value": 56000.0,
         "obs_status": "P", "conf_status": "F"},
    ]  # fmt: skip
    flow = insured_flow()
    data = observations(rows, ["isic_section"])
    document = json.loads(data_json(flow, data, registry, ref_area="TT", prepared=PREPARED))
    assert [a["id"] for a in document["structure"]["attributes"]["observation"]] == [
        "OBS_STATUS", "CONF_STATUS", "UNIT_MEASURE", "UNIT_MULT"
    ]  # fmt: skip
    message = data_xml(flow, data, registry, ref_area="TT", prepared=PREPARED)
    assert b"STD_ERROR" not in message
    read_back = read(message, structure=structures.structure["DSD_EMP_INSURED"])
    assert sorted(float(o.value) for o in read_back.data[0].obs) == [1200.0, 56000.0]
    assert data_csv(flow, data, registry, ref_area="TT").splitlines()[1].endswith(",PS,0,")


def test_an_empty_table_gives_messages_without_observations(
    registry: CodelistRegistry, structures: Any
) -> None:
    flow = unemployment_flow()
    empty = observations([], COLUMNS)
    assert data_csv(flow, empty, registry, ref_area="TT") == EXPECTED_CSV.split("\r\n")[0] + "\r\n"
    assert (
        read(data_json(flow, empty, registry, ref_area="TT", prepared=PREPARED)).data[0].obs == []
    )
    xml = data_xml(flow, empty, registry, ref_area="TT", prepared=PREPARED)
    assert read(xml, structure=structures.structure["DSD_UNE_RATE"]).data[0].obs == []


def test_a_local_code_the_codelist_lacks_names_the_flow_column_and_code(
    registry: CodelistRegistry,
) -> None:
    rows = [*ROWS, {**ROWS[0], "sex": "3"}, {**ROWS[0], "sex": "3", "time_period": "2025-Q4"}]
    with pytest.raises(CodeUnknown) as raised:
        data_csv(unemployment_flow(), observations(rows, COLUMNS), registry, ref_area="TT")
    error = raised.value
    assert error.code == "sdmx.code_unknown"
    assert "flow UNE_RATE, column sex: codes ['3'] are not in codelist CL_SEX(1.0)" in str(error)
    assert error.context == {"flow": "UNE_RATE", "column": "sex", "codes": ["3"]}


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"obs_status": "Z"}, CodeUnknown, "column obs_status: codes \\['Z'\\]"),
        ({"conf_status": "X"}, CodeUnknown, "column conf_status"),
        ({"time_period": "2025-03"}, ObservationsInvalid, r"\['2025-03'\] are not of frequency Q"),
        ({"time_period": "2025-Q5"}, ObservationsInvalid, "frequency Q"),
        ({"region": None}, ObservationsInvalid, "column region: 1 rows have no value"),
        ({"obs_value": float("nan")}, ObservationsInvalid, "infinite or NaN"),
        ({"standard_error": -1.0}, ObservationsInvalid, "negative"),
    ],
)
def test_a_malformed_table_is_refused_with_the_column_named(
    registry: CodelistRegistry, change: dict[str, Any], error: type[Exception], match: str
) -> None:
    rows = [*ROWS[:3], {**ROWS[3], **change}]
    with pytest.raises(error, match=match):
        data_csv(unemployment_flow(), observations(rows, COLUMNS), registry, ref_area="TT")


def test_a_key_given_twice_is_refused(registry: CodelistRegistry) -> None:
    rows = [*ROWS, {**ROWS[2], "obs_value": 13.0}]
    with pytest.raises(ObservationsInvalid, match=r"1 observations repeat another.s key"):
        data_json(
            unemployment_flow(), observations(rows, COLUMNS), registry, ref_area="TT",
            prepared=PREPARED,
        )  # fmt: skip


def test_missing_or_mistyped_columns_and_unknown_areas_are_refused(
    registry: CodelistRegistry,
) -> None:
    flow = unemployment_flow()
    with pytest.raises(ObservationsInvalid, match="no column 'region'"):
        data_csv(flow, table().drop_columns(["region"]), registry, ref_area="TT")
    numeric = table().set_column(1, "sex", pa.array([1, 2, 2, 1]))
    with pytest.raises(ObservationsInvalid, match="column sex: type int64 is not a string"):
        data_csv(flow, numeric, registry, ref_area="TT")
    text_values = table().set_column(4, "obs_value", pa.array(["1"] * 4))
    with pytest.raises(ObservationsInvalid, match="obs_value: type string is not a number"):
        data_csv(flow, text_values, registry, ref_area="TT")
    with pytest.raises(CodeUnknown, match="REF_AREA: code 'BB'"):
        data_csv(flow, table(), registry, ref_area="BB")


@settings(max_examples=40, deadline=None)
@given(
    keys=st.lists(
        st.tuples(st.sampled_from(["1", "2", "_T"]), st.sampled_from(["2024-Q1", "2024-Q2"])),
        min_size=1,
        max_size=8,
    )
)
def test_a_table_is_refused_exactly_when_a_key_repeats(keys: list[tuple[str, str]]) -> None:
    rows = [
        {"time_period": period, "sex": sex, "age_group": "_T", "region": "_T",
         "obs_value": 1.0, "obs_status": "A", "conf_status": "F"}
        for sex, period in keys
    ]  # fmt: skip
    data = observations(rows, COLUMNS)
    repeats = len(keys) - len(set(keys))
    if repeats:
        with pytest.raises(ObservationsInvalid, match=f"{repeats} observations repeat"):
            data_csv(unemployment_flow(), data, make_registry(), ref_area="TT")
    else:
        text = data_csv(unemployment_flow(), data, make_registry(), ref_area="TT")
        assert len(text.splitlines()) == len(keys) + 1
