"""The error-code reference, generated from the error classes.

``lmis-hub config error-codes`` prints it; ``docs/reference/error-codes.md`` is a copy
(``config error-codes --write docs/reference/error-codes.md`` rewrites it), and a test
fails when the two differ, so the reference cannot drift from the code. Every registered
code is listed, grouped by area (the part before the dot), with where it arises
(:class:`lmis_hub.errors.Arises`) and what to do: the first paragraph of its class's
docstring. The error modules are imported here by name, so every package's codes are
registered before they are listed.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from lmis_hub.errors import Arises, HubError, registered_codes

#: Where the generated reference lives in the repository.
DOCUMENT = Path("docs") / "reference" / "error-codes.md"
#: Every module that defines error classes (a test checks that none is missing).
ERROR_MODULES = (
    "lmis_hub.errors",
    "schemas.errors",
    "governance.errors",
    "governance.accounts.errors",
    "governance.disclosure.errors",
    "connectors.sdk.errors",
    "integration.ingest.errors",
    "integration.lake.errors",
    "integration.linkage.errors",
    "integration.indicators.errors",
    "integration.indicators.sdmx.errors",
    "integration.research.errors",
    "infra.errors",
    "hub_api.http.errors",
    "hub_api.http.sdmx_query",
    "synth.errors",
)

_WHERE = {
    Arises.ROW_REFUSAL: "a connector refuses one source row and publishes the rest: "
    "`connector validate` counts it, `connector status --refusals` lists it (row key, "
    "field, code, a message that never repeats the value).",
    Arises.QUARANTINE: "the hub refuses a delivered message: the code is the quarantine "
    "reason (`quarantine list`, `quarantine show`) and the `reason_code` of the rejection "
    "receipt sent to the agency; for a refusal of the records' content the receipt's "
    "`problems` name each broken schema rule.",
    Arises.SERVICE: "a command, an API call or a service fails: the CLI prints "
    "`[code] message` and exits with status 2 (`--json`: "
    '`{"error": {"code", "message"}}`), the API answers with the same envelope.',
}


@dataclass(frozen=True)
class Entry:
    """One error code as the reference lists it."""

    code: str
    error: str  # module.Class
    arises: tuple[Arises, ...]
    what_to_do: str
    #: The schema rule names (a receipt's ``problems[].rule``) that give this code.
    rules: tuple[str, ...] = ()

    @property
    def area(self) -> str:
        return self.code.split(".", 1)[0]


def all_codes() -> dict[str, type[HubError]]:
    """Every error code of the project, with its class: every error module imported, and
    only their classes (not one a test or a plug-in defines)."""
    for module in ERROR_MODULES:
        importlib.import_module(module)
    return {
        code: error
        for code, error in registered_codes().items()
        if error.__module__ in ERROR_MODULES
    }


def what_to_do(error: type[HubError]) -> str:
    """The first paragraph of the class's own docstring, on one line ('' when it has none:
    a docstring inherited from a parent does not count)."""
    doc = error.__dict__.get("__doc__")
    if not doc:
        return ""
    first = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(first.split())


def entries() -> list[Entry]:
    """Every registered code, sorted by code."""
    rule_errors: dict[str, type[HubError]] = importlib.import_module(
        "schemas.validation"
    ).RULE_ERRORS
    return [
        Entry(
            code=code,
            error=f"{error.__module__}.{error.__qualname__}",
            arises=error.arises,
            what_to_do=what_to_do(error),
            rules=tuple(sorted(rule for rule, e in rule_errors.items() if e.code == code)),
        )
        for code, error in all_codes().items()
    ]


def as_data() -> list[dict[str, Any]]:
    """The reference as data (``--json``): one object per code."""
    return [
        {
            "code": e.code,
            "area": e.area,
            "arises": [str(a) for a in e.arises],
            "what_to_do": e.what_to_do,
            "rules": list(e.rules),
            "error": e.error,
        }
        for e in entries()
    ]


def render() -> str:
    """The reference as a Markdown page: one table per area."""
    listed = entries()
    areas = sorted({e.area for e in listed})
    out = [
        "# Error codes",
        "",
        "<!-- Generated from the error classes by `lmis-hub config error-codes --write "
        f"{DOCUMENT.as_posix()}`; do not edit by hand. -->",
        "",
        f"Every code the hub reports: {len(listed)} codes in {len(areas)} areas. A code "
        "is `area.reason` and is stable: the same code reaches the CLI, the API, the web "
        "UI, a connector's refused rows, the quarantine table and the receipts, so search "
        "for it here. *What to do* is the first line of the error class's docstring.",
        "",
        "Where a code arises:",
        "",
        *(f"- **{where}**: {text}" for where, text in _WHERE.items()),
        "",
        "Areas: " + ", ".join(f"[`{area}`](#{area})" for area in areas) + ".",
    ]
    for area, group in groupby(listed, key=lambda e: e.area):
        out += [
            "",
            f"## {area}",
            "",
            "| Code | Where it arises | What to do |",
            "|---|---|---|",
        ]
        for e in group:
            where = ", ".join(e.arises)
            if e.rules:
                names = ", ".join(f"`{rule}`" for rule in e.rules)
                where += f"; schema rule{'s' if len(e.rules) > 1 else ''} {names}"
            out.append(f"| `{e.code}` | {where} | {_cell(e.what_to_do)} |")
    return "\n".join(out) + "\n"


def write(path: Path) -> None:
    """Write the reference to ``path`` (its folder is made when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
