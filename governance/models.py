"""Every table of the hub database, imported by the migrations environment.

Each governance domain keeps its models in its own module; this module imports
them all so that ``Base.metadata`` knows every table.
"""

from governance.accounts.models import Account, ApiToken, RecoveryCode, TotpSecret, WebSession
from governance.agencies.models import Agency
from governance.agreements.models import (
    Agreement,
    AgreementNotice,
    AgreementSignature,
    AgreementTransition,
    Delivery,
)
from governance.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from governance.consent.models import ConsentEvent
from governance.db import Base
from governance.deliveries.models import IngestedBatch, QuarantinedMessage
from governance.indicators.models import IndicatorRelease
from governance.keys.models import AgencyKey, HubSecret
from governance.linkage.models import (
    LinkageRun,
    PersonKey,
    PersonKeyEvent,
    ReviewDecision,
    ReviewPair,
)
from governance.research.models import (
    OutputReview,
    ProjectDecision,
    ProjectKey,
    ProjectMember,
    ResearchExtract,
    ResearchOutput,
    ResearchPerson,
    ResearchProject,
)

__all__ = [
    "Account",
    "Agency",
    "AgencyKey",
    "Agreement",
    "AgreementNotice",
    "AgreementSignature",
    "AgreementTransition",
    "ApiToken",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "Base",
    "ConsentEvent",
    "Delivery",
    "HubSecret",
    "IndicatorRelease",
    "IngestedBatch",
    "LinkageRun",
    "OutputReview",
    "PersonKey",
    "PersonKeyEvent",
    "ProjectDecision",
    "ProjectKey",
    "ProjectMember",
    "QuarantinedMessage",
    "RecoveryCode",
    "ResearchExtract",
    "ResearchOutput",
    "ResearchPerson",
    "ResearchProject",
    "ReviewDecision",
    "ReviewPair",
    "TotpSecret",
    "WebSession",
]
