"""The airlock: how results leave a research project. A member submits a result table
(CSV) with its layout; the automatic checks (ACRO's rules and differencing against the
project's earlier releases, :mod:`governance.disclosure.outputs`) run at once, and a
table that fails them is refused with the reasons. Otherwise two output checkers, who
neither applied for nor belong to the project, must each approve it; one refusal ends
it. Only a released output can be downloaded, by the project's members, with the
checkers' comments, and without a magnitude table's evidence columns (contributors,
largest contributions), which exist for the checks only. Released outputs stay
downloadable after the project ends; its extracts do not.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.services import AuditLog
from governance.disclosure.errors import OutputInvalid
from governance.disclosure.outputs import (
    MagnitudeLayout,
    OutputRules,
    check_output,
    layout_from_dict,
    parse_output_csv,
)
from governance.errors import AlreadyDecided, OwnProject, ResearchRoleWrong
from governance.research.models import OutputReview, ResearchOutput
from governance.research.services import APPROVERS_NEEDED, ResearchService
from governance.timestamps import Clock
from integration.research.errors import OutputNotInState, OutputUnknown
from integration.research.manifest import sha256
from integration.research.workspace import Workspace

#: The airlock's own folder in the research workspace (project ids cannot start with "_").
AIRLOCK_FOLDER = "_airlock"
SUBMITTED = "submitted.csv"
RELEASED = "released.csv"
REVIEWS = "reviews.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _released_csv(table: pa.Table, columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in table.select(columns).to_pylist():
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return out.getvalue().encode("utf-8")


@dataclass
class Airlock:
    session: Session
    research: ResearchService
    store: Workspace
    audit: AuditLog
    clock: Clock
    rules: OutputRules = field(default_factory=OutputRules)

    def output(self, project_id: str, output_id: int) -> ResearchOutput:
        row = self.session.get(ResearchOutput, output_id)
        if row is None or row.project_id != project_id:
            raise OutputUnknown(f"project {project_id!r} has no output {output_id}")
        return row

    def outputs(self, project_id: str) -> list[ResearchOutput]:
        return list(
            self.session.scalars(
                select(ResearchOutput)
                .where(ResearchOutput.project_id == project_id)
                .order_by(ResearchOutput.id)
            )
        )

    def reviews(self, output_id: int) -> list[OutputReview]:
        return list(
            self.session.scalars(
                select(OutputReview)
                .where(OutputReview.output_id == output_id)
                .order_by(OutputReview.id)
            )
        )

    def _folder(self, row: ResearchOutput) -> str:
        return f"output-{row.id}"

    def _earlier(self, project_id: str) -> dict[str, pa.Table]:
        earlier = {}
        for row in self.outputs(project_id):
            if row.state != "released":
                continue
            data = self.store.path(project_id, self._folder(row), SUBMITTED).read_bytes()
            earlier[f"output-{row.id}"] = parse_output_csv(
                data, layout=layout_from_dict(row.layout)
            )
        return earlier

    def submit(
        self,
        project_id: str,
        name: str,
        data: bytes,
        *,
        layout: Mapping[str, Any],
        actor: str,
        description: str = "",
    ) -> ResearchOutput:
        """Submit a result table; the automatic checks decide at once whether it goes
        to the checkers (``awaiting_checkers``) or is refused (``refused_by_rules``)."""
        self.research.require_member(project_id, actor)
        if not _NAME.match(name):
            raise OutputInvalid(f"output name {name!r}: letters, digits, '.', '_', '-' only")
        parsed_layout = layout_from_dict(layout)
        table = parse_output_csv(data, layout=parsed_layout)
        check = check_output(
            table, layout=parsed_layout, rules=self.rules, earlier=self._earlier(project_id)
        )
        row = ResearchOutput(
            project_id=project_id,
            name=name,
            state="refused_by_rules" if check.outcome == "fail" else "awaiting_checkers",
            submitted_by=actor,
            submitted_at=self.clock(),
            sha256=sha256(data),
            layout=parsed_layout.as_dict(),
            checks=check.as_dict(),
            description=description[:2000],
        )
        self.session.add(row)
        self.session.flush()
        self.store.write(project_id, self._folder(row), {SUBMITTED: data})
        self.audit.record(
            "output:submit",
            actor,
            f"project:{project_id}",
            {
                "output": row.id,
                "name": name,
                "sha256": row.sha256,
                "outcome": check.outcome,
                "summary": check.summary,
                "state": row.state,
            },
        )
        return row

    def review(
        self, project_id: str, output_id: int, *, checker: str, approve: bool, comment: str
    ) -> ResearchOutput:
        """One output checker's decision; the second approval releases the output."""
        row = self.output(project_id, output_id)
        person = self.research.person(checker)
        if person.role != "output_checker":
            raise ResearchRoleWrong(f"{checker!r} is {person.role}; checking needs output_checker")
        if checker in self.research.involved(project_id):
            raise OwnProject(f"{checker!r} applied for or belongs to project {project_id!r}")
        if row.state != "awaiting_checkers":
            raise OutputNotInState(f"output {output_id} is {row.state}; it cannot be reviewed")
        if any(r.checker == checker for r in self.reviews(output_id)):
            raise AlreadyDecided(f"{checker!r} has already reviewed output {output_id}")
        if not comment.strip():
            raise OutputInvalid("a checker's decision needs a comment for the researchers")
        self.session.add(
            OutputReview(
                output_id=output_id,
                checker=checker,
                decision="approve" if approve else "refuse",
                comment=comment[:2000],
                at=self.clock(),
            )
        )
        self.session.flush()
        approvals = [r for r in self.reviews(output_id) if r.decision == "approve"]
        if not approve:
            row.state, row.decided_at = "refused", self.clock()
        elif len(approvals) >= APPROVERS_NEEDED:
            row.state, row.decided_at = "released", self.clock()
            self._write_release(row)
        self.session.flush()
        self.audit.record(
            "output:review",
            checker,
            f"project:{project_id}",
            {
                "output": output_id,
                "decision": "approve" if approve else "refuse",
                "state": row.state,
            },
        )
        return row

    def _write_release(self, row: ResearchOutput) -> None:
        layout = layout_from_dict(row.layout)
        folder = self._folder(row)
        data = self.store.path(row.project_id, folder, SUBMITTED).read_bytes()
        table = parse_output_csv(data, layout=layout)
        evidence = (
            set(layout.evidence_columns) - {layout.value_column}
            if isinstance(layout, MagnitudeLayout)
            else set()
        )
        columns = [c for c in table.column_names if c not in evidence]
        reviews = [
            {
                "checker": r.checker,
                "decision": r.decision,
                "comment": r.comment,
                "at": r.at.isoformat(),
            }
            for r in self.reviews(row.id)
        ]
        self.store.write(
            row.project_id,
            f"{folder}-released",
            {
                RELEASED: _released_csv(table, columns),
                REVIEWS: json.dumps(reviews, indent=2).encode("utf-8"),
            },
        )

    def download(self, project_id: str, output_id: int, *, actor: str, to: Path) -> Path:
        """A released output (without a magnitude table's evidence) for a member of the
        project; audited. Outputs stay downloadable after the project ends."""
        row = self.output(project_id, output_id)
        if row.state != "released":
            raise OutputNotInState(f"output {output_id} is {row.state}, not released")
        if actor not in self.research.involved(project_id):
            self.research.require_member(project_id, actor)  # raises with the reason
        data = self.store.path(project_id, f"{self._folder(row)}-released", RELEASED).read_bytes()
        target = to / f"{row.name}" if to.is_dir() else to
        target.write_bytes(data)
        self.audit.record(
            "output:download",
            actor,
            f"project:{project_id}",
            {"output": output_id, "sha256": sha256(data)},
        )
        return target
