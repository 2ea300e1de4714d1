"""The configuration reference, generated from the settings classes.

``lmis-hub config reference`` prints it; ``docs/reference/configuration.md`` holds a
copy between the markers below (``config reference --write`` rewrites it), and a test
fails when the two differ, so the documentation cannot drift from the code. The
marker helpers at the end serve every generated block of the docs.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from lmis_hub.settings import Settings

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"


def _type_name(annotation: object) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = text.replace("typing.", "").replace("pathlib.", "").replace("NoneType", "None")
    text = re.sub(r"pydantic\.types\.", "", text)
    text = re.sub(r"^Optional\[(.*)\]$", r"\1 | None", text)
    text = re.sub(
        r"Literal\[(.*)\]", lambda m: m.group(1).replace("'", "").replace(", ", " \\| "), text
    )
    return text.replace(" | ", " \\| ")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "(group)"
    value = field.default
    if value is None:
        return "—"
    if isinstance(value, SecretStr):
        return "(secret)"
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        env = f"{prefix}{name.upper()}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_rows(annotation, f"{env}__"))
            continue
        secret = SecretStr in typing.get_args(annotation) or annotation is SecretStr
        description = (field.description or "").strip()
        if secret:
            description += " Secret: never logged."
        rows.append((f"`{env}`", _type_name(annotation), _default(field), description))
    return rows


def render() -> str:
    """The reference as a Markdown table."""
    lines = [
        "| variable | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for env, type_name, default, description in _rows(Settings, "HUB_"):
        lines.append(f"| {env} | {type_name} | {default} | {description} |")
    return "\n".join(lines) + "\n"


def entries() -> list[dict[str, str | None]]:
    """The reference as data, one entry per variable (`config reference --json`)."""
    return [
        {
            "variable": env.strip("`"),
            "type": type_name.replace("\\|", "|"),
            "default": None if default == "—" else default.strip("`"),
            "meaning": description,
        }
        for env, type_name, default, description in _rows(Settings, "HUB_")
    ]


#: Where the generated reference lives in the repository.
DOCUMENT = Path("docs") / "reference" / "configuration.md"


def block(document: Path) -> str:
    """The reference as it stands in ``document``, between the markers."""
    return marked_block(document, START, END)


def write_into(document: Path) -> None:
    """Replace the reference in ``document`` with a freshly generated one."""
    replace_marked_block(document, render(), START, END)


def marked_block(document: Path, start: str, end: str) -> str:
    """The text of ``document`` between the ``start`` and ``end`` markers
    (ValueError when either is missing)."""
    text = document.read_text(encoding="utf-8")
    first, last = _span(text, start, end)
    return text[first:last].strip("\n") + "\n"


def replace_marked_block(document: Path, body: str, start: str, end: str) -> None:
    """Put ``body`` between the markers of ``document``, leaving the rest as it is
    (ValueError when either marker is missing)."""
    text = document.read_text(encoding="utf-8")
    first, last = _span(text, start, end)
    document.write_text(text[:first] + "\n" + body + text[last:], encoding="utf-8")


def _span(text: str, start: str, end: str) -> tuple[int, int]:
    first = text.index(start) + len(start)
    return first, text.index(end, first)
