"""Month-by-month life of the nation: labour-force moves, jobs, training, job search,
labour cases — and the records each agency writes about them.

Each month draws from its own random stream (``seed, 1, month``), so the first N
months are identical however many months are simulated.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from synth import noise, reference
from synth.config import SynthConfig
from synth.employers import SIZE_EDGES, Employers, make_employers
from synth.ledger import Calendar, ColumnTable, Ledger, Row, to_seconds
from synth.population import (
    EMPLOYED,
    MEDIAN_EARNINGS,
    OUTSIDE,
    POTENTIAL,
    UNEMPLOYED,
    Persons,
    age_band,
    make_persons,
    steady_shares,
)

# Monthly transition probabilities between E, U, P, O before they are fitted to each
# group's steady state (see :func:`steady_transitions`).
_TRANSITIONS = np.array(
    [
        [0.976, 0.012, 0.003, 0.009],
        [0.140, 0.770, 0.045, 0.045],
        [0.050, 0.090, 0.800, 0.060],
        [0.010, 0.008, 0.007, 0.975],
    ]
)
#: TVET programmes: code, title, qualification, level, months, target ISCO unit group.
PROGRAMMES: tuple[tuple[str, str, str, int, int, str], ...] = (
    ("ELC2", "Electrical Installation", "CVQ", 2, 12, "7411"),
    ("PLM2", "Plumbing", "CVQ", 2, 10, "7126"),
    ("WLD2", "Welding and Fabrication", "NVQ", 2, 9, "7212"),
    ("CUL2", "Food Preparation", "CVQ", 2, 8, "5120"),
    ("HSP1", "Hospitality Services", "CVQ", 1, 6, "5131"),
    ("ICT3", "IT Support", "NVQ", 3, 12, "3512"),
    ("AUT2", "Motor Vehicle Repair", "CVQ", 2, 12, "7231"),
    ("CRP1", "Carpentry", "CVQ", 1, 6, "7115"),
    ("ADM2", "Office Administration", "CVQ", 2, 8, "4110"),
    ("CAR3", "Early Childhood Care", "CVQ", 3, 12, "5311"),
    ("BEA2", "Cosmetology", "CVQ", 2, 10, "5142"),
    ("AGR1", "Crop Production", "CVQ", 1, 6, "6111"),
)
_COMPLAINTS = ("unpaid wages", "wrongful dismissal", "vacation leave", "severance", "overtime")
_DISPUTES = ("wages and conditions", "dismissal of a member", "recognition", "retrenchment")
_UNIONS = ("OWTU", "BIGWU", "NUGFW", "CWU", "SWWTU", "ATGWTU")
_SEVERITY = ("minor", "lost-time", "serious", "fatal")
#: Work days lost by severity: [low, high) of a uniform draw (none for a fatal accident).
_DAYS_LOST = {"minor": (0, 4), "lost-time": (4, 31), "serious": (30, 181)}
#: Trade disputes per employer and month by current size band (see SIZE_BANDS):
#: unions organise the larger workplaces, so the few large employers carry most.
DISPUTE_RATE = np.array([0.0005, 0.003, 0.012, 0.04])
#: NIS benefits: kind -> (claim number prefix, share of earnings paid weekly, months
#: until an approved claim closes [low, high)).
_BENEFITS = {
    "unemployment": ("UB", 0.6, (3, 7)),
    "sickness": ("SB", 0.6, (1, 3)),
    "maternity": ("MB", 0.6, (3, 5)),
    "employment injury": ("EI", 0.75, (1, 5)),
}
_SICKNESS_RATE, _MATERNITY_RATE, _INJURY_CLAIMED = 0.004, 0.002, 0.85
#: A formal employer with no insured worker for this many months turns dormant.
_DORMANT_AFTER = 3
_CONTRACTS = ("permanent", "fixed-term", "casual", "apprenticeship")
_CONTRACT_CUM = np.cumsum([0.55, 0.3, 0.1])  # the rest apprenticeships
#: Minimum education (ISCED level) employers ask for, by ISCO major group (index).
_MIN_EDUCATION = ("3", "6", "6", "5", "3", "2", "2", "3", "3", "1")
_HAZARDOUS = frozenset("ABCF")
#: Value columns of the NIS contributions (see :func:`synth.records.contributions`).
SPELL_COLUMNS = ("person_id", "employer_id", "start_date", "end_date", "formal", "isco")
CONTRIBUTION_COLUMNS = ("nis_number", "employer", "period", "insurable_earnings", "weeks")


def steady_transitions(
    base: npt.NDArray[np.float64], shares: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Monthly transition matrices, one per row of ``shares`` (any leading shape), each
    as close to ``base`` as detailed balance allows with that row as its steady state.

    Metropolis-Hastings with ``base`` as the proposal: the flow i -> j is
    ``min(pi_i T_ij, pi_j T_ji)`` both ways, so drawing the starting statuses from the
    shares and moving people month by month keeps the shares (no drift of the
    unemployment rate over the period other than from training, job search and ageing).
    """
    pi = shares[..., :, None]
    flow = np.minimum(pi * base, np.swapaxes(pi * base, -1, -2))
    out = np.where(pi > 0, flow / np.where(pi > 0, pi, 1), 0.0)
    diagonal = np.arange(base.shape[0])
    out[..., diagonal, diagonal] = 0.0
    out[..., diagonal, diagonal] = 1.0 - out.sum(axis=-1)
    return out


