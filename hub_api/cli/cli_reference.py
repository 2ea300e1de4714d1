"""The command-line reference, generated from the `lmis-hub` command tree.

``lmis-hub config cli-reference`` prints it; ``docs/reference/cli.md`` holds a copy
between the markers below (``config cli-reference --write`` rewrites it), and a test
fails when the two differ, so the reference cannot drift from the commands. Every
command and group is listed in the order the tree registers them, with its help text,
its usage line and each argument and option as ``--help`` shows it; hidden commands
(aliases kept for old scripts) are left out.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from lmis_hub import config_reference

START = "<!-- cli-reference:start -->"
END = "<!-- cli-reference:end -->"
#: Where the generated reference lives in the repository.
DOCUMENT = Path("docs") / "reference" / "cli.md"
PROG = "lmis-hub"


@dataclass(frozen=True)
class Entry:
    """One command or group of the tree, as its ``--help`` describes it."""

    path: tuple[str, ...]
    is_group: bool
    help: str
    usage: str
    params: tuple[tuple[str, str], ...]  # (argument or option as written, its help)
    subcommands: tuple[tuple[str, str], ...]  # (name, first line of its help), groups only

    @property
    def name(self) -> str:
        return " ".join((PROG, *self.path))


def entries(root: Any) -> list[Entry]:
    """Every visible command and group under ``root`` (a click command built by typer:
    ``typer.main.get_command(app)``), the root first, depth first."""
    return list(_walk(root, typer.Context(root, info_name=PROG), ()))


def _walk(command: Any, ctx: typer.Context, path: tuple[str, ...]) -> Iterator[Entry]:
    children = getattr(command, "commands", None)
    visible = {name: child for name, child in (children or {}).items() if not child.hidden}
    params = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or param.name == "help":
            continue
        params.append((record[0], record[1]))
    yield Entry(
        path=path,
        is_group=children is not None,
        help=inspect.cleandoc(command.help or ""),
        usage=" ".join((PROG, *path, *command.collect_usage_pieces(ctx))),
        params=tuple(params),
        subcommands=tuple((name, _first_line(child.help or "")) for name, child in visible.items()),
    )
    for name, child in visible.items():
        yield from _walk(child, typer.Context(child, info_name=name, parent=ctx), (*path, name))


def render(root: Any) -> str:
    """The reference as Markdown: one section per group, one per command."""
    out: list[str] = []
    for entry in entries(root):
        level = "##" if len(entry.path) <= 1 or entry.is_group else "###"
        out += [f"{level} `{entry.name}`", "", _prose(entry.help), ""]
        out += [f"Usage: `{entry.usage}`", ""]
        if entry.params:
            out += ["| argument or option | meaning |", "|---|---|"]
            out += [
                f"| `{_cell(spec)}` | {_prose(_cell(text)) or '—'} |" for spec, text in entry.params
            ]
            out.append("")
        if entry.subcommands:
            out += ["| command | what it does |", "|---|---|"]
            for name, summary in entry.subcommands:
                target = " ".join((PROG, *entry.path, name))
                out.append(f"| [`{name}`](#{anchor(target)}) | {_prose(_cell(summary))} |")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def as_data(root: Any) -> list[dict[str, Any]]:
    """The reference as data, one object per command or group (``--json``)."""
    return [
        {
            "command": entry.name,
            "group": entry.is_group,
            "help": entry.help,
            "usage": entry.usage,
            "options": [{"name": spec, "help": text} for spec, text in entry.params],
            "commands": [name for name, _ in entry.subcommands],
        }
        for entry in entries(root)
    ]


def anchor(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading: lower case, punctuation other than
    ``-`` and ``_`` dropped, spaces as ``-``."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def block(document: Path) -> str:
    """The reference as it stands in ``document``, between the markers."""
    return config_reference.marked_block(document, START, END)


def write_into(document: Path, root: Any) -> None:
    """Replace the reference in ``document`` with one generated from ``root``."""
    config_reference.replace_marked_block(document, render(root), START, END)


def _first_line(text: str) -> str:
    return inspect.cleandoc(text).split("\n\n")[0].replace("\n", " ")


def _cell(text: str) -> str:
    """Text for a table cell: one line, ``|`` escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _prose(text: str) -> str:
    """Help text for Markdown: ``<`` and ``>`` outside code spans escaped, so that
    ``<agency>`` shows rather than vanishing as an unknown HTML tag."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(
        part if part.startswith("`") else part.replace("<", "\\<").replace(">", "\\>")
        for part in parts
    )
