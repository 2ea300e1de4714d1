"""Agencies that share data through the hub, and the hub itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.timestamps import UtcDateTime

#: The agency codes of the shared contract; ``hub`` is the hub itself.
KNOWN_AGENCIES: dict[str, str] = {
    "nso": "National Statistics Office",
    "nis": "National Insurance Scheme",
    "tvet": "Technical and Vocational Education and Training Authority",
    "dol": "Department of Labour case system",
    "jobboard": "Job boards (public employment service and private)",
    "hub": "LMIS Integration Hub",
}


class Agency(Base):
    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
