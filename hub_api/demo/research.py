"""The demo's research project, end to end: a researcher applies with the example
application, two members of the LMIS unit approve, the extract is built (with its k,
what was suppressed and what generalised), and the researcher's result tables go through
the airlock: one refused by the rules (a small cell), one released by two checkers.

The demo plays every part; each step goes through the same services as the CLI. Each
run applies for a new project (``returns-to-training-<time>``) and closes the demo's
earlier ones, so their keys are destroyed and their extracts deleted.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from governance.research.application import parse_application
from hub_api.wiring import airlock, governance_session, research, research_extracts
from lmis_hub.errors import HubError
from lmis_hub.settings import Settings

EXAMPLE = (
    Path(__file__).parents[2] / "governance" / "examples" / "research" / "returns-to-training.yaml"
)
RESEARCHERS = ("dr.joseph", "ms.ali")
APPROVERS = ("lmis.ann", "lmis.bob")
CHECKERS = ("oc.carter", "oc.dass")
PREFIX = "returns-to-training-"


@dataclass
class ResearchReport:
    project: str | None = None
    extract: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "extract": self.extract,
            "outputs": self.outputs,
            "closed_earlier": self.closed,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _tables(persons: pa.Table) -> tuple[bytes, bytes]:
    """Two result tables as a researcher would make them from the insured persons: by
    region, sex and birth-year band (a careless table: small cells), and by sex alone
    (cells under 10 left out, as the guidance asks)."""
    keys = ["region", "sex", "birth_year"]
    detailed = persons.group_by(keys).aggregate([([], "count_all")])
    rows = sorted(
        (
            {k: detailed[k][i].as_py() or "" for k in keys}
            | {"persons": detailed["count_all"][i].as_py()}
            for i in range(detailed.num_rows)
        ),
        key=lambda r: (r["region"], r["sex"], r["birth_year"]),
    )
    by_sex = persons.group_by(["sex"]).aggregate([([], "count_all")])
    sexes = [
        {"sex": s or "", "persons": n}
        for s, n in sorted(
            zip(by_sex["sex"].to_pylist(), by_sex["count_all"].to_pylist(), strict=True),
            key=lambda x: str(x[0]),
        )
        if n >= 10
    ]
    return _csv(rows), _csv(sexes)


def run_research(settings: Settings, *, workdir: Path) -> ResearchReport:
    """One research project through every step; ``workdir`` receives the downloads."""
    started = time.perf_counter()
    report = ResearchReport()
    project = f"{PREFIX}{datetime.now(UTC):%Y%m%d%H%M%S}"
    try:
        with governance_session(settings, actor="demo") as gov:
            svc = research(gov)
            for earlier in svc.projects("approved"):
                if earlier.id.startswith(PREFIX):
                    svc.close(earlier.id, actor="dr.joseph", reason="the demo ran again")
                    report.closed.append(earlier.id)
            for user in RESEARCHERS:
                svc.register_person(
                    user, role="researcher", name=user, institution="University of the West "
                    "Indies", accreditation_expires=date(2099, 12, 31), actor="demo",
                )  # fmt: skip
            for user in APPROVERS:
                svc.register_person(
                    user, role="lmis_admin", name=user, institution="LMIS unit", actor="demo"
                )
            for user in CHECKERS:
                svc.register_person(
                    user, role="output_checker", name=user, institution="LMIS unit", actor="demo"
                )
            data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")) | {"id": project}
            app = parse_application(data, where=str(EXAMPLE))
            row = svc.apply(app, actor=RESEARCHERS[0])
            if row.state == "refused":
                report.error = f"refused: {row.refusal}"
                return report
            for approver in APPROVERS:
                svc.approve(project, actor=approver, comment="public benefit clear")
            report.project = project
        with governance_session(settings, actor="demo") as gov:
            built = research_extracts(gov).build(project, actor=RESEARCHERS[0])
            rules = built.manifest["rules"]
            persons = rules["persons"] or {}
            report.extract = {
                "id": built.id,
                "rows": built.rows,
                "files": {n: f["rows"] for n, f in built.manifest["files"].items()},
                "k_requested": rules["disclosure_plan"]["k"],
                "k_achieved": built.k_achieved,
                "k_before": persons.get("k_before"),
                "values_suppressed": persons.get("values_suppressed", {}),
                "persons_dropped": persons.get("records_dropped", 0),
                "generalised": sorted(rules["disclosure_plan"]["generalise"]),
                "consent_withdrawn_persons": rules["consent"]["persons_withdrawn"],
            }
            downloaded = research_extracts(gov).download(
                project, built.id, "nis.insured_person.parquet", actor=RESEARCHERS[1], to=workdir
            )
        careless, safe = _tables(pq.read_table(downloaded))
        (workdir / "by-region-sex-age.csv").write_bytes(careless)
        (workdir / "by-sex.csv").write_bytes(safe)
        with governance_session(settings, actor="demo") as gov:
            lock = airlock(gov)
            layout = {"kind": "frequency", "count_columns": ["persons"]}
            refused = lock.submit(
                project,
                "by-region-sex-age.csv",
                careless,
                layout=layout | {"label_columns": ["region", "sex", "birth_year"]},
                actor=RESEARCHERS[1],
            )
            released = lock.submit(
                project, "by-sex.csv", safe, layout=layout | {"label_columns": ["sex"]},
                actor=RESEARCHERS[1],
            )  # fmt: skip
            for checker in CHECKERS:
                lock.review(
                    project, released.id, checker=checker, approve=True,
                    comment="counts of 10 or more, no identifier",
                )  # fmt: skip
            report.outputs = [
                {"id": o.id, "name": o.name, "state": o.state, "summary": o.checks["summary"]}
                for o in (refused, released)
            ]
    except HubError as exc:
        report.error = f"[{exc.code}] {exc.message}"
    finally:
        report.seconds = time.perf_counter() - started
    return report