def _days(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day where it is shorter)."""
    y, m = divmod(day.month - 1 + months, 12)
    first = date(day.year + y, m + 1, 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return first.replace(day=min(day.day, last.day))


def _iso(days: int) -> str:
    """Days from 1970-01-01 as an ISO date."""
    return (date(1970, 1, 1) + timedelta(days=days)).isoformat()


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
    ledger: Ledger
    truth: Truth

    def record_counts(self) -> dict[str, int]:
        """Records the agencies hold at the end of the period, per ``agency.table``."""
        return self.ledger.record_counts(self.months - 1)


class _Month:
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
        self.ledger = Ledger()
        n = len(self.persons)
        self.status = self.persons.initial_status.copy()
        self.employer = np.full(n, -1, dtype=np.int32)
        self.formal = np.zeros(n, dtype=bool)
        self.spell = np.full(n, -1, dtype=np.int64)  # row in self.spells of the job held
        self.nis_no: list[str] = [""] * n
        self.nis_serial = np.full(n, -1, dtype=np.int64)  # nis_no as a number
        self.contribution_table = ColumnTable(CONTRIBUTION_COLUMNS)
        self.ledger.columnar[("nis", "contributions")] = self.contribution_table
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

    def identity(self, mo: _Month, agency: str, p: int) -> noise.Identity:
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
        mo: _Month,
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
            rows.append(self.ledger.add(agency, table, row))
        return rows

    # -- jobs --------------------------------------------------------------------
    def start_job(self, mo: _Month, p: int, e: int, start: date) -> None:
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
            self.register_nis(mo, p, start)

    def end_job(self, mo: _Month, p: int) -> None:
        row = int(self.spell[p])
        if row >= 0:
            month, when = mo.at()
            end = _days(self.cal.day(mo.rng, mo.m))
            self.spells.change_one(row, month, to_seconds(when), "end_date", end)
        self.spell[p], self.employer[p], self.formal[p] = -1, -1, False

    def register_nis(self, mo: _Month, p: int, registered: date) -> None:
        number = self.next_id("nis", "", 9)
        self.nis_no[p] = number
        self.nis_serial[p] = self.counters["nis"]

        def build(copy: str) -> dict[str, object]:
            key = number if copy == "0" else self.next_id("nis", "", 9)
            return {
                "key": key,
                "row_uid": self.row_uid("insured_persons", key),
                "nis_number": key,
                "sex": int(self.persons.sex[p]),
                "region": self.config.regions[int(self.persons.region[p])].code,
                "registered_on": registered.isoformat(),
            }

        self.person_rows(mo, "nis", "insured_persons", p, build)

    # -- the period ---------------------------------------------------------------
    def start(self) -> None:
        """Month 0: jobs held and NIS registrations made before the period began."""
        mo = _Month(self, 0)
        first = self.cal.month_start(0)
        employed = np.flatnonzero(self.status == EMPLOYED)
        chosen = mo.rng.choice(len(self.employers), size=employed.size, p=self.hire_p)
        for p, e in zip(employed.tolist(), chosen.tolist(), strict=True):
            self.start_job(mo, p, e, first - timedelta(days=int(mo.rng.integers(30, 3650))))
        others = np.flatnonzero((self.status != EMPLOYED) & (mo.rng.random(self.status.size) < 0.5))
        for p in others.tolist():
            if not self.nis_no[p]:
                self.register_nis(mo, p, first - timedelta(days=int(mo.rng.integers(400, 9000))))
        for e in range(len(self.employers)):
            if self.employers.formal[e]:
                month, when = mo.at()
                values: dict[str, object] = {
                    "key": str(self.employers.nis_employer_no[e]),
                    "employer_number": str(self.employers.nis_employer_no[e]),
                    "business_reg_no": str(self.employers.business_reg_no[e]),
                    "name": str(self.employers.name[e]),
                    "isic": self.isic_codes[int(self.employers.isic[e])],
                    "region": self.config.regions[int(self.employers.region[e])].code,
                    "registered_on": _iso(int(self.employers.nis_registered_on[e])),
                    "status": "active",
                }
                self.employer_rows[e] = self.ledger.add(
                    "nis", "employers", Row(str(values["key"]), month, when, values, employer=e)
                )

    def month(self, m: int, truth: Truth) -> None:
        mo = _Month(self, m)
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

        self.contributions(mo, truth)
        self.employer_status(mo)
        self.benefit_claims(mo, lost_formal)
        self.tvet(mo, age)
        self.jobboard(mo, joining)
        self.dol(mo)

    def contributions(self, mo: _Month, truth: Truth) -> None:
        """The month's NIS contributions, column-wise: one per insured job, 1 % of them
        corrected (earnings + 250) one or two months later."""
        m = mo.m
        insured = np.flatnonzero(self.formal)
        truth.insured[m, insured] = True
        n = insured.size
        growth = 1 + 0.002 * m
        earnings = np.minimum(
            np.round(self.persons.earnings[insured] * growth * mo.rng.normal(1, 0.03, n)), 25_000
        )
        late = np.flatnonzero(mo.rng.random(n) < 0.01)
        first = self.counters.get("contribution", 0) + 1
        self.counters["contribution"] = first + n - 1
        at = self.cal.moments(mo.rng, np.full(n, m, dtype=np.int64))
        rows = self.contribution_table.append(
            key=np.arange(first, first + n, dtype=np.int64),
            month=m,
            at=at,
            person=insured.astype(np.int32),
            values={
                "nis_number": self.nis_serial[insured],
                "employer": self.employer[insured].copy(),
                "period": np.full(n, m, dtype=np.int16),
                "insurable_earnings": earnings,
                "weeks": np.full(n, self.cal.mondays(m), dtype=np.int16),
            },
        )
        later = m + mo.rng.integers(1, 3, size=late.size)
        self.contribution_table.change(
            rows[late],
            month=later,
            at=self.cal.moments(mo.rng, later),
            column="insurable_earnings",
            values=earnings[late] + 250.0,
        )

    def employer_status(self, mo: _Month) -> None:
        """An NIS employer with no insured worker for a few months is marked dormant, and
        active again when it contributes again."""
        insured = np.bincount(self.employer[self.formal], minlength=len(self.employers))
        self.idle = np.where(insured > 0, 0, self.idle + 1).astype(np.int32)
        registered = self.employers.formal
        asleep = registered & ~self.dormant & (self.idle >= _DORMANT_AFTER)
        awake = self.dormant & (self.idle == 0)
        for e in np.flatnonzero(asleep | awake).tolist():
            self.dormant[e] = not self.dormant[e]
            status = "dormant" if self.dormant[e] else "active"
            self.employer_rows[e].change(*mo.later(), status=status)

    def benefit_claims(self, mo: _Month, lost: list[int]) -> None:
        """Unemployment claims of those who lost an insured job, and sickness and
        maternity claims of insured workers (employment injury: see :meth:`dol`)."""
        for p in lost:
            if mo.rng.random() >= 0.35:
                continue
            self.claim(mo, p, "unemployment", mo.rng)
        insured = np.flatnonzero(self.formal)
        for p in insured[mo.extra.random(insured.size) < _SICKNESS_RATE].tolist():
            self.claim(mo, p, "sickness", mo.extra)
        age = self.persons.age_at(self.cal.month_start(mo.m))[insured]
        mothers = (self.persons.sex[insured] == 2) & (age >= 18) & (age <= 45)
        chance = np.where(mothers, _MATERNITY_RATE, 0.0)
        for p in insured[mo.extra.random(insured.size) < chance].tolist():
            self.claim(mo, p, "maternity", mo.extra)

    def claim(self, mo: _Month, p: int, kind: str, rng: np.random.Generator) -> None:
        """One benefit claim: pending, decided the next month, closed months later."""
        prefix, share, (low, high) = _BENEFITS[kind]
        key = self.next_id("claim", prefix, 7)
        month, when = mo.m, self.cal.moment(rng, mo.m)
        values: dict[str, object] = {
            "key": key,
            "claim_no": key,
            "nis_number": self.nis_no[p],
            "benefit_type": kind,
            "claim_date": when.date().isoformat(),
            "status": "pending",
            "decided_on": None,
            "weekly_amount": float(round(self.persons.earnings[p] * share / 4.33, 2)),
        }
        row = self.ledger.add("nis", "benefit_claims", Row(key, month, when, values, person=p))
        decided = "approved" if rng.random() < 0.8 else "rejected"
        dm, dat = mo.m + 1, self.cal.moment(rng, mo.m + 1)
        row.change(dm, dat, status=decided, decided_on=dat.date().isoformat())
        if decided == "approved":
            cm = mo.m + int(rng.integers(low, high))
            row.change(cm, self.cal.moment(rng, cm), status="closed")

    def tvet(self, mo: _Month, age: npt.NDArray[np.int64]) -> None:
        m, rng = mo.m, mo.rng
        rate = np.where(self.status == EMPLOYED, 0.001, 0.004)
        eligible = (age >= 16) & (age <= 45) & (self.tvet_until < m) & (rng.random(age.size) < rate)
        for p in np.flatnonzero(eligible).tolist():
            if not self.trainee[p]:
                tid = self.next_id("trainee", "T", 7)
                self.trainee[p] = tid

                def build(copy: str, tid: str = tid, p: int = p) -> dict[str, object]:
                    key = tid if copy == "0" else self.next_id("trainee", "T", 7)
                    region = self.config.regions[int(self.persons.region[p])].code
                    return {
                        "key": key,
                        "trainee_id": key,
                        "sex": int(self.persons.sex[p]),
                        "region": region,
                        "education": int(self.persons.isced[p]),
                    }

                self.person_rows(mo, "tvet", "trainees", p, build, dated="registered_on")
            code, title, qual, level, months, _ = PROGRAMMES[int(rng.integers(0, len(PROGRAMMES)))]
            key = self.next_id("enrolment", "EN", 7)
            start = self.cal.day(rng, m)
            month, when = mo.at()
            values: dict[str, object] = {
                "key": key,
                "enrolment_no": key,
                "trainee_id": self.trainee[p],
                "programme_code": code,
                "programme": title,
                "qualification": qual,
                "level": level,
                "start_date": start.isoformat(),
                "expected_end_date": _add_months(start, months).isoformat(),
                "status": "enrolled",
            }
            row = self.ledger.add("tvet", "enrolments", Row(key, month, when, values, person=p))
            self.tvet_until[p] = m + months
            if rng.random() < 0.78:
                end = m + months
                row.change(*mo.at(months), status="completed")
                cert = self.next_id("cert", f"{qual}-", 7)
                cm, cat = mo.at(months)
                awarded = self.cal.day(rng, end)
                cvals: dict[str, object] = {
                    "key": cert,
                    "certificate_no": cert,
                    "trainee_id": self.trainee[p],
                    "enrolment_no": key,
                    "qualification": qual,
                    "level": level,
                    "programme_code": code,
                    "awarded_on": awarded.isoformat(),
                }
                self.ledger.add("tvet", "certifications", Row(cert, cm, cat, cvals, person=p))
                self.certified[p] = end
            else:
                row.change(*mo.at(int(rng.integers(1, months))), status="withdrawn")

    def jobboard(self, mo: _Month, joining: npt.NDArray[np.intp]) -> None:
        rng = mo.rng
        looking = (self.status == UNEMPLOYED) | (self.status == POTENTIAL)
        rate = np.where(looking, 0.06, np.where(self.status == EMPLOYED, 0.002, 0.0005))
        new = np.flatnonzero(rng.random(rate.size) < rate)
        titles = reference.job_titles()
        for p in new.tolist():
            if self.jobseeker[p]:
                continue
            jid = self.next_id("jobseeker", "J", 7)
            self.jobseeker[p] = jid
            self.registered[p] = True
            isco = self.isco_codes[int(self.persons.isco[p])]
            wanted = titles.get(isco, ("any work",))

            def build(
                copy: str, jid: str = jid, p: int = p, wanted: tuple[str, ...] = wanted
            ) -> dict[str, object]:
                key = jid if copy == "0" else self.next_id("jobseeker", "J", 7)
                region = self.config.regions[int(self.persons.region[p])].code
                return {
                    "key": key,
                    "row_uid": self.row_uid("jobseekers", key),
                    "jobseeker_id": key,
                    "sex": int(self.persons.sex[p]),
                    "region": region,
                    "education": str(self.persons.isced[p]),
                    "desired_job": wanted[int(rng.integers(0, len(wanted)))],
                }

            self.person_rows(mo, "jobboard", "jobseekers", p, build, dated="registered_on")
        # Vacancies employers post, and the placements the board makes.
        for _ in range(int(rng.poisson(self.status.size * 0.003))):
            e = int(rng.choice(len(self.employers), p=self.hire_p))
            isco = self.isco_codes[int(self.persons.isco[int(rng.integers(0, self.status.size))])]
            row = self.vacancy(mo, e, isco)
            row.change(
                *mo.at(int(rng.integers(1, 4))), status=str(rng.choice(["filled", "closed"]))
            )
        for p in joining.tolist():
            if not self.jobseeker[p] or rng.random() >= 0.3:
                continue
            e = int(self.employer[p])
            vacancy = self.vacancy(mo, e, self.isco_codes[int(self.persons.isco[p])])
            vacancy.change(*mo.at(), status="filled")
            key = self.next_id("placement", "P", 7)
            month, when = mo.at()
            values: dict[str, object] = {
                "key": key,
                "placement_id": key,
                "jobseeker_id": self.jobseeker[p],
                "vacancy_id": vacancy.key,
                "employer_name": str(self.employers.name[e]),
                "start_date": when.date().isoformat(),
                "monthly_wage": f"{self.persons.earnings[p] * (1 + 0.002 * mo.m):.0f}",
            }
            self.ledger.add(
                "jobboard", "placements", Row(key, month, when, values, person=p, employer=e)
            )

    def vacancy(self, mo: _Month, e: int, isco: str) -> Row:
        titles = reference.job_titles().get(isco, ("worker",))
        key = self.next_id("vacancy", "V", 7)
        month, when = mo.at()
        x = mo.extra
        major = int(isco[0])
        big = int(self.employers.size_band[e]) >= 2
        u = x.random(4).tolist()  # one draw for the details below, cheaper than four
        median = MEDIAN_EARNINGS[major] * (1 + 0.002 * mo.m) * np.exp(0.15 * x.standard_normal())
        wages = u[0] < 0.45  # fewer than half of the adverts state the pay
        values: dict[str, object] = {
            "key": key,
            "vacancy_id": key,
            "employer_name": str(self.employers.name[e]),
            "title": titles[int(mo.rng.integers(0, len(titles)))],
            "isco_code": isco if mo.rng.random() < 0.35 else None,
            "isic": self.isic_codes[int(self.employers.isic[e])],
            "region": self.config.regions[int(self.employers.region[e])].code,
            "positions": str(1 + (int(x.poisson(1.5)) if big else int(u[1] < 0.1))),
            "contract_type": _CONTRACTS[int(np.searchsorted(_CONTRACT_CUM, u[2], side="right"))],
            "min_education": _MIN_EDUCATION[major] if u[3] < 0.7 else None,
            "wage_min": f"{median * 0.85:.0f}" if wages else None,
            "wage_max": f"{median * 1.2:.0f}" if wages else None,
            "posted_on": when.date().isoformat(),
            "closing_on": (when.date() + timedelta(days=int(x.integers(14, 43)))).isoformat(),
            "status": "open",
        }
        return self.ledger.add("jobboard", "vacancies", Row(key, month, when, values, employer=e))

    def dol(self, mo: _Month) -> None:
        rng, x = mo.rng, mo.extra
        employed = np.flatnonzero(self.status == EMPLOYED)
        sections = np.array([self.sections[int(i)] for i in self.employers.isic])
        for p in employed[rng.random(employed.size) < 0.0008].tolist():
            e = int(self.employer[p])
            self.case(
                mo,
                "complaints",
                "CP",
                p,
                e,
                category=str(rng.choice(_COMPLAINTS)),
                steps=(
                    "received",
                    "under investigation",
                    str(rng.choice(["resolved", "referred to tribunal"])),
                ),
            )
        hazardous = np.isin(sections[self.employer[employed]], list(_HAZARDOUS))
        risk = np.where(hazardous, 0.0012, 0.0003)
        for p in employed[rng.random(employed.size) < risk].tolist():
            e = int(self.employer[p])
            severity = str(rng.choice(_SEVERITY, p=[0.6, 0.3, 0.09, 0.01]))
            low_high = _DAYS_LOST.get(severity)
            self.case(
                mo,
                "osh_accidents",
                "OSH",
                p,
                e,
                severity=severity,
                days_lost=int(x.integers(*low_high)) if low_high else None,
                sex=int(self.persons.sex[p]),
                isco=self.isco_codes[int(self.persons.isco[p])],
                steps=("reported", "investigated", "closed"),
            )
            if severity in ("serious", "fatal"):  # the inspectorate visits the workplace
                self.inspection(mo, e, "accident")
            injured = severity in ("lost-time", "serious") and self.formal[p]
            if injured and x.random() < _INJURY_CLAIMED:
                self.claim(mo, p, "employment injury", x)
        band = np.searchsorted(SIZE_EDGES, self.headcount, side="right")
        for e in np.flatnonzero(rng.random(band.size) < DISPUTE_RATE[band]).tolist():
            size = int(self.headcount[e])
            self.case(
                mo,
                "disputes",
                "TD",
                -1,
                e,
                union=str(rng.choice(_UNIONS)),
                issue=str(rng.choice(_DISPUTES)),
                workers_involved=max(1, int(x.binomial(size, x.uniform(0.2, 1.0)))),
                steps=(
                    "reported",
                    "conciliation",
                    str(rng.choice(["settled", "referred to Industrial Court"])),
                ),
            )
        for e in np.flatnonzero(rng.random(band.size) < 0.01).tolist():
            self.inspection(mo, e, str(rng.choice(["routine", "complaint-led", "OSH"])))

    def inspection(self, mo: _Month, e: int, kind: str) -> None:
        rng = mo.rng
        self.case(
            mo,
            "inspections",
            "IN",
            -1,
            e,
            kind=kind,
            workers_covered=int(self.headcount[e]),
            steps=("scheduled", "inspected", str(rng.choice(["compliant", "notice issued"]))),
        )

    def case(
        self,
        mo: _Month,
        table: str,
        prefix: str,
        p: int,
        e: int,
        *,
        steps: tuple[str, ...],
        **fields: object,
    ) -> None:
        key = self.next_id(table, prefix, 6)
        month, when = mo.at()
        values: dict[str, object] = {
            "key": key,
            "case_no": key,
            "employer_brn": str(self.employers.business_reg_no[e]),
            "employer_name": str(self.employers.name[e]),
            "workplace_region": self.config.regions[int(self.employers.region[e])].code,
            "isic": self.isic_codes[int(self.employers.isic[e])],
            "opened_on": when.date().isoformat(),
            "status": steps[0],
            **fields,
        }
        if p >= 0:
            ident = self.identity(mo, "dol", p)
            values |= ident.as_values()
        row = self.ledger.add("dol", table, Row(key, month, when, values, person=p, employer=e))
        offset = 0
        for step in steps[1:]:
            offset += int(mo.rng.integers(1, 3))
            row.change(*mo.at(offset), status=step)

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
            self.config, self.cal, months, self.persons, self.employers, self.ledger, truth
        )


def simulate(
    config: SynthConfig, months: int, *, on_month: Callable[[int], None] | None = None
) -> Nation:
    """Run the nation for ``months`` months from the configured start."""
    return Simulation(config).run(months, on_month=on_month)


__all__ = ["OUTSIDE", "Nation", "Simulation", "Truth", "simulate"]
