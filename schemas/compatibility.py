"""Schema compatibility: can data written with one schema be read with another?

:func:`reader_problems` applies the Avro specification's schema-resolution rules to a
(reader, writer) pair and names every place where resolution would fail, with a rule:

========================  ============================================================
rule                      meaning
========================  ============================================================
``type_mismatch``         the types differ and no promotion applies
``missing_field``         the reader has a field the writer lacks, without a default
``enum_symbol``           the writer has a symbol the reader lacks, and the reader
                          enum has no default
``union_branch``          a writer union branch (or a writer type) matches no branch
                          of the reader's union
``fixed_size``            fixed types of different sizes
``name_mismatch``         named types with different names (reader aliases included)
========================  ============================================================

Allowed promotions: int -> long, float, double; long -> float, double; float -> double;
string <-> bytes. Modes: BACKWARD (the new version reads data of the previous one),
FORWARD (the previous reads the new), FULL (both); ``*_TRANSITIVE`` checks against every
earlier version instead of only the previous one; NONE checks nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.catalog import SchemaCatalog, SchemaVersion
from schemas.fingerprint import PRIMITIVES

_PROMOTIONS = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}
_NAMED = ("record", "error", "enum", "fixed")


@dataclass(frozen=True)
class Problem:
    """One place where a reader cannot read a writer's data."""

    path: str
    rule: str
    message: str


@dataclass(frozen=True)
class Incompatibility:
    """A version that breaks its dataset's compatibility mode."""

    dataset: str
    version: int
    other_version: int
    direction: str  # "backward": new reads old; "forward": old reads new
    problem: Problem

    def __str__(self) -> str:
        reader, writer = (
            (self.version, self.other_version)
            if self.direction == "backward"
            else (self.other_version, self.version)
        )
        return (
            f"{self.dataset}: v{reader} cannot read data written with v{writer} "
            f"({self.direction}): field {self.problem.path}: rule {self.problem.rule}: "
            f"{self.problem.message}"
        )


class _Names:
    """Named types of one schema by full name, for resolving references."""

    def __init__(self, schema: Any) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self._collect(schema, None)

    def _collect(self, schema: Any, namespace: str | None) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
            return
        if not isinstance(schema, dict):
            return
        kind = schema.get("type")
        if not isinstance(kind, str):
            self._collect(kind, namespace)
            return
        if kind in _NAMED:
            full = _full(schema["name"], schema.get("namespace", namespace))
            self.types[full] = schema
            namespace = full.rpartition(".")[0] or None
        if kind in ("record", "error"):
            for f in schema["fields"]:
                self._collect(f["type"], namespace)
        elif kind == "array":
            self._collect(schema["items"], namespace)
        elif kind == "map":
            self._collect(schema["values"], namespace)

    def resolve(self, schema: Any, namespace: str | None) -> tuple[Any, str | None]:
        """Dereference names and unwrap ``{"type": <primitive>}``; also return the namespace."""
        if isinstance(schema, str) and schema not in PRIMITIVES:
            full = _full(schema, namespace)
            target = self.types.get(full) or self.types.get(schema)
            if target is None:
                raise ValueError(f"unknown named type {schema!r}")
            return target, full.rpartition(".")[0] or None
        if isinstance(schema, dict):
            kind = schema.get("type")
            if isinstance(kind, str) and kind in PRIMITIVES:
                return kind, namespace
            if not isinstance(kind, str):
                return self.resolve(kind, namespace)
            if kind in _NAMED:
                full = _full(schema["name"], schema.get("namespace", namespace))
                return schema, full.rpartition(".")[0] or None
        return schema, namespace


