"""The simulation itself: the nation's state, month by month — labour-force moves,
jobs, identities as the agencies take them down — handing each month to the agencies'
writers (:mod:`~synth.simulation.nis`, :mod:`~synth.simulation.tvet`,
:mod:`~synth.simulation.jobboard`, :mod:`~synth.simulation.dol`).

Each month draws from its own random stream (``seed, 1, month``), so the first N
months are identical however many months are simulated.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta

import numpy as np

from synth import noise, reference
from synth.config import SynthConfig
from synth.employers import make_employers
from synth.history import Calendar, ColumnTable, History, Row, to_seconds
from synth.population import EMPLOYED, UNEMPLOYED, age_band, make_persons, steady_shares
from synth.simulation import dol, jobboard, nis, tvet
from synth.simulation.nis import CONTRIBUTION_COLUMNS
from synth.simulation.results import SPELL_COLUMNS, Nation, Truth
from synth.simulation.transitions import _TRANSITIONS, steady_transitions


def _days(day: date) -> int:
    return (day - date(1970, 1, 1)).days


class Month:
    """Per-month helpers bound to the month's random stream."""

    def __init__(self, sim: Simulation, m: int) -> None:
        self.sim, self.m = sim, m
        self.rng = np.random.default_rng([sim.config.seed, 1, m])
        # Draws for the record details added later, so the ones above stay as they were.
        self.extra = np.random.default_rng([sim.config.seed, 4, m])

    def at(self, offset: int = 0) -> tuple[int, datetime]:
        return self.m + offset, self.sim.cal.moment(self.rng, self.m + offset)

    def later(self, offset: int = 0) -> tuple[int, datetime]:
        """:meth:`at` from the details' stream."""
        return self.m + offset, self.sim.cal.moment(self.extra, self.m + offset)


