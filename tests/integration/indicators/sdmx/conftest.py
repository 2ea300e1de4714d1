"""Flows, a registry and readers shared by the SDMX tests."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sdmx
from lxml import etree  # type: ignore[import-untyped]

from integration.indicators.sdmx.codelists import CodelistRegistry, Standard
from integration.indicators.sdmx.model import Dimension, Flow
from integration.indicators.sdmx.structure_message import release_message
from integration.indicators.sdmx.structures import Release

PREPARED = datetime(2025, 4, 30, 12, 0, tzinfo=UTC)
#: Where the SDMX-ML 2.1 XSDs are (SDMXMessage.xsd and the files it includes); the
#: schema-validation tests skip without it (the schemas are not in the repository).
XSD_SETTING = "SDMX_ML_21_SCHEMAS"

TVET_FIELDS = {"ICT": "Information and communication technologies", "ENG": "Engineering"}


def unemployment_flow() -> Flow:
    return Flow(
        id="UNE_RATE",
        version="1.0",
        name="Unemployment rate",
        description="Unemployment rate by sex, age group and region",
        unit="PT",
        frequency="Q",
        dimensions=(
            Dimension("sex", "SEX", Standard.SEX),
            Dimension("age_group", "AGE", Standard.AGE),
            Dimension("region", "REGION", Standard.REGION),
        ),
    )


def insured_flow() -> Flow:
    return Flow(
        id="EMP_INSURED",
        version="1.0",
        name="Insured employment",
        description="Insured persons in employment by economic activity",
        unit="PS",
        frequency="M",
        dimensions=(Dimension("isic_section", "ECO", Standard.ISIC4_SECTION),),
    )


def vacancies_flow() -> Flow:
    return Flow(
        id="VAC_OPEN",
        version="1.0",
        name="Open vacancies",
        description="Vacancies open at the end of the year by occupation",
        unit="PS",
        frequency="A",
        dimensions=(Dimension("isco_major", "OCU", Standard.ISCO08_MAJOR),),
    )


def tvet_flow() -> Flow:
    return Flow(
        id="TVET_CERT",
        version="1.0",
        name="TVET certifications",
        description="Certifications awarded by field and sex",
        unit="PS",
        frequency="A",
        dimensions=(
            Dimension("field", "TVET_FIELD", "CL_TVET_FIELD"),
            Dimension("sex", "SEX", Standard.SEX),
        ),
    )


def make_registry() -> CodelistRegistry:
    registry = CodelistRegistry.standard(areas={"TT": "Trinidad and Tobago"})
    registry.add_labels(id="CL_TVET_FIELD", name="Field of training", labels=TVET_FIELDS)
    return registry


@pytest.fixture
def registry() -> CodelistRegistry:
    return make_registry()


@pytest.fixture
def flows() -> list[Flow]:
    return [unemployment_flow(), insured_flow(), vacancies_flow(), tvet_flow()]


@pytest.fixture(scope="module")
def release() -> Release:
    return Release.build(
        [unemployment_flow(), insured_flow(), vacancies_flow(), tvet_flow()], make_registry()
    )


@pytest.fixture(scope="module")
def structures(release: Release) -> Any:
    """The release's structure message as the sdmx1 client reads it."""
    return read(release_message(release, prepared=PREPARED, sender="LMIS"))


def read(message: bytes, **kwargs: Any) -> Any:
    """A message as the sdmx1 client reads it."""
    return sdmx.read_sdmx(io.BytesIO(message), **kwargs)


def observations(rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> pa.Table:
    """An observations table from rows (dicts); missing keys are nulls."""
    listed = list(rows)
    names = ["time_period", *columns, "obs_value", "obs_status", "conf_status"]
    if any("standard_error" in row for row in listed):
        names.append("standard_error")
    data: dict[str, pa.Array] = {}
    for name in names:
        values = [row.get(name) for row in listed]
        kind = pa.float64() if name in ("obs_value", "standard_error") else pa.string()
        data[name] = pa.array(values, kind)
    return pa.table(data)


def key_of(observation: Any) -> tuple[tuple[str, str], ...]:
    """An sdmx1 observation's key as (dimension id, code id) pairs."""
    return tuple(
        (dimension, str(getattr(value.value, "id", value.value)))
        for dimension, value in observation.key.values.items()
    )


def attributes_of(observation: Any) -> dict[str, str]:
    """An sdmx1 observation's attribute values as strings ("" where empty)."""
    return {
        name: str(getattr(value.value, "id", value.value))
        for name, value in observation.attached_attribute.items()
    }


def assert_conforms(observations: Iterable[Any], dsd: Any) -> None:
    """Every observation is valid against the sdmx1 data structure ``dsd``.

    The key is checked with a content constraint built from the DSD's codelists
    (``make_constraint``; a key outside its cube region has a code no codelist holds),
    each coded attribute value against its codelist, the mandatory attributes for
    presence, and the value for being a number or empty.
    """
    enumerated = {
        dimension.id: [code.id for code in dimension.local_representation.enumerated]
        for dimension in dsd.dimensions
        if dimension.local_representation is not None
        and dimension.local_representation.enumerated is not None
    }
    region = dsd.make_constraint(enumerated).data_content_region[0]
    attributes = {attribute.id: attribute for attribute in dsd.attributes}
    count = 0
    for observation in observations:
        count += 1
        assert observation.key in region, f"key {observation.key} is outside the DSD"
        assert set(observation.key.values) == {d.id for d in dsd.dimensions}
        given = attributes_of(observation)
        for name, attribute in attributes.items():
            value = given.get(name, "")
            if attribute.usage_status.name == "mandatory":
                assert value, f"{name} is mandatory"
            codelist = attribute.local_representation.enumerated
            if value and codelist is not None:
                assert value in codelist, f"{name}={value} is not in {codelist.id}"
        assert observation.value in (None, "") or float(observation.value) == float(
            observation.value
        )
    assert count


def xsd_folder() -> Path:
    folder = os.environ.get(XSD_SETTING)
    if not folder:
        pytest.skip(f"set {XSD_SETTING} to a folder holding the SDMX-ML 2.1 XSDs")
    path = Path(folder)
    if not (path / "SDMXMessage.xsd").is_file():
        pytest.fail(f"{XSD_SETTING}={folder} holds no SDMXMessage.xsd")
    return path


def xsd_errors(schema_document: bytes | Path, message: bytes) -> list[str]:
    """The XML Schema errors of ``message`` (empty when valid)."""
    if isinstance(schema_document, Path):
        tree = etree.parse(str(schema_document))
    else:
        tree = etree.fromstring(schema_document)
    schema = etree.XMLSchema(tree)
    valid = schema.validate(etree.fromstring(message))
    return [] if valid else [str(error) for error in schema.error_log]
