"""Indicator definitions as data: the package's files load and give SDMX flows, and a
definition naming an unknown table, column, dimension or code is refused clearly."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from integration.indicators.definition import (
    UNITS,
    Definition,
    load_definitions,
    read_definition,
)
from integration.indicators.dimensions import TOTAL, field_labels, local_dimensions
from integration.indicators.errors import (
    ColumnUnknown,
    DefinitionInvalid,
    DimensionUnknown,
    IndicatorError,
    TableUnknown,
)
from integration.indicators.sdmx.codelists import CodelistRegistry
from schemas.catalog import SchemaCatalog
from synth.simulation.tvet import PROGRAMMES

#: A valid definition; the tests below break one thing at a time.
GOOD = """\
id: vacancies_test
name: Vacancies
description: Vacancies published in the month.
unit: PS
frequency: M
sources: [bronze.jobboard__vacancy]
agreements:
  - {provider: jobboard, dataset: vacancy}
dimensions: [isco_major, region]
measure: {kind: count}
disclosure: {min_contributors: 3}
query: |
  SELECT posted_date AS ref_date, record_id AS contributor,
         isco_major(occupation) AS isco_major, region, record_id AS unit
  FROM bronze.jobboard__vacancy
"""


def read(schemas: SchemaCatalog, text: str) -> Definition:
    return read_definition(text, where="case.yaml", schemas=schemas)


def test_the_good_definition_reads(schemas: SchemaCatalog) -> None:
    d = read(schemas, GOOD)
    assert d.id == "vacancies_test" and d.version == "1.0"
    assert d.dimension_names == ("region", "isco_major")  # the agreed order
    assert d.measure is not None and d.measure.columns == ("unit",)
    assert d.disclosure is not None and d.disclosure.min_contributors == 3
    assert d.computable and d.path == "case.yaml"


def test_every_packaged_definition_loads_and_gives_a_flow(
    package: dict[str, Definition],
) -> None:
    registry = CodelistRegistry.standard(areas={"TT": "Trinidad and Tobago"})
    registry.add_labels(id="CL_TVET_FIELD", name="TVET field", labels=field_labels())
    assert len(package) >= 24
    for d in package.values():
        flow = d.flow()
        assert flow.id == d.id.upper() and flow.unit == d.unit in UNITS
        assert flow.frequency == d.frequency
        for dim in flow.dimensions:
            # Every local code of the definition is a local code of the SDMX codelist.
            code_map = registry[dim.codelist]
            used = next(u for u in d.dimensions if u.name == dim.column)
            assert set(used.codes) <= set(code_map.local), (d.id, dim.column)
        if d.computable:
            assert d.query and d.measure and d.disclosure
            assert {a.provider for a in d.agreements} <= {"nso", "nis", "tvet", "dol", "jobboard"}
        else:
            assert d.withheld and "schema" in d.withheld


def test_the_package_covers_the_agreed_areas(package: dict[str, Definition]) -> None:
    wanted = {
        "lfs_participation_rate",
        "lfs_employment_to_population",
        "lfs_unemployment_rate",
        "lfs_youth_not_in_employment",
        "lfs_short_hours_share",
        "lfs_informal_employment_share",
        "nis_insured_employment",
        "nis_new_registrations",
        "nis_average_insurable_earnings",
        "jobboard_vacancies",
        "jobboard_vacancy_days_open",
        "jobboard_jobseeker_registrations",
        "jobboard_placements",
        "tvet_enrolments",
        "tvet_certifications",
        "dol_complaints_received",
        "dol_complaints_resolved",
        "dol_disputes_received",
        "dol_disputes_resolved",
        "dol_inspections",
        "dol_accidents_per_1000_insured",
        "tvet_certified_insured_6m",
        "tvet_certified_insured_12m",
        "jobseekers_insured_6m",
    }
    assert wanted <= set(package)
    # The survey estimates carry the aggregate age group; administrative counts do not.
    assert "Y15-64" in package["lfs_unemployment_rate"].dimensions[1].codes
    assert package["lfs_unemployment_rate"].measure.survey  # type: ignore[union-attr]
    assert package["nis_insured_employment"].computable


def test_the_tvet_fields_cover_every_programme_the_authority_runs() -> None:
    fields = field_labels()
    assert all(len(code) == 3 and code.isupper() for code in fields)
    assert {code[:3] for code, *_ in PROGRAMMES} <= set(fields)
    assert local_dimensions()["field"].codes[-1] == TOTAL


def test_dimension_codes_can_be_chosen(schemas: SchemaCatalog) -> None:
    text = GOOD.replace("[isco_major, region]", "[{isco_major: ['1', '2']}, region]")
    d = read(schemas, text)
    assert d.dimensions[1].codes == ("1", "2", TOTAL)


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        # tables
        (
            ("[bronze.jobboard__vacancy]", "[bronze.jobboard__vacancies]"),
            TableUnknown,
            "bronze.jobboard__vacancies",
        ),
        (("[bronze.jobboard__vacancy]", "[silver.person_key_changes]"), TableUnknown, "silver"),
        (
            ("FROM bronze.jobboard__vacancy", "FROM bronze.jobboard__placement"),
            TableUnknown,
            "not among its sources",
        ),
        # columns
        (
            ("isco_major(occupation)", "isco_major(occupation_code)"),
            ColumnUnknown,
            "occupation_code",
        ),
        (("region, record_id AS unit", "region, wage AS unit"), ColumnUnknown, "'wage'"),
        # dimensions and codes
        (("[isco_major, region]", "[isco_major, county]"), DimensionUnknown, "county"),
        (("[isco_major, region]", "[{isco_major: ['1', '12']}, region]"), DimensionUnknown, "'12'"),
        (("[isco_major, region]", "[{sex: ['M']}]"), DimensionUnknown, "'M'"),
        # the query's output
        (
            ("record_id AS contributor,", ""),
            DefinitionInvalid,
            "does not give column(s) contributor",
        ),
        (("AS unit\n", "AS unit, 1 AS extra\n"), DefinitionInvalid, "extra"),
        (("posted_date AS ref_date", "'2024' AS ref_date"), DefinitionInvalid, "ref_date"),
        (("SELECT posted_date", "SELEC posted_date"), DefinitionInvalid, "query fails"),
        # the definition's own fields
        (("unit: PS", "unit: PERSONS"), DefinitionInvalid, "'unit'"),
        (("frequency: M", "frequency: W"), DefinitionInvalid, "'frequency'"),
        (("id: vacancies_test", "id: Vacancies-Test"), DefinitionInvalid, "id"),
        (("{kind: count}", "{kind: mode}"), DefinitionInvalid, "kind"),
        (("{kind: count}", "{kind: count, scale: 100}"), DefinitionInvalid, "scale"),
        (("{kind: count}", "{kind: count, survey: true}"), DefinitionInvalid, "survey"),
        (
            ("{min_contributors: 3}", "{min_contributors: 3, magnitude: true}"),
            DefinitionInvalid,
            "magnitude",
        ),
        (("{min_contributors: 3}", "{min_contributors: 0}"), DefinitionInvalid, "min_contributors"),
        (
            ("{provider: jobboard, dataset: vacancy}", "{provider: nis, dataset: employer}"),
            DefinitionInvalid,
            "agreement",
        ),
        (("name: Vacancies\n", ""), DefinitionInvalid, "'name'"),
        (("unit: PS", "unit: PS\ncolour: blue"), DefinitionInvalid, "colour"),
        (
            ("[isco_major, region]", "[isco_major, {age_group: [Y15-64]}]"),
            DefinitionInvalid,
            "survey estimates only",
        ),
    ],
)
def test_a_broken_definition_is_refused_naming_what_is_wrong(
    schemas: SchemaCatalog, change: tuple[str, str], error: type[IndicatorError], words: str
) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(error) as caught:
        read(schemas, GOOD.replace(old, new, 1))
    assert words in caught.value.message
    assert caught.value.message.startswith("case.yaml")
    assert caught.value.code.startswith("indicators.")


def test_a_token_column_is_unknown_to_indicators(schemas: SchemaCatalog) -> None:
    text = GOOD.replace("[bronze.jobboard__vacancy]", "[bronze.jobboard__jobseeker]")
    text = text.replace(
        "{provider: jobboard, dataset: vacancy}", "{provider: jobboard, dataset: jobseeker}"
    )
    text = text.replace("FROM bronze.jobboard__vacancy", "FROM bronze.jobboard__jobseeker")
    text = text.replace("isco_major(occupation)", "isco_major(desired_occupation)")
    text = text.replace("posted_date", "registration_date")
    assert read(schemas, text).computable  # the jobseeker table itself is fine
    with pytest.raises(ColumnUnknown, match="linkage only"):
        read(schemas, text.replace("record_id AS unit", "national_id_token AS unit"))


def test_a_withheld_definition_needs_no_query_and_is_not_computable(schemas: SchemaCatalog) -> None:
    text = GOOD.split("measure:")[0] + "withheld: The data lack the field it needs.\n"
    d = read(schemas, text)
    assert not d.computable and d.query is None and d.measure is None
    assert d.flow().id == "VACANCIES_TEST"


def test_a_folder_with_two_definitions_of_one_id_is_refused(
    schemas: SchemaCatalog, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(DefinitionInvalid, match=r"also the id of a\.yaml"):
        load_definitions(tmp_path, schemas=schemas)


def test_invalid_yaml_is_refused(schemas: SchemaCatalog) -> None:
    with pytest.raises(DefinitionInvalid, match="not valid YAML"):
        read(schemas, "id: [unclosed")
    with pytest.raises(DefinitionInvalid, match="one mapping"):
        read(schemas, textwrap.dedent("- a\n- b\n"))
