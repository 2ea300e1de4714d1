"""Approved research projects: the approvals the access policy takes into account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.timestamps import UtcDateTime


class ResearchProject(Base):
    """A project approved to receive pseudonymised micro-data.

    ``scope`` is canonical JSON ``{"<agency>.<dataset>": [fields...]}``; ``purposes``
    a comma-separated list.
    """

    __tablename__ = "research_projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    scope: Mapped[str] = mapped_column(Text)
    purposes: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str] = mapped_column(String(200))
    approved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime)
