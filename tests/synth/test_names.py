"""The name pools: realistic long-tailed pools by default, the compact ones on request."""

from __future__ import annotations

import csv
import hashlib
import re
from importlib import resources
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from connectors.sdk.tokenise import HONORIFICS, normalise_name
from synth import build_names, reference
from synth.config import SynthConfig, load_config
from synth.errors import SynthConfigError
from synth.name_stats import NameFigures, name_figures, population
from synth.nation import manifest_config

KINDS = ("family", "male", "female")
#: Names drawn by the generator before the pools existed (seed 7, 5,000 persons): the
#: SHA-256 of "given|family|date of birth" lines, recorded from that code.
COMPACT_FINGERPRINT = "267512ee0be34f95558906e4d6a1e39044f4b097b0c6f3eff4af90afc9e570cb"


@pytest.fixture(scope="module")
def figures() -> dict[str, NameFigures]:
    return {
        pool: name_figures(population(100_000, 20240101, pool)) for pool in ("realistic", "compact")
    }


def test_realistic_pools_are_the_default_and_the_compact_ones_stay_available(tmp_path: Path):
    assert SynthConfig().names == "realistic"
    path = tmp_path / "nation.yaml"
    path.write_text("names: compact\n", encoding="utf-8")
    assert load_config(path).names == "compact"
    path.write_text("names: huge\n", encoding="utf-8")
    with pytest.raises(SynthConfigError, match="field names"):
        load_config(path)


def test_a_hundred_thousand_persons_carry_thousands_of_names(figures):
    realistic, compact = figures["realistic"], figures["compact"]
    assert compact.family_names <= 192 and compact.given_names <= 186
    assert realistic.family_names > 20 * 192
    assert realistic.given_names > 20 * 186
    # Long-tailed, not uniform: the ten commonest family names still cover a few per
    # cent of persons, as in England and Wales (5.7 %), where the compact ones cover 40 %.
    assert 0.03 < realistic.top10_family < 0.10 < 0.30 < compact.top10_family


def test_far_fewer_persons_share_a_name_and_birth_year(figures):
    realistic, compact = figures["realistic"], figures["compact"]
    assert compact.shared_name_year_share > 0.30
    assert realistic.shared_name_year_share < compact.shared_name_year_share / 10
    assert realistic.largest_name_year < compact.largest_name_year / 2


def test_the_compact_pools_reproduce_the_names_drawn_before_there_were_pools():
    persons = population(5000, 7, "compact")
    lines = zip(persons.given_name, persons.family_name, persons.dob.astype(str), strict=True)
    text = "\n".join(f"{g}|{f}|{d}" for g, f, d in lines)
    assert hashlib.sha256(text.encode()).hexdigest() == COMPACT_FINGERPRINT
    for kind in KINDS:
        for origin in reference.ORIGINS:
            compact = reference.names(kind, origin, "compact")
            assert compact.weights == tuple(reference.zipf_weights(len(compact.names)))


def test_the_pool_changes_the_names_and_nothing_else_of_the_population():
    a, b = population(3000, 5, "compact"), population(3000, 5, "realistic")
    assert not np.array_equal(a.family_name, b.family_name)
    for column in ("national_id", "sex", "dob", "region", "household", "isco", "earnings"):
        assert np.array_equal(getattr(a, column), getattr(b, column)), column


def test_same_seed_same_names_other_seed_other_names():
    a, b, c = (population(3000, seed, "realistic") for seed in (5, 5, 6))
    assert a.given_name.tolist() == b.given_name.tolist()
    assert a.family_name.tolist() == b.family_name.tolist()
    assert a.family_name.tolist() != c.family_name.tolist()


@pytest.mark.parametrize("pool", list(reference.NAME_POOLS))
def test_every_name_is_ascii_words_the_connectors_keep_whole(pool):
    word = re.compile(r"[A-Za-z]+(?:[ '-][A-Za-z]+)*")
    for kind in KINDS:
        for origin in reference.ORIGINS:
            for name in reference.names(kind, origin, pool).names:
                assert word.fullmatch(name), name
                # No word is dropped as a title: as many words as the name has.
                kept = normalise_name(name)
                assert kept.replace(" ", "") == re.sub(r"[^A-Za-z]", "", name).upper(), name


@pytest.mark.parametrize("pool", list(reference.NAME_POOLS))
def test_no_name_is_a_word_the_schemas_print(pool):
    """The leak scans (tests/connectors/contract, tests/integration/test_privacy.py) look
    for every name of 5+ letters anywhere in what the hub writes, the schema text that
    travels with each Avro container and Parquet file included."""
    root = Path(__file__).resolve().parents[2] / "schemas"
    text = "\n".join(
        f.read_text(encoding="utf-8")
        for f in sorted(root.rglob("*"))
        if f.suffix in {".avsc", ".json", ".yaml", ".yml"}
    )
    names = {n for k in KINDS for o in reference.ORIGINS for n in reference.names(k, o, pool).names}
    printed = sorted(n for n in names if len(n) >= 5 and n in text)
    assert printed == [], "add to synth.build_names.SCHEMA_WORDS and rebuild the pools"


