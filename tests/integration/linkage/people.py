"""Small tokenised populations for linkage tests: people with names from the synthetic
nation's pools, recorded by two or three agencies with noise, tokenised by the
connectors' own tokeniser under a test linkage key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from connectors.sdk.linkkey import LinkKey
from connectors.sdk.tokenise import Tokeniser, TokenRules
from integration.linkage.features import Source
from lmis_hub.tokens import TOKEN_KINDS, token_field
from schemas.record_ids import opaque_record_id
from synth import reference

TOKEN_TYPE = pa.binary(32)


@dataclass(frozen=True)
class Person:
    index: int
    given: str
    family: str
    born: date
    national_id: str
    sex: str
    region: str


def people(count: int, *, seed: int = 1) -> list[Person]:
    rng = np.random.default_rng(seed)
    families = reference.names("family", "afro").names + reference.names("family", "indo").names
    out = []
    for i in range(count):
        sex = "1" if rng.random() < 0.5 else "2"
        given_pool = reference.names("male" if sex == "1" else "female", "afro").names
        out.append(
            Person(
                index=i,
                given=str(given_pool[rng.integers(len(given_pool))]),
                family=str(families[rng.integers(len(families))]),
                born=date(1960, 1, 1) + timedelta(days=int(rng.integers(0, 40 * 365))),
                national_id=f"{rng.integers(10**10, 10**11)}",
                sex=sex,
                region=f"TT-{['POS', 'SFO', 'ARI', 'CHA', 'TOB'][int(rng.integers(5))]}",
            )
        )
    return out


def _typo(name: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(1, len(name)))
    return name[:i] + name[i + 1 :] if len(name) > 3 else name + "E"


def recorded(
    persons: list[Person],
    *,
    agency: str,
    dataset: str,
    key: LinkKey,
    seed: int,
    missing_id: float = 0.2,
    typo: float = 0.05,
    nis_numbers: bool = False,
) -> tuple[pa.Table, list[int]]:
    """One agency's tokenised table of ``persons`` (every token column of the contract,
    null where absent) and the true person of each row."""
    rng = np.random.default_rng(seed)
    tokeniser = Tokeniser(key, rules=TokenRules(national_id_lengths=frozenset({11})))
    rows: dict[str, list[object]] = {"record_id": [], "sex": [], "region": [], "birth_year": []}
    for kind in TOKEN_KINDS:
        rows[token_field(kind)] = []
    truth = []
    for n, person in enumerate(persons):
        given, family = person.given, person.family
        if rng.random() < typo:
            family = _typo(family, rng)
        identifiers = {
            "given_name": given,
            "family_name": family,
            "dob": person.born.isoformat(),
            "national_id": None if rng.random() < missing_id else person.national_id,
            "nis_number": f"{person.index + 1:09d}" if nis_numbers else None,
        }
        tokens = tokeniser.tokens(identifiers)
        rows["record_id"].append(opaque_record_id(key.reveal(), agency, dataset, f"{dataset}-{n}"))
        rows["sex"].append(person.sex)
        rows["region"].append(person.region)
        rows["birth_year"].append(person.born.year)
        for kind in TOKEN_KINDS:
            rows[token_field(kind)].append(tokens.get(token_field(kind)))
        truth.append(person.index)
    columns = {
        name: pa.array(
            values,
            pa.list_(TOKEN_TYPE)
            if name == "national_id_variants_token"
            else TOKEN_TYPE
            if name.endswith("_token")
            else None,
        )
        for name, values in rows.items()
    }
    return pa.table(columns), truth


def two_agencies(
    count: int, *, key: LinkKey, seed: int = 1, overlap: float = 0.6
) -> tuple[dict[Source, pa.Table], list[int]]:
    """NIS-like and job-board-like tables over one population; ``overlap`` of the
    people appear in both. Returns the tables and the true person per node, in node
    order (the tables' order, then rows)."""
    population = people(count, seed=seed)
    rng = np.random.default_rng(seed + 1)
    second = [p for p in population if rng.random() < overlap]
    nis, nis_truth = recorded(
        population, agency="nis", dataset="insured_person", key=key, seed=seed + 2, nis_numbers=True
    )
    jobs, jobs_truth = recorded(
        second, agency="jobboard", dataset="jobseeker", key=key, seed=seed + 3
    )
    return (
        {Source("nis", "insured_person"): nis, Source("jobboard", "jobseeker"): jobs},
        nis_truth + jobs_truth,
    )
