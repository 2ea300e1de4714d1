"""Errors of the governance domains: agencies, keys, agreements, policy, consent, audit.

Agreement codes are the reason codes the ingest worker writes to the quarantine table
and to rejection receipts, so they are stable and precise. The ``policy.*`` codes after
:class:`PolicyDenied` are the reasons an access decision gives for a denial (audited,
and named in the ``policy.denied`` message); they are not raised themselves.
"""

from __future__ import annotations

from lmis_hub.errors import Arises, HubError
from schemas import errors as _key_errors

# Key errors live with the key material in the data contracts (the connector SDK
# raises them without the hub's governance); the same classes, named here for the hub.
KeyProblem = _key_errors.KeyProblem
KeyUnknown = _key_errors.KeyUnknown
KeyRevoked = _key_errors.KeyRevoked
KeyExpired = _key_errors.KeyExpired
KeyNotYetValid = _key_errors.KeyNotYetValid
KeySuperseded = _key_errors.KeySuperseded
KeyInvalid = _key_errors.KeyInvalid

#: Refused when a command or the API asks, and when a delivered batch is checked.
_BOTH = (Arises.QUARANTINE, Arises.SERVICE)


class GovernanceError(HubError):
    """A governance rule refused the request; read the code and the message."""

    http_status = 400


class AgencyUnknown(GovernanceError):
    """The agency code is not registered; add it with `lmis-hub agencies add`."""

    code = "agency.unknown"
    http_status = 404


class AgencyCodeInvalid(GovernanceError):
    """Agency codes are 2-32 lower-case letters, digits and underscores, not a reserved
    topic name (receipts, quarantine); use e.g. `nis` or `moe`."""

    code = "agency.invalid_code"


class AgencyExists(GovernanceError):
    """The agency is already registered; nothing to do."""

    code = "agency.exists"
    http_status = 409


class KeyExists(GovernanceError):
    """This public key is already registered; nothing to do."""

    code = "key.exists"
    http_status = 409


class SignatureInvalid(GovernanceError):
    """The signature does not verify with the named key; re-sign the exact canonical bytes."""

    code = "signature.invalid"
    http_status = 403


class SecretMissing(GovernanceError):
    """The hub secret has not been created yet; run `lmis-hub keys init-hub`."""

    code = "secret.missing"
    http_status = 500


class SecretUndecryptable(GovernanceError):
    """A stored secret does not decrypt with the configured KEK; use the KEK it was made with."""

    code = "secret.undecryptable"
    http_status = 500


class AgreementInvalid(GovernanceError):
    """The agreement document is invalid; fix the named key and load it again."""

    code = "agreement.invalid"


class AgreementExists(GovernanceError):
    """This agreement id and version exist already; amend it to make a new version."""

    code = "agreement.exists"
    http_status = 409


class AgreementUnchanged(GovernanceError):
    """An amendment repeats the current version word for word; change its terms first."""

    code = "agreement.unchanged"


class AgreementUnknown(GovernanceError):
    """No agreement has this id (and version); check the id in the batch headers."""

    code = "agreement.unknown"
    arises = _BOTH
    http_status = 404


class AgreementNotActive(GovernanceError):
    """The agreement is not active (draft or signed); activate it before delivering."""

    code = "agreement.not_active"
    arises = (Arises.QUARANTINE,)
    http_status = 403


class AgreementExpired(GovernanceError):
    """The agreement's validity ended; renew it with a new version."""

    code = "agreement.expired"
    arises = _BOTH
    http_status = 403


class AgreementSuspended(GovernanceError):
    """The agreement is suspended; the LMIS unit must re-activate it."""

    code = "agreement.suspended"
    arises = (Arises.QUARANTINE,)
    http_status = 403


class AgreementTerminated(GovernanceError):
    """The agreement was terminated; a new agreement is needed."""

    code = "agreement.terminated"
    arises = (Arises.QUARANTINE,)
    http_status = 403


class AgreementWrongAgency(GovernanceError):
    """The agreement names another provider agency; use your own agency's agreement."""

    code = "agreement.wrong_agency"
    arises = (Arises.QUARANTINE,)
    http_status = 403


class DatasetNotCovered(GovernanceError):
    """The agreement does not cover this dataset; amend the agreement first."""

    code = "agreement.dataset_not_covered"
    arises = (Arises.QUARANTINE,)
    http_status = 403


class FieldNotCovered(GovernanceError):
    """The batch carries fields the agreement does not allow; drop them or amend the agreement."""

    code = "agreement.field_not_covered"
    arises = (Arises.QUARANTINE,)
    http_status = 403


class VersionSuperseded(GovernanceError):
    """A newer version of the agreement is active; deliver under the newest version."""

    code = "agreement.version_superseded"
    arises = (Arises.QUARANTINE,)
    http_status = 403


class TransitionRefused(GovernanceError):
    """The agreement cannot move to that state from its current one; see the lifecycle."""

    code = "agreement.transition_refused"
    http_status = 409


class NotAParty(GovernanceError):
    """The signing agency is not a party to the agreement; sign with a party's key."""

    code = "agreement.not_a_party"
    http_status = 403


class PolicyDenied(GovernanceError):
    """The access policy denied the request; ask the LMIS unit for an approval."""

    code = "policy.denied"
    http_status = 403


