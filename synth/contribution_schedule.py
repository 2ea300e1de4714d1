"""The NIS contribution schedule: earnings classes and the contribution each pays.

Modelled on a Caribbean national insurance scheme's weekly earnings classes (the
figures are illustrative, not a statutory schedule): a month's insurable earnings fall
in a class by their weekly equivalent, and the contribution for each contribution week
is a fixed rate of the class's assumed weekly earnings (shared by employer and worker).
Everything is computed column-wise from the earnings and the weeks, so a late
correction of the earnings corrects the class and the contribution with it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: Class names, I to XVI.
CLASSES: tuple[str, ...] = (
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII",
    "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI",
)  # fmt: skip
#: Lower bound of each class's weekly earnings (TTD); the first class takes everything
#: below the second, the last everything above its bound (the insurable ceiling).
WEEKLY_FLOOR = np.array(
    [0, 340, 450, 610, 760, 930, 1120, 1300, 1490, 1710, 1910, 2140, 2380, 2630, 2920, 3138],
    dtype=np.float64,
)
#: Assumed weekly earnings of each class (TTD), on which the contribution is charged.
ASSUMED_WEEKLY = np.array(
    [270, 395, 530, 685, 845, 1025, 1210, 1395, 1600, 1810, 2025, 2260, 2505, 2775, 3029, 3650],
    dtype=np.int64,
)
#: Contribution rate of the assumed earnings (employer two thirds, worker one third).
RATE = 0.132
#: Contribution per week of each class, in cents.
WEEKLY_CENTS: npt.NDArray[np.int64] = np.round(ASSUMED_WEEKLY * RATE * 100).astype(np.int64)


def earnings_class(monthly: npt.NDArray[np.floating]) -> npt.NDArray[np.intp]:
    """Index into :data:`CLASSES` of each month's insurable earnings."""
    weekly = np.asarray(monthly, dtype=np.float64) * 12 / 52
    out: npt.NDArray[np.intp] = np.searchsorted(WEEKLY_FLOOR, weekly, side="right") - 1
    return out.clip(0, len(CLASSES) - 1)


def contribution(
    monthly: npt.NDArray[np.floating], weeks: npt.NDArray[np.integer]
) -> npt.NDArray[np.float64]:
    """The month's contribution (TTD, whole cents): the class's weekly contribution
    times the contribution weeks."""
    cents = WEEKLY_CENTS[earnings_class(monthly)] * np.asarray(weeks, dtype=np.int64)
    out: npt.NDArray[np.float64] = cents / 100
    return out
