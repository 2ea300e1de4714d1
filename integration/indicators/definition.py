"""Indicator definitions as data: one YAML file per indicator, loaded and checked.

A definition says what an indicator is (id, name, description, SDMX unit and
frequency), what it reads (its source tables and the agreements they rely on), how it
breaks down (dimensions of the agreed set, :mod:`.dimensions`), how it is computed and
how it is protected. The computation is a DuckDB query over the source tables that
gives one row per *unit* (a person, a record, a job-month), with:

* ``ref_date`` — the date the unit refers to; its period (by the frequency) is the
  observation's ``time_period``;
* ``contributor`` — who the unit's information is about, for disclosure control (a
  person key, an employer number, a record id);
* one column per dimension holding the dimension's code (NULL: the unit counts in the
  total along that dimension only);
* the measure's columns: ``unit`` (count: distinct units), ``value`` (sum, mean,
  median), ``numerator`` and ``denominator`` (ratio; with ``weight`` and ``stratum``
  for a survey estimate).

The package aggregates those rows into every cell and margin itself (``GROUP BY CUBE``,
:mod:`.aggregation`), so a definition never writes a margin. A definition the data
cannot support yet is kept with ``withheld: <why>``: it is checked and listed, never
computed.

:func:`load_definition` refuses a malformed file (``indicators.definition_invalid``),
an unknown table (``indicators.table_unknown``), a column its sources lack
(``indicators.column_unknown``, by binding the query in DuckDB against empty tables of
the sources' schemas: :mod:`.query_check`), and an unknown dimension or code
(``indicators.dimension_unknown``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from integration.indicators.dimensions import TOTAL, LocalDimension, local_dimensions
from integration.indicators.errors import (
    DefinitionInvalid,
    DimensionUnknown,
    TableUnknown,
)
from integration.indicators.query_check import check_query
from integration.indicators.sdmx.model import Dimension, Flow
from integration.indicators.sources import bronze_dataset, source_schema
from integration.indicators.workspace import Workspace, open_workspace
from schemas.catalog import SchemaCatalog

#: The package's own definitions (package data).
DEFINITIONS_FOLDER = "definitions"
ID = re.compile(r"[a-z][a-z0-9_]*")
VERSION = re.compile(r"[0-9]+(\.[0-9]+)*")
#: SDMX UNIT_MEASURE codes an indicator may have.
UNITS = {
    "PT": "percent",
    "PS": "persons",
    "XDC": "local currency",
    "DAYS": "days",
    "PER_1000": "per 1,000",
}
FREQUENCIES = ("A", "Q", "M")
MEASURE_KINDS = ("count", "sum", "mean", "median", "ratio")
#: Measures whose value is a total of the units' values (a dominance rule can apply).
MAGNITUDE_KINDS = ("sum", "mean")
RATIO_COUNTS = ("numerator", "denominator")

#: The C parser where PyYAML has it (the same documents, several times faster).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TOP_KEYS = {
    "id",
    "version",
    "name",
    "description",
    "unit",
    "frequency",
    "sources",
    "agreements",
    "dimensions",
    "measure",
    "disclosure",
    "query",
    "notes",
    "withheld",
}


@dataclass(frozen=True)
class AgreementRef:
    """A data-sharing agreement an indicator relies on: the provider and its dataset."""

    provider: str
    dataset: str


@dataclass(frozen=True)
class DimensionUse:
    """A dimension of an indicator and the codes it publishes (``_T`` always)."""

    name: str
    codes: tuple[str, ...]

    @property
    def local(self) -> LocalDimension:
        return local_dimensions()[self.name]

    @property
    def aggregates(self) -> dict[str, tuple[str, ...]]:
        """The aggregate codes it publishes, with the codes each groups."""
        return {c: m for c, m in self.local.aggregates.items() if c in self.codes}


@dataclass(frozen=True)
class Measure:
    """How the units' rows become a figure.

    ``count``: distinct ``unit`` values; ``sum``: total of ``value``; ``mean``: total of
    ``value`` over the number of rows; ``median``: median of ``value``; ``ratio``:
    ``scale`` × Σ weight·numerator / Σ weight·denominator, with a standard error when
    ``survey`` (weights in ``weight``, design strata in ``stratum``).
    """

    kind: str
    scale: float = 1.0
    survey: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """The query's output columns this measure reads."""
        if self.kind == "count":
            return ("unit",)
        if self.kind == "ratio":
            return ("numerator", "denominator", *(("weight", "stratum") if self.survey else ()))
        return ("value",)


@dataclass(frozen=True)
class Dominance:
    """The (n, k) dominance rule: a cell is sensitive when its ``n`` largest
    contributors hold more than ``k`` percent of its value."""

    n: int
    k: float


