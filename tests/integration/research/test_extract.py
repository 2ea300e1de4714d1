"""The extract as a pure function: approved fields only, project pseudonyms, consent,
the period, and k-anonymity over persons that holds across every file."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.disclosure.kanonymity import DisclosurePlan
from integration.research.extract import PSEUDONYM, build_extract, persons_k
from integration.research.pseudonyms import pseudonym

PERIOD = (date(2024, 1, 1), date(2025, 12, 31))
PLAN = DisclosurePlan.from_dict(
    {
        "k": 5,
        "quasi_identifiers": ["birth_year", "sex", "region"],
        "generalise": {
            "birth_year": {"kind": "band", "width": 5},
            "contribution_month": {"kind": "month"},
        },
    }
)
FIELDS = {
    "nis.insured_person": ["birth_year", "sex", "region"],
    "nis.contribution": ["contribution_month", "insurable_earnings_cents"],
}


def nation(
    persons: list[tuple[int, str, str]], months: int = 2
) -> tuple[dict[str, pa.Table], pa.Table]:
    """Insured persons (one record each) with ``months`` contributions each, and links."""
    ids = [f"ip{i}" for i in range(len(persons))]
    insured = pa.table(
        {
            "record_id": ids,
            "birth_year": pa.array([p[0] for p in persons], pa.int32()),
            "sex": [p[1] for p in persons],
            "region": [p[2] for p in persons],
            "_event_date": pa.array([date(2024, 3, 1)] * len(persons), pa.date32()),
            "_agreement_id": ["dsa-nis"] * len(persons),
            "_agreement_version": pa.array([1] * len(persons), pa.int32()),
        }
    )
    c_ids = [f"c{i}-{m}" for i in range(len(persons)) for m in range(months)]
    days = [date(2024, 1 + m, 15) for _ in persons for m in range(months)]
    contributions = pa.table(
        {
            "record_id": c_ids,
            "contribution_month": pa.array(days, pa.date32()),
            "insurable_earnings_cents": pa.array(range(len(c_ids)), pa.int64()),
            "_event_date": pa.array(days, pa.date32()),
            "_agreement_id": ["dsa-nis"] * len(c_ids),
            "_agreement_version": pa.array([2] * len(c_ids), pa.int32()),
        }
    )
    links = pa.table(
        {
            "agency": ["nis"] * (len(ids) + len(c_ids)),
            "dataset": ["insured_person"] * len(ids) + ["contribution"] * len(c_ids),
            "record_id": ids + c_ids,
            "person_key": [f"pk{i}" for i in range(len(ids))]
            + [f"pk{i}" for i in range(len(persons)) for _ in range(months)],
        }
    )
    return {"nis.insured_person": insured, "nis.contribution": contributions}, links


def qi_tuples(table: pa.Table) -> dict[str, tuple[object, ...]]:
    rows = table.select([PSEUDONYM, "birth_year", "sex", "region"]).to_pylist()
    return {r[PSEUDONYM]: (r["birth_year"], r["sex"], r["region"]) for r in rows}


def test_fields_pseudonyms_consent_and_k() -> None:
    common = [(1980 + i % 3, "1", "TT-POS") for i in range(12)]
    rare = [(1950, "2", "TT-TOB")]  # one person alone: must not stay identifiable
    tables, links = nation(common + rare)
    key = os.urandom(32)
    extract = build_extract(
        tables, links, fields=FIELDS, period=PERIOD, key=key, plan=PLAN, withdrawn={"pk3"}
    )
    insured, contributions = extract.files["nis.insured_person"], extract.files["nis.contribution"]
    assert insured.column_names == [PSEUDONYM, "birth_year", "sex", "region"]
    assert contributions.column_names == [PSEUDONYM, *FIELDS["nis.contribution"]]
    # The person who withdrew consent for research is in no file.
    assert pseudonym(key, "pk3") not in set(insured[PSEUDONYM].to_pylist())
    assert pseudonym(key, "pk3") not in set(contributions[PSEUDONYM].to_pylist())
    assert extract.counts["nis.contribution"].consent_withdrawn == 2
    # Birth years are 5-year bands, months are months; no person key, no record id.
    assert set(pc.drop_null(insured["birth_year"]).to_pylist()) <= {"1980-1984", "1950-1954"}
    assert set(contributions["contribution_month"].to_pylist()) == {"2024-01", "2024-02"}
    for table in extract.files.values():
        assert "record_id" not in table.column_names
        assert not any(v.startswith("pk") for v in table[PSEUDONYM].to_pylist())
    # k holds over persons, and the rare person is suppressed or dropped.
    assert extract.persons is not None and extract.persons.k_before == 1
    assert extract.persons.k_achieved >= 5 and persons_k(extract, PLAN.quasi_identifiers) >= 5
    assert (1950, "2", "TT-TOB") not in qi_tuples(insured).values()
    assert extract.agreements == [("dsa-nis", 1), ("dsa-nis", 2)]


def test_period_unlinked_and_missing_fields() -> None:
    tables, links = nation([(1980, "1", "TT-POS")] * 6, months=1)
    contributions = tables["nis.contribution"]
    late = contributions.set_column(
        contributions.schema.get_field_index("_event_date"),
        "_event_date",
        pa.array([date(2026, 2, 1)] * 6, pa.date32()),
    )
    tables["nis.contribution"] = late
    links = links.filter(pc.not_equal(links["record_id"], "ip0"))  # one record not linked
    fields = dict(FIELDS) | {"nis.insured_person": ["birth_year", "sex", "region", "wage_band"]}
    extract = build_extract(tables, links, fields=fields, period=PERIOD, key=b"k" * 32, plan=PLAN)
    assert extract.counts["nis.contribution"].outside_period == 6
    assert extract.files["nis.contribution"].num_rows == 0
    assert extract.counts["nis.insured_person"].unlinked == 1
    assert extract.counts["nis.insured_person"].missing_fields == ["wage_band"]


def test_two_projects_pseudonyms_differ() -> None:
    tables, links = nation([(1980, "1", "TT-POS")] * 6)
    one = build_extract(tables, links, fields=FIELDS, period=PERIOD, key=b"1" * 32, plan=PLAN)
    two = build_extract(tables, links, fields=FIELDS, period=PERIOD, key=b"2" * 32, plan=PLAN)
    a = set(one.files["nis.insured_person"][PSEUDONYM].to_pylist())
    b = set(two.files["nis.insured_person"][PSEUDONYM].to_pylist())
    assert len(a) == len(b) == 6 and not a & b


people = st.lists(
    st.tuples(
        st.integers(1940, 2005), st.sampled_from(["1", "2"]), st.sampled_from(["A", "B", "C"])
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people, st.sets(st.integers(0, 59), max_size=5))
def test_k_holds_across_files_whatever_the_persons(
    persons: list[tuple[int, str, str]], gone: set[int]
) -> None:
    tables, links = nation(persons)
    withdrawn = {f"pk{i}" for i in gone}
    extract = build_extract(
        tables, links, fields=FIELDS, period=PERIOD, key=b"x" * 32, plan=PLAN, withdrawn=withdrawn
    )
    insured = extract.files["nis.insured_person"]
    contributions = extract.files["nis.contribution"]
    k = persons_k(extract, PLAN.quasi_identifiers)
    assert insured.num_rows == 0 or k >= 5
    # Every file carries the same quasi-identifiers for a person, and only kept persons.
    assert set(contributions[PSEUDONYM].to_pylist()) <= set(insured[PSEUDONYM].to_pylist())
    kept = {pseudonym(b"x" * 32, f"pk{i}") for i in range(len(persons))} - {
        pseudonym(b"x" * 32, w) for w in withdrawn
    }
    assert set(insured[PSEUDONYM].to_pylist()) <= kept
    assert insured.num_rows == len(set(insured[PSEUDONYM].to_pylist()))


def test_a_dataset_not_about_persons_is_made_k_anonymous_alone() -> None:
    vacancies = pa.table(
        {
            "record_id": [f"v{i}" for i in range(11)],
            "region": ["TT-POS"] * 10 + ["TT-TOB"],
            "occupation": ["2512"] * 11,
            "_event_date": pa.array([date(2024, 5, 1) + timedelta(days=i) for i in range(11)]),
        }
    )
    links = pa.table(
        {c: pa.array([], pa.string()) for c in ("agency", "dataset", "record_id", "person_key")}
    )
    extract = build_extract(
        {"jobboard.vacancy": vacancies},
        links,
        fields={"jobboard.vacancy": ["region", "occupation"]},
        period=PERIOD,
        key=b"k" * 32,
        plan=PLAN,
    )
    out = extract.files["jobboard.vacancy"]
    assert PSEUDONYM not in out.column_names
    assert extract.per_dataset["jobboard.vacancy"].k_achieved >= 5
    assert "TT-TOB" not in out["region"].to_pylist()


@pytest.mark.parametrize("k", [5, 7])
def test_the_report_states_k(k: int) -> None:
    tables, links = nation([(1980 + i, "1", "TT-POS") for i in range(20)])
    plan = DisclosurePlan.from_dict(PLAN.as_dict() | {"k": k})
    extract = build_extract(tables, links, fields=FIELDS, period=PERIOD, key=b"k" * 32, plan=plan)
    assert extract.persons is not None and extract.persons.k_requested == k
    assert extract.k_achieved() >= k
