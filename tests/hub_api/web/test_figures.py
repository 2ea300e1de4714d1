"""The public pages' reading of a published SDMX-JSON message, and their charts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub_api.web.charts import PLOT_WIDTH, bar_chart
from hub_api.web.figures import read_sdmx_json
from integration.indicators.sdmx.data_json import data_json
from tests.integration.indicators.sdmx.conftest import PREPARED, make_registry, unemployment_flow
from tests.integration.indicators.sdmx.test_data_messages import EXPECTED, table


def figures():  # type: ignore[no-untyped-def]
    message = data_json(
        unemployment_flow(), table(), make_registry(), ref_area="TT", prepared=PREPARED
    )
    return read_sdmx_json(message.encode() if isinstance(message, str) else message, "UNE_RATE")


def test_every_observation_is_read_back_with_its_statuses() -> None:
    read = figures()
    assert [d.id for d in read.dimensions] == ["SEX", "AGE", "REGION"]
    assert read.periods == ("2025-Q1", "2025-Q2")
    got = {o.key: (o.value, o.status, o.confidentiality, o.std_error) for o in read.observations}
    assert got == EXPECTED
    assert read.dimension("SEX").name_of("SEX_F") == "Female"


def test_defaults_are_the_totals_and_the_headline_their_latest_figure() -> None:
    read = figures()
    assert read.defaults() == {"SEX": "SEX_T", "AGE": "AGE_10YRBANDS_TOTAL", "REGION": "_T"}
    assert read.headline() is not None
    period, obs = read.headline()  # type: ignore[misc]
    assert (period, obs.value) == ("2025-Q1", 7.0)
    # an unknown code asked for falls back to the default; a known one is kept
    assert read.selection({"SEX": "SEX_F", "REGION": "nowhere"})["SEX"] == "SEX_F"
    assert read.selection({"REGION": "nowhere"})["REGION"] == "_T"


def test_a_breakdown_lists_every_code_and_marks_the_suppressed() -> None:
    read = figures()
    fixed = {"SEX": "SEX_F", "AGE": "AGE_10YRBANDS_Y15-24", "REGION": "TT-POS"}
    rows = dict((c.id, o) for c, o in read.breakdown("SEX", fixed, "2025-Q2"))
    assert set(rows) == {c.id for c in read.dimension("SEX").codes}
    assert rows["SEX_F"] is not None and rows["SEX_F"].suppressed
    assert rows["SEX_M"] is None  # no figure at all
    series = dict(read.series(fixed))
    assert series["2025-Q1"] is not None and series["2025-Q1"].value == 12.5


@given(st.lists(st.one_of(st.none(), st.floats(0, 1e9)), min_size=1, max_size=30))
def test_bars_scale_to_the_largest_and_say_what_they_hide(values: list[float | None]) -> None:
    rows = [
        (f"code {i}", v, "suppressed" if v is None else f"{v:.1f}") for i, v in enumerate(values)
    ]
    chart = bar_chart("A chart", rows)
    assert len(chart.bars) == len(values)
    assert all(0 <= b.width <= PLOT_WIDTH for b in chart.bars)
    assert all(b.suppressed == (v is None) for b, v in zip(chart.bars, values, strict=True))
    hidden = sum(v is None for v in values)
    if hidden:
        assert f"{hidden} suppressed" in chart.description
    if any(v for v in values if v):
        assert max(b.width for b in chart.bars) == PLOT_WIDTH
