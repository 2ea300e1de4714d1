"""The configuration reference, generated from the settings classes.

``lmis-hub config reference`` prints it; the README holds a copy between the
markers below, and a test fails when the two differ, so the documentation cannot
drift from the code.
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


def readme_block(readme: Path) -> str:
    """The reference as it stands in the README, between the markers."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n") + "\n"


def write_into(readme: Path) -> None:
    """Replace the README's reference with a freshly generated one."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:start] + "\n" + render() + text[end:], encoding="utf-8")