class Simulation:
    """Runs the months and records what each agency writes."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        self.cal = Calendar(config.first_month)
        base = np.random.default_rng([config.seed, 0])
        self.persons = make_persons(config, base)
        self.employers = make_employers(config, base)
        self.hire_p = self.employers.hire_probabilities()
        self.transitions = steady_transitions(_TRANSITIONS, steady_shares())
        self.history = History()
        n = len(self.persons)
        self.status = self.persons.initial_status.copy()
        self.employer = np.full(n, -1, dtype=np.int32)
        self.formal = np.zeros(n, dtype=bool)
        self.spell = np.full(n, -1, dtype=np.int64)  # row in self.spells of the job held
        self.nis_no: list[str] = [""] * n
        self.nis_serial = np.full(n, -1, dtype=np.int64)  # nis_no as a number
        self.contribution_table = ColumnTable(CONTRIBUTION_COLUMNS)
        self.history.columnar[("nis", "contributions")] = self.contribution_table
        self.trainee: list[str] = [""] * n
        self.jobseeker: list[str] = [""] * n
        self.registered = np.zeros(n, dtype=bool)  # has a job-board registration
        self.tvet_until = np.full(n, -1, dtype=np.int32)
        self.certified = np.full(n, -1, dtype=np.int32)
        self.counters: dict[str, int] = {}
        self.spells = ColumnTable(SPELL_COLUMNS)
        self.isco_codes = [c for c, _ in reference.isco_unit_groups()]
        self.sections = [s for s, _, _ in reference.isic_classes()]
        self.isic_codes = [c for _, c, _ in reference.isic_classes()]
        self.headcount = np.zeros(len(self.employers), dtype=np.int64)
        self.idle = np.zeros(len(self.employers), dtype=np.int32)  # months without insured
        self.employer_rows: dict[int, Row] = {}
        self.dormant = np.zeros(len(self.employers), dtype=bool)

    # -- identifiers -------------------------------------------------------------
    def next_id(self, kind: str, prefix: str, width: int = 7) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{prefix}{self.counters[kind]:0{width}d}"

    def row_uid(self, table: str, key: str) -> str:
        """The UUID a register's database gives a row: stable, and not the person's
        number (drawn from the nation's seed, so no random stream moves)."""
        digest = hashlib.blake2b(
            f"{table}\x1f{key}".encode(),
            key=str(self.config.seed).encode(),
            digest_size=16,
        ).digest()
        return str(uuid.UUID(bytes=digest, version=4))

    def identity(self, mo: Month, agency: str, p: int) -> noise.Identity:
        rates = getattr(self.config.noise, agency)
        dob = self.persons.dob[p].astype(object)
        return noise.identity(
            mo.rng,
            rates,
            national_id=str(self.persons.national_id[p]),
            given_name=str(self.persons.given_name[p]),
            family_name=str(self.persons.family_name[p]),
            date_of_birth=dob,
        )

    def person_rows(
        self,
        mo: Month,
        agency: str,
        table: str,
        p: int,
        build: Callable[[str], dict[str, object]],
        *,
        dated: str | None = None,
    ) -> list[Row]:
        """The person's registration (and a duplicate one, at the agency's rate); with
        ``dated``, that column holds the day the record was made."""
        rates = getattr(self.config.noise, agency)
        copies = 2 if mo.rng.random() < rates.duplicate else 1
        rows = []
        for copy in range(copies):
            ident = self.identity(mo, agency, p)
            month, when = mo.at()
            values = build(str(copy)) | ident.as_values()
            if dated is not None:
                values[dated] = when.date().isoformat()
            applied = [*ident.applied, "duplicate"] if copy else ident.applied
            row = Row(str(values["key"]), month, when, values, person=p, noise=tuple(applied))
            if ident.correct_after:
                true = {
                    "national_id": str(self.persons.national_id[p]),
                    "given_name": str(self.persons.given_name[p]),
                    "family_name": str(self.persons.family_name[p]),
                    "date_of_birth": ident.date_of_birth.isoformat()
                    if noise.DOB_SWAP not in ident.applied
                    else self.persons.dob[p].astype(object).isoformat(),
                }
                cm, cat = mo.at(ident.correct_after)
                row.change(cm, cat, **true)
            rows.append(self.history.add(agency, table, row))
        return rows

    # -- jobs --------------------------------------------------------------------
    def start_job(self, mo: Month, p: int, e: int, start: date) -> None:
        formal = bool(self.employers.formal[e]) and mo.rng.random() < 0.93
        self.employer[p], self.formal[p] = e, formal
        self.next_id("spell", "S", 8)
        month, when = mo.at()
        self.spell[p] = self.spells.add(
            self.counters["spell"],
            month,
            to_seconds(when),
            p,
            e,
            person_id=p,
            employer_id=e,
            start_date=_days(start),
            end_date=-1,
            formal=formal,
            isco=int(self.persons.isco[p]),
        )
        if formal and not self.nis_no[p]:
            nis.register_nis(self, mo, p, start)

    def end_job(self, mo: Month, p: int) -> None:
        row = int(self.spell[p])
        if row >= 0:
            month, when = mo.at()
            end = _days(self.cal.day(mo.rng, mo.m))
            self.spells.change_one(row, month, to_seconds(when), "end_date", end)
        self.spell[p], self.employer[p], self.formal[p] = -1, -1, False

    # -- the period ---------------------------------------------------------------
    def start(self) -> None:
        """Month 0: jobs held and NIS registrations made before the period began."""
        mo = Month(self, 0)
        first = self.cal.month_start(0)
        employed = np.flatnonzero(self.status == EMPLOYED)
        chosen = mo.rng.choice(len(self.employers), size=employed.size, p=self.hire_p)
        for p, e in zip(employed.tolist(), chosen.tolist(), strict=True):
            self.start_job(mo, p, e, first - timedelta(days=int(mo.rng.integers(30, 3650))))
        others = np.flatnonzero((self.status != EMPLOYED) & (mo.rng.random(self.status.size) < 0.5))
        for p in others.tolist():
            if not self.nis_no[p]:
                nis.register_nis(
                    self, mo, p, first - timedelta(days=int(mo.rng.integers(400, 9000)))
                )
        nis.register_employers(self, mo)

    def month(self, m: int, truth: Truth) -> None:
        mo = Month(self, m)
        rng = mo.rng
        n = self.status.size
        before = self.status.copy()
        age = self.persons.age_at(self.cal.month_start(m))
        p_move = self.transitions[age_band(age), self.persons.sex - 1, before]
        boost = np.ones(n)
        boost[(self.certified >= 0) & (self.certified <= m) & (m - self.certified <= 6)] = 2.0
        boost[self.registered] *= 1.3
        # Graduates and registered jobseekers find work faster than others, but the
        # boosts share out the month's expected job finds rather than add to them, so
        # the statuses keep their steady state as more people register and graduate.
        looking = before != EMPLOYED
        boost /= (p_move[looking, 0] * boost[looking]).sum() / max(p_move[looking, 0].sum(), 1e-9)
        p_e = np.where(looking, np.minimum(p_move[:, 0] * boost, 0.6), p_move[:, 0])
        rest = (1 - p_e) / np.maximum(1 - p_move[:, 0], 1e-9)
        p_move[:, 1:] *= rest[:, None]
        p_move[:, 0] = p_e
        after = (rng.random(n)[:, None] > p_move.cumsum(axis=1)).sum(axis=1).clip(0, 3)
        after = after.astype(np.int8)
        movers = (before == EMPLOYED) & (after == EMPLOYED) & (rng.random(n) < 0.008)
        leaving = np.flatnonzero(((before == EMPLOYED) & (after != EMPLOYED)) | movers)
        joining = np.flatnonzero(((before != EMPLOYED) & (after == EMPLOYED)) | movers)
        lost_formal = [p for p in leaving.tolist() if self.formal[p] and after[p] == UNEMPLOYED]
        for p in leaving.tolist():
            self.end_job(mo, p)
        chosen = rng.choice(len(self.employers), size=joining.size, p=self.hire_p)
        for p, e in zip(joining.tolist(), chosen.tolist(), strict=True):
            self.start_job(mo, p, e, self.cal.day(rng, m))
        self.status = after
        truth.status[m] = after
        working = self.employer[self.employer >= 0]
        self.headcount = np.bincount(working, minlength=len(self.employers))
        if m % 3 == 1:
            truth.employer_at[m] = self.employer.copy()
            truth.formal_at[m] = self.formal.copy()

        nis.contributions(self, mo, truth)
        nis.employer_status(self, mo)
        nis.benefit_claims(self, mo, lost_formal)
        tvet.training(self, mo, age)
        jobboard.job_search(self, mo, joining)
        dol.labour_cases(self, mo)

    def run(self, months: int, *, on_month: Callable[[int], None] | None = None) -> Nation:
        n = self.status.size
        truth = Truth(
            status=np.zeros((months, n), dtype=np.int8),
            insured=np.zeros((months, n), dtype=bool),
            certified_month=self.certified,
        )
        self.start()
        for m in range(months):
            self.month(m, truth)
            self.spells.flush()
            if on_month is not None:
                on_month(m)
        self.spells.flush()
        truth.spells = self.spells
        truth.headcount = self.headcount
        return Nation(
            self.config, self.cal, months, self.persons, self.employers, self.history, truth
        )


def simulate(
    config: SynthConfig, months: int, *, on_month: Callable[[int], None] | None = None
) -> Nation:
    """Run the nation for ``months`` months from the configured start."""
    return Simulation(config).run(months, on_month=on_month)


__all__ = ["Month", "Simulation", "simulate"]
