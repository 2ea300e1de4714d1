"""Errors of the governance domains: agencies, keys, agreements, policy, consent, audit.

Agreement codes are the reason codes the ingest worker writes to the quarantine table
and to rejection receipts, so they are stable and precise.
"""

from __future__ import annotations

from lmis_hub.errors import HubError


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


class KeyUnknown(GovernanceError):
    """No key has this id; register the agency's public key with `lmis-hub keys register`."""

    code = "key.unknown"
    http_status = 404


class KeyRevoked(GovernanceError):
    """The key was revoked before the signing time; the agency must sign with a current key."""

    code = "key.revoked"
    http_status = 403


class KeyExpired(GovernanceError):
    """The key's validity window ended before the signing time; register a new key."""

    code = "key.expired"
    http_status = 403


class KeyNotYetValid(GovernanceError):
    """The key's validity window starts after the signing time; check the sender's clock."""

    code = "key.not_yet_valid"
    http_status = 403


class KeySuperseded(GovernanceError):
    """A newer key replaced this one before the signing time; sign with the newest key."""

    code = "key.superseded"
    http_status = 403


class KeyExists(GovernanceError):
    """This public key is already registered; nothing to do."""

    code = "key.exists"
    http_status = 409


class KeyInvalid(GovernanceError):
    """The key file is not an Ed25519 key in PEM form, or the passphrase is wrong; check it."""

    code = "key.invalid"


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
    http_status = 404


class AgreementNotActive(GovernanceError):
    """The agreement is not active (draft or signed); activate it before delivering."""

    code = "agreement.not_active"
    http_status = 403


class AgreementExpired(GovernanceError):
    """The agreement's validity ended; renew it with a new version."""

    code = "agreement.expired"
    http_status = 403


class AgreementSuspended(GovernanceError):
    """The agreement is suspended; the LMIS unit must re-activate it."""

    code = "agreement.suspended"
    http_status = 403


class AgreementTerminated(GovernanceError):
    """The agreement was terminated; a new agreement is needed."""

    code = "agreement.terminated"
    http_status = 403


class AgreementWrongAgency(GovernanceError):
    """The agreement names another provider agency; use your own agency's agreement."""

    code = "agreement.wrong_agency"
    http_status = 403


class DatasetNotCovered(GovernanceError):
    """The agreement does not cover this dataset; amend the agreement first."""

    code = "agreement.dataset_not_covered"
    http_status = 403


class FieldNotCovered(GovernanceError):
    """The batch carries fields the agreement does not allow; drop them or amend the agreement."""

    code = "agreement.field_not_covered"
    http_status = 403


class VersionSuperseded(GovernanceError):
    """A newer version of the agreement is active; deliver under the newest version."""

    code = "agreement.version_superseded"
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


class ProjectUnknown(GovernanceError):
    """No research project has this id; check the id or have it approved first."""

    code = "project.unknown"
    http_status = 404


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
