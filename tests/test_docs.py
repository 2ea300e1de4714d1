"""The docs stay true to the code: README.md and every page under docs/.

- the command reference is what the generator makes from the command tree now (the
  configuration reference has its own test in ``tests/lmis_hub/test_settings.py``);
- every `lmis-hub …` command a page names, in a code block or inline code, exists;
- every `make …` target a page names exists;
- every relative link points to a file that exists, and to a heading that exists
  when it names one;
- every repository path and every dotted module name a page gives in inline code
  (``integration/ingest/worker.py``, ``schemas.receipts.UNVERIFIED_REASONS``) exists,
  so a module moved without its docs fails here.

Nothing here starts a service; the whole file runs in well under a second.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer

from hub_api.cli import app, cli_reference

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
#: Another part of the project generates this page; until it lands, links to it are
#: skipped (and reported as skipped), never silently accepted once it exists.
GENERATED_ELSEWHERE = ROOT / "docs" / "reference" / "error-codes.md"
#: Top-level packages and folders whose paths and module names the docs cite.
PACKAGES = ("lmis_hub", "schemas", "connectors", "governance", "integration", "hub_api", "synth",
            "infra")  # fmt: skip
FOLDERS = (*PACKAGES, "dags", "examples", "benchmarks", "tests", "requirements", "docs")

FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
#: `lmis-hub` as a command, not inside `.lmis-hub/` or `lmis-hub-ingest`.
COMMAND = re.compile(r"(?<![\w.-])lmis-hub(?![\w/.-])([^\n]*)")
MAKE = re.compile(r"(?<![\w-])make\s+([a-z][\w-]*)")
WORD = re.compile(r"[a-z][a-z0-9-]*")
#: Root options that take a value (the value is not a command name).
VALUED_ROOT_OPTIONS = {"--log-format", "--log-level"}


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Page:
    path: Path
    text: str

    @property
    def blocks(self) -> list[str]:
        return [m.group(2) for m in FENCE.finditer(self.text)]

    @property
    def prose(self) -> str:
        """The text outside fenced code blocks."""
        return FENCE.sub("", self.text)

    @property
    def inline_code(self) -> list[str]:
        return [m.group(2) for m in INLINE.finditer(self.prose)]

    @property
    def code(self) -> list[str]:
        """Every code block and inline code span."""
        return [*self.blocks, *self.inline_code]

    def links(self) -> list[str]:
        return LINK.findall(INLINE.sub("", self.prose))


@cache
def page(path: Path) -> Page:
    return Page(path, path.read_text(encoding="utf-8"))


def pages() -> Iterator[Page]:
    for path in PAGES:
        yield page(path)


# -- the generated command reference --------------------------------------------------------


def test_cli_reference_matches_the_command_tree() -> None:
    document = ROOT / cli_reference.DOCUMENT
    expected = cli_reference.render(typer.main.get_command(app))
    assert cli_reference.block(document) == expected, (
        f"{cli_reference.DOCUMENT} is out of date: "
        f"run `lmis-hub config cli-reference --write {cli_reference.DOCUMENT}`"
    )


# -- commands the docs name -----------------------------------------------------------------


@cache
def command_tree() -> dict[str, Any]:
    """Every command of `lmis-hub`, hidden ones too: a group is a dict of its children,
    a command is None."""

    def walk(command: Any) -> dict[str, Any] | None:
        children = getattr(command, "commands", None)
        if children is None:
            return None
        return {name: walk(child) for name, child in children.items()}

    tree = walk(typer.main.get_command(app))
    assert tree is not None
    return tree


def command_problems(rest: str, tree: dict[str, Any]) -> list[str]:
    """What is wrong with the command written after `lmis-hub` (the rest of its line).

    ``a b | c | d e`` names ``a b``, ``a c`` and ``a d e``: the word after a ``|`` is a
    sibling of the last command named. Words after a command are its arguments; an
    option, a placeholder (``ID``, ``<id>``, ``…``) or a comment ends the command."""
    tokens = rest.replace("\\|", "|").split()
    problems: list[str] = []
    path: list[str] = []
    node: dict[str, Any] | None = tree
    done = False  # the command is complete: what follows are its arguments
    skip_value = False
    alternative = False
    for token in tokens:
        if token.startswith("#"):
            break
        if token == "|":
            alternative = bool(path)
            done = True
            continue
        if alternative:
            alternative = False
            if not WORD.fullmatch(token):
                continue  # an alternative option, such as `| --reason CODE`
            parent: dict[str, Any] = tree
            for name in path[:-1]:
                parent = parent[name]
            if token not in parent:
                problems.append(f"`{' '.join((*path[:-1], token))}` is not a command")
                done = True
                continue
            path[-1] = token
            node, done = parent[token], False
            continue
        if done:
            continue
        if skip_value:
            skip_value = False
            continue
        if not path and token.startswith("-"):
            skip_value = token in VALUED_ROOT_OPTIONS
            continue
        if node is None or not WORD.fullmatch(token):
            done = True  # a command's arguments, or an option or placeholder
            continue
        if token not in node:
            problems.append(f"`{' '.join((*path, token))}` is not a command")
            done = True
            continue
        path.append(token)
        node = node[token]
    return problems


def mentions() -> Iterator[Any]:
    for p in pages():
        for code in p.code:
            for match in COMMAND.finditer(code):
                yield pytest.param(
                    p.path, match.group(1), id=f"{relative(p.path)}: lmis-hub{match.group(1)}"
                )


def test_the_docs_name_commands() -> None:
    assert sum(1 for _ in mentions()) > 50


@pytest.mark.parametrize(("path", "rest"), list(mentions()))
def test_every_command_in_the_docs_exists(path: Path, rest: str) -> None:
    problems = command_problems(rest, command_tree())
    assert not problems, f"{relative(path)}: `lmis-hub{rest}`: " + "; ".join(problems)


def test_the_command_parser_reads_alternatives_and_arguments() -> None:
    tree = command_tree()
    for ok in (
        " stack up | down | status      # the embedded stack",
        " agreements show ID | list [--state active] | expiring --days 60 | late",
        " agencies … | keys … | agreements … | audit …",
        " ingest run | notices | quarantine list | show | replay",
        " quarantine replay <id>… | --reason CODE | --agency A  [--no-send]",
        " --json --log-format json agreements list",
        " schemas show nso lfs_person [--version 1]",
        "",
    ):
        assert command_problems(ok, tree) == [], ok
    assert command_problems(" stack upp", tree) == ["`stack upp` is not a command"]
    assert command_problems(" stack up | dwn", tree) == ["`stack dwn` is not a command"]
    assert command_problems(" agreement list", tree) == ["`agreement` is not a command"]


def test_every_make_target_in_the_docs_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    named = {
        (relative(p.path), m.group(1))
        for p in pages()
        for code in p.code
        for m in MAKE.finditer(code)
    }
    assert named, "the docs name no make target"
    missing = sorted(f"{where}: make {target}" for where, target in named if target not in targets)
    assert not missing, missing


# -- links ----------------------------------------------------------------------------------


def anchors(path: Path) -> set[str]:
    """The anchors of a page's headings, as a Markdown renderer makes them."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, title in HEADING.findall(page(path).prose):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def links() -> Iterator[Any]:
    for p in pages():
        for target in p.links():
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # a URL, not a file of the repository
            marks = []
            file, _, _ = target.partition("#")
            resolved = (p.path.parent / file).resolve() if file else p.path
            if resolved == GENERATED_ELSEWHERE and not resolved.exists():
                marks.append(
                    pytest.mark.skip(
                        reason=f"{relative(resolved)} is generated by another change that "
                        "has not landed yet; the link is checked once the file exists"
                    )
                )
            yield pytest.param(p.path, target, id=f"{relative(p.path)} -> {target}", marks=marks)


