"""The linkage benchmark's input: a synthetic nation recorded by three agencies, with
noise, tokenised by the connectors' own tokeniser, cached as Parquet.

From a population of ``persons`` (:func:`synth.population.make_persons`, the nation's
name pools), three tables:

* ``nis/insured_person``: most persons (``SHARES.insured``), with their NIS number and
  the NIS's noise rates (``synth.config.NoiseConfig.nis``); a duplicate registration
  gets a new NIS number, so only the model can join it to its person;
* ``jobboard/jobseeker``: a subset (``SHARES.jobseekers``), no NIS number, the job
  board's noise rates (most leave the national ID blank);
* ``nso/lfs_person``: the persons of a sample of households (``SHARES.lfs_households``),
  names and dates of birth but no national ID — an LFS *with* identifiers, for the
  benchmark (the real file has none) — with the default noise rates.

Noise is :func:`synth.noise.identity` per record (typo, nickname, name variant,
day/month swap, missing national ID) and a second registration at the agency's
duplicate rate, as the nation's simulation makes them (``synth/simulation/core.py``).
Each record keeps its true person and the noise kinds applied.

Every record is written twice: tokenised (:class:`connectors.sdk.tokenise.Tokeniser`
under a fresh random key, with clear sex, region and birth year) and in the clear (the
tokeniser's normalised values: names, phonetic codes, date, IDs), for the clear-text
baseline. Tokenising is some 0.2 ms of Python per record, so chunks go to a pool of
processes and the tables are cached under ``.lmis-hub/bench-cache/``, keyed by the
persons, the seed, the synth configuration and the name files.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

import synth
from connectors.sdk.errors import IdentifierInvalid
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.tokenise import TOKEN_FIELDS, Tokeniser, TokenRules
from integration.linkage.features import Source
from lmis_hub.tokens import ARRAY_TOKEN_KINDS
from synth import noise
from synth.config import AgencyNoise, SynthConfig
from synth.population import make_persons

#: Bump when the records this module makes change, so older caches are not read.
FORMAT = 1
CACHE = Path(__file__).resolve().parents[1] / ".lmis-hub" / "bench-cache"
TOKEN_TYPE = pa.binary(32)
NATIONAL_ID_DIGITS = frozenset({11})
#: Persons per chunk of work sent to a process.
CHUNK = 20_000


@dataclass(frozen=True)
class Shares:
    insured: float = 0.95
    jobseekers: float = 0.15
    lfs_households: float = 0.05


SHARES = Shares()


@dataclass(frozen=True)
class Agency:
    source: Source
    noise: AgencyNoise
    nis_number: bool
    national_id: bool


#: The three agencies' tables, in node order.
SOURCES = (
    Source("nis", "insured_person"),
    Source("jobboard", "jobseeker"),
    Source("nso", "lfs_person"),
)


def agencies(config: SynthConfig) -> tuple[Agency, ...]:
    """The three agencies of :data:`SOURCES` with their noise rates and identifiers."""
    nis, jobboard, lfs = SOURCES
    return (
        Agency(nis, config.noise.nis, nis_number=True, national_id=True),
        Agency(jobboard, config.noise.jobboard, nis_number=False, national_id=True),
        Agency(
            lfs,
            AgencyNoise(missing_national_id=0.0, duplicate=0.0),
            nis_number=False,
            national_id=False,
        ),
    )


def token_kinds(agency: Agency) -> list[str]:
    """The token kinds the agency's records carry (the tokeniser derives the others)."""
    skip = {"person_ref"}
    if not agency.nis_number:
        skip.add("nis_number")
    if not agency.national_id:
        skip |= {"national_id", *ARRAY_TOKEN_KINDS}
    return [k for k in TOKEN_FIELDS if k not in skip]


#: Clear columns of the baseline: the tokeniser's normalised values, and the date parts
#: the name-tied date tokens combine (the blocking rules combine them with the name).
CLEAR_TEXT = (
    "national_id",
    "nis_number",
    "given_name",
    "family_name",
    "given_name_phonetic",
    "family_name_phonetic",
    "name",
    "name_pair",
    "dob",
    "year_month",
    "month_day",
    "year_day",
)
ATTRIBUTES = ("sex", "region", "birth_year")


@dataclass(frozen=True)
class Chunk:
    agency: Agency
    index: int
    persons: npt.NDArray[np.int64]
    seed: int
    secret: bytes


#: The population the pool's processes read (inherited by fork, never pickled).
_POPULATION: dict[str, list[Any]] = {}


def _identifiers(agency: Agency, p: int, ident: noise.Identity, copy: int) -> dict[str, Any]:
    nis = None
    if agency.nis_number:
        # A duplicate registration is given a number of its own.
        nis = f"{(200_000_000 if copy else 100_000_000) + _POPULATION['nis'][p]:09d}"
    return {
        "given_name": ident.given_name,
        "family_name": ident.family_name,
        "dob": ident.date_of_birth.isoformat(),
        "national_id": (ident.national_id or None) if agency.national_id else None,
        "nis_number": nis,
    }


