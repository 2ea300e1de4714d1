"""Project workspaces: one folder per project, one sub-folder per extract, written whole
or not at all (a temporary folder renamed into place), readable by the hub's own user
only. Members never read the folder: they download through the hub, which audits it."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from integration.research.errors import ExtractFileUnknown

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
CODEBOOK = "codebook.md"
_PRIVATE = 0o700


def file_name(dataset: str) -> str:
    """``nis.contribution`` → ``nis.contribution.parquet``."""
    return f"{dataset}.parquet"


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue())


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root

    def project_dir(self, project_id: str) -> Path:
        return self.root / project_id

    def write(self, project_id: str, folder: str, documents: Mapping[str, bytes]) -> Path:
        """Write the ``documents`` (file name → bytes) to ``<project>/<folder>``; all or
        nothing."""
        project = self.project_dir(project_id)
        project.mkdir(mode=_PRIVATE, parents=True, exist_ok=True)
        project.chmod(_PRIVATE)
        final = project / folder
        partial = project / f".{folder}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(mode=_PRIVATE)
        try:
            for name, data in documents.items():
                (partial / name).write_bytes(data)
            partial.replace(final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return final

    def path(self, project_id: str, folder: str, name: str) -> Path:
        """A file of an extract, refusing any name that is not one of its files."""
        base = self.project_dir(project_id) / folder
        candidate = base / name
        if (
            "/" in name
            or "\\" in name
            or name.startswith(".")
            or not candidate.is_file()
            or candidate.parent != base
        ):
            raise ExtractFileUnknown(f"extract {folder} of {project_id!r} has no file {name!r}")
        return candidate

    def files(self, project_id: str, folder: str) -> list[str]:
        base = self.project_dir(project_id) / folder
        return sorted(p.name for p in base.iterdir() if p.is_file()) if base.is_dir() else []

    def delete(self, project_id: str, folder: str) -> bool:
        target = self.project_dir(project_id) / folder
        if not target.exists():
            return False
        shutil.rmtree(target)
        return True

    def delete_project(self, project_id: str) -> bool:
        target = self.project_dir(project_id)
        if not target.exists():
            return False
        shutil.rmtree(target)
        return True
