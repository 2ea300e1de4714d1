"""Codes, codelists and flows check their SDMX identifiers when they are built."""

from __future__ import annotations

import pytest

from integration.indicators.sdmx.errors import CodelistInvalid, FlowInvalid, VersionInvalid
from integration.indicators.sdmx.model import Code, Codelist, Dimension, Flow


def flow(**changes: object) -> Flow:
    fields: dict[str, object] = {
        "id": "UNE_RATE",
        "version": "1.0",
        "name": "Unemployment rate",
        "description": "",
        "unit": "PT",
        "frequency": "Q",
        "dimensions": (Dimension("sex", "SEX", "CL_SEX"),),
    }
    fields.update(changes)
    return Flow(**fields)  # type: ignore[arg-type]


def test_a_codelist_looks_codes_up_by_id() -> None:
    codelist = Codelist("CL_SEX", "Sex", "1.0", (Code("SEX_M", "Male"), Code("SEX_F", "Female")))
    assert "SEX_M" in codelist and "SEX_X" not in codelist
    assert codelist.get("SEX_F") == Code("SEX_F", "Female") and codelist.get("X") is None
    assert codelist.name_of("SEX_M") == "Male"
    assert codelist.code_ids == ("SEX_M", "SEX_F") and len(codelist) == 2
    assert codelist.urn_id == "LMIS:CL_SEX(1.0)"
    assert codelist == Codelist("CL_SEX", "Sex", "1.0", tuple(codelist))
    assert hash(codelist) == hash(Codelist("CL_SEX", "Sex", "1.0", tuple(codelist)))


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        (("1CL", "x", "1.0", ()), CodelistInvalid, "not an SDMX id"),
        (("CL", "x", "1.0", (Code("A B", "x"),)), CodelistInvalid, "'A B'"),
        (("CL", "x", "1.0", (Code("A", "x"), Code("A", "y"))), CodelistInvalid, "twice"),
        (("CL", "x", "v1", ()), VersionInvalid, "'v1'"),
    ],
)
def test_a_malformed_codelist_is_refused(
    arguments: tuple[object, ...], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Codelist(*arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"id": "UNE RATE"}, "not an SDMX id"),
        ({"version": "one"}, "version"),
        ({"frequency": "W"}, "frequency 'W'"),
        ({"dimensions": (Dimension("area", "REF_AREA", "CL_AREA"),)}, "reserved"),
        ({"dimensions": (Dimension("obs_value", "VALUE", "CL_X"),)}, "column 'obs_value'"),
        (
            {"dimensions": (Dimension("sex", "SEX", "CL_SEX"), Dimension("sex", "SEX2", "CL_SEX"))},
            "repeated",
        ),
        ({"dimensions": (Dimension("sex", "SEX-1", "CL_SEX"),)}, None),
    ],
)
def test_a_malformed_flow_is_refused_where_it_is_defined(
    changes: dict[str, object], match: str | None
) -> None:
    if match is None:
        assert flow(**changes).dimensions[0].id == "SEX-1"
        return
    with pytest.raises(FlowInvalid, match=match):
        flow(**changes)


def test_a_flow_reference_is_agency_id_and_version() -> None:
    assert flow().urn_id == "LMIS:UNE_RATE(1.0)"
    assert flow(agency="ILO.STAT").urn_id == "ILO.STAT:UNE_RATE(1.0)"
