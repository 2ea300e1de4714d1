"""One unit of work per request: a session of the hub database and the governance
services on it, committed when the operation succeeds and rolled back when it fails.

What must outlive a failed request (a failed login's count towards lockout, the audit
entry of a denied operation) is committed by the step that wrote it, before it raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from governance.accounts.services import AccountService
from governance.keys.wrapping import KeyEncryptionKey
from governance.policy.decision import Subject
from governance.policy.services import PolicyService
from governance.timestamps import Clock
from hub_api import wiring
from hub_api.wiring import Governance, governance
from integration.indicators.definition import Definition
from lmis_hub.settings import Settings
from schemas.catalog import SchemaCatalog

SYSTEM_ACTOR = "api"


@dataclass(frozen=True)
class ApiState:
    """What the application holds for its lifetime (``app.state.hub``)."""

    settings: Settings
    engine: Engine
    clock: Clock
    kek: KeyEncryptionKey
    #: The schema catalog and the indicator package's definitions, read once.
    schemas: SchemaCatalog
    definitions: tuple[Definition, ...]


class Unit:
    """The session of one request; :meth:`services` gives the governance services acting
    as the signed-in user."""

    def __init__(self, state: ApiState, session: Session) -> None:
        self.state = state
        self.session = session
        self._actor = SYSTEM_ACTOR
        self._gov: Governance | None = None

    @property
    def settings(self) -> Settings:
        return self.state.settings

    def act_as(self, actor: str) -> None:
        """Every audit entry after this names ``actor``."""
        self._actor = actor
        self._gov = None

    def services(self) -> Governance:
        if self._gov is None:
            self._gov = governance(
                self.session,
                self.state.settings,
                actor=self._actor,
                clock=self.state.clock,
                schemas=self.state.schemas,
            )
        return self._gov

    def accounts(self) -> AccountService:
        return wiring.accounts(self.services())

    def policy(self) -> PolicyService:
        gov = self.services()
        return PolicyService(self.session, clock=gov.clock, audit=gov.audit)

    def authorise(
        self, subject: Subject, permission: str, *, resource: str, resource_agency: str | None
    ) -> None:
        """Ask the policy about one resource (once it is loaded and its agency known);
        the decision's audit entry is committed whatever the answer."""
        try:
            self.policy().authorise(
                subject, permission, resource=resource, resource_agency=resource_agency
            )
        finally:
            self.commit()

    def commit(self) -> None:
        self.session.commit()


def hub_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.hub
    return state


def unit(request: Request) -> Iterator[Unit]:
    """The request's unit of work (a FastAPI dependency, always declared with
    ``scope="function"``: it commits before the answer is sent, so a client never sees
    an answer whose changes are not yet, or never, committed)."""
    state = hub_state(request)
    with Session(state.engine) as session:
        work = Unit(state, session)
        try:
            yield work
            session.commit()
        except BaseException:
            session.rollback()
            raise
