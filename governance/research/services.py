"""The research-access service: people, applications, two-person approval, agency
approval where an agreement requires it, members, the project lifecycle and the project
key. Every step is audited in the same transaction as the change.

Who may do what:
- a ``researcher`` with an unexpired accreditation applies, and is named as a member;
- an ``lmis_admin`` approves or refuses, never for a project they applied for or belong
  to, and never twice for the same thing: a project (and a member added after approval)
  needs two different approvers;
- a data-owning agency approves or refuses when its agreement's research terms ask it to;
- the policy engine refuses at application a project whose purpose or fields an
  agreement involved does not allow, with its reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agencies.models import Agency
from governance.agreements.models import Agreement
from governance.agreements.services import document_of
from governance.audit.services import AuditLog
from governance.canonical import canonical_json
from governance.errors import (
    AccreditationExpired,
    AgencyApprovalNotRequired,
    AgencyUnknown,
    AlreadyDecided,
    NotAMember,
    OwnProject,
    ProjectKeyDestroyed,
    ProjectNotInState,
    ProjectUnknown,
    ResearchPersonUnknown,
    ResearchRoleWrong,
)
from governance.keys.wrapping import KeyEncryptionKey, SealedColumns, open_envelope, seal
from governance.policy.decision import (
    AccessRequest,
    Decision,
    ProjectApproval,
    Resource,
    Subject,
)
from governance.policy.services import PolicyService
from governance.research.application import ProjectApplication
from governance.research.models import (
    ProjectDecision,
    ProjectKey,
    ProjectMember,
    ResearchPerson,
    ResearchProject,
)
from governance.timestamps import Clock, iso
from lmis_hub.errors import ConfigurationError

ResearchRole = Literal["researcher", "lmis_admin", "output_checker"]
RESEARCH_ROLES: tuple[ResearchRole, ...] = ("researcher", "lmis_admin", "output_checker")
#: Approvals of the LMIS unit a project (or a later member) needs.
APPROVERS_NEEDED = 2
#: Member states that give access (named in the approved application, or approved later).
ACTIVE_MEMBERS = ("named", "approved")
PROJECT_KEY_BYTES = 32


@dataclass(frozen=True)
class Waiting:
    """What a project's approval still waits for."""

    lmis_approvals: tuple[str, ...]
    lmis_approvals_missing: int
    agencies_missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.lmis_approvals_missing and not self.agencies_missing


def _aad(project_id: str) -> bytes:
    return f"project:{project_id}".encode()


