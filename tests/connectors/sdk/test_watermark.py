from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from connectors.sdk.state import StateDB
from connectors.sdk.watermark import Watermark, WatermarkStore, decode_scalar, encode_scalar

scalars = (
    st.text()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.dates()
    | st.datetimes()
    | st.datetimes(timezones=st.just(timezone(timedelta(hours=-4))))
)


@given(scalars)
def test_components_keep_their_type(value: object) -> None:
    back = decode_scalar(encode_scalar(value))
    assert back == value and type(back) is type(value)


def test_store_get_advance_reset(state: StateDB) -> None:
    store = WatermarkStore(state)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert store.get("trainees") is None
    store.advance("trainees", Watermark(date(2026, 1, 2), "T-1"), at=at)
    store.advance("trainees", Watermark(date(2026, 1, 3), "T-0"), at=at)
    store.advance("enrolments", Watermark(5, 5), at=at)
    assert store.get("trainees") == Watermark(date(2026, 1, 3), "T-0")
    store.reset("trainees")
    assert store.get("trainees") is None and store.get("enrolments") == Watermark(5, 5)
