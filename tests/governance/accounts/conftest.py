"""Accounts on both database backends: a service with a fast Argon2 hasher (the real
parameters are checked where they matter), an LMIS administrator, and helpers to sign in."""

from __future__ import annotations

import json
import os

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from governance.accounts.models import Account
from governance.accounts.services import AccountService
from governance.agencies.services import AgencyService
from governance.audit.services import AuditLog
from governance.keys.wrapping import KeyEncryptionKey
from tests.governance.conftest import FakeClock

PASSWORD = "tidal-ochre-lantern-47"
ADMIN_PASSWORD = "quiet-harbour-violet-93"


@pytest.fixture
def kek() -> KeyEncryptionKey:
    return KeyEncryptionKey(os.urandom(32))


@pytest.fixture
def fast_hasher() -> PasswordHasher:
    """Argon2id with the smallest parameters, so that tests do not wait on hashing."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def accounts(
    db_session: Session,
    clock: FakeClock,
    audit: AuditLog,
    agencies: AgencyService,
    kek: KeyEncryptionKey,
    fast_hasher: PasswordHasher,
) -> AccountService:
    return AccountService(db_session, clock=clock, audit=audit, kek=kek, hasher=fast_hasher)


@pytest.fixture
def admin(accounts: AccountService) -> Account:
    """ann, an LMIS administrator made from the command line."""
    return accounts.create(
        "ann", role="lmis_admin", display_name="Ann", password=ADMIN_PASSWORD, actor="cli"
    )


def code(secret: str, clock: FakeClock) -> str:
    """The authenticator's code now."""
    return pyotp.TOTP(secret).at(clock.now)


def enrolled_session(
    accounts: AccountService, clock: FakeClock, username: str, password: str
) -> tuple[str, str, list[str]]:
    """Sign in as an account that has no authenticator yet and enrol one: (session id,
    TOTP secret, recovery codes). The clock moves on a step, so the next code is new."""
    step = accounts.login(username, password)
    assert step.enrol_required
    enrolment = accounts.begin_enrolment(step.session_id)
    recovery = accounts.confirm_enrolment(step.session_id, code(enrolment.secret, clock))
    clock.advance(seconds=30)
    return step.session_id, enrolment.secret, recovery


def audit_dump(audit: AuditLog) -> str:
    """Every audit entry as JSON."""
    return "\n".join(json.dumps(entry.as_dict(), default=str) for entry in audit.iter_all())
