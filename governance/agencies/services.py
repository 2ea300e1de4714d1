"""Registering and listing agencies."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agencies.models import Agency
from governance.audit.services import AuditLog
from governance.errors import AgencyCodeInvalid, AgencyExists, AgencyUnknown
from governance.timestamps import Clock
from lmis_hub.topics import agency_code_problem


@cache
def contract_agencies() -> dict[str, str]:
    """Code -> name of the agencies ``agencies init`` registers (``contract.yaml``)."""
    text = resources.files("governance.agencies").joinpath("contract.yaml").read_text("utf-8")
    return {str(code): str(name) for code, name in (yaml.safe_load(text) or {}).items()}


def registered_codes(session: Session) -> list[str]:
    """Every registered agency code (the hub's own included), sorted."""
    return list(session.scalars(select(Agency.code).order_by(Agency.code)))


class AgencyService:
    def __init__(self, session: Session, *, clock: Clock, audit: AuditLog) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    def add(self, code: str, name: str | None = None, *, actor: str) -> Agency:
        problem = agency_code_problem(code)
        if problem is not None:
            raise AgencyCodeInvalid(problem)
        if self.session.get(Agency, code) is not None:
            raise AgencyExists(f"agency {code!r} is already registered")
        agency = Agency(
            code=code, name=name or contract_agencies().get(code, code), created_at=self.clock()
        )
        self.session.add(agency)
        self.session.flush()
        self.audit.record("agency:create", actor, f"agency:{code}", {"name": agency.name})
        return agency

    def ensure(self, code: str, *, actor: str) -> bool:
        """Register ``code`` (with its contract name) if missing; True if it was added."""
        if self.session.get(Agency, code) is not None:
            return False
        self.add(code, actor=actor)
        return True

    def ensure_known(self, *, actor: str) -> list[str]:
        """Register every agency of ``contract.yaml`` that is missing; returns those added."""
        return [code for code in contract_agencies() if self.ensure(code, actor=actor)]

    def get(self, code: str) -> Agency:
        agency = self.session.get(Agency, code)
        if agency is None:
            raise AgencyUnknown(f"agency {code!r} is not registered")
        return agency

    def list(self) -> list[Agency]:
        return list(self.session.scalars(select(Agency).order_by(Agency.code)))
