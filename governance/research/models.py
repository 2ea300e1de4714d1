"""Tables of research access: the people the research service knows, the projects and
their members, every approval or refusal, and each project's key.

A project's key is stored envelope-encrypted and destroyed (its ciphertext wiped) when
the project closes or expires, so its pseudonyms can never be recomputed. Rows are
never deleted: the history of a project is its rows and the audit log.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.keys.wrapping import SealedColumns
from governance.timestamps import UtcDateTime


class ResearchPerson(Base):
    """Someone with a part in research access: a ``researcher`` (institution, accreditation
    expiry), an ``lmis_admin`` of the LMIS unit (approves projects) or an
    ``output_checker`` (checks outputs in the airlock). One role per person."""

    __tablename__ = "research_people"

    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    institution: Mapped[str] = mapped_column(String(200))
    accreditation_expires: Mapped[date | None] = mapped_column(Date, default=None)
    registered_by: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ResearchProject(Base):
    """A research project from its application to its end.

    ``state``: ``applied`` → ``approved`` (two LMIS approvers and each required agency) →
    ``suspended`` ⇄ ``approved`` → ``closed`` | ``expired``; or ``refused`` (by the policy
    engine at application, or by a reviewer). ``scope`` is canonical JSON
    ``{"<agency>.<dataset>": [fields...]}`` and ``purposes`` a comma-separated list: the
    policy engine reads them for approved projects. ``application`` is the whole
    application document as submitted.
    """

    __tablename__ = "research_projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    scope: Mapped[str] = mapped_column(Text)
    purposes: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    state: Mapped[str] = mapped_column(String(16), default="applied", index=True)
    applicant: Mapped[str] = mapped_column(String(200), default="")
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    application: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    refusal: Mapped[str | None] = mapped_column(String(2000), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ProjectMember(Base):
    """A named member. Members named in the application are approved with the project;
    one added later is ``pending`` until two LMIS approvers approve them too."""

    __tablename__ = "research_members"

    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("research_projects.id"), primary_key=True
    )
    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # named | pending | approved | removed
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProjectDecision(Base):
    """One reviewer's decision on a project (``subject`` ``project``) or on a member added
    later (``member:<user>``): ``approve`` or ``refuse``, by the LMIS unit or, where the
    agreement requires it, by a data-owning agency (``agency`` set)."""

    __tablename__ = "research_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("research_projects.id"), index=True
    )
    subject: Mapped[str] = mapped_column(String(220))
    decision: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    agency: Mapped[str | None] = mapped_column(String(32), default=None)
    comment: Mapped[str] = mapped_column(String(2000), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProjectKey(SealedColumns, Base):
    """K_proj: a random key per approved project, envelope-encrypted (associated data
    ``project:<id>``); ``destroyed_at`` set and every sealed column wiped when the project
    ends."""

    __tablename__ = "research_project_keys"

    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("research_projects.id"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    destroyed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ResearchExtract(Base):
    """One extract built for a project: where its files are in the project's workspace,
    its signed manifest, and whether it is ``live``, ``superseded`` by a rebuild (after a
    consent withdrawal) or ``deleted`` (the project ended)."""

    __tablename__ = "research_extracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("research_projects.id"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))
    built_by: Mapped[str] = mapped_column(String(200))
    built_at: Mapped[datetime] = mapped_column(UtcDateTime)
    folder: Mapped[str] = mapped_column(String(300))
    manifest: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    signature: Mapped[str] = mapped_column(String(200))
    signing_key_id: Mapped[str] = mapped_column(String(100))
    rows: Mapped[int] = mapped_column(Integer)
    k_achieved: Mapped[int] = mapped_column(Integer)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    ended_by: Mapped[str | None] = mapped_column(String(200), default=None)


class ResearchOutput(Base):
    """A result table a member submitted for release through the airlock: the automatic
    checks' result, then two independent output checkers. ``state``: ``refused_by_rules``
    (a rule failed), ``awaiting_checkers``, ``released`` or ``refused`` (by a checker)."""

    __tablename__ = "research_outputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("research_projects.id"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(24), index=True)
    submitted_by: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sha256: Mapped[str] = mapped_column(String(64))
    layout: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    checks: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    description: Mapped[str] = mapped_column(String(2000), default="")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class OutputReview(Base):
    """One output checker's decision on an output, with their comment."""

    __tablename__ = "research_output_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("research_outputs.id"), index=True)
    checker: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
