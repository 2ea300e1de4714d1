"""Building, downloading and deleting a project's extracts, against the lake and the hub
database; the extract itself is :func:`integration.research.extract.build_extract`.

A build reads, for each approved dataset, the bronze table at its current snapshot (one
row per record id, the latest delivered) and the person links of the last committed
linkage run; it asks the research service (and so the policy engine) whether the
requesting member may have the approved fields, takes the project key, learns from the
linkage's consent module which persons withdrew consent for research, and writes the
files, the signed manifest and the codebook to the project's workspace, all or nothing.
Earlier live extracts of the project are superseded and their files deleted: after a
consent withdrawal the rebuilt extract is the only one left.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.services import AuditLog
from governance.keys.secrets import HubSigningKey
from governance.research.models import ResearchExtract
from governance.research.services import ResearchService
from governance.timestamps import Clock
from integration.lake.bronze import bronze_identifier
from integration.linkage import silver
from integration.linkage.bronze_input import (
    AGREEMENT,
    EVENT_DATE,
    RECEIVED,
    event_date_column,
    latest_per_record,
)
from integration.linkage.consent import withdrawn_persons
from integration.linkage.job import last_committed
from integration.research.errors import (
    ExtractNoLinkage,
    ExtractSourceMissing,
    ExtractTampered,
    ExtractUnknown,
)
from integration.research.extract import PSEUDONYM, build_extract
from integration.research.manifest import build_manifest, codebook, sha256, sign
from integration.research.pseudonyms import pseudonym
from integration.research.workspace import (
    CODEBOOK,
    MANIFEST,
    SIGNATURE,
    Workspace,
    file_name,
    parquet_bytes,
)
from schemas.catalog import SchemaCatalog

log = logging.getLogger(__name__)
LINK_COLUMNS = ["agency", "dataset", "record_id", "person_key"]


def end_extracts(
    session: Session,
    workspace: Workspace,
    audit: AuditLog,
    clock: Clock,
    project_id: str,
    actor: str,
    *,
    reason: str,
) -> list[int]:
    """Delete every extract of a project that ended (its whole workspace), and record it."""
    rows = list(
        session.scalars(
            select(ResearchExtract)
            .where(ResearchExtract.project_id == project_id)
            .where(ResearchExtract.state == "live")
        )
    )
    removed = workspace.delete_project(project_id)
    for row in rows:
        row.state, row.ended_at, row.ended_by = "deleted", clock(), actor
    session.flush()
    if rows or removed:
        audit.record(
            "extract:delete",
            actor,
            f"project:{project_id}",
            {"extracts": [r.id for r in rows], "reason": reason, "workspace_removed": removed},
        )
    return [r.id for r in rows]


@dataclass
class ExtractService:
    session: Session
    lake: Catalog
    research: ResearchService
    signing_key: Callable[[], HubSigningKey]
    workspace: Workspace
    schemas: SchemaCatalog
    audit: AuditLog
    clock: Clock

    # Reading -------------------------------------------------------------------------

    def _links(self) -> tuple[pa.Table, int, int | None]:
        run = last_committed(self.session)
        if run is None:
            raise ExtractNoLinkage("no linkage run has committed; run `lmis-hub linkage run`")
        snapshot = run.snapshots.get(silver.PERSON_LINKS)
        table = silver.ensure_tables(self.lake)[silver.PERSON_LINKS]
        return silver.read(table, snapshot, LINK_COLUMNS), run.id, snapshot

    def _read(self, dataset: str, fields: list[str]) -> tuple[pa.Table, int | None]:
        agency, name = dataset.split(".", 1)
        identifier = bronze_identifier(agency, name)
        try:
            table = self.lake.load_table(identifier)
        except NoSuchTableError as exc:
            raise ExtractSourceMissing(f"{dataset}: the lake has no table {identifier}") from exc
        snapshot = table.current_snapshot()
        if snapshot is None:
            raise ExtractSourceMissing(f"{dataset}: {identifier} holds no delivery yet")
        present = set(table.schema().column_names)
        event = event_date_column(table)
        wanted = [
            c
            for c in dict.fromkeys(["record_id", *fields, RECEIVED, *AGREEMENT, event or ""])
            if c in present
        ]
        data = latest_per_record(
            table.scan(snapshot_id=snapshot.snapshot_id, selected_fields=tuple(wanted)).to_arrow()
        )
        if event is not None:
            data = data.append_column(EVENT_DATE, data[event].cast(pa.date32()))
            if event not in fields:
                data = data.drop_columns([event])
        return data, snapshot.snapshot_id

    # Building --------------------------------------------------------------------------

    def build(self, project_id: str, *, actor: str, system: bool = False) -> ResearchExtract:
        """Build the project's extract for the member ``actor`` (``system``: a rebuild the
        hub makes itself after a consent withdrawal, with no member asking)."""
        app = self.research.application(project_id)
        if not system:
            self.research.authorise(project_id, actor, app.scope())
        key = self.research.project_key(project_id)
        plan = app.disclosure.as_plan()
        links, run_id, links_snapshot = self._links()
        tables: dict[str, pa.Table] = {}
        snapshots: dict[str, int | None] = {silver.PERSON_LINKS: links_snapshot}
        for dataset, fields in app.datasets.items():
            tables[dataset], snapshots[dataset] = self._read(dataset, fields)
        withdrawn = withdrawn_persons(
            self.lake, self.session, links, purpose="research", clock=self.clock, audit=self.audit
        )
        period = (app.period.start, app.period.end)
        extract = build_extract(
            tables,
            links,
            fields=app.datasets,
            period=period,
            key=key,
            plan=plan,
            withdrawn=withdrawn,
        )
        now = self.clock()
        previous = self.live(project_id)
        folder = f"{now:%Y%m%dT%H%M%S%fZ}"
        files = {file_name(n): parquet_bytes(t) for n, t in extract.files.items()}
        manifest = build_manifest(
            project_id=project_id,
            extract_id=folder,
            built_at=now,
            built_by=actor,
            extract=extract,
            files=files,
            snapshots=snapshots,
            linkage_run=run_id,
            period=(period[0].isoformat(), period[1].isoformat()),
            plan=plan,
            consent_withdrawn_persons=len(withdrawn),
        )
        hub_key = self.signing_key()
        manifest_bytes, signature = sign(manifest, hub_key)
        documents = files | {
            MANIFEST: manifest_bytes,
            SIGNATURE: f"{hub_key.key_id} {signature}\n".encode(),
            CODEBOOK: codebook(self.schemas, app.datasets, extract, plan).encode("utf-8"),
        }
        written = self.workspace.write(project_id, folder, documents)
        try:
            row = ResearchExtract(
                project_id=project_id,
                state="live",
                built_by=actor,
                built_at=now,
                folder=folder,
                manifest=manifest,
                signature=signature,
                signing_key_id=hub_key.key_id,
                rows=sum(t.num_rows for t in extract.files.values()),
                k_achieved=extract.k_achieved(),
            )
            self.session.add(row)
            for old in previous:
                old.state, old.ended_at, old.ended_by = "superseded", now, actor
                self.workspace.delete(project_id, old.folder)
            self.session.flush()
            self.audit.record(
                "extract:build",
                actor,
                f"project:{project_id}",
                {
                    "extract": row.id,
                    "folder": folder,
                    "files": {n: manifest["files"][n]["rows"] for n in manifest["files"]},
                    "k_achieved": row.k_achieved,
                    "consent_withdrawn_persons": len(withdrawn),
                    "superseded": [old.id for old in previous],
                    "system": system,
                },
            )
        except BaseException:
            shutil.rmtree(written, ignore_errors=True)
            raise
        return row

    def live(self, project_id: str) -> list[ResearchExtract]:
        return list(
            self.session.scalars(
                select(ResearchExtract)
                .where(ResearchExtract.project_id == project_id)
                .where(ResearchExtract.state == "live")
                .order_by(ResearchExtract.id)
            )
        )

    def extracts(self, project_id: str) -> list[ResearchExtract]:
        return list(
            self.session.scalars(
                select(ResearchExtract)
                .where(ResearchExtract.project_id == project_id)
                .order_by(ResearchExtract.id)
            )
        )

    def _extract(self, project_id: str, extract_id: int) -> ResearchExtract:
        row = self.session.get(ResearchExtract, extract_id)
        if row is None or row.project_id != project_id or row.state != "live":
            raise ExtractUnknown(f"project {project_id!r} has no live extract {extract_id}")
        return row

    # Downloading -----------------------------------------------------------------------

    def download(
        self, project_id: str, extract_id: int, name: str, *, actor: str, to: Path
    ) -> Path:
        """Copy one file of a live extract to ``to`` for the member ``actor``, after the
        policy engine allows it and the file matches the signed manifest; audited."""
        app = self.research.application(project_id)
        self.research.authorise(project_id, actor, app.scope())
        row = self._extract(project_id, extract_id)
        source = self.workspace.path(project_id, row.folder, name)
        data = source.read_bytes()
        listed = row.manifest["files"].get(name)
        if listed is not None and listed["sha256"] != sha256(data):
            raise ExtractTampered(f"{name} of extract {extract_id} does not match its manifest")
        target = to / name if to.is_dir() else to
        target.write_bytes(data)
        self.audit.record(
            "extract:download",
            actor,
            f"project:{project_id}",
            {"extract": extract_id, "file": name, "sha256": sha256(data)},
        )
        return target

    # Consent ---------------------------------------------------------------------------

    def affected_by_consent(self) -> list[str]:
        """Projects with a live extract that holds a person who has since withdrawn
        consent for research (or whose files no longer match their manifest: the
        rebuild replaces them)."""
        run = last_committed(self.session)
        if run is None:
            return []
        links, _, _ = self._links()
        withdrawn = withdrawn_persons(
            self.lake, self.session, links, purpose="research", clock=self.clock, audit=self.audit
        )
        if not withdrawn:
            return []
        affected = []
        for row in self.session.scalars(
            select(ResearchExtract).where(ResearchExtract.state == "live")
        ):
            key = self.research.project_key(row.project_id)
            gone = pa.array(sorted(pseudonym(key, k) for k in withdrawn), pa.string())
            for name, listed in row.manifest["files"].items():
                data = self.workspace.path(row.project_id, row.folder, name).read_bytes()
                if sha256(data) != listed["sha256"]:
                    log.warning(
                        "extract %s of %s: %s altered; rebuilding", row.id, row.project_id, name
                    )
                    affected.append(row.project_id)
                    break
                table = pq.read_table(pa.BufferReader(data), columns=None)
                if (
                    PSEUDONYM in table.column_names
                    and pc.any(pc.is_in(table[PSEUDONYM], value_set=gone)).as_py()
                ):
                    affected.append(row.project_id)
                    break
        return sorted(set(affected))

    def rebuild_for_consent(self, *, actor: str) -> list[ResearchExtract]:
        """Rebuild every live extract that holds a person who withdrew consent."""
        return [self.build(p, actor=actor, system=True) for p in self.affected_by_consent()]
