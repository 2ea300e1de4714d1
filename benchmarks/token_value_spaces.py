"""What each token kind gives away over a synthetic nation (issue 11, item 8).

For every token kind the connectors emit, and for the kinds retired because their value
space is small, over the persons of a synthetic nation (`synth.population`):

* distinct values;
* the largest group of persons sharing one value;
* the known-plaintext attack of the issue: an attacker who knows ``known`` random
  persons' identifiers learns their tokens, and so every other person who has the same
  token — the share of the nation whose value is revealed that way;
* the share of the nation whose full date of birth is revealed: retired design, year,
  month and day tokens all revealed; this design, the dob token or two of the three
  family-phonetic date composites (two cover every date part) revealed.

    .venv/bin/python -m benchmarks.token_value_spaces [--persons 20000] [--known 40] [--seed 1]

Retired kinds are measured on their normalised values as the retired tokeniser made
them (year, two-digit month and day, sex code, region code): distinct values and groups
are the same as for their tokens.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from connectors.sdk.linkkey import LinkKey
from connectors.sdk.tokenise import TOKEN_FIELDS, Tokeniser, TokenRules
from lmis_hub.tokens import ARRAY_TOKEN_KINDS, RETIRED_TOKEN_KINDS, TOKEN_KINDS
from synth.config import SynthConfig
from synth.population import make_persons

COMPOSITES = (
    "family_phonetic_year_month",
    "family_phonetic_month_day",
    "family_phonetic_year_day",
)


@dataclass(frozen=True)
class KindReport:
    """One token kind over the nation."""

    kind: str
    retired: bool
    persons_with_value: int
    distinct: int
    largest_group: int
    revealed_share: float  # of the persons with a value


@dataclass(frozen=True)
class NationReport:
    persons: int
    known: int
    kinds: list[KindReport]
    dob_revealed_retired: float
    dob_revealed: float
    seconds: float


def nation_identifiers(persons: int, seed: int) -> list[dict[str, Any]]:
    """Each person's raw identifiers (national ID, names, date of birth), sex and region."""
    config = SynthConfig(persons=persons, seed=seed)
    people = make_persons(config, np.random.default_rng([config.seed, 0]))
    regions = [r.code for r in config.regions]
    dobs: list[date] = people.dob.astype("datetime64[D]").tolist()
    return [
        {
            "national_id": str(people.national_id[i]),
            "given_name": str(people.given_name[i]),
            "family_name": str(people.family_name[i]),
            "dob": dobs[i],
            "sex": str(int(people.sex[i])),
            "region": regions[int(people.region[i])],
        }
        for i in range(persons)
    ]


def _retired_value(kind: str, person: dict[str, Any]) -> str:
    born: date = person["dob"]
    values: dict[str, str] = {
        "birth_year": f"{born.year:04d}",
        "birth_month": f"{born.month:02d}",
        "birth_day": f"{born.day:02d}",
        "sex": person["sex"],
        "region": person["region"],
    }
    return values[kind]


def _report(
    kind: str, values: Sequence[Hashable | frozenset[bytes] | None], known: Sequence[int]
) -> tuple[KindReport, list[bool]]:
    """The figures of one kind and, per person, whether the attack reveals the value."""
    is_array = kind in ARRAY_TOKEN_KINDS
    present = [v for v in values if v is not None]
    counts: Counter[Hashable] = Counter()
    for v in present:
        counts.update(v if is_array else [v])  # type: ignore[arg-type]
    learnt: set[Hashable] = set()
    for i in known:
        v = values[i]
        if v is not None:
            learnt.update(v if is_array else [v])  # type: ignore[arg-type]
    revealed = [
        v is not None and (bool(learnt & v) if is_array else v in learnt)  # type: ignore[operator]
        for v in values
    ]
    return (
        KindReport(
            kind=kind,
            retired=kind in RETIRED_TOKEN_KINDS,
            persons_with_value=len(present),
            distinct=len(counts),
            largest_group=max(counts.values(), default=0),
            revealed_share=sum(revealed) / len(present) if present else 0.0,
        ),
        revealed,
    )


def measure(*, persons: int = 20_000, known: int = 40, seed: int = 1) -> NationReport:
    """Tokenise a nation of ``persons`` with a random K_link and measure every kind."""
    started = time.perf_counter()
    people = nation_identifiers(persons, seed)
    rng = np.random.default_rng(seed)
    tokeniser = Tokeniser(
        LinkKey(rng.bytes(32), key_id=1),
        rules=TokenRules(national_id_lengths=frozenset({11})),
    )
    raw = ("national_id", "given_name", "family_name", "dob")
    tokens = [tokeniser.tokens({k: p[k] for k in raw}) for p in people]
    chosen = [int(i) for i in rng.choice(persons, size=known, replace=False)]
    kinds: list[KindReport] = []
    revealed: dict[str, list[bool]] = {}
    for kind in (*TOKEN_KINDS, *RETIRED_TOKEN_KINDS):
        values: list[Hashable | frozenset[bytes] | None]
        if kind in RETIRED_TOKEN_KINDS:
            values = [_retired_value(kind, p) for p in people]
        else:
            field = TOKEN_FIELDS[kind]
            values = []
            for t in tokens:
                value = t.get(field)
                values.append(frozenset(value) if isinstance(value, list) else value)
        report, revealed[kind] = _report(kind, values, chosen)
        kinds.append(report)
    old = [
        revealed["birth_year"][i] and revealed["birth_month"][i] and revealed["birth_day"][i]
        for i in range(persons)
    ]
    new = [
        revealed["dob"][i] or sum(revealed[c][i] for c in COMPOSITES) >= 2 for i in range(persons)
    ]
    return NationReport(
        persons=persons,
        known=known,
        kinds=kinds,
        dob_revealed_retired=sum(old) / persons,
        dob_revealed=sum(new) / persons,
        seconds=time.perf_counter() - started,
    )


def table(report: NationReport) -> str:
    """The report as a Markdown table."""
    lines = [
        f"{report.persons:,} persons; the attacker knows {report.known} persons' identifiers",
        "",
        "| token kind | persons with it | distinct values | largest group | revealed |",
        "|---|---|---|---|---|",
    ]
    for k in report.kinds:
        name = f"{k.kind} (retired)" if k.retired else k.kind
        lines.append(
            f"| {name} | {k.persons_with_value:,} | {k.distinct:,} | {k.largest_group:,} "
            f"| {k.revealed_share:.1%} |"
        )
    lines += [
        "",
        f"full date of birth revealed: retired design (year, month and day tokens) "
        f"{report.dob_revealed_retired:.1%}; this design (dob token or two family-phonetic "
        f"date composites) {report.dob_revealed:.2%}",
        f"({report.seconds:.1f} s)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--known", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(table(measure(persons=args.persons, known=args.known, seed=args.seed)))


if __name__ == "__main__":
    main()