def _clear(normalised: dict[str, Any], born: date) -> dict[str, Any]:
    low, high = sorted((born.month, born.day))
    parts = {
        "year_month": f"{born.year:04d}-{born.month:02d}",
        "month_day": f"{low:02d}+{high:02d}",
        "year_day": f"{born.year:04d}--{born.day:02d}",
    }
    return {k: normalised.get(k, parts.get(k)) for k in CLEAR_TEXT}


def _tokenised(
    tokeniser: Tokeniser, identifiers: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tokens, normalised values); an identifier the tokeniser refuses is left out, as
    a connector's mapping would leave it blank."""
    while True:
        try:
            return tokeniser.tokens(identifiers), tokeniser.normalised(identifiers)
        except IdentifierInvalid as exc:
            kind = exc.context.get("kind")
            if kind is None or identifiers.get(kind) is None:
                raise
            identifiers = {**identifiers, kind: None}


def make_chunk(chunk: Chunk) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(token table, clear table, truth) of one chunk of an agency's persons."""
    pop = _POPULATION
    agency = chunk.agency
    rng = np.random.default_rng([chunk.seed, _number(str(agency.source)), chunk.index])
    tokeniser = Tokeniser(
        LinkKey(chunk.secret, key_id=1), rules=TokenRules(national_id_lengths=NATIONAL_ID_DIGITS)
    )
    fields = [TOKEN_FIELDS[k] for k in token_kinds(agency)]
    tokens: dict[str, list[Any]] = {f: [] for f in fields}
    clear: dict[str, list[Any]] = {k: [] for k in CLEAR_TEXT}
    rows: dict[str, list[Any]] = {k: [] for k in ("record_id", *ATTRIBUTES, "person", "noise")}
    for p in chunk.persons.tolist():
        born: date = pop["dob"][p]
        copies = 2 if rng.random() < agency.noise.duplicate else 1
        for copy in range(copies):
            ident = noise.identity(
                rng,
                agency.noise,
                national_id=pop["national_id"][p] if agency.national_id else "",
                given_name=pop["given_name"][p],
                family_name=pop["family_name"][p],
                date_of_birth=born,
            )
            applied = [*ident.applied, "duplicate"] if copy else ident.applied
            made, normalised = _tokenised(tokeniser, _identifiers(agency, p, ident, copy))
            for f in fields:
                tokens[f].append(made.get(f))
            for k, v in _clear(normalised, ident.date_of_birth).items():
                clear[k].append(v)
            rows["record_id"].append(f"{chunk.index}.{len(rows['record_id'])}")
            rows["sex"].append(pop["sex"][p])
            rows["region"].append(pop["region"][p])
            rows["birth_year"].append(ident.date_of_birth.year)
            rows["person"].append(p)
            rows["noise"].append(";".join(applied))
    common = {
        "record_id": pa.array(rows["record_id"], pa.string()),
        "sex": pa.array(rows["sex"], pa.string()),
        "region": pa.array(rows["region"], pa.string()),
        "birth_year": pa.array(rows["birth_year"], pa.int32()),
    }
    token_table = pa.table(
        common
        | {
            f: pa.array(v, pa.list_(TOKEN_TYPE) if f in _ARRAY_FIELDS else TOKEN_TYPE)
            for f, v in tokens.items()
        }
    )
    clear_table = pa.table(common | {k: pa.array(v, pa.string()) for k, v in clear.items()})
    truth = pa.table(
        {"person": pa.array(rows["person"], pa.int64()), "noise": pa.array(rows["noise"])}
    )
    return token_table, clear_table, truth


_ARRAY_FIELDS = {TOKEN_FIELDS[k] for k in ARRAY_TOKEN_KINDS}


def _number(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


# -- the population and its agencies ----------------------------------------------------


def _config(persons: int, seed: int) -> SynthConfig:
    return SynthConfig(persons=persons, seed=seed)


def _members(config: SynthConfig, household: npt.NDArray[np.int32]) -> list[npt.NDArray[np.int64]]:
    """Each agency's persons (indices into the population), drawn from the seed."""
    n = config.persons
    rng = np.random.default_rng([config.seed, 1])
    insured = np.flatnonzero(rng.random(n) < SHARES.insured)
    jobseekers = np.flatnonzero(rng.random(n) < SHARES.jobseekers)
    visited = rng.random(int(household.max()) + 1) < SHARES.lfs_households
    lfs = np.flatnonzero(visited[household])
    return [insured.astype(np.int64), jobseekers.astype(np.int64), lfs.astype(np.int64)]


def cache_key(persons: int, seed: int) -> str:
    """What the records depend on: this module's format, the persons, the seed, the
    synth configuration and the name files."""
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, persons, seed, asdict(SHARES)]).encode())
    digest.update(_config(persons, seed).model_dump_json().encode())
    for path in sorted((Path(synth.__file__).parent / "data").glob("*names*.csv")):
        digest.update(path.name.encode() + path.read_bytes())
    return f"linkage-n{persons}-s{seed}-{digest.hexdigest()[:12]}"