def test_the_docs_link_to_each_other() -> None:
    assert sum(1 for _ in links()) > 30


@pytest.mark.parametrize(("path", "target"), list(links()))
def test_every_relative_link_resolves(path: Path, target: str) -> None:
    file, _, anchor = target.partition("#")
    resolved = (path.parent / file).resolve() if file else path
    assert resolved.is_relative_to(ROOT), f"{relative(path)}: {target} leaves the repository"
    assert resolved.exists(), f"{relative(path)}: {target}: no such file"
    if anchor and resolved.suffix == ".md":
        assert anchor in anchors(resolved), (
            f"{relative(path)}: {target}: {relative(resolved)} has no heading #{anchor}"
        )


# -- paths and modules ----------------------------------------------------------------------

PATH = re.compile(rf"^(?:{'|'.join(FOLDERS)})/[\w./-]*$")
MODULE = re.compile(rf"^(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)+")
#: A file name such as `connectors.py` (a benchmark script) is not a module path.
FILE_NAME = re.compile(r"\.(?:py|yaml|yml|md|csv|avsc|json|jsonl|txt|pem|key)$")


def cited() -> Iterator[tuple[Path, str]]:
    for p in pages():
        for code in p.inline_code:
            text = code.strip()
            if PATH.match(text) or (MODULE.match(text) and not FILE_NAME.search(text)):
                yield p.path, text


