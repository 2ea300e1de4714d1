"""The demo's linkage step: run the linkage over the lake and measure it against the
synthetic nation's ground truth.

The truth (``<nation>/truth/person_links.csv``) names each source row by the agency's
own key (a NIS number, a trainee number, a case number); the lake names it by an opaque
record id that only the connector's linkage key can recompute. The demo plays both
sides, so it reads each person dataset's source again through its connector's mapping
(as `lmis-hub connector find` does) to pair each record id with its truth key. Only the
demo does this; the hub never sees the truth or the key.

Quality is measured on the person records (names or a date of birth), where the model
decides; reference records (contributions, enrolments) join by their strong token.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from connectors.sdk.config import ConnectorConfig
from connectors.sdk.kit import ConnectorKit
from connectors.sdk.sources.base import load_source
from governance.linkage.models import LinkageRun
from hub_api.wiring import database, lake_catalog, linkage_job
from integration.linkage import silver
from integration.linkage.bronze_input import bronze_snapshots
from integration.linkage.errors import LinkageError
from integration.linkage.job import last_committed
from integration.linkage.quality import Quality, measure
from lmis_hub.settings import Settings

#: Person datasets of the demo nation: the truth table and the source column holding
#: the key the truth uses for the row.
TRUTH_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("nis", "insured_person"): ("insured_persons", "nis_number"),
    ("jobboard", "jobseeker"): ("jobseekers", "jobseeker_id"),
    ("tvet", "trainee"): ("trainees", "trainee_id"),
    ("dol", "complaint"): ("complaints", "case_no"),
    ("dol", "osh_accident"): ("osh_accidents", "case_no"),
}


@dataclass
class LinkageReport:
    """What the demo's linkage did and how good it is."""

    run_id: int | None = None
    reused: bool = False
    counts: dict[str, Any] = field(default_factory=dict)
    quality: Quality | None = None
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "reused": self.reused,
            "counts": self.counts,
            "quality": self.quality.as_dict() if self.quality else None,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def _truth(nation: Path) -> dict[tuple[str, str], tuple[str, str]]:
    tables = {table for table, _ in TRUTH_KEYS.values()}
    out: dict[tuple[str, str], tuple[str, str]] = {}
    with (nation / "truth" / "person_links.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["table"] in tables:
                out[(row["table"], row["record_id"])] = (row["person_id"], row["noise"])
    return out


def record_truth(
    configs: list[ConnectorConfig], kit: ConnectorKit, nation: Path
) -> dict[tuple[str, str], tuple[str, str]]:
    """(``agency/dataset``, record id) -> (true person, noise kinds) of every person
    record of the demo's sources."""
    truth = _truth(nation)
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for config in configs:
        wanted = TRUTH_KEYS.get((config.agency, config.dataset))
        if wanted is None:
            continue
        table, key_column = wanted
        mapper = kit.mapper(config)
        source = load_source(config.source)
        try:
            for chunk in source.read(None):
                for row in chunk:
                    record_id = mapper.map(row.values).fields.get(config.mapping.record_id_field)
                    found = truth.get((table, str(row.values.get(key_column))))
                    if record_id is not None and found is not None:
                        out[(f"{config.agency}/{config.dataset}", str(record_id))] = found
        finally:
            source.close()
    return out


def _quality(links: pa.Table, truth: dict[tuple[str, str], tuple[str, str]]) -> Quality:
    predicted, true, noise = [], [], []
    for agency, dataset, record, key in zip(
        *(links[c].to_pylist() for c in ("agency", "dataset", "record_id", "person_key")),
        strict=True,
    ):
        found = truth.get((f"{agency}/{dataset}", record))
        if found is not None:
            predicted.append(key)
            true.append(found[0])
            noise.append(found[1])
    return measure(predicted, true, noise)


def run_linkage(
    settings: Settings, configs: list[ConnectorConfig], kit: ConnectorKit, nation: Path
) -> LinkageReport:
    """Run the linkage (unless the last committed run read the same bronze snapshots)
    and measure its person links against the truth."""
    started = time.perf_counter()
    report = LinkageReport()
    engine = database(settings)
    lake = lake_catalog(settings)
    try:
        with Session(engine) as session:
            previous = last_committed(session)
            current = bronze_snapshots(lake)
            run: LinkageRun
            if previous is not None and all(
                previous.snapshots.get(name) == snapshot for name, snapshot in current.items()
            ):
                run, report.reused = previous, True
            else:
                try:
                    run = linkage_job(session, settings, actor="demo").run()
                except LinkageError as exc:
                    report.error = f"[{exc.code}] {exc.message}"
                    return report
            report.run_id, report.counts = run.id, dict(run.counts)
            table = lake.load_table(silver.PERSON_LINKS)
            links = table.scan(
                snapshot_id=run.snapshots[silver.PERSON_LINKS],
                selected_fields=("agency", "dataset", "record_id", "person_key"),
            ).to_arrow()
        report.quality = _quality(links, record_truth(configs, kit, nation))
    finally:
        engine.dispose()
        report.seconds = time.perf_counter() - started
    return report