def test_each_realistic_list_is_the_compact_list_then_a_ranked_tail():
    rows = list(
        csv.DictReader(
            resources.files("synth").joinpath("data", "names_long.csv").read_text().splitlines()
        )
    )
    for kind in KINDS:
        for origin in reference.ORIGINS:
            mine = [r for r in rows if r["kind"] == kind and r["origin"] == origin]
            assert [int(r["rank"]) for r in mine] == list(range(1, len(mine) + 1))
            weights = [float(r["weight"]) for r in mine]
            assert all(a >= b > 0 for a, b in pairwise(weights))
            keys = [build_names.same_name_key(r["name"]) for r in mine]
            assert len(set(keys)) == len(keys), (kind, origin)
            compact = reference.names(kind, origin, "compact").names
            assert tuple(r["name"] for r in mine[: len(compact)]) == compact
            assert {r["source"] for r in mine[: len(compact)]} == {"compact"}
            assert len(mine) > 2 * len(compact)
    assert len({r["name"] for r in rows if r["kind"] == "family"}) > 5000


def test_the_family_names_are_calibrated_to_the_stated_top_ten_share():
    pools = {o: list(reference.names("family", o, "realistic").names) for o in reference.ORIGINS}
    national: dict[str, float] = {}
    for origin, share in zip(reference.ORIGINS, reference.ORIGIN_SHARES, strict=True):
        nl = reference.names("family", origin, "realistic")
        for name, w in zip(nl.names, nl.weights, strict=True):
            national[name] = national.get(name, 0.0) + share * w
    top10 = sum(sorted(national.values(), reverse=True)[:10])
    assert top10 == pytest.approx(build_names.TOP10_FAMILY_SHARE, abs=0.001)
    s = build_names.family_exponent(pools)
    assert build_names.top10_share(pools, s) == pytest.approx(
        build_names.TOP10_FAMILY_SHARE, abs=0.0005
    )


def test_a_nation_made_before_the_pools_keeps_the_compact_ones_when_extended():
    old = SynthConfig(persons=100).model_dump(mode="json")
    del old["names"]
    assert manifest_config({"config": old}).names == "compact"
    assert manifest_config({"config": {**old, "names": "realistic"}}).names == "realistic"


def test_the_build_leaves_out_every_word_the_connectors_drop_as_a_title():
    assert HONORIFICS <= build_names.TITLES


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Abellán", "Abellan"),
        ("Groß", "Gross"),
        ("Løkke", "Lokke"),
        ("CHIA-HAO", "Chia-Hao"),
        ("Mcbride", "McBride"),
        ("O’Rafferty", "O'Rafferty"),
        ("  Da  Costa ", "Da Costa"),
        ("Don", None),  # a title to the connectors
        ("王", None),
        ("J.", None),
        ("X", None),
    ],
)
def test_names_are_spelt_in_ascii_or_left_out(raw, kept):
    assert build_names.ascii_name(raw) == kept


def test_the_build_reads_literal_lists_without_running_faker(tmp_path: Path):
    folder = tmp_path / "faker" / "providers" / "person" / "xx_XX"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(
        "from collections import OrderedDict\n"
        "raise SystemExit('Faker code must not run')\n"
        "class Provider:\n"
        "    last_names = ('Abad', 'Zapata')\n"
        "    first_names_male: tuple[str, ...] = ['Ana', 3]\n"
        "    first_names_female = OrderedDict((('Eva', 0.5), ('Ida', 1.5)))\n"
        "    first_names = first_names_male + first_names_female\n"
        "    formats = OrderedDict((('{{x}}', f()),))\n",
        encoding="utf-8",
    )
    lists = build_names.read_lists(tmp_path, "xx_XX")
    assert lists == {
        "last_names": ["Abad", "Zapata"],
        "first_names_male": ["Ana"],
        "first_names_female": {"Eva": 0.5, "Ida": 1.5},
    }
    by_weight = build_names.Source("xx_XX", "first_names_female", 1.0, build_names.WEIGHTS)
    assert build_names._ordered(by_weight, lists) == ["Ida", "Eva"]


def test_the_tail_interleaves_the_lists_in_proportion_to_their_shares():
    big = build_names.Source("aa", "x", 0.75, build_names.LISTED)
    small = build_names.Source("bb", "x", 0.25, build_names.LISTED)
    drawn = list(build_names._interleave([(big, list("abcdefgh")), (small, list("ABC"))]))
    # The next name comes from the list furthest below its share (ties: the first
    # list); an exhausted list leaves the rest to the others.
    assert "".join(name for name, _ in drawn) == "aAbcdBefgCh"
    assert [locale for _, locale in drawn].count("bb") == 3
