"""The extract's manifest, signed by the hub, and its codebook.

The manifest says what the extract is: the project, who built it and when, every file
with its rows, columns and SHA-256, the lake snapshots and the linkage run read, the
agreement versions the rows were delivered under, and the rules applied (period, consent,
generalisations, k and what was suppressed). Its canonical JSON is signed with the hub's
signing key, so a researcher, an output checker or an auditor can check an extract
against it; the codebook describes each column from the schemas' own docs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from governance.canonical import canonical_json
from governance.disclosure.kanonymity import DisclosurePlan
from governance.keys.secrets import HubSigningKey
from integration.research.extract import PSEUDONYM, Extract
from schemas.catalog import SchemaCatalog
from schemas.codebook import type_label


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_manifest(
    *,
    project_id: str,
    extract_id: str,
    built_at: datetime,
    built_by: str,
    extract: Extract,
    files: Mapping[str, bytes],
    snapshots: Mapping[str, int | None],
    linkage_run: int,
    period: tuple[str, str],
    plan: DisclosurePlan,
    consent_withdrawn_persons: int,
) -> dict[str, Any]:
    """``files``: file name → the bytes written (hashed here)."""
    return {
        "project": project_id,
        "extract": extract_id,
        "built_at": built_at.isoformat(),
        "built_by": built_by,
        "files": {
            name: {
                "sha256": sha256(data),
                "bytes": len(data),
                "rows": extract.files[name.removesuffix(".parquet")].num_rows,
                "columns": extract.files[name.removesuffix(".parquet")].column_names,
            }
            for name, data in sorted(files.items())
        },
        "lake_snapshots": dict(sorted(snapshots.items())),
        "linkage_run": linkage_run,
        "agreements": [{"id": a, "version": v} for a, v in extract.agreements],
        "rules": {
            "period": {"from": period[0], "to": period[1]},
            "pseudonyms": "HMAC-SHA256 of the person key with the project's key (first 128 "
            "bits, hex); the key is destroyed when the project ends",
            "consent": {
                "purpose": "research",
                "persons_withdrawn": consent_withdrawn_persons,
            },
            "disclosure_plan": plan.as_dict(),
            "k_achieved": extract.k_achieved(),
            "persons": extract.persons.as_dict() if extract.persons else None,
            "datasets_alone": {n: r.as_dict() for n, r in sorted(extract.per_dataset.items())},
            "rows": {n: c.as_dict() for n, c in sorted(extract.counts.items())},
        },
    }


def sign(manifest: Mapping[str, Any], key: HubSigningKey) -> tuple[bytes, str]:
    """The manifest's canonical JSON and its Ed25519 signature (hex)."""
    data = canonical_json(dict(manifest))
    return data, key.sign(data).hex()


def codebook(
    catalog: SchemaCatalog,
    fields: Mapping[str, Sequence[str]],
    extract: Extract,
    plan: DisclosurePlan,
) -> str:
    """A Markdown codebook of every file: each column's type and meaning from the
    dataset's current schema, and how the extract changed it."""
    generalised = {g.column: g.as_dict() for g in plan.generalisations}
    lines = [
        "# Codebook",
        "",
        f"k-anonymity: k = {plan.k} over {', '.join(plan.quasi_identifiers)} (persons).",
        "",
    ]
    for name in sorted(extract.files):
        table: pa.Table = extract.files[name]
        agency, dataset = name.split(".", 1)
        docs = {f["name"]: f for f in catalog.current(agency, dataset).fields}
        lines += [f"## {name}.parquet ({table.num_rows:,} rows)", ""]
        lines += ["| column | type | meaning | in this extract |", "|---|---|---|---|"]
        for column in table.column_names:
            if column == PSEUDONYM:
                lines.append(
                    f"| {PSEUDONYM} | string | the person, as this project's pseudonym | "
                    "the same person has the same pseudonym in every file of this project |"
                )
                continue
            spec = docs.get(column, {})
            note = []
            if column in generalised:
                note.append(f"generalised: {canonical_json(generalised[column]).decode()}")
            if column in plan.quasi_identifiers:
                note.append("quasi-identifier (may be suppressed: empty)")
            doc = str(spec.get("doc", "")).replace("|", "\\|").replace("\n", " ")
            kind = type_label(spec.get("type")) if spec else str(table.schema.field(column).type)
            lines.append(f"| {column} | {kind} | {doc} | {'; '.join(note)} |")
        lines.append("")
    return "\n".join(lines)
