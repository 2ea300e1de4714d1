"""Every table of the hub database, imported by the migrations environment.

Each governance domain keeps its models in its own module; this module imports
them all so that ``Base.metadata`` knows every table.
"""

from governance.agencies.models import Agency
from governance.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from governance.db import Base
from governance.keys.models import AgencyKey, HubSecret

__all__ = [
    "Agency",
    "AgencyKey",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "Base",
    "HubSecret",
]
