"""The access-policy service: builds what is in force from the database, asks the pure
:func:`~governance.policy.decision.decide`, and audits every decision."""

from __future__ import annotations

import json
from collections.abc import Set
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.agreements.services import document_of
from governance.audit.services import AuditLog
from governance.errors import PolicyDenied, ProjectUnknown
from governance.policy.decision import (
    AccessRequest,
    AgreementInForce,
    Decision,
    PolicyContext,
    ProjectApproval,
    Subject,
    decide,
)
from governance.policy.permissions import PERMISSIONS, permit
from governance.research.models import ResearchProject
from governance.timestamps import Clock
from lmis_hub.errors import registered_codes


class PolicyService:
    """``published`` names the indicators released to the public (from the indicators
    package); it is passed in, not read here."""

    def __init__(
        self,
        session: Session,
        *,
        clock: Clock,
        audit: AuditLog,
        published: Set[str] = frozenset(),
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.published = frozenset(published)

    def project(self, project_id: str) -> ResearchProject:
        row = self.session.get(ResearchProject, project_id)
        if row is None:
            raise ProjectUnknown(f"no research project {project_id!r}")
        return row

    def context(self, at: datetime | None = None) -> PolicyContext:
        """Agreements active at ``at`` and every approved project (the research service
        approves them; a suspended, closed or expired one is not in force)."""
        when = at or self.clock()
        agreements: list[AgreementInForce] = []
        for row in self.session.scalars(select(Agreement).where(Agreement.state == "active")):
            doc = document_of(row)
            if not doc.starts_at() <= when < doc.ends_at():
                continue
            for name, terms in doc.datasets.items():
                agreements.append(
                    AgreementInForce(
                        row.id,
                        row.version,
                        f"{doc.provider}.{name}",
                        frozenset(terms.fields),
                        frozenset(doc.purposes),
                        doc.legal_basis.kind,
                    )
                )
        projects = {
            p.id: ProjectApproval(
                p.id,
                {k: frozenset(v) for k, v in json.loads(p.scope).items()},
                frozenset(p.purposes.split(",")),
                p.valid_until,
            )
            for p in self.session.scalars(
                select(ResearchProject).where(ResearchProject.state == "approved")
            )
            if p.valid_until is not None
        }
        return PolicyContext(when, tuple(agreements), projects, self.published)

    def decide(self, request: AccessRequest, *, ctx: PolicyContext | None = None) -> Decision:
        """Decide and audit the decision, allowed or denied."""
        decision = decide(request, ctx or self.context())
        subject, resource = request.subject, request.resource
        self.audit.record(
            "policy:decision",
            subject.user or f"{subject.role}",
            f"{resource.kind}:{resource.name}",
            {
                "role": subject.role,
                "agency": subject.agency,
                "project": subject.project,
                "action": request.action,
                "fields": sorted(resource.fields),
                "purpose": request.purpose,
                **decision.as_dict(),
            },
        )
        return decision

    def require(self, request: AccessRequest) -> Decision:
        """Like :meth:`decide`, raising :class:`PolicyDenied` on a denial."""
        decision = self.decide(request)
        if not decision.allowed:
            raise PolicyDenied(
                f"{request.subject.role} may not {request.action} {request.resource.name} "
                f"for {request.purpose}: {decision.reason}"
            )
        return decision

    def authorise(
        self, subject: Subject, permission: str, *, resource: str, resource_agency: str | None
    ) -> Decision:
        """Allow ``subject`` the operation ``permission`` on ``resource`` (of the agency
        ``resource_agency``, None when it belongs to none), or raise the denial's reason
        (a :class:`PolicyDenied` with the reason's code). Denials are always audited;
        allowed decisions when the permission is marked ``audited``."""
        decision = permit(
            subject.role, permission, agency=subject.agency, resource_agency=resource_agency
        )
        rule = PERMISSIONS.get(permission)
        if not decision.allowed or (rule is not None and rule.audited):
            self.audit.record(
                "policy:permission",
                subject.user or subject.role,
                resource,
                {
                    "role": subject.role,
                    "agency": subject.agency,
                    "permission": permission,
                    "resource_agency": resource_agency,
                    **decision.as_dict(),
                },
            )
        if not decision.allowed:
            reason = registered_codes().get(decision.reason, PolicyDenied)
            raise reason(f"{subject.role} may not {permission} on {resource}: {decision.reason}")
        return decision
