"""The files of a published release, its signed manifest, and writing them all or nothing.

A release folder holds ``structure.xml`` (the SDMX-ML structure message: every current
structure, versioned against the previous published release, and that release's
structures kept), per flow ``<FLOW>.csv`` (SDMX-CSV 1.0, as SDMX 2.1 tools read it),
``<FLOW>.v2.csv`` (SDMX-CSV 2.0, for SDMX 3.0 clients), ``<FLOW>.json`` (SDMX-JSON)
and ``<FLOW>.xml`` (SDMX-ML structure-specific data), ``release.json`` (the manifest:
release id, dates, each flow's version, the lake snapshots, the linkage run, the
agreement versions, the gold snapshot and each file's SHA-256) and ``release.sig``
(the hub signing key's id and its Ed25519 signature of ``release.json``, hex).
``release.json`` is canonical JSON, so the bytes signed are the bytes written.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from governance.canonical import canonical_json
from governance.keys.secrets import HubSigningKey
from integration.indicators.definition import Definition
from integration.indicators.dimensions import field_labels
from integration.indicators.errors import PublicationUnreadable, ReleaseNotBuilt
from integration.indicators.sdmx.codelists import CodelistRegistry
from integration.indicators.sdmx.data_csv import data_csv
from integration.indicators.sdmx.data_json import data_json
from integration.indicators.sdmx.data_xml import data_xml
from integration.indicators.sdmx.structure_message import read_release, release_message
from integration.indicators.sdmx.structures import Release

STRUCTURE = "structure.xml"
MANIFEST = "release.json"
SIGNATURE = "release.sig"
SENDER = "LMIS"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def registry(*, ref_area: str, ref_area_name: str) -> CodelistRegistry:
    """The codelists the package is published with: the standard ones and the TVET
    fields."""
    out = CodelistRegistry.standard(areas={ref_area: ref_area_name})
    out.add_labels(id="CL_TVET_FIELD", name="TVET programme field", labels=field_labels())
    return out


def previous_structures(folder: Path | None) -> Release | None:
    """The structures of the release published in ``folder`` (None: no earlier one)."""
    if folder is None:
        return None
    try:
        return read_release((folder / STRUCTURE).read_bytes())
    except OSError as exc:
        raise PublicationUnreadable(
            f"the structure message of the previous publication ({folder.name}) cannot be "
            f"read: {type(exc).__name__}"
        ) from exc


def sdmx_files(
    definitions: Sequence[Definition],
    observations: pa.Table,
    codes: CodelistRegistry,
    *,
    previous: Release | None,
    ref_area: str,
    prepared: datetime,
) -> tuple[dict[str, bytes], dict[str, str]]:
    """The structure message and each definition's data messages (file name → bytes),
    and each indicator's flow version."""
    structures = Release.build([d.flow() for d in definitions], codes, previous=previous)
    files = {STRUCTURE: release_message(structures, prepared=prepared, sender=SENDER)}
    versions: dict[str, str] = {}
    for d in definitions:
        flow = structures.flow(d.flow().id)
        rows = observations.filter(pc.equal(observations["indicator"], d.id))
        versions[d.id] = flow.version
        files[f"{flow.id}.csv"] = data_csv(flow, rows, codes, ref_area=ref_area).encode("utf-8")
        files[f"{flow.id}.v2.csv"] = data_csv(
            flow, rows, codes, ref_area=ref_area, version="2.0"
        ).encode("utf-8")
        files[f"{flow.id}.json"] = data_json(
            flow, rows, codes, ref_area=ref_area, prepared=prepared, sender=SENDER
        )
        files[f"{flow.id}.xml"] = data_xml(
            flow, rows, codes, ref_area=ref_area, prepared=prepared, sender=SENDER
        )
    return files, versions


def manifest(
    *,
    release_id: str,
    built_at: datetime,
    published_at: datetime,
    published_by: str,
    flows: Mapping[str, str],
    observations: Mapping[str, int],
    snapshots: Mapping[str, int],
    linkage_run: int | None,
    agreements: Mapping[str, Any],
    withheld: Mapping[str, str],
    gold_snapshot: int,
    files: Mapping[str, bytes],
) -> dict[str, Any]:
    """The release's manifest (see the module); ``files`` are hashed here."""
    return {
        "release": release_id,
        "built_at": built_at.isoformat(),
        "published_at": published_at.isoformat(),
        "published_by": published_by,
        "indicators": {
            i: {
                "flow": f"{SENDER}:{i.upper()}({version})",
                "observations": observations.get(i, 0),
                "agreements": list(agreements.get(i, [])),
            }
            for i, version in sorted(flows.items())
        },
        "withheld": dict(sorted(withheld.items())),
        "lake_snapshots": dict(sorted(snapshots.items())),
        "linkage_run": linkage_run,
        "gold": {"table": "gold.indicators", "snapshot": gold_snapshot},
        "files": {n: {"sha256": sha256(b), "bytes": len(b)} for n, b in sorted(files.items())},
    }


def signed(document: Mapping[str, Any], key: HubSigningKey) -> tuple[bytes, str]:
    """The manifest's canonical JSON and its Ed25519 signature (hex)."""
    data = canonical_json(dict(document))
    return data, key.sign(data).hex()


def write_folder(root: Path, name: str, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` to ``root/name`` all or nothing: into a hidden folder beside it,
    then renamed. An existing ``root/name`` is never overwritten."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    if target.exists():
        raise ReleaseNotBuilt(f"release {name} has a publication folder already")
    temp = root / f".{name}.partial"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    try:
        for file_name, data in files.items():
            path = temp / file_name
            path.write_bytes(data)
        temp.rename(target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return target
