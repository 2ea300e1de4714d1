"""What research access shows people — projects, the people registered, members,
extracts and outputs: the CLI's --json output and the API's answers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from governance.research.models import (
    OutputReview,
    ProjectMember,
    ResearchExtract,
    ResearchOutput,
    ResearchPerson,
    ResearchProject,
)
from governance.research.services import ResearchService


def person_view(row: ResearchPerson) -> dict[str, Any]:
    return {
        "user": row.user,
        "role": row.role,
        "name": row.name,
        "institution": row.institution,
        "accreditation_expires": row.accreditation_expires.isoformat()
        if row.accreditation_expires
        else None,
    }


def project_view(svc: ResearchService, row: ResearchProject) -> dict[str, Any]:
    """A project's state, its approved scope and, while it is applied for, what its
    approval still waits for."""
    waiting = svc.waiting_for(row.id) if row.state == "applied" else None
    return {
        "id": row.id,
        "title": row.title,
        "state": row.state,
        "applicant": row.applicant,
        "applied_at": row.applied_at.isoformat() if row.applied_at else None,
        "approved_by": row.approved_by,
        "approved_at": row.approved_at.isoformat() if row.approved_at else None,
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "refusal": row.refusal,
        "scope": json.loads(row.scope),
        "waiting_for": None
        if waiting is None
        else {
            "lmis_approvals": list(waiting.lmis_approvals),
            "lmis_approvals_missing": waiting.lmis_approvals_missing,
            "agencies_missing": list(waiting.agencies_missing),
        },
    }


def member_view(row: ProjectMember) -> dict[str, Any]:
    return {"project": row.project_id, "user": row.user, "state": row.state}


def project_detail(svc: ResearchService, row: ResearchProject) -> dict[str, Any]:
    """:func:`project_view` with the application, the members and every decision."""
    return project_view(svc, row) | {
        "application": row.application,
        "members": [{"user": m.user, "state": m.state} for m in svc.members(row.id)],
        "decisions": [
            {
                "subject": d.subject,
                "decision": d.decision,
                "actor": d.actor,
                "agency": d.agency,
                "comment": d.comment,
                "at": d.at.isoformat(),
            }
            for d in svc.decisions(row.id)
        ],
    }


def extract_view(row: ResearchExtract) -> dict[str, Any]:
    """An extract: its state, rows, the k asked for and achieved, and its data files."""
    rules = row.manifest.get("rules", {})
    return {
        "id": row.id,
        "project": row.project_id,
        "state": row.state,
        "built_by": row.built_by,
        "built_at": row.built_at.isoformat(),
        "rows": row.rows,
        "k_achieved": row.k_achieved,
        "k_requested": rules.get("disclosure_plan", {}).get("k"),
        "files": {n: f["rows"] for n, f in row.manifest.get("files", {}).items()},
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
    }


def extract_detail(row: ResearchExtract) -> dict[str, Any]:
    """:func:`extract_view` with the signed manifest and its signature."""
    return extract_view(row) | {
        "manifest": row.manifest,
        "signature": row.signature,
        "signing_key_id": row.signing_key_id,
    }


def output_view(
    row: ResearchOutput, reviews: Sequence[OutputReview] | None = None
) -> dict[str, Any]:
    """An output in the airlock; with ``reviews``, the checks rule by rule and the
    checkers' decisions too."""
    view = {
        "id": row.id,
        "project": row.project_id,
        "name": row.name,
        "state": row.state,
        "submitted_by": row.submitted_by,
        "submitted_at": row.submitted_at.isoformat(),
        "outcome": row.checks.get("outcome"),
        "summary": row.checks.get("summary"),
    }
    if reviews is not None:
        view["checks"] = row.checks
        view["reviews"] = [
            {"checker": r.checker, "decision": r.decision, "comment": r.comment} for r in reviews
        ]
    return view
