"""The codebook: a data dictionary of every dataset, built from the schemas' docs.

One Markdown and one HTML page per dataset (fields of the current version with types,
docs, code lists and token kinds; every version with what changed from the one before),
an index page, and one page per code list with all codes and labels and its attribution.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.catalog import SchemaCatalog, SchemaVersion
from schemas.codelists import CodeLists


def type_label(schema: Any) -> str:
    """A short human-readable type: ``date``, ``string (optional)``, ``Token`` …"""
    if isinstance(schema, list):
        branches = [type_label(b) for b in schema if b != "null"]
        label = " | ".join(branches)
        return f"{label} (optional)" if "null" in schema else label
    if isinstance(schema, str):
        return schema.rpartition(".")[2]
    if "logicalType" in schema:
        return str(schema["logicalType"])
    if schema.get("type") == "enum":
        return f"enum {schema['name']}"
    if "name" in schema:
        return str(schema["name"])
    return str(schema.get("type"))


def _symbols(schema: Any) -> list[str] | None:
    if isinstance(schema, list):
        for b in schema:
            found = _symbols(b)
            if found:
                return found
        return None
    if isinstance(schema, dict) and schema.get("type") == "enum":
        return list(schema["symbols"])
    return None


def changes(old: SchemaVersion, new: SchemaVersion) -> list[str]:
    """What changed from ``old`` to ``new``, one sentence per change."""
    out: list[str] = []
    before = {f["name"]: f for f in old.fields}
    after = {f["name"]: f for f in new.fields}
    for name in after.keys() - before.keys():
        default = after[name].get("default", "none")
        out.append(f"Added field `{name}` ({type_label(after[name]['type'])}, default {default}).")
    for name in before.keys() - after.keys():
        out.append(f"Removed field `{name}`.")
    for name in sorted(after.keys() & before.keys()):
        a, b = before[name], after[name]
        if type_label(a["type"]) != type_label(b["type"]):
            out.append(
                f"Field `{name}`: type {type_label(a['type'])} became {type_label(b['type'])}."
            )
        sa, sb = _symbols(a["type"]) or [], _symbols(b["type"]) or []
        if sa != sb:
            added = [s for s in sb if s not in sa]
            removed = [s for s in sa if s not in sb]
            if added:
                out.append(f"Field `{name}`: new codes {', '.join(added)}.")
            if removed:
                out.append(f"Field `{name}`: codes withdrawn {', '.join(removed)}.")
        if a.get("doc") != b.get("doc"):
            out.append(f"Field `{name}`: description changed.")
    return sorted(out) or ["No change to the fields (documentation or attributes only)."]


@dataclass(frozen=True)
class _Row:
    name: str
    type: str
    codes: str
    doc: str


def _rows(sv: SchemaVersion) -> list[_Row]:
    rows = []
    for f in sv.fields:
        codes = ""
        if "codelist" in f:
            codes = f"code list {f['codelist']}"
        elif "token" in f:
            codes = f"token of {f['token']}"
        elif (symbols := _symbols(f["type"])) is not None:
            codes = ", ".join(symbols)
        if "unit" in f:
            codes = (codes + "; " if codes else "") + str(f["unit"])
        rows.append(_Row(f["name"], type_label(f["type"]), codes, str(f["doc"])))
    return rows


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def dataset_markdown(catalog: SchemaCatalog, key: str) -> str:
    agency, dataset = key.split("/")
    versions = catalog.versions(agency, dataset)
    current = versions[-1]
    lines = [
        f"# {key}",
        "",
        str(current.raw["doc"]),
        "",
        f"- Current version: v{current.version} (fingerprint `{current.fingerprint_hex}`)",
        f"- Topic: `{current.topic}`",
        f"- Record id field: `{current.record_id_field}`; "
        f"event date (lake partition): `{current.event_date_field}`",
        f"- Compatibility mode: {catalog.mode(agency, dataset)}",
        "",
        "## Fields",
        "",
        "| field | type | codes | description |",
        "|---|---|---|---|",
    ]
    for row in _rows(current):
        lines.append(
            f"| `{row.name}` | {_md_cell(row.type)} | {_md_cell(row.codes)} | {_md_cell(row.doc)} |"
        )
    lines += ["", "## Versions", ""]
    for i, sv in enumerate(versions):
        lines.append(f"### v{sv.version} (fingerprint `{sv.fingerprint_hex}`)")
        lines.append("")
        if i == 0:
            lines.append("- First version.")
        else:
            lines += [f"- {c}" for c in changes(versions[i - 1], sv)]
        lines.append("")
    return "\n".join(lines)


def codelist_markdown(codelists: CodeLists, name: str) -> str:
    cl = codelists[name]
    lines = [f"# Code list {name}", "", cl.title, "", f"Source: {cl.attribution}.", ""]
    lines += ["| code | label |", "|---|---|"]
    lines += [f"| `{code}` | {_md_cell(label)} |" for code, label in cl.labels.items()]
    return "\n".join(lines) + "\n"


_HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .5em;text-align:left;
vertical-align:top}}code{{background:#f4f4f4}}</style></head>
<body>
{body}
</body></html>
"""


def _md_to_html(markdown: str, title: str) -> str:
    """Render the codebook's own small Markdown subset (headings, lists, tables)."""
    out: list[str] = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
            if set(line) <= {"|", "-"}:
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
                out.append("<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in cells) + "</tr>")
            else:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            out.append(f"<p>• {_inline(line[2:])}</p>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if in_table:
        out.append("</table>")
    return _HTML_PAGE.format(title=html.escape(title), body="\n".join(out))


def _inline(text: str) -> str:
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def write_codebook(catalog: SchemaCatalog, codelists: CodeLists, out: Path) -> list[Path]:
    """Write the codebook into ``out`` (Markdown and HTML); return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def emit(stem: str, markdown: str, title: str) -> None:
        md, page = out / f"{stem}.md", out / f"{stem}.html"
        md.write_text(markdown, encoding="utf-8")
        page.write_text(_md_to_html(markdown, title), encoding="utf-8")
        written.extend([md, page])

    index = ["# LMIS data contracts: codebook", "", "## Datasets", ""]
    for key in catalog.datasets():
        stem = key.replace("/", "__")
        current = catalog.current(*key.split("/"))
        emit(stem, dataset_markdown(catalog, key), key)
        index.append(f"- `{key}` v{current.version}: {current.raw['doc']} (see {stem}.md)")
    index += ["", "## Code lists", ""]
    for name, cl in codelists.items():
        emit(f"codelist__{name}", codelist_markdown(codelists, name), f"Code list {name}")
        index.append(f"- `{name}`: {cl.title}; {len(cl)} codes; source: {cl.attribution}")
    emit("index", "\n".join(index) + "\n", "LMIS codebook")
    return written
