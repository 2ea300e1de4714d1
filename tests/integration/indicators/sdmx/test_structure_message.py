"""The SDMX-ML 2.1 structure message, read back with the sdmx1 client, and releases."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from integration.indicators.sdmx.codelists import CodelistRegistry, Standard
from integration.indicators.sdmx.errors import (
    CodelistUnknown,
    FlowInvalid,
    StructureMessageInvalid,
    StructureUnknown,
)
from integration.indicators.sdmx.model import Code, Codelist, Dimension, Flow
from integration.indicators.sdmx.structure_message import (
    read_release,
    release_message,
    structure_message,
)
from integration.indicators.sdmx.structures import Release

from .conftest import (
    PREPARED,
    insured_flow,
    make_registry,
    read,
    tvet_flow,
    unemployment_flow,
    vacancies_flow,
    xsd_errors,
    xsd_folder,
)


def codes(codelist: Any) -> list[tuple[str, str]]:
    return [(code.id, str(code.name)) for code in codelist]


def test_the_message_holds_the_codelists_with_their_codes_and_versions(
    structures: Any, registry: CodelistRegistry
) -> None:
    assert set(structures.codelist) == {
        "CL_AREA", "CL_FREQ", "CL_OBS_STATUS", "CL_CONF_STATUS", "CL_UNIT_MEASURE",
        "CL_UNIT_MULT", "CL_SEX", "CL_AGE", "CL_REGION", "CL_ISIC4_SECTION",
        "CL_ISCO08_MAJOR", "CL_TVET_FIELD",
    }  # fmt: skip
    sex = structures.codelist["CL_SEX"]
    assert (sex.maintainer.id, sex.version, str(sex.name)) == ("LMIS", "1.0", "Sex")
    assert codes(sex) == [
        ("SEX_M", "Male"),
        ("SEX_F", "Female"),
        ("SEX_O", "Not stated"),
        ("SEX_T", "Total"),
    ]
    for codelist_id in structures.codelist:
        expected = registry.codelist(codelist_id)
        assert codes(structures.codelist[codelist_id]) == [(c.id, c.name) for c in expected]
    assert structures.header.sender.id == "LMIS"
    assert structures.header.prepared == PREPARED


def test_each_flow_has_a_data_structure_with_its_key_attributes_and_measure(
    structures: Any,
) -> None:
    dsd = structures.structure["DSD_UNE_RATE"]
    assert (dsd.maintainer.id, dsd.version) == ("LMIS", "1.0")
    assert [d.id for d in dsd.dimensions] == [
        "REF_AREA", "FREQ", "SEX", "AGE", "REGION", "TIME_PERIOD"
    ]  # fmt: skip
    enumerations = {
        d.id: d.local_representation.enumerated.id
        for d in dsd.dimensions
        if d.local_representation.enumerated is not None
    }
    assert enumerations == {
        "REF_AREA": "CL_AREA",
        "FREQ": "CL_FREQ",
        "SEX": "CL_SEX",
        "AGE": "CL_AGE",
        "REGION": "CL_REGION",
    }
    time = dsd.dimensions.get("TIME_PERIOD")
    assert type(time).__name__ == "TimeDimension"
    attributes = {a.id: a for a in dsd.attributes}
    assert list(attributes) == [
        "OBS_STATUS",
        "CONF_STATUS",
        "UNIT_MEASURE",
        "UNIT_MULT",
        "STD_ERROR",
    ]
    assert attributes["OBS_STATUS"].local_representation.enumerated.id == "CL_OBS_STATUS"
    assert attributes["STD_ERROR"].local_representation.enumerated is None
    assert attributes["STD_ERROR"].usage_status.name == "conditional"
    assert attributes["OBS_STATUS"].usage_status.name == "mandatory"
    assert type(attributes["OBS_STATUS"].related_to).__name__ == "PrimaryMeasureRelationship"
    series = attributes["UNIT_MEASURE"].related_to
    assert [d.id for d in series.dimensions] == ["REF_AREA", "FREQ", "SEX", "AGE", "REGION"]
    assert [m.id for m in dsd.measures] == ["OBS_VALUE"]
    assert dsd.dimensions.get("SEX").concept_identity.id == "SEX"


def test_the_dataflows_name_their_data_structures(structures: Any) -> None:
    assert set(structures.dataflow) == {"UNE_RATE", "EMP_INSURED", "VAC_OPEN", "TVET_CERT"}
    flow = structures.dataflow["TVET_CERT"]
    assert str(flow.name) == "TVET certifications"
    assert str(flow.description) == "Certifications awarded by field and sex"
    assert flow.structure is structures.structure["DSD_TVET_CERT"]
    assert [d.id for d in flow.structure.dimensions][2:4] == ["TVET_FIELD", "SEX"]


def test_the_concept_scheme_names_every_component(structures: Any) -> None:
    scheme = structures.concept_scheme["CS_LMIS"]
    names = {concept.id: str(concept.name) for concept in scheme}
    assert names["SEX"] == "Sex" and names["ECO"] == "Economic activity (ISIC Rev.4 section)"
    assert names["TVET_FIELD"] == "Field of training" and names["OBS_VALUE"] == "Observation value"


def test_the_message_is_valid_sdmx_ml(release: Release) -> None:
    folder = xsd_folder()
    message = release_message(release, prepared=PREPARED, sender="LMIS")
    assert xsd_errors(folder / "SDMXMessage.xsd", message) == []


def test_a_release_reads_back_from_its_message(release: Release) -> None:
    message = release_message(release, prepared=PREPARED, sender="LMIS")
    assert read_release(message) == replace(release, flows=())


def test_structure_message_is_the_release_message_of_the_built_release(
    flows: list[Flow], registry: CodelistRegistry, release: Release
) -> None:
    message = structure_message(flows, registry, prepared=PREPARED, sender="LMIS")
    assert message == release_message(release, prepared=PREPARED, sender="LMIS")


def test_an_unchanged_release_keeps_every_version(release: Release) -> None:
    previous = read_release(release_message(release, prepared=PREPARED, sender="LMIS"))
    again = Release.build(list(release.flows), make_registry(), previous=previous)
    assert again == release


def region_registry(extra: Code) -> CodelistRegistry:
    registry = make_registry()
    regions = registry[Standard.REGION]
    codelist = regions.codelist
    registry.add(
        replace(codelist, codes=(*codelist.codes, extra)),
        local_codes={**dict(regions.local_codes), extra.id: extra.id},
    )
    return registry


def test_a_codelist_change_gives_it_and_the_flows_using_it_a_new_version(
    release: Release,
) -> None:
    previous = read_release(release_message(release, prepared=PREPARED, sender="LMIS"))
    registry = region_registry(Code("TT-NEW", "New Regional Corporation"))
    flows = [unemployment_flow(), insured_flow(), vacancies_flow(), tvet_flow()]
    following = Release.build(flows, registry, previous=previous)

    assert following.codelist(Standard.REGION).version == "1.1"
    assert following.codelist(Standard.REGION, "1.0") == release.codelist(Standard.REGION)
    assert following.codelist(Standard.SEX).version == "1.0"
    assert following.flow("UNE_RATE").version == "1.1"
    assert following.flow("EMP_INSURED").version == "1.0"
    assert [s.version for s in following.structures if s.id == "UNE_RATE"] == ["1.0", "1.1"]

    message = release_message(following, prepared=PREPARED, sender="LMIS")
    read_back = read(message)
    old = read_back.codelist["LMIS:CL_REGION(1.0)"]
    new = read_back.codelist["LMIS:CL_REGION(1.1)"]
    assert len(old) == 16 and len(new) == 17 and "TT-NEW" in new and "TT-NEW" not in old
    dsds = {dsd.version: dsd for dsd in read_back.structure.values() if dsd.id == "DSD_UNE_RATE"}
    assert dsds["1.0"].dimensions.get("REGION").local_representation.enumerated.version == "1.0"
    assert dsds["1.1"].dimensions.get("REGION").local_representation.enumerated.version == "1.1"
    assert read_release(message) == replace(following, flows=())


def test_a_removed_code_also_gives_a_new_version(release: Release) -> None:
    registry = make_registry()
    fields = registry.codelist("CL_TVET_FIELD")
    registry.add(replace(fields, codes=fields.codes[1:]))
    flows = [unemployment_flow(), insured_flow(), vacancies_flow(), tvet_flow()]
    following = Release.build(flows, registry, previous=release)
    assert following.codelist("CL_TVET_FIELD").version == "1.1"
    assert following.flow("TVET_CERT").version == "1.1"
    assert following.flow("UNE_RATE").version == "1.0"


def test_a_new_flow_extends_the_concepts_without_new_versions_of_the_others(
    release: Release, registry: CodelistRegistry
) -> None:
    registry.add_labels(id="CL_NEET", name="NEET status", labels={"NEET": "Not in education"})
    new = Flow(
        "NEET_RATE", "1.0", "NEET rate", "Youth not in education, employment or training",
        "PT", "A", (Dimension("neet", "NEET", "CL_NEET"),),
    )  # fmt: skip
    flows = [unemployment_flow(), insured_flow(), vacancies_flow(), tvet_flow(), new]
    following = Release.build(flows, registry, previous=release)
    assert [s.version for s in following.concept_schemes] == ["1.0", "1.1"]
    assert {flow.id: flow.version for flow in following.flows} == {
        "UNE_RATE": "1.0", "EMP_INSURED": "1.0", "VAC_OPEN": "1.0", "TVET_CERT": "1.0",
        "NEET_RATE": "1.0",
    }  # fmt: skip
    assert following.structure("UNE_RATE").concepts.version == "1.0"
    assert following.structure("NEET_RATE").concepts.version == "1.1"
    read_back = read(release_message(following, prepared=PREPARED, sender="LMIS"))
    assert read_back.structure["DSD_NEET_RATE"].dimensions.get("NEET").concept_identity.id == "NEET"


def test_a_flow_with_an_unregistered_codelist_or_unit_is_refused(
    registry: CodelistRegistry,
) -> None:
    missing = Flow("X", "1.0", "X", "", "PT", "A", (Dimension("x", "X", "CL_MISSING"),))
    with pytest.raises(CodelistUnknown, match="CL_MISSING"):
        Release.build([missing], registry)
    kilos = Flow("X", "1.0", "X", "", "KG", "A", ())
    with pytest.raises(FlowInvalid, match="unit 'KG'"):
        Release.build([kilos], registry)
    with pytest.raises(FlowInvalid, match="repeat"):
        Release.build([insured_flow(), insured_flow()], registry)


def test_a_release_names_what_it_lacks(release: Release) -> None:
    with pytest.raises(StructureUnknown, match=r"CL_SEX\(9.9\)"):
        release.codelist("CL_SEX", "9.9")
    with pytest.raises(StructureUnknown, match="NOPE"):
        release.flow("NOPE")


def test_a_message_that_is_not_a_structure_message_is_refused() -> None:
    with pytest.raises(StructureMessageInvalid, match="not XML"):
        read_release(b"{}")
    with pytest.raises(StructureMessageInvalid, match="root element"):
        read_release(b"<a/>")


def test_a_codelist_with_several_versions_is_carried_whole(release: Release) -> None:
    older = Codelist("CL_SEX", "Sex", "0.9", (Code("SEX_M", "Male"),))
    with_older = replace(release, codelists=(older, *release.codelists))
    read_back = read(release_message(with_older, prepared=PREPARED, sender="LMIS"))
    assert len(read_back.codelist["LMIS:CL_SEX(0.9)"]) == 1
    assert len(read_back.codelist["LMIS:CL_SEX(1.0)"]) == 4