@dataclass(frozen=True)
class DisclosureRule:
    """The protection an indicator's cells get.

    ``min_contributors``: fewest contributors a published cell may have;
    ``magnitude``: the figure is a magnitude (a total of values), checked with the
    ``dominance`` rule too; ``counts`` (ratios): which underlying counts are protected —
    the rate is suppressed wherever one of them is.
    """

    min_contributors: int
    magnitude: bool = False
    dominance: Dominance | None = None
    counts: tuple[str, ...] = RATIO_COUNTS


@dataclass(frozen=True)
class Definition:
    """One indicator of the agreed package."""

    id: str
    version: str
    name: str
    description: str
    unit: str
    frequency: str
    sources: tuple[str, ...]
    agreements: tuple[AgreementRef, ...]
    dimensions: tuple[DimensionUse, ...]
    measure: Measure | None
    disclosure: DisclosureRule | None
    query: str | None
    notes: str = ""
    withheld: str | None = None
    path: str = field(default="", compare=False)

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    @property
    def computable(self) -> bool:
        """False for a withheld definition (kept in the package, never computed)."""
        return self.withheld is None

    def flow(self) -> Flow:
        """The SDMX dataflow the indicator is published as (id in capitals)."""
        return Flow(
            id=self.id.upper(),
            version=self.version,
            name=self.name,
            description=self.description,
            unit=self.unit,
            frequency=self.frequency,
            dimensions=tuple(
                Dimension(column=d.name, id=d.local.sdmx_id, codelist=d.local.codelist)
                for d in self.dimensions
            ),
        )


# Parsing --------------------------------------------------------------------------------


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise DefinitionInvalid(f"{where}: field {key!r} must be a non-empty string")
    return value.strip()


def _choice(raw: Mapping[str, Any], key: str, allowed: Sequence[str], where: str) -> str:
    value = _text(raw, key, where)
    if value not in allowed:
        raise DefinitionInvalid(
            f"{where}: field {key!r} is {value!r}, not one of {', '.join(allowed)}"
        )
    return value


def _sources(raw: Mapping[str, Any], where: str) -> tuple[str, ...]:
    value = raw.get("sources")
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise DefinitionInvalid(f"{where}: field 'sources' must be a list of table names")
    if len(set(value)) != len(value):
        raise DefinitionInvalid(f"{where}: a table is listed twice under 'sources'")
    return tuple(value)


def _agreements(raw: Mapping[str, Any], where: str) -> tuple[AgreementRef, ...]:
    value = raw.get("agreements")
    if not isinstance(value, list) or not value:
        raise DefinitionInvalid(
            f"{where}: field 'agreements' must list the provider and dataset of each "
            "agreement the indicator relies on"
        )
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"provider", "dataset"}:
            raise DefinitionInvalid(
                f"{where}: agreements[{i}] must be a mapping with 'provider' and 'dataset'"
            )
        out.append(
            AgreementRef(
                _text(item, "provider", f"{where}: agreements[{i}]"),
                _text(item, "dataset", f"{where}: agreements[{i}]"),
            )
        )
    return tuple(out)


def _dimension_uses(
    raw: Mapping[str, Any], where: str, *, survey: bool
) -> tuple[DimensionUse, ...]:
    value = raw.get("dimensions", [])
    entries: list[tuple[str, Any]]
    if isinstance(value, list):
        entries = []
        for item in value:
            if isinstance(item, str):
                entries.append((item, None))
            elif isinstance(item, dict) and len(item) == 1:
                entries.extend(item.items())
            else:
                raise DefinitionInvalid(
                    f"{where}: each dimension is a name, or a mapping of one name to its codes"
                )
    elif isinstance(value, dict):
        entries = list(value.items())
    else:
        raise DefinitionInvalid(f"{where}: field 'dimensions' must be a list")
    known = local_dimensions()
    out: list[DimensionUse] = []
    for name, codes in entries:
        local = known.get(str(name))
        if local is None:
            raise DimensionUnknown(
                f"{where}: dimension {name!r} is not one of the agreed dimensions "
                f"({', '.join(known)})"
            )
        if codes is None:
            # Aggregate codes by default on survey estimates only (see below).
            chosen = tuple(c for c in local.codes if survey or c not in local.aggregates)
        else:
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise DefinitionInvalid(f"{where}: the codes of dimension {name!r} must be a list")
            for code in codes:
                if code not in local:
                    raise DimensionUnknown(
                        f"{where}: code {code!r} is not in the codelist of dimension {name!r}"
                    )
            chosen = tuple(c for c in local.codes if c in codes or c == TOTAL)
            grouped = [c for c in chosen if c in local.aggregates]
            if grouped and not survey:
                # An aggregate cell is published when its line is (:mod:`.protection`);
                # its own confidentiality is not protected against differencing, which
                # only a survey's weighted estimates can afford.
                raise DefinitionInvalid(
                    f"{where}: aggregate code(s) {', '.join(grouped)} of dimension "
                    f"{name!r} are for survey estimates only"
                )
        out.append(DimensionUse(local.name, chosen))
    names = [d.name for d in out]
    if len(set(names)) != len(names):
        raise DefinitionInvalid(f"{where}: a dimension is listed twice")
    order = list(known)
    return tuple(sorted(out, key=lambda d: order.index(d.name)))


