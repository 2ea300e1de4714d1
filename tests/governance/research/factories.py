"""Research-access set-ups shared by the governance and integration tests."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from governance.audit.services import AuditLog
from governance.keys.wrapping import KeyEncryptionKey
from governance.policy.services import PolicyService
from governance.research.application import parse_application
from governance.research.services import ResearchService
from tests.governance.agreements.factories import make_doc

ACCREDITED = date(2027, 12, 31)


def application(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "p-returns",
        "title": "Returns to training",
        "purpose": "research",
        "public_benefit": "Evidence on which training leads to insured work.",
        "legal_basis": "Statistics Act s. 12",
        "ethics_approval": "REC-2026-014",
        "datasets": {"nis.contributions": ["period", "insurable_earnings", "isic4_section"]},
        "period": {"from": "2024-01-01", "to": "2025-12-31"},
        "duration_days": 180,
        "members": ["dr.joseph", "ms.ali"],
        "disclosure": {"k": 5, "quasi_identifiers": ["isic4_section"]},
    }
    if "datasets" in overrides:
        data["disclosure"] = {"k": 5}
    return data | overrides


def research_service(
    make_parties: Any, db_session: Session, clock: Any, audit: AuditLog, **kwargs: Any
) -> ResearchService:
    """NIS's agreement in force (no provider approval), three accredited researchers
    (dr.joseph, ms.ali, dr.late), three LMIS approvers (ann, bob, cy); ``kwargs`` go to
    the service (``on_end``)."""
    research_terms = {"research": {"provider_approval": False}}
    make_parties(documents=[make_doc(**research_terms)], clock=clock)
    clock.now = datetime(2026, 6, 1, tzinfo=UTC)
    policy = PolicyService(db_session, clock=clock, audit=audit)
    service = ResearchService(
        db_session,
        clock=clock,
        audit=audit,
        policy=policy,
        kek=KeyEncryptionKey(os.urandom(32)),
        **kwargs,
    )
    for user in ("dr.joseph", "ms.ali", "dr.late"):
        service.register_person(
            user,
            role="researcher",
            name=user,
            institution="UWI",
            accreditation_expires=ACCREDITED,
            actor="lmis",
        )
    for user in ("ann", "bob", "cy"):
        service.register_person(
            user, role="lmis_admin", name=user, institution="LMIS", actor="lmis"
        )
    return service


def approved(research: ResearchService, **overrides: Any) -> str:
    app = parse_application(application(**overrides), where="test")
    research.apply(app, actor="dr.joseph")
    research.approve(app.id, actor="ann")
    research.approve(app.id, actor="bob")
    return app.id
