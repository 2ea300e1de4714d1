"""Regenerate ``synth/data/names_long.csv``, the realistic name pools, from the name
lists Faker ships per locale (MIT licence).

The generator never imports this module: it reads the CSV written here, and neither
the generator nor the tests need Faker. Run it by hand when the sources or the method
change (the output is the same byte for byte for the same Faker release)::

    .venv/bin/python -m pip download faker==40.63.0 --no-deps -d /tmp/faker
    .venv/bin/python -m synth.build_names /tmp/faker/faker-40.63.0-py3-none-any.whl

Faker's code is never imported or run: each locale's ``person`` provider module is
parsed with :mod:`ast` and only its literal lists (tuples, lists, ``OrderedDict`` of
name and weight) are read, from the wheel or from a folder it was unpacked into.

The method (``synth/data/ATTRIBUTION.md`` says the same for readers of the data):

1. **Order.** Each (kind, origin) list starts with that origin's compact pool
   (``names.csv``) in its hand-made order. The Faker lists chosen for the origin
   (:data:`POOLS`) follow, interleaved in proportion to their stated shares (the next
   name comes from the list furthest below its share), each list in its own frequency
   order: by Faker's weights where it has them, as listed where the list is in
   frequency order, otherwise (alphabetical lists) in a fixed pseudo-random order, by
   the SHA-256 of the name, since the alphabet says nothing about frequency. A name
   already placed (the same letters, ignoring case, spaces, hyphens and apostrophes)
   is skipped.
2. **Spelling.** Accents are stripped (NFKD) and the few letters without a
   decomposition are spelt out (ß as ss, ø as o…); names in capitals (Faker's
   Wade-Giles lists) are capitalised per word. A name is kept when it is words of
   ASCII letters joined by a space, hyphen or apostrophe, none of its words is one the
   connectors drop as a title (:data:`TITLES`), and the hub's schemas do not print it
   as a word (:data:`SCHEMA_WORDS`).
3. **Weights.** A Zipf law over the rank: the name at rank r has weight r^-s within
   its list. Given names keep the compact pool's s = 1. For family names s is set by
   bisection so that the ten most common family names of the nation (the origins
   mixed by :data:`synth.reference.ORIGIN_SHARES`) cover :data:`TOP10_FAMILY_SHARE`
   of persons: the share the ten most common surnames of England and Wales have in
   Faker's ``en_GB`` weights (ONS figures, per cent of persons).
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import re
import sys
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from synth import reference

OUTPUT = Path(__file__).parent / "data" / "names_long.csv"

#: Share of persons carrying one of the ten most common family names: England and
#: Wales, from the per-cent weights of Faker's ``en_GB`` surnames (ONS): Smith 1.15,
#: Jones 0.94, Williams 0.66 … the first ten sum to 5.70. (The United States, 2010
#: census: 4.90 %.) Trinidad and Tobago publishes no such figure; a smaller country
#: with a few very common Indo-Trinidadian names is likely more concentrated.
TOP10_FAMILY_SHARE = 0.057
#: Zipf exponent of given names: the compact pool's.
GIVEN_EXPONENT = 1.0
#: Words the connectors' name normalisation drops as titles (a copy of
#: ``connectors.sdk.tokenise.HONORIFICS``, which synth may not import; a test keeps it
#: whole): Faker lists give some as names (Lord, Don, Lady).
TITLES = frozenset(
    {"MR", "MRS", "MS", "MISS", "MSTR", "MASTER", "DR", "PROF", "REV", "FR", "SR", "SIR"}
    | {"DAME", "HON", "LADY", "LORD", "MADAM", "MME", "MLLE", "SRA", "SRTA", "DON", "DONA"}
)
#: Real names left out because the hub's schema catalogue prints them as words ("Gross
#: monthly earnings", "Weeks of contribution", "Trinidad and Tobago"): the leak scans of
#: the connector contract and privacy tests look for every name of five letters or more
#: anywhere in the bytes, schema text included, and cannot tell the two apart. A test in
#: tests/synth keeps the set complete.
SCHEMA_WORDS = frozenset({"English", "Field", "Gross", "Regis", "Trini", "Trinidad", "Weeks"})

_NAME = re.compile(r"[A-Za-z]+(?:[ '-][A-Za-z]+)*")
#: Letters NFKD does not decompose, spelt in ASCII.
_SPELT_OUT: dict[int, str] = {
    ord(letter): spelt
    for letter, spelt in (
        *zip("øØłŁđĐðÐı’ʼ", "oOlLdDdDi''", strict=True),
        *{"ß": "ss", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "þ": "th", "Þ": "Th"}.items(),
    )
}

WEIGHTS, LISTED, SHUFFLED = "weights", "listed", "shuffled"


@dataclass(frozen=True)
class Source:
    """One Faker list: ``locale``'s ``attribute``, its share of the interleaved tail and
    how its own order is read (:data:`WEIGHTS`, :data:`LISTED` or :data:`SHUFFLED`)."""

    locale: str
    attribute: str
    share: float
    order: str

    @property
    def label(self) -> str:
        return f"{self.locale}.{self.attribute}"


S = Source
#: The Faker lists of each origin's family names. Afro-Trinidadian names are
#: mostly British, Irish and French (surnames taken at emancipation), with a few West
#: African; Indo-Trinidadian surnames are often an ancestor's given name, hence Indian
#: given names among the family names; "creole" is Spanish, French and Portuguese
#: (Madeiran); Chinese-Trinidadians mostly carry English given names; Faker has no
#: romanised Levantine Arabic list, so the Syrian-Lebanese tail is Algerian surnames
#: in French transliteration, the nearest Latin-script Arabic list it has.
FAMILY: dict[str, tuple[Source, ...]] = {
    "afro": (
        S("en_US", "last_names", 0.45, WEIGHTS),
        S("en_GB", "last_names", 0.25, WEIGHTS),
        S("en_IE", "last_names", 0.15, SHUFFLED),
        S("fr_FR", "last_names", 0.10, LISTED),
        S("yo_NG", "last_names_male", 0.02, SHUFFLED),
        S("tw_GH", "last_names_male", 0.015, SHUFFLED),
        S("ig_NG", "last_names", 0.0075, LISTED),
        S("en_NG", "last_names", 0.0075, LISTED),
    ),
    "indo": (
        S("en_IN", "last_names", 0.50, SHUFFLED),
        S("en_IN", "first_names_male", 0.30, SHUFFLED),
        S("en_PK", "last_names", 0.20, SHUFFLED),
    ),
    "creole": (
        S("es_CO", "last_names", 0.20, WEIGHTS),
        S("es_CL", "last_names", 0.10, WEIGHTS),
        S("es_ES", "last_names", 0.10, SHUFFLED),
        S("es_MX", "last_names", 0.10, SHUFFLED),
        S("fr_FR", "last_names", 0.20, LISTED),
        S("fr_CA", "last_names", 0.05, LISTED),
        S("fr_BE", "last_names", 0.05, WEIGHTS),
        S("pt_PT", "last_names", 0.12, SHUFFLED),
        S("pt_BR", "last_names", 0.08, SHUFFLED),
    ),
    "chinese": (
        S("zh_TW", "last_romanized_names", 0.60, WEIGHTS),
        S("zh_CN", "last_romanized_names", 0.40, SHUFFLED),
    ),
    "syrian": (S("fr_DZ", "last_names", 1.0, SHUFFLED),),
}
#: Given names, the same lists for both sexes: "{sex}" stands for male or female.
GIVEN: dict[str, tuple[Source, ...]] = {
    "afro": (
        S("en_US", "first_names_{sex}", 0.50, WEIGHTS),
        S("en", "first_names_{sex}", 0.20, SHUFFLED),
        S("en_GB", "first_names_{sex}", 0.15, LISTED),
        S("fr_FR", "first_names_{sex}", 0.05, SHUFFLED),
        S("yo_NG", "first_names_{sex}", 0.04, SHUFFLED),
        S("tw_GH", "first_names_{sex}", 0.03, SHUFFLED),
        S("ig_NG", "first_names_{sex}", 0.01, LISTED),
        S("en_NG", "first_names_{sex}", 0.01, LISTED),
    ),
    "creole": (
        S("es_CO", "first_names_{sex}", 0.20, WEIGHTS),
        S("es_CL", "first_names_{sex}", 0.10, WEIGHTS),
        S("es_ES", "first_names_{sex}", 0.10, SHUFFLED),
        S("es_MX", "first_names_{sex}", 0.10, SHUFFLED),
        S("fr_FR", "first_names_{sex}", 0.15, SHUFFLED),
        S("fr_BE", "first_names_{sex}", 0.10, WEIGHTS),
        S("fr_CA", "first_names_{sex}", 0.05, SHUFFLED),
        S("pt_PT", "first_names_{sex}", 0.12, SHUFFLED),
        S("pt_BR", "first_names_{sex}", 0.08, SHUFFLED),
    ),
    "chinese": (
        S("en_US", "first_names_{sex}", 0.70, WEIGHTS),
        S("zh_TW", "first_romanized_names_{sex}", 0.30, WEIGHTS),
    ),
    "syrian": (
        S("fr_DZ", "first_names_{sex}", 0.40, SHUFFLED),
        S("fr_FR", "first_names_{sex}", 0.30, SHUFFLED),
        S("en_US", "first_names_{sex}", 0.30, WEIGHTS),
    ),
}
#: (kind, origin) -> the lists its tail comes from. Faker's en_PK given names are boys'.
POOLS: dict[tuple[str, str], tuple[Source, ...]] = {
    **{("family", origin): sources for origin, sources in FAMILY.items()},
    **{
        (sex, origin): tuple(replace(s, attribute=s.attribute.format(sex=sex)) for s in sources)
        for origin, sources in GIVEN.items()
        for sex in ("male", "female")
    },
    ("male", "indo"): (
        S("en_IN", "first_names_male", 0.60, SHUFFLED),
        S("en_PK", "first_names", 0.40, SHUFFLED),
    ),
    ("female", "indo"): (S("en_IN", "first_names_female", 1.0, SHUFFLED),),
}
KINDS = ("family", "male", "female")

Lists = dict[str, list[str] | dict[str, float]]


def _provider_source(faker: Path, locale: str) -> str:
    """The text of ``faker/providers/person/<locale>/__init__.py`` in a wheel or folder."""
    member = f"faker/providers/person/{locale}/__init__.py"
    if faker.is_dir():
        return (faker / member).read_text(encoding="utf-8")
    with zipfile.ZipFile(faker) as wheel:
        return wheel.read(member).decode("utf-8")


@cache
def read_lists(faker: Path, locale: str) -> Lists:
    """Every literal list of names (and name -> weight mapping) a locale's person
    provider class assigns, by attribute name; computed attributes are skipped."""
    tree = ast.parse(_provider_source(faker, locale))
    out: Lists = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for statement in cls.body:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target, value = statement.targets[0], statement.value
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                target, value = statement.target, statement.value
            else:
                continue
            if not isinstance(target, ast.Name):
                continue
            ordered_dict = (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "OrderedDict"
                and len(value.args) == 1
            )
            if not (ordered_dict or isinstance(value, ast.Tuple | ast.List)):
                continue
            literal = value.args[0] if isinstance(value, ast.Call) else value
            try:  # a list computed from other attributes or calls is not a literal
                items = ast.literal_eval(literal)
            except ValueError:
                continue
            if ordered_dict:
                out[target.id] = {str(k): float(w) for k, w in items}
            else:
                out[target.id] = [str(v) for v in items if isinstance(v, str)]
    return out


def ascii_name(raw: str) -> str | None:
    """The name in ASCII letters as the pools keep it, or None when it is not one."""
    text = unicodedata.normalize("NFKD", raw.translate(_SPELT_OUT))
    text = " ".join("".join(c for c in text if not unicodedata.combining(c)).split())
    if text.isupper():
        text = re.sub(r"[A-Z]+", lambda m: m[0].capitalize(), text)
    text = re.sub(r"\bMc([a-z])", lambda m: "Mc" + m[1].upper(), text)  # census "Mcbride"
    if not _NAME.fullmatch(text) or len(text) < 2:
        return None
    if TITLES & set(re.split(r"[ '-]", text.upper())):
        return None
    return text


def same_name_key(name: str) -> str:
    """Two spellings with this key are one name (case, spaces, hyphens, apostrophes)."""
    return re.sub(r"[^A-Z]", "", name.upper())


def _ordered(source: Source, lists: Lists) -> list[str]:
    values = lists[source.attribute]
    if source.order == WEIGHTS:
        if not isinstance(values, dict):
            raise ValueError(f"{source.label}: Faker gives no weights")
        return [n for n, _ in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))]
    names = list(values)
    if source.order == SHUFFLED:
        names.sort(key=lambda n: hashlib.sha256(n.encode("utf-8")).hexdigest())
    return names


def _interleave(sources: Sequence[tuple[Source, list[str]]]) -> Iterator[tuple[str, str]]:
    """(raw name, Faker locale) from the lists in proportion to their shares."""
    taken = [0] * len(sources)
    while True:
        open_ = [i for i, (_, names) in enumerate(sources) if taken[i] < len(names)]
        if not open_:
            return
        i = min(open_, key=lambda j: (taken[j] / sources[j][0].share, j))
        source, names = sources[i]
        yield names[taken[i]], source.locale
        taken[i] += 1


def ranked_pool(kind: str, origin: str, faker: Path) -> list[tuple[str, str]]:
    """(name, where from: "compact" or the Faker locale) of one list, most common first:
    the compact pool, then the tail."""
    placed: set[str] = set()
    out: list[tuple[str, str]] = []

    def place(raw: str, label: str) -> None:
        name = ascii_name(raw)
        if name is not None and name not in SCHEMA_WORDS and same_name_key(name) not in placed:
            placed.add(same_name_key(name))
            out.append((name, label))

    for name in reference.names(kind, origin, "compact").names:
        place(name, "compact")
    sources = [(s, _ordered(s, read_lists(faker, s.locale))) for s in POOLS[(kind, origin)]]
    for raw, label in _interleave(sources):
        place(raw, label)
    return out


def top10_share(pools: dict[str, list[str]], exponent: float) -> float:
    """Share of the nation carrying one of its ten most common names, when each origin's
    list has Zipf weights with ``exponent`` and the origins their population shares."""
    national: dict[str, float] = {}
    for origin, share in zip(reference.ORIGINS, reference.ORIGIN_SHARES, strict=True):
        names = pools[origin]
        for name, w in zip(names, reference.zipf_weights(len(names), exponent), strict=True):
            national[name] = national.get(name, 0.0) + share * w
    return sum(sorted(national.values(), reverse=True)[:10])


def family_exponent(pools: dict[str, list[str]], target: float = TOP10_FAMILY_SHARE) -> float:
    """The Zipf exponent giving the family names ``target`` as their top-ten share."""
    low, high = 0.0, 3.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if top10_share(pools, mid) < target else (low, mid)
    return round((low + high) / 2, 4)


def build(faker: Path) -> tuple[str, float]:
    """The CSV text of the realistic pools and the family-name exponent used."""
    ranked = {(k, o): ranked_pool(k, o, faker) for k in KINDS for o in reference.ORIGINS}
    family = {o: [n for n, _ in ranked[("family", o)]] for o in reference.ORIGINS}
    s_family = family_exponent(family)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["kind", "origin", "rank", "name", "weight", "source"])
    for (kind, origin), rows in ranked.items():
        exponent = s_family if kind == "family" else GIVEN_EXPONENT
        weights = reference.zipf_weights(len(rows), exponent)
        for rank, ((name, label), w) in enumerate(zip(rows, weights, strict=True), start=1):
            writer.writerow([kind, origin, rank, name, f"{w:.6g}", label])
    return buffer.getvalue(), s_family


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("faker", type=Path, help="Faker's wheel, or the folder it was unpacked to")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text, s_family = build(args.faker)
    args.out.write_text(text, encoding="utf-8")
    rows = text.count("\n") - 1
    sys.stdout.write(f"{args.out}: {rows} names; family-name Zipf exponent {s_family}\n")


if __name__ == "__main__":
    main()
