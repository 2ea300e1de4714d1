"""k-anonymity of extracts: the plan as data, each generalisation, local suppression by
hand-checked examples, and properties over random extracts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.disclosure.errors import KTooSmall, PlanInvalid
from governance.disclosure.kanonymity import (
    Band,
    DisclosurePlan,
    Generalisation,
    MergeRare,
    Period,
    Regroup,
    Truncate,
    anonymise,
    class_sizes,
    generalise,
    k_achieved,
)

QIS = ("birth_year", "sex", "region")


def _people(rows: Sequence[tuple[int | None, str | None, str | None]]) -> pa.Table:
    years, sexes, regions = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table(
        {
            "row_id": pa.array(range(len(rows)), pa.int64()),
            "birth_year": pa.array(years, pa.int32()),
            "sex": pa.array(sexes, pa.string()),
            "region": pa.array(regions, pa.string()),
            "wage": pa.array([1000.0 + i for i in range(len(rows))]),
        }
    )


# --------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------

STORED: dict[str, Any] = {
    "k": 6,
    "quasi_identifiers": ["birth_year", "sex", "region", "isco", "event_date"],
    "generalise": {
        "birth_year": {"kind": "band", "width": 5, "bottom": 1940, "top": 2000},
        "event_date": {"kind": "month"},
        "region": {"kind": "group", "mapping": {"TT-TOB": "Tobago", "TT-POS": "North"}},
        "isco": {"kind": "group", "truncate": 2},
        "sector": {"kind": "group", "min_count": 20, "label": "other"},
    },
}


def test_the_plan_round_trips_through_json() -> None:
    plan = DisclosurePlan.from_dict(json.loads(json.dumps(STORED)))
    assert plan.k == 6
    assert plan.generalisations[0] == Band("birth_year", 5, bottom=1940, top=2000)
    assert plan.generalisations[2] == Regroup("region", (("TT-POS", "North"), ("TT-TOB", "Tobago")))
    assert DisclosurePlan.from_dict(plan.as_dict()) == plan
    assert plan.as_dict() == STORED | {
        "generalise": STORED["generalise"]
        | {"region": {"kind": "group", "mapping": {"TT-POS": "North", "TT-TOB": "Tobago"}}}
    }


def test_k_defaults_to_five_and_below_five_is_refused() -> None:
    assert DisclosurePlan.from_dict({"quasi_identifiers": ["sex"]}).k == 5
    with pytest.raises(KTooSmall) as raised:
        DisclosurePlan.from_dict({"k": 3, "quasi_identifiers": ["sex"]})
    assert raised.value.code == "disclosure.k_too_small"
    with pytest.raises(KTooSmall):
        DisclosurePlan(quasi_identifiers=("sex",), k=4)


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"quasi_identifiers": []}, "no quasi-identifier"),
        ({"quasi_identifiers": ["sex", "sex"]}, "twice"),
        ({"quasi_identifiers": "sex"}, "list of column names"),
        ({"quasi_identifiers": ["sex"], "k": "5"}, "k must be an integer"),
        ({"quasi_identifiers": ["sex"], "k": True}, "k must be an integer"),
        ({"quasi_identifiers": ["sex"], "extra": 1}, "unknown keys: extra"),
        ({"quasi_identifiers": ["a"], "generalise": {"a": {"kind": "round"}}}, "no known kind"),
        ({"quasi_identifiers": ["a"], "generalise": {"a": {"kind": "band"}}}, "width"),
        (
            {
                "quasi_identifiers": ["a"],
                "generalise": {"a": {"kind": "band", "width": 5, "top": 63}},
            },
            "multiple of its band width",
        ),
        (
            {"quasi_identifiers": ["a"], "generalise": {"a": {"kind": "band", "width": 0}}},
            "at least 1",
        ),
        (
            {
                "quasi_identifiers": ["a"],
                "generalise": {"a": {"kind": "group", "truncate": 2, "min_count": 3}},
            },
            "exactly one of",
        ),
        (
            {"quasi_identifiers": ["a"], "generalise": {"a": {"kind": "group", "min_count": 1}}},
            "at least 2",
        ),
        (
            {"quasi_identifiers": ["a"], "generalise": {"a": {"kind": "month", "x": 1}}},
            "unknown keys",
        ),
    ],
)
def test_invalid_plans_are_refused(stored: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanInvalid, match=message) as raised:
        DisclosurePlan.from_dict(stored)
    assert raised.value.code == "disclosure.plan_invalid"


def test_a_plan_that_does_not_fit_the_extract_names_the_column() -> None:
    table = _people([(1980, "F", "A")])
    unknown = DisclosurePlan(quasi_identifiers=("birth_year", "age"))
    with pytest.raises(PlanInvalid, match="no column 'age'"):
        anonymise(table, unknown)
    cases: list[Generalisation] = [
        Band("sex", 5),
        Period("birth_year", "month"),
        Truncate("birth_year", 2),
    ]
    for generalisation in cases:
        plan = DisclosurePlan(quasi_identifiers=QIS, generalisations=(generalisation,))
        with pytest.raises(PlanInvalid, match=repr(generalisation.column)) as raised:
            anonymise(table, plan)
        assert raised.value.context["column"] == generalisation.column


# --------------------------------------------------------------------------------------
# Generalisations
# --------------------------------------------------------------------------------------


def _apply(generalisation: Any, values: pa.Array) -> list[Any]:
    return list(generalisation.apply(values).to_pylist())


def test_bands_align_to_multiples_of_the_width() -> None:
    years = pa.array([1980, 1984, 1985, 1939, 1940, 2003, None, -3])
    assert _apply(Band("y", 5), years) == [
        "1980-1984",
        "1980-1984",
        "1985-1989",
        "1935-1939",
        "1940-1944",
        "2000-2004",
        None,
        "-5--1",
    ]
    coded = Band("y", 5, bottom=1940, top=2000)
    assert _apply(coded, years) == [
        "1980-1984",
        "1980-1984",
        "1985-1989",
        "<1940",
        "1940-1944",
        "2000+",
        None,
        "<1940",
    ]
    assert _apply(Band("age", 1, top=65), pa.array([64, 65, 90])) == ["64", "65+", "65+"]


def test_dates_and_timestamps_to_months_and_years() -> None:
    days = pa.array([date(2024, 3, 31), date(2024, 4, 1), None])
    assert _apply(Period("d", "month"), days) == ["2024-03", "2024-04", None]
    assert _apply(Period("d", "year"), days) == ["2024", "2024", None]
    # 02:00 UTC on 1 April is still 31 March in Port of Spain (UTC−4)
    stamps = pa.array(
        [datetime(2024, 4, 1, 2, 0, tzinfo=UTC)], pa.timestamp("us", tz="America/Port_of_Spain")
    )
    assert _apply(Period("t", "month"), stamps) == ["2024-03"]


def test_groups_merge_rare_categories_map_and_truncate() -> None:
    regions = pa.array(["A"] * 5 + ["B"] * 2 + ["C"] + [None])
    assert _apply(MergeRare("r", 3), regions) == ["A"] * 5 + ["other"] * 3 + [None]
    assert _apply(MergeRare("r", 3, "rest"), regions)[5] == "rest"
    codes = pa.array([101, 101, 101, 7])
    assert _apply(MergeRare("c", 2), codes) == ["101", "101", "101", "other"]
    mapping = Regroup("r", (("B", "AB"), ("C", "AB")))
    assert _apply(mapping, regions) == ["A"] * 5 + ["AB"] * 3 + [None]
    isco = pa.array(["2512", "0110", "25", None])
    assert _apply(Truncate("isco", 2), isco) == ["25", "01", "25", None]


def test_generalise_replaces_only_the_named_columns() -> None:
    table = _people([(1983, "F", "A"), (1987, "M", "B")])
    plan = DisclosurePlan(quasi_identifiers=QIS, generalisations=(Band("birth_year", 10),))
    result = generalise(table, plan)
    assert result.column("birth_year").to_pylist() == ["1980-1989", "1980-1989"]
    assert result.drop_columns(["birth_year"]).equals(table.drop_columns(["birth_year"]))


# --------------------------------------------------------------------------------------
# Equivalence classes and suppression, by hand
# --------------------------------------------------------------------------------------


def test_class_sizes_count_a_null_as_a_value_of_its_own() -> None:
    table = _people([(1980, "F", "A"), (1980, "F", "A"), (None, "F", "A"), (1980, "F", None)])
    assert class_sizes(table, QIS).tolist() == [2, 2, 1, 1]
    assert k_achieved(table, QIS) == 1
    assert k_achieved(table, ("sex",)) == 4
    assert k_achieved(table.slice(0, 0), QIS) == 0


def test_a_unique_combination_is_reported_then_suppressed() -> None:
    # five records whose birth year is unknown, six born 1980-84, and one born in 1950
    rows = [(None, "F", "A")] * 5 + [(1981, "F", "A")] * 6 + [(1950, "F", "A")]
    table = _people(rows)
    plan = DisclosurePlan(quasi_identifiers=QIS, generalisations=(Band("birth_year", 5),))

    checked, check = anonymise(table, plan, check_only=True)
    assert (check.k_before, check.k_achieved, check.satisfied) == (1, 1, False)
    assert check.records_below_k_before == 1
    assert checked.num_rows == 12

    result, report = anonymise(table, plan)
    assert (report.k_before, report.k_achieved, report.satisfied) == (1, 6, True)
    assert report.values_suppressed == {"birth_year": 1, "sex": 0, "region": 0}
    assert (report.rows_in, report.rows_out, report.records_dropped) == (12, 12, 0)
    assert report.equivalence_classes == 2
    assert result.column("birth_year").to_pylist()[11] is None
    assert result.column("birth_year").to_pylist()[5:11] == ["1980-1984"] * 6


def test_rare_records_that_share_a_rarity_are_suppressed_together() -> None:
    rows = [(1950, "M", "A")] * 3 + [(1960, "M", "A")] * 2 + [(1980, "F", "B")] * 5
    result, report = anonymise(_people(rows), DisclosurePlan(quasi_identifiers=QIS))
    # birth year has the most distinct values: nulling it puts the five men together
    assert report.values_suppressed == {"birth_year": 5, "sex": 0, "region": 0}
    assert result.column("birth_year").to_pylist() == [None] * 5 + [1980] * 5
    assert (report.k_achieved, report.records_dropped) == (5, 0)


def test_the_column_that_rescues_a_record_is_chosen() -> None:
    # the odd record differs only in sex: nulling sex (the second-ranked column) rescues
    # it, with five records whose sex is unknown
    rows: list[tuple[int | None, str | None, str | None]]
    rows = [(1970 + i, "F", "A") for i in range(5) for _ in range(5)]
    rows += [(1970, None, "A")] * 5 + [(1970, "M", "A")]
    result, report = anonymise(_people(rows), DisclosurePlan(quasi_identifiers=QIS))
    assert report.values_suppressed == {"birth_year": 0, "sex": 1, "region": 0}
    assert result.column("sex").to_pylist()[-1] is None
    assert report.k_achieved == 5


def test_suppression_keeps_the_column_type() -> None:
    codes = pa.array([None] * 5 + ["x"] * 6 + ["y"]).dictionary_encode()
    table = pa.table({"code": codes, "sex": ["F"] * 12})
    result, report = anonymise(table, DisclosurePlan(quasi_identifiers=("code", "sex")))
    assert result.schema.field("code").type == codes.type
    assert result.column("code").to_pylist() == [None] * 5 + ["x"] * 6 + [None]
    assert report.values_suppressed == {"code": 1, "sex": 0}


def test_a_record_no_suppression_can_hide_is_dropped() -> None:
    rows = [(1981, "F", "A")] * 6 + [(1950, "M", "B")]
    result, report = anonymise(_people(rows), DisclosurePlan(quasi_identifiers=QIS))
    assert (report.rows_out, report.records_dropped, report.k_achieved) == (6, 1, 6)
    assert report.values_suppressed == {"birth_year": 0, "sex": 0, "region": 0}
    assert result.column("row_id").to_pylist() == list(range(6))


def test_too_few_records_for_k_leaves_none() -> None:
    result, report = anonymise(
        _people([(1981, "F", "A")] * 4), DisclosurePlan(quasi_identifiers=QIS)
    )
    assert (result.num_rows, report.records_dropped, report.k_achieved) == (0, 4, 0)
    assert report.satisfied


def test_an_anonymous_extract_is_returned_as_generalised() -> None:
    table = _people([(1981, "F", "A")] * 5 + [(1983, "M", "B")] * 5)
    plan = DisclosurePlan(quasi_identifiers=QIS, generalisations=(Band("birth_year", 5),))
    result, report = anonymise(table, plan)
    assert result.equals(generalise(table, plan))
    assert (report.k_before, report.k_achieved, report.records_below_k_before) == (5, 5, 0)


def test_the_report_is_json() -> None:
    table = _people([(1981, "F", "A")] * 6 + [(1950, "M", "B")])
    plan = DisclosurePlan(quasi_identifiers=QIS, generalisations=(Band("birth_year", 5, top=2000),))
    stored = json.loads(json.dumps(anonymise(table, plan)[1].as_dict()))
    assert stored == {
        "k_requested": 5,
        "k_before": 1,
        "k_achieved": 6,
        "satisfied": True,
        "check_only": False,
        "rows_in": 7,
        "rows_out": 6,
        "records_dropped": 1,
        "records_below_k_before": 1,
        "values_suppressed": {"birth_year": 0, "sex": 0, "region": 0},
        "generalised": {"birth_year": {"kind": "band", "width": 5, "top": 2000}},
        "equivalence_classes": 1,
    }


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

ISCO = ("2511", "2512", "2519", "2611", "0110", "5223")
REGIONS = ("TT-POS", "TT-SFO", "TT-ARI", "TT-TOB")


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values | st.none()


records = st.tuples(
    _maybe(st.integers(1945, 2006)),
    _maybe(st.sampled_from(["F", "M"])),
    _maybe(st.sampled_from(REGIONS)),
    _maybe(st.sampled_from(ISCO)),
    _maybe(st.dates(date(2022, 1, 1), date(2023, 12, 31))),
)


@st.composite
def extracts(draw: st.DrawFn) -> pa.Table:
    """Up to a dozen distinct records, each repeated 0-12 times, in a random order: an
    extract with safe classes, rare ones and unique records, and some nulls."""
    distinct = draw(st.lists(records, max_size=12))
    repeats = draw(st.lists(st.integers(0, 12), min_size=len(distinct), max_size=len(distinct)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = [record for record, count in zip(distinct, repeats, strict=True) for _ in range(count)]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    columns = list(zip(*rows, strict=True)) if rows else [()] * 5
    return pa.table(
        {
            "row_id": pa.array(range(len(rows)), pa.int64()),
            "birth_year": pa.array(columns[0], pa.int64()),
            "sex": pa.array(columns[1], pa.string()),
            "region": pa.array(columns[2], pa.string()),
            "isco": pa.array(columns[3], pa.string()),
            "event_date": pa.array(columns[4], pa.date32()),
            "wage": pa.array(rng.lognormal(8, 1, len(rows))),
        }
    )


PROPERTY_QIS = ("birth_year", "sex", "region", "isco", "event_date")
generalisation_sets = st.lists(
    st.sampled_from(
        [
            Band("birth_year", 5),
            Band("birth_year", 10, bottom=1950, top=2000),
            Period("event_date", "month"),
            Period("event_date", "year"),
            MergeRare("region", 4),
            Regroup("region", (("TT-TOB", "Tobago"),)),
            Truncate("isco", 2),
            Truncate("isco", 1),
        ]
    ),
    max_size=4,
    unique_by=attrgetter("column"),
)
plans = st.builds(
    DisclosurePlan,
    quasi_identifiers=st.lists(st.sampled_from(PROPERTY_QIS), min_size=1, unique=True).map(tuple),
    k=st.integers(5, 9),
    generalisations=generalisation_sets.map(tuple),
)
PROPERTIES = settings(max_examples=100, deadline=None)


def _same(left: pa.Array, right: pa.Array) -> np.ndarray:
    """Element-wise equality with null equal to null."""
    equal = pc.fill_null(pc.equal(left, right), False)
    both_null = pc.and_(left.is_null(), right.is_null())
    return np.asarray(pc.or_(equal, both_null).to_numpy(zero_copy_only=False), dtype=bool)


@PROPERTIES
@given(table=extracts(), plan=plans)
def test_every_class_reaches_k_and_the_report_says_so(
    table: pa.Table, plan: DisclosurePlan
) -> None:
    result, report = anonymise(table, plan)
    sizes = class_sizes(result, plan.quasi_identifiers)
    assert sizes.size == 0 or sizes.min() >= plan.k
    assert report.satisfied
    assert report.k_achieved == k_achieved(result, plan.quasi_identifiers)
    assert report.k_before == k_achieved(generalise(table, plan), plan.quasi_identifiers)
    assert report.rows_out == result.num_rows == report.rows_in - report.records_dropped
    assert report.rows_in == table.num_rows
    assert report.equivalence_classes == len(
        set(zip(*(result.column(c).to_pylist() for c in plan.quasi_identifiers), strict=True))
    )


@PROPERTIES
@given(table=extracts(), plan=plans)
def test_no_row_is_added_and_suppression_only_nulls_quasi_identifiers(
    table: pa.Table, plan: DisclosurePlan
) -> None:
    generalised, _ = anonymise(table, plan, check_only=True)
    result, report = anonymise(table, plan)
    kept = result.column("row_id").to_numpy()
    assert np.all(np.diff(kept) > 0)  # a subsequence of the input, in its order
    before = generalised.take(pa.array(kept, pa.int64()))
    for name in result.column_names:
        same = _same(result.column(name).combine_chunks(), before.column(name).combine_chunks())
        if name not in plan.quasi_identifiers:
            assert same.all(), name
        else:
            nulled = ~same
            assert result.column(name).combine_chunks().filter(pa.array(nulled)).null_count == int(
                nulled.sum()
            )
            assert report.values_suppressed[name] == int(nulled.sum())


@PROPERTIES
@given(table=extracts(), plan=plans)
def test_anonymise_is_deterministic(table: pa.Table, plan: DisclosurePlan) -> None:
    first, first_report = anonymise(table, plan)
    second, second_report = anonymise(table, plan)
    assert first.equals(second)
    assert first_report == second_report


@PROPERTIES
@given(table=extracts(), plan=plans)
def test_a_check_reports_k_as_it_stands(table: pa.Table, plan: DisclosurePlan) -> None:
    result, report = anonymise(table, plan, check_only=True)
    assert result.equals(generalise(table, plan))
    assert report.k_achieved == report.k_before == k_achieved(result, plan.quasi_identifiers)
    assert report.satisfied == (table.num_rows == 0 or report.k_before >= plan.k)
    assert report.records_below_k_before == int(
        np.count_nonzero(class_sizes(result, plan.quasi_identifiers) < plan.k)
    )


@PROPERTIES
@given(table=extracts(), plan=plans)
def test_generalisation_never_splits_a_class(table: pa.Table, plan: DisclosurePlan) -> None:
    raw = class_sizes(table, plan.quasi_identifiers)
    generalised = class_sizes(generalise(table, plan), plan.quasi_identifiers)
    assert np.all(generalised >= raw)


@PROPERTIES
@given(years=st.lists(st.integers(1900, 2020) | st.none(), max_size=60), width=st.integers(1, 12))
def test_bands_keep_the_order_and_coarser_bands_merge_finer_ones(
    years: list[int | None], width: int
) -> None:
    values = pa.array(years, pa.int64())
    fine, coarse = Band("y", width), Band("y", width * 2)
    starts: list[int] = []
    for year, label in zip(years, _apply(fine, values), strict=True):
        if year is None:
            assert label is None
            continue
        start = int(label.split("-")[0])
        assert start % width == 0
        assert start <= year < start + width
        starts.append(start)
    by_year = [
        start for _, start in sorted(zip([y for y in years if y is not None], starts, strict=True))
    ]
    assert by_year == sorted(by_year)  # monotone: a later year never gets an earlier band
    table = pa.table({"y": values})
    assert np.all(
        class_sizes(generalise(table, DisclosurePlan(("y",), generalisations=(coarse,))), ("y",))
        >= class_sizes(generalise(table, DisclosurePlan(("y",), generalisations=(fine,))), ("y",))
    )


@PROPERTIES
@given(days=st.lists(st.dates(date(1990, 1, 1), date(2030, 12, 31)), max_size=40))
def test_months_keep_the_order_of_dates(days: list[date]) -> None:
    labels = _apply(Period("d", "month"), pa.array(sorted(days), pa.date32()))
    assert labels == sorted(labels)
    assert labels == [f"{d.year:04d}-{d.month:02d}" for d in sorted(days)]