@dataclass
class Generated:
    """Where the cached tables are, and what making them took."""

    folder: Path
    meta: dict[str, Any]
    cached: bool


def ensure(persons: int, seed: int, *, cache: Path = CACHE, workers: int = 0) -> Generated:
    """The cached tables of ``persons`` and ``seed``, made first if absent."""
    folder = cache / cache_key(persons, seed)
    meta_file = folder / "meta.json"
    if meta_file.exists():
        return Generated(folder, json.loads(meta_file.read_text(encoding="utf-8")), True)
    meta = generate(persons, seed, folder, workers=workers or os.cpu_count() or 1)
    return Generated(folder, meta, False)


def generate(persons: int, seed: int, folder: Path, *, workers: int) -> dict[str, Any]:
    """Make the three agencies' tables and write them under ``folder``."""
    started = time.perf_counter()
    config = _config(persons, seed)
    people = make_persons(config, np.random.default_rng([config.seed, 0]))
    codes = [r.code for r in config.regions]
    _POPULATION.clear()
    _POPULATION.update(
        given_name=[str(v) for v in people.given_name],
        family_name=[str(v) for v in people.family_name],
        national_id=people.national_id.tolist(),
        dob=people.dob.astype(object).tolist(),
        sex=[str(int(v)) for v in people.sex],
        region=[codes[int(r)] for r in people.region],
        nis=np.random.default_rng([config.seed, 2]).permutation(persons).tolist(),
    )
    members = _members(config, people.household)
    del people
    drawn = time.perf_counter()
    secret = os.urandom(32)  # a fresh K_link: only its tokens are kept
    chunks = [
        Chunk(agency, i, part, seed, secret)
        for agency, persons_of in zip(agencies(config), members, strict=True)
        for i, part in enumerate(np.array_split(persons_of, max(1, -(-len(persons_of) // CHUNK))))
    ]
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            made = pool.map(make_chunk, chunks, chunksize=1)
    else:
        made = [make_chunk(c) for c in chunks]
    tokenised = time.perf_counter()
    scratch = folder.with_name(folder.name + f".part-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    counts: dict[str, int] = {}
    for agency in agencies(config):
        parts = [m for c, m in zip(chunks, made, strict=True) if c.agency.source == agency.source]
        for i, kind in enumerate(("tokens", "clear", "truth")):
            table = pa.concat_tables([m[i] for m in parts])
            pq.write_table(table, scratch / _file(kind, agency.source))
        counts[str(agency.source)] = sum(m[0].num_rows for m in parts)
    _POPULATION.clear()
    meta = {
        "format": FORMAT,
        "persons": persons,
        "seed": seed,
        "names": config.names,
        "records": counts,
        "workers": workers,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": {
            "population": round(drawn - started, 2),
            "noise_and_tokens": round(tokenised - drawn, 2),
            "write": round(time.perf_counter() - tokenised, 2),
        },
    }
    (scratch / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    scratch.rename(folder)
    return meta


def _file(kind: str, source: Source) -> str:
    return f"{kind}.{source.agency}.{source.dataset}.parquet"


@dataclass
class Input:
    """The tables of one population, in node order, and the truth per node."""

    tokens: dict[Source, pa.Table]
    clear: dict[Source, pa.Table]
    person: npt.NDArray[np.int64]
    noise: list[str]

    @property
    def records(self) -> int:
        return len(self.person)


def load(folder: Path, *, clear: bool = True, tokens: bool = True) -> Input:
    """The cached tables (token tables, clear tables or both)."""
    truth = pa.concat_tables([pq.read_table(folder / _file("truth", s)) for s in SOURCES])
    return Input(
        tokens={s: pq.read_table(folder / _file("tokens", s)) for s in SOURCES} if tokens else {},
        clear={s: pq.read_table(folder / _file("clear", s)) for s in SOURCES} if clear else {},
        person=truth["person"].to_numpy(),
        noise=truth["noise"].to_pylist(),
    )


def record_truth(folder: Path) -> dict[Source, tuple[pa.Array, npt.NDArray[np.int64]]]:
    """Per table, its record ids and each record's true person (without the tokens)."""
    return {
        source: (
            pq.read_table(folder / _file("tokens", source), columns=["record_id"])[
                "record_id"
            ].combine_chunks(),
            pq.read_table(folder / _file("truth", source), columns=["person"])["person"].to_numpy(),
        )
        for source in SOURCES
    }
