"""Indicator releases: building one from the lake, publishing it, and its lineage.

:meth:`ReleaseService.build` reads every computable definition's sources from the lake
(bronze at its current snapshot, silver at the last committed linkage run's:
:func:`.lake_input.read_package_input`; an empty source refuses the build), computes the
protected observations (:func:`.compute.compute`), appends them to ``gold.indicators``
under the new release id in one commit, and records the release in the hub database:
the snapshots read, the linkage run, per indicator the agreement versions its rows were
delivered under (the bronze lineage columns), the gold snapshot and the counts.

:meth:`ReleaseService.publish` publishes a built release once. An indicator whose
rows were delivered under an agreement version that is not ``active`` and in force on
the day of publication is withheld (the reason kept in the record); the others are
written, with the SDMX structure message versioned against the previous published
release, and a manifest signed with the hub's signing key
(:mod:`.release_files`), all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog
from governance.indicators.models import IndicatorRelease, published_releases
from governance.keys.secrets import HubSigningKey
from governance.timestamps import Clock
from integration.indicators.compute import compute
from integration.indicators.definition import Definition
from integration.indicators.errors import ReleaseNotBuilt, ReleaseUnknown, SourceEmpty
from integration.indicators.lake_input import read_package_input
from integration.indicators.release_files import (
    MANIFEST,
    SIGNATURE,
    manifest,
    previous_structures,
    registry,
    sdmx_files,
    signed,
    write_folder,
)
from integration.indicators.release_gold import (
    agreement_versions,
    append_release,
    read_release,
    release_ids,
)
from integration.linkage.job import last_committed
from lmis_hub.errors import HubError
from schemas.catalog import SchemaCatalog


def agreement_refusal(
    agreements: AgreementService, agreement_id: str, version: int, on: date
) -> str | None:
    """Why figures delivered under this agreement version may not be published on
    ``on`` (None: they may)."""
    try:
        row = agreements.get(agreement_id, version)
    except HubError:
        return f"agreement {agreement_id} v{version} is not known"
    if row.state != "active":
        return f"agreement {agreement_id} v{version} is {row.state}"
    if not row.valid_from <= on <= row.valid_until:
        return (
            f"agreement {agreement_id} v{version} is not in force on {on.isoformat()} "
            f"(valid {row.valid_from.isoformat()} to {row.valid_until.isoformat()})"
        )
    return None


def withheld_indicators(
    agreements: AgreementService, lineage: Mapping[str, Sequence[Mapping[str, Any]]], on: date
) -> dict[str, str]:
    """Indicator → why it is withheld, for each indicator one of whose agreement
    versions may not be published on ``on``."""
    out: dict[str, str] = {}
    for indicator, used in sorted(lineage.items()):
        reasons = [
            reason
            for a in used
            if (reason := agreement_refusal(agreements, str(a["id"]), int(a["version"]), on))
        ]
        if reasons:
            out[indicator] = "; ".join(reasons)
    return out


@dataclass
class ReleaseService:
    """Building and publishing the indicator releases of ``definitions``."""

    session: Session
    lake: Catalog
    agreements: AgreementService
    definitions: Sequence[Definition]
    schemas: SchemaCatalog
    signing_key: Callable[[], HubSigningKey]
    publication_dir: Path
    ref_area: str
    ref_area_name: str
    audit: AuditLog
    clock: Clock

    # Reading ---------------------------------------------------------------------------

    def releases(self) -> list[IndicatorRelease]:
        """Every release, oldest first."""
        return list(
            self.session.scalars(
                select(IndicatorRelease).order_by(IndicatorRelease.built_at, IndicatorRelease.id)
            )
        )

    def get(self, release_id: str) -> IndicatorRelease:
        row = self.session.get(IndicatorRelease, release_id)
        if row is None:
            raise ReleaseUnknown(f"there is no indicator release {release_id!r}")
        return row

    def last_published(self) -> IndicatorRelease | None:
        rows = published_releases(self.session)
        return rows[0] if rows else None

    def _next_id(self, day: date) -> str:
        prefix = f"{day.isoformat()}."
        taken = self.session.scalars(
            select(IndicatorRelease.id).where(IndicatorRelease.id.startswith(prefix))
        ).all()
        taken = [*taken, *release_ids(self.lake, prefix)]
        numbers = [int(t.removeprefix(prefix)) for t in taken if t.removeprefix(prefix).isdigit()]
        return f"{prefix}{max(numbers, default=0) + 1}"

    # Building --------------------------------------------------------------------------

    def build(self, *, actor: str) -> IndicatorRelease:
        """Compute the package from the lake as it is now and record the release; an
        indicator whose source table is empty or missing is withheld with that reason
        (all of them empty: :class:`SourceEmpty`). The
        session is committed before the gold table is written (its reads end there), so
        it must not be inside a ``Session.begin()`` block."""
        definitions, empty = list(self.definitions), {}
        while True:
            try:
                inputs = read_package_input(
                    self.lake, self.session, definitions, schemas=self.schemas
                )
                break
            except SourceEmpty as exc:
                table = exc.context.get("table")
                if table is None:
                    raise  # silver missing: no linkage run has committed
                for d in [d for d in definitions if table in d.sources]:
                    empty[d.id] = f"source empty: {exc.message}"
                definitions = [d for d in definitions if table not in d.sources]
                if not any(d.computable for d in definitions):
                    raise SourceEmpty(
                        f"every indicator has an empty source (the last: {exc.message})",
                        table=table,
                    ) from exc
        observations = compute(definitions, inputs.tables)
        now = self.clock()
        release_id = self._next_id(now.date())
        lineage = agreement_versions(definitions, inputs.tables)
        counts = observations.group_by("indicator").aggregate([("indicator", "count")])
        per_indicator = dict.fromkeys(lineage, 0) | dict(
            zip(
                counts["indicator"].to_pylist(),
                counts["indicator_count"].to_pylist(),
                strict=True,
            )
        )
        run = last_committed(self.session)
        # End the reads before the lake write: on SQLite the catalog shares the hub
        # database's file (see hub_api.wiring.governance_in_steps).
        self.session.commit()
        gold_snapshot = append_release(self.lake, release_id, observations)
        row = IndicatorRelease(
            id=release_id,
            state="built",
            built_at=now,
            built_by=actor,
            snapshots=dict(sorted(inputs.snapshots.items())),
            linkage_run=run.id if run is not None else None,
            agreements=lineage,
            indicators=dict(sorted(per_indicator.items())),
            gold_snapshot=gold_snapshot,
            observations=observations.num_rows,
            withheld=dict(sorted(empty.items())),
        )
        self.session.add(row)
        self.session.flush()
        self.audit.record(
            "indicators:build",
            actor,
            f"indicator_release:{release_id}",
            {
                "snapshots": row.snapshots,
                "linkage_run": row.linkage_run,
                "gold_snapshot": gold_snapshot,
                "observations": row.indicators,
            },
        )
        return row

    # Publishing ------------------------------------------------------------------------

    def publish(self, release_id: str, *, actor: str) -> IndicatorRelease:
        """Publish a built release (see the module); the record gains the folder, the
        signed manifest and the indicators withheld."""
        row = self.get(release_id)
        if row.state != "built":
            raise ReleaseNotBuilt(f"release {release_id} is {row.state}, not built")
        now = self.clock()
        withheld = dict(row.withheld) | withheld_indicators(
            self.agreements, row.agreements, now.date()
        )
        published = [d for d in self.definitions if d.id in row.indicators and d.id not in withheld]
        observations = read_release(self.lake, release_id, row.gold_snapshot)
        keep = pc.is_in(
            observations["indicator"], value_set=pa.array([d.id for d in published], pa.string())
        )
        observations = observations.filter(keep)
        previous = self.last_published()
        files, versions = sdmx_files(
            published,
            observations,
            registry(ref_area=self.ref_area, ref_area_name=self.ref_area_name),
            previous=previous_structures(
                self.publication_dir / previous.folder if previous and previous.folder else None
            ),
            ref_area=self.ref_area,
            prepared=now,
        )
        document = manifest(
            release_id=release_id,
            built_at=row.built_at,
            published_at=now,
            published_by=actor,
            flows=versions,
            observations=row.indicators,
            snapshots=row.snapshots,
            linkage_run=row.linkage_run,
            agreements=row.agreements,
            withheld=withheld,
            gold_snapshot=row.gold_snapshot,
            files=files,
        )
        key = self.signing_key()
        data, signature = signed(document, key)
        folder = write_folder(
            self.publication_dir,
            release_id,
            files | {MANIFEST: data, SIGNATURE: f"{key.key_id} {signature}\n".encode()},
        )
        row.state, row.published_at, row.published_by = "published", now, actor
        row.withheld, row.folder, row.manifest = withheld, folder.name, document
        row.signature, row.signing_key_id = signature, key.key_id
        self.session.flush()
        self.audit.record(
            "indicators:publish",
            actor,
            f"indicator_release:{release_id}",
            {"folder": folder.name, "flows": versions, "withheld": withheld},
        )
        return row