def _measure(raw: Mapping[str, Any], where: str) -> Measure:
    value = raw.get("measure")
    if not isinstance(value, dict):
        raise DefinitionInvalid(f"{where}: field 'measure' must be a mapping with a 'kind'")
    unknown = set(value) - {"kind", "scale", "survey"}
    if unknown:
        raise DefinitionInvalid(f"{where}: measure has unknown fields {sorted(unknown)}")
    kind = _choice(value, "kind", MEASURE_KINDS, f"{where}: measure")
    scale = value.get("scale", 1)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or scale <= 0:
        raise DefinitionInvalid(f"{where}: measure scale must be a positive number")
    survey = value.get("survey", False)
    if not isinstance(survey, bool):
        raise DefinitionInvalid(f"{where}: measure survey must be true or false")
    if survey and kind != "ratio":
        raise DefinitionInvalid(f"{where}: only a ratio can be a survey estimate")
    if kind != "ratio" and scale != 1:
        raise DefinitionInvalid(f"{where}: only a ratio has a scale")
    return Measure(kind=kind, scale=float(scale), survey=survey)


def _disclosure(raw: Mapping[str, Any], measure: Measure, where: str) -> DisclosureRule:
    value = raw.get("disclosure")
    if not isinstance(value, dict):
        raise DefinitionInvalid(f"{where}: field 'disclosure' must be a mapping")
    unknown = set(value) - {"min_contributors", "magnitude", "dominance", "counts"}
    if unknown:
        raise DefinitionInvalid(f"{where}: disclosure has unknown fields {sorted(unknown)}")
    least = value.get("min_contributors")
    if not isinstance(least, int) or isinstance(least, bool) or least < 1:
        raise DefinitionInvalid(f"{where}: disclosure min_contributors must be an integer >= 1")
    magnitude = value.get("magnitude", False)
    if not isinstance(magnitude, bool):
        raise DefinitionInvalid(f"{where}: disclosure magnitude must be true or false")
    dominance = None
    if value.get("dominance") is not None:
        d = value["dominance"]
        if (
            not isinstance(d, dict)
            or set(d) != {"n", "k"}
            or not isinstance(d["n"], int)
            or not isinstance(d["k"], int | float)
            or not 1 <= d["n"] <= 2
            or not 0 < d["k"] < 100
        ):
            raise DefinitionInvalid(
                f"{where}: disclosure dominance must be {{n: 1 or 2, k: percent in (0, 100)}}"
            )
        dominance = Dominance(n=d["n"], k=float(d["k"]))
    if magnitude and measure.kind not in MAGNITUDE_KINDS:
        raise DefinitionInvalid(
            f"{where}: a {measure.kind} is not a magnitude; only "
            f"{' and '.join(MAGNITUDE_KINDS)} measures take the magnitude rules"
        )
    if magnitude != (dominance is not None):
        raise DefinitionInvalid(
            f"{where}: a magnitude needs a dominance rule, and a dominance rule a magnitude"
        )
    counts = value.get("counts", list(RATIO_COUNTS))
    if "counts" in value and measure.kind != "ratio":
        raise DefinitionInvalid(f"{where}: disclosure counts apply to a ratio only")
    if (
        not isinstance(counts, list)
        or not counts
        or any(c not in RATIO_COUNTS for c in counts)
        or len(set(counts)) != len(counts)
    ):
        raise DefinitionInvalid(
            f"{where}: disclosure counts must list some of {', '.join(RATIO_COUNTS)}"
        )
    return DisclosureRule(
        min_contributors=least,
        magnitude=magnitude,
        dominance=dominance,
        counts=tuple(c for c in RATIO_COUNTS if c in counts),
    )