@cache
def top_level_names(module: Path) -> frozenset[str]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    return None


def module_problem(dotted: str) -> str | None:
    """None when ``a.b.c`` is a module, or a module and one of its top-level names.

    ``a.b`` that is neither is taken for what it most likely is, an error code such as
    ``synth.nation_not_found``, and passes; three parts or more must resolve."""
    parts = MODULE.match(dotted).group(0).split(".")  # type: ignore[union-attr]
    if len(parts) == 2 and module_file(parts) is None:
        return None
    for cut in range(len(parts), 1, -1):
        module = module_file(parts[:cut])
        if module is None:
            continue
        rest = parts[cut:]
        if rest and rest[0] not in top_level_names(module):
            return f"{relative(module)} defines no {rest[0]}"
        return None
    return f"no module {'.'.join(parts[:2])}"


def test_the_docs_cite_paths_and_modules() -> None:
    assert sum(1 for _ in cited()) > 50


@pytest.mark.parametrize(
    ("path", "text"), [pytest.param(p, t, id=f"{relative(p)}: {t}") for p, t in cited()]
)
def test_every_cited_path_and_module_exists(path: Path, text: str) -> None:
    if PATH.match(text):
        assert (ROOT / text).exists(), f"{relative(path)}: `{text}` does not exist"
    else:
        problem = module_problem(text)
        assert problem is None, f"{relative(path)}: `{text}`: {problem}"


# -- the walkthrough a test runs ------------------------------------------------------------


def test_the_new_agency_walkthrough_is_what_its_test_runs() -> None:
    """`tests/hub_api/test_new_agency.py` runs the commands of "Adding an agency"; a step
    added to the page and not to the test (or renamed in one only) fails here."""
    guide = page(ROOT / "docs" / "guide" / "agency-connector.md").text
    section = guide.split("\n## Adding an agency\n", 1)[1].split("\n## ", 1)[0]
    block = FENCE.search(section)
    assert block is not None, "Adding an agency has no command block"
    steps = {tuple(m.group(1).split()[:2]) for m in COMMAND.finditer(block.group(2)) if m.group(1)}
    test = (ROOT / "tests" / "hub_api" / "test_new_agency.py").read_text(encoding="utf-8")
    run = set(re.findall(r'(?:cli\(|\[)"([a-z-]+)", "([a-z-]+)"', test))
    assert steps, "the walkthrough names no command"
    assert steps <= run, f"in the walkthrough but not run by its test: {sorted(steps - run)}"