class PolicyNoAgreement(PolicyDenied):
    """No agreement in force covers the dataset; have one signed and activated first."""

    code = "policy.no_agreement"


class PurposeNotAgreed(PolicyDenied):
    """The agreement does not allow this purpose; ask for an agreed one or amend it."""

    code = "policy.purpose_not_agreed"


class FieldsNotAgreed(PolicyDenied):
    """The agreement does not cover every field asked for; ask for fewer or amend it."""

    code = "policy.fields_not_agreed"


class NoApprovedProject(PolicyDenied):
    """Microdata is read only under an approved research project; name one or get it approved."""

    code = "policy.no_approved_project"


class ProjectExpired(PolicyDenied):
    """The research project's approval has ended; have the LMIS unit renew it."""

    code = "policy.project_expired"


class PurposeNotApproved(PolicyDenied):
    """The project is not approved for this purpose; ask under a purpose it was approved for."""

    code = "policy.purpose_not_approved"


class OutsideProjectScope(PolicyDenied):
    """The dataset or fields are outside the project's approved scope; widen the approval."""

    code = "policy.outside_project_scope"


class OtherAgencyData(PolicyDenied):
    """An agency operator works only with its own agency's datasets; ask that agency instead."""

    code = "policy.other_agency_data"


class RoleNotPermitted(PolicyDenied):
    """This role may not do that; ask someone whose role may (see the access policy)."""

    code = "policy.role_not_permitted"


class NotAnIndicator(PolicyDenied):
    """Reading indicators needs an indicator, not a dataset; name one, or read aggregates."""

    code = "policy.not_an_indicator"


class IndicatorNotPublished(PolicyDenied):
    """The indicator is not published yet; wait for its publication."""

    code = "policy.not_published"


class PublicReadsPublishedOnly(PolicyDenied):
    """The public may read published indicators only; ask for a published indicator."""

    code = "policy.public_reads_published_indicators_only"


class NotADataset(PolicyDenied):
    """Aggregates and microdata are read from a dataset; name one (`<agency>.<dataset>`)."""

    code = "policy.not_a_dataset"


class NoPolicyRule(PolicyDenied):
    """No rule decides this request, a defect of the policy; report it to the LMIS unit."""

    code = "policy.no_rule"


class ProjectUnknown(GovernanceError):
    """No research project has this id; check the id or have it approved first."""

    code = "project.unknown"
    http_status = 404


class ResearchRefused(GovernanceError):
    """Research access refused this step; read the code and the message."""

    code = "research.refused"
    http_status = 403


class ResearchPersonUnknown(ResearchRefused):
    """Nobody with this user name is registered for research access; register them with
    `research people add` first."""

    code = "research.person_unknown"
    http_status = 404


class ResearchRoleWrong(ResearchRefused):
    """The person's research role does not allow this step (apply: researcher; approve:
    lmis_admin; check outputs: output_checker); ask someone who holds the role."""

    code = "research.role_not_permitted"


class AccreditationExpired(ResearchRefused):
    """The researcher's accreditation has expired or was never recorded; renew it and
    record the new expiry date before applying or joining a project."""

    code = "research.accreditation_expired"


class ApplicationInvalid(ResearchRefused):
    """The project application is incomplete or inconsistent; fix the named key and
    apply again."""

    code = "research.application_invalid"
    http_status = 422


class FieldNotForResearch(ResearchRefused):
    """Tokens and agency record ids never reach researchers (extracts carry project
    pseudonyms instead); remove the named field from the application."""

    code = "research.field_refused"
    http_status = 422


class OwnProject(ResearchRefused):
    """Nobody approves, or checks the outputs of, a project they applied for or belong
    to; ask another member of the LMIS unit."""

    code = "research.own_project"


class AlreadyDecided(ResearchRefused):
    """This person has already decided on this project or member, and approval needs
    two different people; ask another approver."""

    code = "research.already_decided"
    http_status = 409


class ProjectNotInState(ResearchRefused):
    """The project is not in a state that allows this step (refused, suspended, closed
    or expired, or not yet approved); check `research show` and its history."""

    code = "research.project_state"
    http_status = 409


class NotAMember(ResearchRefused):
    """Only approved members of the project may do this; a member added after approval
    must be approved by two LMIS approvers first."""

    code = "research.not_a_member"


class ProjectKeyDestroyed(ResearchRefused):
    """The project's key was destroyed when the project ended, so its pseudonyms can
    never be made again; apply for a new project."""

    code = "research.key_destroyed"
    http_status = 410


class AgencyApprovalNotRequired(ResearchRefused):
    """The agency's agreement does not ask it to approve research projects, or the
    project uses none of its data; nothing to record."""

    code = "research.agency_approval_not_required"
    http_status = 409


class ConsentInvalid(GovernanceError):
    """The consent record is invalid (purpose or token); fix the named field."""

    code = "consent.invalid"


class AuditTagUnknown(GovernanceError):
    """The audit tag is not in governance/audit/tags.py; add it there first."""

    code = "audit.unknown_tag"
    http_status = 500


class AuditTampered(GovernanceError):
    """The audit chain does not verify; investigate from the first bad entry named."""

    code = "audit.tampered"
    http_status = 500
