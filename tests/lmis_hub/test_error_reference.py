"""The error-code reference: every code registered, documented, and the docs in step."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from connectors.sdk.receipts import KEY_REASONS
from lmis_hub import error_reference
from lmis_hub.errors import Arises
from schemas.receipts import UNVERIFIED_REASONS

ROOT = Path(__file__).parents[2]
#: The packages whose code is scanned for error codes.
PACKAGES = (
    "connectors",
    "governance",
    "hub_api",
    "infra",
    "integration",
    "lmis_hub",
    "schemas",
    "synth",
)
CODE = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
#: Literals shaped like a code of a known area that are not codes.
NOT_CODES = {
    "agency.table": "a column heading of `lmis-hub demo`",
    "hub.db": "a file name",
    "hub.kek": "a file name",
    "synth.errors": "a module name (error_reference.ERROR_MODULES)",
    "indicators.json": "a file name (the nation's true indicators)",
}
#: Where a code may be written as a string: the hub's contract cannot import the error
#: classes of governance and ingest (UNVERIFIED_REASONS); each is checked as registered.
LITERALS_ALLOWED_IN = {Path("schemas/receipts.py")}


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"))


def _docstrings(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _class_codes(tree: ast.Module) -> Iterator[tuple[str, ast.Constant]]:
    """(class name, its ``code = "..."`` literal) of every class that defines a code."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            target: ast.expr | None = None
            value: ast.expr | None = None
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target, value = statement.targets[0], statement.value
            elif isinstance(statement, ast.AnnAssign):
                target, value = statement.target, statement.value
            if (
                isinstance(target, ast.Name)
                and target.id == "code"
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                yield node.name, value


def test_the_reference_in_the_docs_is_the_generated_one() -> None:
    document = ROOT / error_reference.DOCUMENT
    assert document.read_text(encoding="utf-8") == error_reference.render(), (
        f"{error_reference.DOCUMENT} is out of date: run "
        f"`lmis-hub config error-codes --write {error_reference.DOCUMENT.as_posix()}`"
    )


def test_every_error_class_is_registered_and_its_module_listed() -> None:
    defined: dict[str, str] = {}
    for path, tree in _sources():
        module = ".".join(path.with_suffix("").parts)
        for name, literal in _class_codes(tree):
            code = str(literal.value)
            assert code not in defined, f"{code}: {defined[code]}, {name}"
            defined[code] = f"{module}.{name}"
            assert module in error_reference.ERROR_MODULES, f"{module} (class {name})"
    registered = {
        code: f"{error.__module__}.{error.__qualname__}"
        for code, error in error_reference.all_codes().items()
    }
    assert registered == defined


def test_codes_are_area_dot_reason_and_unique() -> None:
    codes = error_reference.all_codes()
    assert all(CODE.match(code) for code in codes), [c for c in codes if not CODE.match(c)]
    assert all(error.code == code for code, error in codes.items())
    assert len({error for error in codes.values()}) == len(codes)


def test_every_code_says_where_it_arises_and_what_to_do() -> None:
    for entry in error_reference.entries():
        assert entry.arises, entry.code
        # "what is wrong; what to do", on the class itself (not inherited)
        assert ";" in entry.what_to_do, f"{entry.code} ({entry.error}): {entry.what_to_do!r}"


def test_no_code_is_typed_as_a_string_outside_its_class() -> None:
    """A code is written once, in its class; everywhere else it is ``Class.code``, so a
    typo cannot give an unregistered code. Only the contract's lists that cannot import
    the classes keep strings, and those must be registered codes."""
    codes = error_reference.all_codes()
    areas = {code.split(".", 1)[0] for code in codes}
    stray: list[str] = []
    for path, tree in _sources():
        skip = _docstrings(tree) | {id(literal) for _, literal in _class_codes(tree)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if id(node) in skip or text in NOT_CODES or not CODE.match(text):
                continue
            if text.split(".", 1)[0] not in areas:
                continue
            if text not in codes or path not in LITERALS_ALLOWED_IN:
                stray.append(f"{path}:{node.lineno}: {text!r}")
    assert stray == []


def test_the_rejections_a_connector_does_not_settle_on_are_registered() -> None:
    codes = error_reference.all_codes()
    assert sorted(UNVERIFIED_REASONS - codes.keys()) == []
    assert KEY_REASONS <= UNVERIFIED_REASONS
    assert all(Arises.QUARANTINE in codes[code].arises for code in UNVERIFIED_REASONS)


def test_schema_rules_are_named_with_their_code() -> None:
    by_code = {e.code: e for e in error_reference.entries()}
    assert by_code["validation.range"].rules == ("maximum", "minimum")
    assert "schema rules `maximum`, `minimum`" in error_reference.render()


def test_a_refused_row_and_a_refused_batch_share_the_code_for_the_same_fault() -> None:
    shared = {"validation.code_list", "validation.range", "validation.date"}
    for code in shared:
        arises = error_reference.all_codes()[code].arises
        assert Arises.ROW_REFUSAL in arises and Arises.QUARANTINE in arises, code
