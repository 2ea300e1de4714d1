"""Registering and listing agencies."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agencies.models import KNOWN_AGENCIES, Agency
from governance.audit.services import AuditLog
from governance.errors import AgencyCodeInvalid, AgencyExists, AgencyUnknown
from governance.timestamps import Clock

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class AgencyService:
    def __init__(self, session: Session, *, clock: Clock, audit: AuditLog) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    def add(self, code: str, name: str | None = None, *, actor: str) -> Agency:
        if not _CODE.match(code):
            raise AgencyCodeInvalid(f"agency code {code!r} is not lower-case letters and digits")
        if self.session.get(Agency, code) is not None:
            raise AgencyExists(f"agency {code!r} is already registered")
        agency = Agency(
            code=code, name=name or KNOWN_AGENCIES.get(code, code), created_at=self.clock()
        )
        self.session.add(agency)
        self.session.flush()
        self.audit.record("agency:create", actor, f"agency:{code}", {"name": agency.name})
        return agency

    def ensure_known(self, *, actor: str) -> list[str]:
        """Register every agency of the shared contract that is missing; returns those added."""
        added = []
        for code in KNOWN_AGENCIES:
            if self.session.get(Agency, code) is None:
                self.add(code, actor=actor)
                added.append(code)
        return added

    def get(self, code: str) -> Agency:
        agency = self.session.get(Agency, code)
        if agency is None:
            raise AgencyUnknown(f"agency {code!r} is not registered")
        return agency

    def list(self) -> list[Agency]:
        return list(self.session.scalars(select(Agency).order_by(Agency.code)))