def _full(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return str(schema["type"])


def _short(name: str) -> str:
    return name.rpartition(".")[2]


class _Checker:
    def __init__(self, reader: Any, writer: Any) -> None:
        self.rnames = _Names(reader)
        self.wnames = _Names(writer)
        self.problems: list[Problem] = []
        self._seen: set[tuple[int, int]] = set()

    def check(self, reader: Any, rns: str | None, writer: Any, wns: str | None, path: str) -> bool:
        reader, rns = self.rnames.resolve(reader, rns)
        writer, wns = self.wnames.resolve(writer, wns)
        rk, wk = _kind(reader), _kind(writer)
        if wk == "union":
            ok = True
            for branch in writer:
                bpath = f"{path}<{_describe(branch)}>"
                if rk == "union":
                    if not self._union_match(reader, rns, branch, wns, bpath):
                        ok = False
                elif not self._quiet(reader, rns, branch, wns):
                    self._add(
                        bpath,
                        "union_branch",
                        f"writer union branch {_describe(branch)} cannot be read as "
                        f"{_describe(reader)}",
                    )
                    ok = False
            return ok
        if rk == "union":
            return self._union_match(reader, rns, writer, wns, path)
        if rk != wk:
            if (wk, rk) in _PROMOTIONS:
                return True
            self._add(path, "type_mismatch", f"writer type {wk} cannot be read as {rk}")
            return False
        if rk in PRIMITIVES:
            return True
        if rk in _NAMED and not self._names_match(reader, writer, path):
            return False
        if rk == "fixed":
            if reader["size"] != writer["size"]:
                self._add(
                    path, "fixed_size", f"fixed size {writer['size']} read as {reader['size']}"
                )
                return False
            return True
        if rk == "enum":
            if "default" in reader:
                return True
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing:
                self._add(
                    path,
                    "enum_symbol",
                    f"writer symbols {missing} are not in the reader enum {reader['name']}, "
                    "which has no default",
                )
                return False
            return True
        if rk == "array":
            return self.check(reader["items"], rns, writer["items"], wns, f"{path}[]")
        if rk == "map":
            return self.check(reader["values"], rns, writer["values"], wns, f"{path}{{}}")
        if rk in ("record", "error"):
            key = (id(reader), id(writer))
            if key in self._seen:
                return True
            self._seen.add(key)
            ok = True
            wfields = {f["name"]: f for f in writer["fields"]}
            for f in writer["fields"]:
                for alias in f.get("aliases", []):
                    wfields.setdefault(alias, f)
            for rf in reader["fields"]:
                fpath = f"{path}.{rf['name']}" if path else rf["name"]
                wf = wfields.get(rf["name"])
                if wf is None:
                    wf = next((wfields[a] for a in rf.get("aliases", []) if a in wfields), None)
                if wf is None:
                    if "default" not in rf:
                        self._add(
                            fpath,
                            "missing_field",
                            "the reader needs this field, the writer does not have it, "
                            "and it has no default",
                        )
                        ok = False
                    continue
                ok = self.check(rf["type"], rns, wf["type"], wns, fpath) and ok
            return ok
        self._add(path, "type_mismatch", f"unsupported type {rk}")
        return False

    def _names_match(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> bool:
        rname, wname = _short(reader["name"]), _short(writer["name"])
        aliases = {_short(a) for a in reader.get("aliases", [])}
        if rname == wname or wname in aliases:
            return True
        self._add(
            path,
            "name_mismatch",
            f"writer type {writer['name']} is read as {reader['name']}; "
            f"add {writer['name']!r} to the reader's aliases",
        )
        return False

    def _quiet(self, reader: Any, rns: str | None, writer: Any, wns: str | None) -> bool:
        saved = list(self.problems)
        ok = self.check(reader, rns, writer, wns, "")
        self.problems = saved
        return ok

    def _union_match(
        self, reader: list[Any], rns: str | None, writer: Any, wns: str | None, path: str
    ) -> bool:
        # The first reader branch that matches the writer's type, as the spec prescribes.
        w, _ = self.wnames.resolve(writer, wns)
        wk = _kind(w)
        for branch in reader:
            b, _ = self.rnames.resolve(branch, rns)
            bk = _kind(b)
            same = bk == wk and (
                bk not in _NAMED
                or _short(b["name"]) == _short(w["name"])
                or _short(w["name"]) in {_short(a) for a in b.get("aliases", [])}
            )
            if same:
                return self.check(branch, rns, writer, wns, path)
        for branch in reader:
            if self._quiet(branch, rns, writer, wns):
                return True
        self._add(
            path,
            "union_branch",
            f"writer type {_describe(writer)} matches no branch of the reader union "
            f"{[_describe(b) for b in reader]}",
        )
        return False

    def _add(self, path: str, rule: str, message: str) -> None:
        self.problems.append(Problem(path or "(root)", rule, message))


def _describe(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    if isinstance(schema.get("type"), str) and "name" in schema:
        return str(schema["name"])
    return str(schema.get("type"))


def reader_problems(reader: Any, writer: Any) -> list[Problem]:
    """Why ``reader`` cannot read data written with ``writer`` (empty when it can)."""
    checker = _Checker(reader, writer)
    checker.check(reader, None, writer, None, "")
    return checker.problems


def check_versions(dataset: str, versions: list[SchemaVersion], mode: str) -> list[Incompatibility]:
    """Every incompatibility of ``versions`` (oldest first) under ``mode``."""
    if mode == "NONE":
        return []
    transitive = mode.endswith("_TRANSITIVE")
    base = mode.removesuffix("_TRANSITIVE")
    found: list[Incompatibility] = []
    for i, new in enumerate(versions):
        olds = versions[:i] if transitive else versions[max(0, i - 1) : i]
        for old in olds:
            if base in ("BACKWARD", "FULL"):
                for p in reader_problems(new.raw, old.raw):
                    found.append(Incompatibility(dataset, new.version, old.version, "backward", p))
            if base in ("FORWARD", "FULL"):
                for p in reader_problems(old.raw, new.raw):
                    found.append(Incompatibility(dataset, new.version, old.version, "forward", p))
    return found


def check_catalog(
    catalog: SchemaCatalog, *, modes: Mapping[str, str] | None = None
) -> list[Incompatibility]:
    """Check every dataset under its mode (``modes`` overrides the catalog's per dataset)."""
    found: list[Incompatibility] = []
    for key in catalog.datasets():
        agency, dataset = key.split("/")
        mode = (modes or {}).get(key) or catalog.mode(agency, dataset)
        found.extend(check_versions(key, catalog.versions(agency, dataset), mode))
    return found


def describe(incompatibilities: Iterable[Incompatibility]) -> str:
    return "\n".join(str(i) for i in incompatibilities)
