"""Accessible bar charts as SVG geometry, drawn by the templates.

Every bar carries its value as text, a suppressed cell is drawn as an outlined, dashed
box labelled "suppressed" (colour is never the only carrier of meaning), and the chart
is given a title and a description; the page shows the same figures as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LABEL_WIDTH = 260
PLOT_WIDTH = 420
VALUE_WIDTH = 140
ROW = 28
BAR = 18
TOP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    text: str  # the value as printed, or why there is none
    y: int
    width: float
    suppressed: bool


@dataclass(frozen=True)
class BarChart:
    title: str
    description: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int = LABEL_WIDTH
    bar_height: int = BAR


def _shorten(label: str, limit: int = 38) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, float | None, str]],
    *,
    unit: str = "",
) -> BarChart:
    """A horizontal bar per ``(label, value, printed value)``; ``value`` None is drawn as
    a suppressed cell. Bars scale to the largest value (zero at the left)."""
    positive = [v for _, v, _ in rows if v is not None and v > 0]
    largest = max(positive, default=0.0)
    bars = []
    for i, (label, value, text) in enumerate(rows):
        suppressed = value is None
        width = 0.0
        if value is not None and largest > 0:
            width = max(value, 0.0) / largest * PLOT_WIDTH
        bars.append(
            Bar(
                label=_shorten(label),
                value=value,
                text=text,
                y=TOP + i * ROW,
                width=round(width, 1),
                suppressed=suppressed,
            )
        )
    shown = [b for b in bars if not b.suppressed]
    hidden = len(bars) - len(shown)
    described = "; ".join(f"{b.label}: {b.text}" for b in bars[:40])
    description = (
        f"{len(bars)} bars{f', {hidden} suppressed' if hidden else ''}"
        f"{f' ({unit})' if unit else ''}. {described}"
    )
    return BarChart(
        title=title,
        description=description,
        bars=tuple(bars),
        width=LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH,
        height=TOP * 2 + ROW * max(len(bars), 1),
    )
