"""What a run hands on: the nation the agencies' writers read, and the truth of what
really happened, kept apart from every agency's records."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from synth.config import SynthConfig
from synth.employers import Employers
from synth.history import Calendar, ColumnTable, History
from synth.population import Persons

#: Value columns of the true job spells (:attr:`Truth.spells`).
SPELL_COLUMNS = ("person_id", "employer_id", "start_date", "end_date", "formal", "isco")


@dataclass
class Truth:
    """What really happened, kept apart from every agency's records."""

    status: npt.NDArray[np.int8]  # months x persons
    insured: npt.NDArray[np.bool_]  # months x persons: NIS contribution in the month
    certified_month: npt.NDArray[np.int32]  # persons: month of last TVET certification, -1
    #: True job spells, see :data:`SPELL_COLUMNS` (dates as days from 1970-01-01, -1: none).
    spells: ColumnTable = field(default_factory=lambda: ColumnTable(SPELL_COLUMNS))
    #: LFS reference month (3q + 1) -> persons: employer of the job held at its end, -1
    employer_at: dict[int, npt.NDArray[np.int32]] = field(default_factory=dict)
    #: LFS reference month -> persons: whether the job held is insured (formal)
    formal_at: dict[int, npt.NDArray[np.bool_]] = field(default_factory=dict)
    #: employers: persons working there at the end of the last month
    headcount: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class Nation:
    """Everything the writers and the truth need."""

    config: SynthConfig
    calendar: Calendar
    months: int
    persons: Persons
    employers: Employers
    history: History
    truth: Truth

    def record_counts(self) -> dict[str, int]:
        """Records the agencies hold at the end of the period, per ``agency.table``."""
        return self.history.record_counts(self.months - 1)