class ResearchService:
    def __init__(
        self,
        session: Session,
        *,
        clock: Clock,
        audit: AuditLog,
        policy: PolicyService,
        kek: KeyEncryptionKey | None,
        on_end: Callable[[str, str, str], object] | None = None,
    ) -> None:
        """``on_end(project_id, actor, reason)`` runs when a project ends (closed,
        expired, refused), in the same transaction: the extracts' deletion."""
        self.on_end = on_end
        self.session = session
        self.clock = clock
        self.audit = audit
        self.policy = policy
        self.kek = kek

    # People ------------------------------------------------------------------------

    def register_person(
        self,
        user: str,
        *,
        role: ResearchRole,
        name: str,
        institution: str,
        accreditation_expires: date | None = None,
        actor: str,
    ) -> ResearchPerson:
        """Register someone (or renew a researcher's accreditation, or change a role)."""
        if role not in RESEARCH_ROLES:
            raise ResearchRoleWrong(f"role {role!r} is not one of {', '.join(RESEARCH_ROLES)}")
        if role == "researcher" and accreditation_expires is None:
            raise AccreditationExpired(f"researcher {user!r}: an accreditation expiry is needed")
        row = self.session.get(ResearchPerson, user)
        if row is None:
            row = ResearchPerson(user=user, registered_by=actor, registered_at=self.clock())
            self.session.add(row)
        row.role, row.name, row.institution = role, name, institution
        row.accreditation_expires = accreditation_expires
        self.session.flush()
        self.audit.record(
            "research:person",
            actor,
            f"person:{user}",
            {
                "role": role,
                "institution": institution,
                "accreditation_expires": accreditation_expires.isoformat()
                if accreditation_expires
                else None,
            },
        )
        return row

    def person(self, user: str) -> ResearchPerson:
        row = self.session.get(ResearchPerson, user)
        if row is None:
            raise ResearchPersonUnknown(f"{user!r} is not registered for research access")
        return row

    def people(self) -> list[ResearchPerson]:
        return list(self.session.scalars(select(ResearchPerson).order_by(ResearchPerson.user)))

    def _with_role(self, user: str, role: ResearchRole, step: str) -> ResearchPerson:
        person = self.person(user)
        if person.role != role:
            raise ResearchRoleWrong(f"{user!r} is {person.role}; {step} needs {role}")
        return person

    def _accredited(self, user: str, step: str) -> ResearchPerson:
        person = self._with_role(user, "researcher", step)
        today = self.clock().date()
        if person.accreditation_expires is None or person.accreditation_expires < today:
            raise AccreditationExpired(
                f"{user!r}: accreditation expired on {person.accreditation_expires} ({step})"
            )
        return person

    # Projects ------------------------------------------------------------------------

    def project(self, project_id: str) -> ResearchProject:
        row = self.session.get(ResearchProject, project_id)
        if row is None:
            raise ProjectUnknown(f"no research project {project_id!r}")
        return row

    def projects(self, state: str | None = None) -> list[ResearchProject]:
        query = select(ResearchProject).order_by(ResearchProject.id)
        if state is not None:
            query = query.where(ResearchProject.state == state)
        return list(self.session.scalars(query))

    def application(self, project_id: str) -> ProjectApplication:
        return ProjectApplication.model_validate(self.project(project_id).application)

    def members(self, project_id: str) -> list[ProjectMember]:
        return list(
            self.session.scalars(
                select(ProjectMember)
                .where(ProjectMember.project_id == project_id)
                .order_by(ProjectMember.user)
            )
        )

    def decisions(self, project_id: str) -> list[ProjectDecision]:
        return list(
            self.session.scalars(
                select(ProjectDecision)
                .where(ProjectDecision.project_id == project_id)
                .order_by(ProjectDecision.id)
            )
        )

    def _approval_of(self, app: ProjectApplication, valid_until: datetime) -> ProjectApproval:
        return ProjectApproval(app.id, app.scope(), frozenset({app.purpose}), valid_until)

    def _policy_refusal(self, app: ProjectApplication, applicant: str) -> str | None:
        """The policy engine's reason to refuse the project were it approved, or None:
        every dataset's agreement must allow the purpose and every field asked for."""
        now = self.clock()
        ctx = self.policy.context(now)
        approval = self._approval_of(app, now + timedelta(days=app.duration_days))
        ctx = type(ctx)(ctx.at, ctx.agreements, {app.id: approval}, ctx.published)
        for dataset, fields in app.scope().items():
            request = AccessRequest(
                Subject("researcher", None, app.id, user=applicant),
                "read_microdata",
                Resource("dataset", dataset, fields),
                app.purpose,
            )
            decision = self.policy.decide(request, ctx=ctx)
            if not decision.allowed:
                return f"{decision.reason}: {dataset}"
        return None

    def apply(self, app: ProjectApplication, *, actor: str) -> ResearchProject:
        """Record the application; the policy engine refuses it at once (state
        ``refused``, with the reason) if an agreement involved does not allow it."""
        if self.session.get(ResearchProject, app.id) is not None:
            raise ProjectNotInState(f"project {app.id!r} exists already; choose another id")
        self._accredited(actor, "applying")
        if actor not in app.members:
            raise NotAMember(f"the applicant {actor!r} must be a named member of {app.id!r}")
        for member in app.members:
            self._accredited(member, f"membership of {app.id}")
        now = self.clock()
        row = ResearchProject(
            id=app.id,
            title=app.title,
            scope=canonical_json(app.datasets).decode("utf-8"),
            purposes=app.purpose,
            state="applied",
            applicant=actor,
            applied_at=now,
            application=app.model_dump(mode="json", by_alias=True),
        )
        self.session.add(row)
        self.session.flush()
        for member in app.members:
            self.session.add(
                ProjectMember(
                    project_id=app.id, user=member, state="named", added_by=actor, added_at=now
                )
            )
        self.session.flush()
        self.audit.record(
            "project:apply",
            actor,
            f"project:{app.id}",
            {
                "title": app.title,
                "purpose": app.purpose,
                "datasets": app.datasets,
                "members": app.members,
                "k": app.disclosure.k,
                "duration_days": app.duration_days,
            },
        )
        reason = self._policy_refusal(app, actor)
        if reason is not None:
            self._end(row, "refused", actor="policy", reason=reason)
        return row

    # Review ------------------------------------------------------------------------

    def agencies_to_approve(self, project_id: str) -> list[str]:
        """The data-owning agencies whose agreement in force asks them to approve."""
        agencies = sorted({d.split(".", 1)[0] for d in json.loads(self.project(project_id).scope)})
        now = self.clock()
        needed = set()
        for row in self.session.scalars(
            select(Agreement).where(Agreement.state == "active", Agreement.provider.in_(agencies))
        ):
            doc = document_of(row)
            if (
                doc.starts_at() <= now < doc.ends_at()
                and doc.research
                and (doc.research.provider_approval)
            ):
                needed.add(doc.provider)
        return sorted(needed)

    def _decided(self, project_id: str, subject: str) -> list[ProjectDecision]:
        return [d for d in self.decisions(project_id) if d.subject == subject]

    def _record_decision(
        self,
        row: ResearchProject,
        subject: str,
        decision: Literal["approve", "refuse"],
        *,
        actor: str,
        agency: str | None,
        comment: str,
    ) -> None:
        self.session.add(
            ProjectDecision(
                project_id=row.id,
                subject=subject,
                decision=decision,
                actor=actor,
                agency=agency,
                comment=comment,
                at=self.clock(),
            )
        )
        self.session.flush()
        self.audit.record(
            "project:decide",
            actor,
            f"project:{row.id}",
            {"subject": subject, "decision": decision, "agency": agency, "comment": comment},
        )

    def _check_reviewer(self, row: ResearchProject, subject: str, actor: str) -> None:
        self._with_role(actor, "lmis_admin", "reviewing a project")
        if actor in self.involved(row.id):
            raise OwnProject(f"{actor!r} applied for or belongs to project {row.id!r}")
        if any(d.actor == actor and d.agency is None for d in self._decided(row.id, subject)):
            raise AlreadyDecided(f"{actor!r} has already decided on {subject} of {row.id!r}")

    def approve(self, project_id: str, *, actor: str, comment: str = "") -> ResearchProject:
        """One LMIS approval; the second different one (with every required agency's)
        approves the project, starts its term and makes its key."""
        row = self._in_state(project_id, ("applied",), "approval")
        self._check_reviewer(row, "project", actor)
        self._record_decision(row, "project", "approve", actor=actor, agency=None, comment=comment)
        self._maybe_approve(row)
        return row

    def refuse(self, project_id: str, *, actor: str, reason: str) -> ResearchProject:
        row = self._in_state(project_id, ("applied",), "refusal")
        self._check_reviewer(row, "project", actor)
        self._record_decision(row, "project", "refuse", actor=actor, agency=None, comment=reason)
        self._end(row, "refused", actor=actor, reason=reason)
        return row

    def agency_decide(
        self,
        project_id: str,
        *,
        agency: str,
        approve: bool,
        actor: str,
        comment: str = "",
    ) -> ResearchProject:
        """The decision of a data-owning agency whose agreement asks for it."""
        row = self._in_state(project_id, ("applied",), "an agency's decision")
        if self.session.get(Agency, agency) is None:
            raise AgencyUnknown(f"agency {agency!r} is not registered")
        if agency not in self.agencies_to_approve(project_id):
            raise AgencyApprovalNotRequired(
                f"project {project_id!r}: agency {agency!r} is not asked to approve it"
            )
        if any(d.agency == agency for d in self._decided(project_id, "project")):
            raise AlreadyDecided(f"agency {agency!r} has already decided on {project_id!r}")
        decision: Literal["approve", "refuse"] = "approve" if approve else "refuse"
        self._record_decision(row, "project", decision, actor=actor, agency=agency, comment=comment)
        if approve:
            self._maybe_approve(row)
        else:
            self._end(row, "refused", actor=actor, reason=f"refused by {agency}: {comment}")
        return row

    def waiting_for(self, project_id: str) -> Waiting:
        """What approval still needs: LMIS approvers and agencies."""
        decided = self._decided(project_id, "project")
        lmis = {d.actor for d in decided if d.agency is None and d.decision == "approve"}
        agencies = {d.agency for d in decided if d.agency and d.decision == "approve"}
        required = self.agencies_to_approve(project_id)
        return Waiting(
            tuple(sorted(lmis)),
            max(0, APPROVERS_NEEDED - len(lmis)),
            tuple(a for a in required if a not in agencies),
        )

    def _maybe_approve(self, row: ResearchProject) -> None:
        waiting = self.waiting_for(row.id)
        if not waiting.complete:
            return
        app = ProjectApplication.model_validate(row.application)
        now = self.clock()
        row.state = "approved"
        row.approved_at = now
        row.valid_until = now + timedelta(days=app.duration_days)
        row.approved_by = ",".join(waiting.lmis_approvals)
        envelope = seal(self._kek(), os.urandom(PROJECT_KEY_BYTES), aad=_aad(row.id))
        self.session.add(
            ProjectKey(project_id=row.id, created_at=now, **SealedColumns.columns_of(envelope))
        )
        self.session.flush()
        self.audit.record(
            "project:approve",
            row.approved_by,
            f"project:{row.id}",
            {
                "scope": json.loads(row.scope),
                "purposes": [row.purposes],
                "valid_until": iso(row.valid_until),
                "approvers": list(waiting.lmis_approvals),
                "agencies": self.agencies_to_approve(row.id),
            },
        )

    # Members ---------------------------------------------------------------------------

    def add_member(self, project_id: str, user: str, *, actor: str) -> ProjectMember:
        """Add a member: named at once before approval; ``pending`` after it, until two
        LMIS approvers approve them (:meth:`approve_member`)."""
        row = self._in_state(project_id, ("applied", "approved", "suspended"), "a new member")
        if actor != row.applicant:
            self._with_role(actor, "lmis_admin", "adding a member")
        self._accredited(user, f"membership of {project_id}")
        existing = self.session.get(ProjectMember, (project_id, user))
        if existing is not None and existing.state != "removed":
            raise ProjectNotInState(f"{user!r} is already a member of {project_id!r}")
        state = "named" if row.state == "applied" else "pending"
        if existing is None:
            existing = ProjectMember(project_id=project_id, user=user, added_by=actor)
            self.session.add(existing)
        existing.state, existing.added_at = state, self.clock()
        self.session.flush()
        self.audit.record(
            "project:member_add", actor, f"project:{project_id}", {"user": user, "state": state}
        )
        return existing

    def approve_member(self, project_id: str, user: str, *, actor: str) -> ProjectMember:
        row = self._in_state(project_id, ("approved", "suspended"), "approving a member")
        member = self.session.get(ProjectMember, (project_id, user))
        if member is None or member.state != "pending":
            raise NotAMember(f"{user!r} is not a pending member of {project_id!r}")
        subject = f"member:{user}"
        self._check_reviewer(row, subject, actor)
        self._record_decision(row, subject, "approve", actor=actor, agency=None, comment="")
        approvers = {d.actor for d in self._decided(project_id, subject) if d.decision == "approve"}
        if len(approvers) >= APPROVERS_NEEDED:
            member.state = "approved"
            self.session.flush()
        return member

    def remove_member(self, project_id: str, user: str, *, actor: str) -> ProjectMember:
        row = self.project(project_id)
        if actor != row.applicant:
            self._with_role(actor, "lmis_admin", "removing a member")
        member = self.session.get(ProjectMember, (project_id, user))
        if member is None or member.state == "removed":
            raise NotAMember(f"{user!r} is not a member of {project_id!r}")
        member.state = "removed"
        self.session.flush()
        self.audit.record("project:member_remove", actor, f"project:{project_id}", {"user": user})
        return member

    # Lifecycle -----------------------------------------------------------------------

    def _in_state(self, project_id: str, states: Iterable[str], step: str) -> ResearchProject:
        row = self._current(project_id)
        if row.state not in tuple(states):
            raise ProjectNotInState(
                f"project {project_id!r} is {row.state}; {step} is not possible"
            )
        return row

    def _current(self, project_id: str) -> ResearchProject:
        """The project, expired first if its term has run out."""
        row = self.project(project_id)
        live = row.state in ("approved", "suspended") and row.valid_until is not None
        if live and row.valid_until is not None and self.clock() >= row.valid_until:
            self._end(row, "expired", actor="system", reason="the project's term ended")
        return row

    def _destroy_key(self, project_id: str) -> bool:
        key = self.session.get(ProjectKey, project_id)
        if key is None or key.destroyed_at is not None:
            return False
        key.wrap_nonce = key.wrapped_key = key.nonce = key.ciphertext = b""
        key.destroyed_at = self.clock()
        self.session.flush()
        return True

    def _end(self, row: ResearchProject, state: str, *, actor: str, reason: str) -> None:
        row.state = state
        row.ended_at = self.clock()
        if state == "refused":
            row.refusal = reason[:2000]
        self.session.flush()
        destroyed = self._destroy_key(row.id)
        if self.on_end is not None:
            self.on_end(row.id, actor, f"project {state}: {reason}")
        tag = {"refused": "project:refuse", "closed": "project:close", "expired": "project:expire"}
        self.audit.record(
            tag[state], actor, f"project:{row.id}", {"reason": reason, "key_destroyed": destroyed}
        )

    def suspend(self, project_id: str, *, actor: str, reason: str) -> ResearchProject:
        row = self._in_state(project_id, ("approved",), "suspension")
        self._with_role(actor, "lmis_admin", "suspending a project")
        row.state = "suspended"
        self.session.flush()
        self.audit.record("project:suspend", actor, f"project:{project_id}", {"reason": reason})
        return row

    def resume(self, project_id: str, *, actor: str, reason: str) -> ResearchProject:
        row = self._in_state(project_id, ("suspended",), "resuming")
        self._with_role(actor, "lmis_admin", "resuming a project")
        row.state = "approved"
        self.session.flush()
        self.audit.record("project:resume", actor, f"project:{project_id}", {"reason": reason})
        return row

    def close(self, project_id: str, *, actor: str, reason: str = "closed") -> ResearchProject:
        """End the project: its key is destroyed at once."""
        row = self._in_state(project_id, ("applied", "approved", "suspended"), "closing")
        if actor != row.applicant:
            self._with_role(actor, "lmis_admin", "closing a project")
        self._end(row, "closed", actor=actor, reason=reason)
        return row

    def expire_due(self) -> list[ResearchProject]:
        """Expire every project whose term has run out (and destroy its key)."""
        due = self.session.scalars(
            select(ResearchProject)
            .where(ResearchProject.state.in_(("approved", "suspended")))
            .where(ResearchProject.valid_until <= self.clock())
        )
        return [self._current(row.id) for row in list(due)]

    # Access ---------------------------------------------------------------------------

    def require_member(self, project_id: str, user: str) -> ResearchProject:
        """The live project, if ``user`` is an approved, accredited member of it."""
        row = self._in_state(project_id, ("approved",), "a member's step")
        self._accredited(user, f"access to {project_id}")
        member = self.session.get(ProjectMember, (project_id, user))
        if member is None or member.state not in ACTIVE_MEMBERS:
            state = "not a member" if member is None else member.state
            raise NotAMember(f"{user!r} is {state} of project {project_id!r}")
        return row

    def involved(self, project_id: str) -> set[str]:
        """The applicant and every member, past or present (never a checker of it)."""
        row = self.project(project_id)
        return {row.applicant} | {m.user for m in self.members(project_id)}

    def authorise(
        self, project_id: str, user: str, datasets: Mapping[str, Set[str]]
    ) -> list[Decision]:
        """Allow ``user`` to receive ``datasets`` (name → fields) of the project, or raise:
        an approved member, accredited, of a live project, within its approval (the policy
        engine decides each dataset and audits it)."""
        row = self.require_member(project_id, user)
        return [
            self.policy.require(
                AccessRequest(
                    Subject("researcher", None, project_id, user=user),
                    "read_microdata",
                    Resource("dataset", name, frozenset(fields)),
                    row.purposes,  # type: ignore[arg-type]
                )
            )
            for name, fields in sorted(datasets.items())
        ]

    def project_key(self, project_id: str) -> bytes:
        """K_proj of a live project (the extract builder pseudonymises with it)."""
        row = self._current(project_id)
        key = self.session.get(ProjectKey, project_id)
        if key is not None and key.destroyed_at is not None:
            raise ProjectKeyDestroyed(f"project {project_id!r}: key destroyed ({row.state})")
        if row.state != "approved" or key is None:
            raise ProjectNotInState(f"project {project_id!r} is {row.state}; it has no live key")
        return open_envelope(self._kek(), key.envelope(), aad=_aad(project_id))

    def _kek(self) -> KeyEncryptionKey:
        if self.kek is None:
            raise ConfigurationError(
                "HUB_KEY_ENCRYPTION_KEY is not set; project keys are sealed with it"
            )
        return self.kek
