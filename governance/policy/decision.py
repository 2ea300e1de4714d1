"""The access decision, as a pure function of the request and what is in force.

Deny by default: a request is allowed only by one of the rules below, and every rule
names its reason. Allowed reads of personal-level data carry obligations the caller
must apply (pseudonymise with the project key, k-anonymity, cell suppression, consent
filtering). Nothing here reads the database or the clock, so it is property-tested.

Datasets are named ``<agency>.<dataset>`` (``nis.contributions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from governance.errors import (
    FieldsNotAgreed,
    IndicatorNotPublished,
    NoApprovedProject,
    NoPolicyRule,
    NotADataset,
    NotAnIndicator,
    OtherAgencyData,
    OutsideProjectScope,
    PolicyDenied,
    PolicyNoAgreement,
    ProjectExpired,
    PublicReadsPublishedOnly,
    PurposeNotAgreed,
    PurposeNotApproved,
    RoleNotPermitted,
)

Role = Literal[
    "agency_operator",
    "lmis_admin",
    "lmis_analyst",
    "researcher",
    "steering_member",
    "auditor",
    "public",
]
ROLES: tuple[Role, ...] = (
    "agency_operator",
    "lmis_admin",
    "lmis_analyst",
    "researcher",
    "steering_member",
    "auditor",
    "public",
)
Action = Literal[
    "read_indicators", "read_aggregates", "read_microdata", "deliver", "administer", "read_audit"
]
ACTIONS: tuple[Action, ...] = (
    "read_indicators",
    "read_aggregates",
    "read_microdata",
    "deliver",
    "administer",
    "read_audit",
)
Purpose = Literal["statistics", "research", "employment_services", "oversight", "administration"]
ResourceKind = Literal["indicator", "dataset", "audit", "agreement"]

MIN_K = 5
MIN_CELL = 5


@dataclass(frozen=True)
class Subject:
    role: Role
    agency: str | None = None
    project: str | None = None
    user: str = ""


@dataclass(frozen=True)
class Resource:
    kind: ResourceKind
    name: str
    fields: frozenset[str] = frozenset()

    @property
    def agency(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class AccessRequest:
    subject: Subject
    action: Action
    resource: Resource
    purpose: Purpose


@dataclass(frozen=True)
class AgreementInForce:
    agreement_id: str
    version: int
    dataset: str  # <agency>.<dataset>
    fields: frozenset[str]
    purposes: frozenset[str]
    legal_basis: Literal["statute", "consent"]


@dataclass(frozen=True)
class ProjectApproval:
    project_id: str
    scope: Mapping[str, frozenset[str]]  # dataset -> fields
    purposes: frozenset[str]
    valid_until: datetime


@dataclass(frozen=True)
class PolicyContext:
    at: datetime
    agreements: tuple[AgreementInForce, ...] = ()
    projects: Mapping[str, ProjectApproval] = field(default_factory=dict)
    published: frozenset[str] = frozenset()

    def agreement_for(self, dataset: str) -> AgreementInForce | None:
        for agreement in self.agreements:
            if agreement.dataset == dataset:
                return agreement
        return None


@dataclass(frozen=True)
class Obligation:
    kind: Literal[
        "pseudonymise_with_project_key",
        "k_anonymity",
        "suppress_cells_below",
        "apply_consent",
        "published_only",
    ]
    value: str | int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    obligations: tuple[Obligation, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "obligations": [{"kind": o.kind, "value": o.value} for o in self.obligations],
        }


def deny(reason: type[PolicyDenied]) -> Decision:
    """A denial giving the code of ``reason`` (one of the ``policy.*`` codes)."""
    return Decision(False, reason.code)


def _agreed(request: AccessRequest, ctx: PolicyContext) -> Decision | AgreementInForce:
    """The agreement in force that covers the dataset, fields and purpose, or a denial."""
    resource = request.resource
    agreement = ctx.agreement_for(resource.name)
    if agreement is None:
        return deny(PolicyNoAgreement)
    if request.purpose not in agreement.purposes:
        return deny(PurposeNotAgreed)
    if not resource.fields <= agreement.fields:
        return deny(FieldsNotAgreed)
    return agreement


def _project(request: AccessRequest, ctx: PolicyContext) -> Decision | ProjectApproval:
    subject, resource = request.subject, request.resource
    if subject.project is None or subject.project not in ctx.projects:
        return deny(NoApprovedProject)
    project = ctx.projects[subject.project]
    if ctx.at >= project.valid_until:
        return deny(ProjectExpired)
    if request.purpose not in project.purposes:
        return deny(PurposeNotApproved)
    approved = project.scope.get(resource.name)
    if approved is None or not resource.fields <= approved:
        return deny(OutsideProjectScope)
    return project


def _microdata(request: AccessRequest, ctx: PolicyContext) -> Decision:
    project = _project(request, ctx)
    if isinstance(project, Decision):
        return project
    agreement = _agreed(request, ctx)
    if isinstance(agreement, Decision):
        return agreement
    obligations = [
        Obligation("pseudonymise_with_project_key", project.project_id),
        Obligation("k_anonymity", MIN_K),
    ]
    if agreement.legal_basis == "consent":
        obligations.append(Obligation("apply_consent", request.purpose))
    return Decision(True, "allow.approved_project", tuple(obligations))


def _aggregates(request: AccessRequest, ctx: PolicyContext) -> Decision:
    subject, resource = request.subject, request.resource
    role = subject.role
    if role == "agency_operator":
        if subject.agency != resource.agency:
            return deny(OtherAgencyData)
    elif role == "researcher":
        project = _project(request, ctx)
        if isinstance(project, Decision):
            return project
    elif role != "lmis_analyst":
        return deny(RoleNotPermitted)
    agreement = _agreed(request, ctx)
    if isinstance(agreement, Decision):
        return agreement
    obligations = [Obligation("suppress_cells_below", MIN_CELL)]
    if agreement.legal_basis == "consent":
        obligations.append(Obligation("apply_consent", request.purpose))
    return Decision(True, f"allow.aggregates_{role}", tuple(obligations))


def decide(request: AccessRequest, ctx: PolicyContext) -> Decision:
    """Allow or deny ``request`` given what is in force; deny unless a rule allows."""
    subject, action, resource = request.subject, request.action, request.resource
    role = subject.role
    if action == "read_indicators":
        if resource.kind != "indicator":
            return deny(NotAnIndicator)
        if resource.name in ctx.published:
            return Decision(True, "allow.published", (Obligation("published_only", 1),))
        if role == "lmis_analyst":
            return Decision(
                True,
                "allow.analyst_prepares_indicators",
                (Obligation("suppress_cells_below", MIN_CELL),),
            )
        return deny(IndicatorNotPublished)
    if role == "public":
        return deny(PublicReadsPublishedOnly)
    if action == "read_aggregates":
        if resource.kind != "dataset":
            return deny(NotADataset)
        return _aggregates(request, ctx)
    if action == "read_microdata":
        if resource.kind != "dataset":
            return deny(NotADataset)
        if role not in ("researcher", "lmis_analyst"):
            return deny(RoleNotPermitted)
        return _microdata(request, ctx)
    if action == "deliver":
        if role != "agency_operator" or resource.kind != "dataset":
            return deny(RoleNotPermitted)
        if subject.agency != resource.agency:
            return deny(OtherAgencyData)
        agreement = _agreed(request, ctx)
        if isinstance(agreement, Decision):
            return agreement
        return Decision(True, "allow.agreement_in_force")
    if action == "administer":
        if role == "lmis_admin" and resource.kind == "agreement":
            return Decision(True, "allow.lmis_admin")
        return deny(RoleNotPermitted)
    if action == "read_audit":
        if role in ("auditor", "steering_member") and resource.kind == "audit":
            return Decision(True, f"allow.{role}_reviews_audit")
        return deny(RoleNotPermitted)
    return deny(NoPolicyRule)  # pragma: no cover - every Action is handled above