def parse_definition(raw: object, *, where: str) -> Definition:
    """A :class:`Definition` from a parsed YAML document; checks its own fields only
    (not its tables, columns or query: :func:`check_definition` does)."""
    if not isinstance(raw, dict):
        raise DefinitionInvalid(f"{where}: the file must hold one mapping")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise DefinitionInvalid(f"{where}: unknown fields {sorted(unknown)}")
    path = where
    ident = _text(raw, "id", where)
    if not ID.fullmatch(ident):
        raise DefinitionInvalid(
            f"{where}: id {ident!r} must be lower-case letters, digits and '_', a letter first"
        )
    where = f"{where} ({ident})"
    version = str(raw.get("version", "1.0"))
    if not VERSION.fullmatch(version):
        raise DefinitionInvalid(f"{where}: version {version!r} is not like '1.0'")
    withheld = _text(raw, "withheld", where, required=False) or None
    measure = _measure(raw, where) if withheld is None or "measure" in raw else None
    disclosure = (
        _disclosure(raw, measure, where)
        if measure is not None and (withheld is None or "disclosure" in raw)
        else None
    )
    query = _text(raw, "query", where, required=withheld is None) or None
    return Definition(
        id=ident,
        version=version,
        name=_text(raw, "name", where),
        description=" ".join(_text(raw, "description", where).split()),
        unit=_choice(raw, "unit", tuple(UNITS), where),
        frequency=_choice(raw, "frequency", FREQUENCIES, where),
        sources=_sources(raw, where),
        agreements=_agreements(raw, where),
        dimensions=_dimension_uses(raw, where, survey=measure is not None and measure.survey),
        measure=measure,
        disclosure=disclosure,
        query=query,
        notes=" ".join(_text(raw, "notes", where, required=False).split()),
        withheld=withheld,
        path=path,
    )


# Checking against the catalog --------------------------------------------------------------


def _check_agreements(definition: Definition, where: str) -> None:
    needed = {bronze_dataset(s) for s in definition.sources} - {None}
    listed = {(a.provider, a.dataset) for a in definition.agreements}
    missing = needed - listed
    if missing:
        names = ", ".join(f"{a}/{d}" for a, d in sorted(m for m in missing if m))
        raise DefinitionInvalid(f"{where}: no agreement listed for source dataset {names}")
    extra = listed - needed
    if extra:
        names = ", ".join(f"{a}/{d}" for a, d in sorted(extra))
        raise DefinitionInvalid(
            f"{where}: agreement {names} is listed but none of its tables is a source"
        )


def check_definition(
    definition: Definition, *, schemas: SchemaCatalog, space: Workspace | None = None
) -> None:
    """Check a parsed definition against the schema catalog: known tables, agreements
    covering them, and (unless withheld) a query that binds and gives the columns."""
    where = f"{definition.path} ({definition.id})"
    for name in definition.sources:
        try:
            source_schema(name, schemas=schemas)
        except TableUnknown as exc:
            raise TableUnknown(f"{where}: {exc.message}") from exc
    _check_agreements(definition, where)
    if definition.computable:
        check_query(definition, schemas=schemas, space=space)


def read_definition(
    text: str, *, where: str, schemas: SchemaCatalog, space: Workspace | None = None
) -> Definition:
    """A checked definition from YAML text (``where`` names it in errors)."""
    try:
        raw = yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise DefinitionInvalid(f"{where}: not valid YAML: {exc}") from exc
    definition = parse_definition(raw, where=where)
    check_definition(definition, schemas=schemas, space=space)
    return definition


def load_definition(
    path: Path | Traversable, *, schemas: SchemaCatalog, space: Workspace | None = None
) -> Definition:
    """The checked definition in the YAML file ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionInvalid(f"{path.name}: cannot be read: {exc}") from exc
    return read_definition(text, where=path.name, schemas=schemas, space=space)


def load_definitions(
    folder: Path | Traversable | None = None, *, schemas: SchemaCatalog
) -> tuple[Definition, ...]:
    """Every definition in ``folder`` (default: the package's ``definitions/``), in
    file-name order; ids must be unique."""
    root = folder or resources.files("integration.indicators").joinpath(DEFINITIONS_FOLDER)
    files = sorted(
        (f for f in root.iterdir() if f.name.endswith((".yaml", ".yml"))), key=lambda f: f.name
    )
    out: list[Definition] = []
    seen: dict[str, str] = {}
    with open_workspace() as space:
        for file in files:
            definition = load_definition(file, schemas=schemas, space=space)
            if definition.id in seen:
                raise DefinitionInvalid(
                    f"{file.name}: id {definition.id!r} is also the id of {seen[definition.id]}"
                )
            seen[definition.id] = file.name
            out.append(definition)
    return tuple(out)


__all__ = [
    "AgreementRef",
    "Definition",
    "DimensionUse",
    "DisclosureRule",
    "Dominance",
    "Measure",
    "check_definition",
    "load_definition",
    "load_definitions",
    "parse_definition",
    "read_definition",
]
