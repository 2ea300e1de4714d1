"""Imports run one way: lmis_hub <- schemas <- governance <- connectors / integration
<- hub_api <- dags / benchmarks <- tests.

A package may import its own modules and those of packages below it, never one above
it or beside it: the connector SDK runs at an agency without the hub's governance,
integration (the hub's ingest and lake) never needs a connector, and nothing in the
product imports a test. The check reads every module's imports (top level and inside
functions) with the ast module, so it cannot be fooled by an import done late.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

#: Lower ranks are imported by higher ones; equal ranks never import each other.
RANKS = {
    "lmis_hub": 0,
    "schemas": 1,
    "synth": 1,  # the synthetic nation: agencies' source systems, knows no contract
    "governance": 2,
    "connectors": 3,
    "integration": 3,
    "infra": 3,
    "hub_api": 4,
    "dags": 5,  # DAG tasks call the hub's duties through hub_api (its composition root)
    "benchmarks": 5,
    "tests": 6,
}
#: Below in rank but still not allowed: the connector SDK runs at an agency, with the
#: data contracts (schemas: signing, key material, envelope) and nothing of the hub.
FORBIDDEN = {("connectors", "governance")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def violations() -> set[tuple[str, str]]:
    """(module path, imported package) for every import running up or across."""
    found: set[tuple[str, str]] = set()
    for package, rank in RANKS.items():
        folder = ROOT / package
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            for imported in _imports(path) & RANKS.keys():
                if imported != package and (
                    RANKS[imported] >= rank or (package, imported) in FORBIDDEN
                ):
                    found.add((str(path.relative_to(ROOT)), imported))
    return found


def test_every_top_level_package_has_a_rank() -> None:
    packages = {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and not p.name.startswith(".")
    }
    assert packages <= RANKS.keys(), f"give these packages a rank: {packages - RANKS.keys()}"


def test_imports_run_one_way() -> None:
    found = sorted(violations())
    assert not found, "imports running up or across the layers:\n" + "\n".join(
        f"  {path} imports {imported}" for path, imported in found
    )


@pytest.mark.parametrize(
    ("package", "imported"),
    [
        ("governance", "integration"),
        ("schemas", "governance"),
        ("integration", "connectors"),
        ("connectors", "governance"),
    ],
)
def test_the_check_sees_an_import_running_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: str, imported: str
) -> None:
    (tmp_path / package).mkdir()
    (tmp_path / package / "bad.py").write_text(
        f"def late():\n    from {imported}.x import y\n    return y\n", encoding="utf-8"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert violations() == {(f"{package}/bad.py", imported)}


MAX_MODULE_LINES = 600


def test_no_module_of_the_product_is_over_600_lines() -> None:
    """Split a module by concept long before it becomes a grab-bag (tests excepted)."""
    long = sorted(
        f"{path.relative_to(ROOT)}: {n} lines"
        for package in RANKS.keys() - {"tests"}
        if (ROOT / package).is_dir()
        for path in (ROOT / package).rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    )
    assert not long, "split these modules: " + ", ".join(long)
