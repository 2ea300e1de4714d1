"""Signing in: the password step, lockout, TOTP enrolment and codes, recovery codes and
the life of a web session, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from governance.accounts import passwords
from governance.accounts.errors import (
    AccountLocked,
    CsrfInvalid,
    InvalidCredentials,
    RecoveryCodeInvalid,
    SessionInvalid,
    TotpInvalid,
    TotpRequired,
)
from governance.accounts.models import Account
from governance.accounts.services import AccountService
from governance.audit.services import AuditLog
from governance.keys.wrapping import KeyEncryptionKey
from tests.fixtures.database import database_dump
from tests.governance.accounts.conftest import (
    ADMIN_PASSWORD,
    PASSWORD,
    audit_dump,
    code,
    enrolled_session,
)
from tests.governance.conftest import FakeClock

WRONG = "not-the-password-at-all"


@pytest.fixture
def maria(accounts: AccountService, admin: Account) -> Account:
    """An analyst: no second factor unless she enrols one."""
    return accounts.create(
        "maria",
        role="lmis_analyst",
        display_name="Maria",
        password=PASSWORD,
        actor="ann",
        must_change_password=False,
    )


@pytest.fixture
def rhea(accounts: AccountService, admin: Account) -> Account:
    """A researcher: a second factor is required."""
    return accounts.create(
        "rhea", role="researcher", display_name="Rhea", password=PASSWORD, actor="ann"
    )


# The password step ---------------------------------------------------------------


def test_signing_in_without_a_second_factor_gives_a_complete_session(
    accounts: AccountService, maria: Account, audit: AuditLog
) -> None:
    step = accounts.login("maria", PASSWORD)
    assert not step.mfa_required and not step.enrol_required
    assert step.session_id != step.csrf_token and len(step.session_id) >= 43
    assert step.session_id not in repr(step) and step.csrf_token not in repr(step)
    principal = accounts.session_principal(step.session_id)
    assert (principal.username, principal.role, principal.agency, principal.via) == (
        "maria",
        "lmis_analyst",
        None,
        "session",
    )
    assert principal.token_id is None
    assert accounts.csrf_token(step.session_id) == step.csrf_token
    entry = audit.search(tag="account:login")[0]
    assert (entry.actor, entry.details) == ("maria", {"via": "session", "second_factor": "none"})
    # The user name is matched whatever its case or surrounding spaces.
    assert accounts.login(" Maria ", PASSWORD).session_id != step.session_id


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(
    accounts: AccountService, maria: Account, monkeypatch: pytest.MonkeyPatch, audit: AuditLog
) -> None:
    spent: list[str] = []
    real = passwords.spend_verify_time

    def spend(hasher: PasswordHasher, password: str) -> None:
        spent.append(password)
        real(hasher, password)

    monkeypatch.setattr("governance.accounts.sessions.spend_verify_time", spend)
    answers = []
    for username, password in (("nobody", PASSWORD), ("maria", WRONG), ("Bad Name!", PASSWORD)):
        with pytest.raises(InvalidCredentials) as raised:
            accounts.login(username, password)
        answers.append((type(raised.value), raised.value.code, raised.value.message))
        assert raised.value.http_status == 401 and raised.value.keeps_changes
    assert len(set(answers)) == 1
    # Unknown users spend the time of an Argon2 verification all the same.
    assert spent == [PASSWORD, PASSWORD]
    # Only the existing account's failure is audited and counted.
    assert [e.subject for e in audit.search(tag="account:login_fail")] == ["account:maria"]
    assert accounts.get("maria").failed_logins == 1


def test_the_account_locks_after_too_many_failures_until_the_lock_ends(
    accounts: AccountService, maria: Account, clock: FakeClock, audit: AuditLog
) -> None:
    for _ in range(accounts.max_failures - 1):
        with pytest.raises(InvalidCredentials):
            accounts.login("maria", WRONG)
    with pytest.raises(AccountLocked) as raised:
        accounts.login("maria", WRONG)
    assert raised.value.http_status == 403 and raised.value.keeps_changes
    assert maria.locked_until == clock.now + timedelta(minutes=15)
    with pytest.raises(AccountLocked):  # even the right password
        accounts.login("maria", PASSWORD)
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(AccountLocked):
        accounts.login("maria", PASSWORD)
    clock.advance(seconds=1)
    accounts.login("maria", PASSWORD)
    assert accounts.get("maria").failed_logins == 0
    assert accounts.get("maria").locked_until is None
    lock = audit.search(tag="account:lock")
    assert len(lock) == 1 and lock[0].details["failures"] == accounts.max_failures
    assert len(audit.search(tag="account:login_fail")) == accounts.max_failures


def test_after_a_lock_runs_out_the_attempts_start_again(
    accounts: AccountService, maria: Account, clock: FakeClock
) -> None:
    for _ in range(accounts.max_failures - 1):
        with pytest.raises(InvalidCredentials):
            accounts.login("maria", WRONG)
    with pytest.raises(AccountLocked):
        accounts.login("maria", WRONG)
    clock.advance(minutes=16)
    with pytest.raises(InvalidCredentials):  # one failure after the lock: not locked again
        accounts.login("maria", WRONG)
    assert maria.failed_logins == 1


def test_an_administrator_unlocks_an_account(
    accounts: AccountService, maria: Account, audit: AuditLog
) -> None:
    for _ in range(accounts.max_failures - 1):
        with pytest.raises(InvalidCredentials):
            accounts.login("maria", WRONG)
    with pytest.raises(AccountLocked):
        accounts.login("maria", WRONG)
    accounts.unlock("maria", actor="ann")
    assert accounts.session_principal(accounts.login("maria", PASSWORD).session_id)
    entry = audit.search(tag="account:unlock")[0]
    assert (entry.actor, entry.details) == ("ann", {"was_locked": True})


def test_a_failure_count_survives_a_commit_so_the_api_can_report_it(
    accounts: AccountService, maria: Account, db_session: Session
) -> None:
    with pytest.raises(InvalidCredentials) as raised:
        accounts.login("maria", WRONG)
    assert raised.value.keeps_changes
    db_session.commit()  # what the API does before answering with the error
    db_session.expire_all()
    assert accounts.get("maria").failed_logins == 1


def test_a_weaker_hash_is_replaced_at_sign_in(
    db_session: Session,
    clock: FakeClock,
    audit: AuditLog,
    kek: KeyEncryptionKey,
    accounts: AccountService,
    maria: Account,
) -> None:
    assert maria.password_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    real = AccountService(db_session, clock=clock, audit=audit, kek=kek)
    real.login("maria", PASSWORD)
    assert maria.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert real.login("maria", PASSWORD).session_id


# The second factor ---------------------------------------------------------------


def test_enrolment_then_codes_each_accepted_once(
    accounts: AccountService, rhea: Account, clock: FakeClock, audit: AuditLog
) -> None:
    step = accounts.login("rhea", PASSWORD)
    assert step.mfa_required and step.enrol_required
    with pytest.raises(TotpRequired):  # a pending session is no principal
        accounts.session_principal(step.session_id)
    with pytest.raises(TotpRequired):  # and cannot take a code before enrolling
        accounts.verify_totp(step.session_id, "123456")
    assert accounts.pending_session(step.session_id).username == "rhea"
    enrolment = accounts.begin_enrolment(step.session_id)
    assert enrolment.uri.startswith("otpauth://totp/") and "issuer=LMIS%20Hub" in enrolment.uri
    assert enrolment.secret not in repr(enrolment)
    with pytest.raises(TotpInvalid):
        accounts.confirm_enrolment(step.session_id, "000000")
    first = code(enrolment.secret, clock)
    recovery = accounts.confirm_enrolment(step.session_id, first)
    assert len(recovery) == len(set(recovery)) == 10
    assert accounts.session_principal(step.session_id).username == "rhea"
    assert rhea.totp_enrolled
    assert audit.search(tag="account:totp_enrol")[0].details == {
        "re_enrolment": False,
        "recovery_codes": 10,
    }

    again = accounts.login("rhea", PASSWORD)
    assert again.mfa_required and not again.enrol_required
    with pytest.raises(TotpInvalid):  # the code used to confirm, replayed
        accounts.verify_totp(again.session_id, first)
    clock.advance(seconds=30)
    current = code(enrolment.secret, clock)
    accounts.verify_totp(again.session_id, current)
    assert accounts.session_principal(again.session_id).role == "researcher"
    third = accounts.login("rhea", PASSWORD)
    with pytest.raises(TotpInvalid):  # the same code in another session: still a replay
        accounts.verify_totp(third.session_id, current)
    with pytest.raises(TotpInvalid):  # an earlier code is no better
        accounts.verify_totp(third.session_id, first)
    logins = audit.search(tag="account:login")
    assert [e.details["second_factor"] for e in logins] == ["enrolment", "totp"]


def test_a_pending_session_of_an_enrolled_account_cannot_enrol_anew(
    accounts: AccountService, rhea: Account, clock: FakeClock
) -> None:
    enrolled_session(accounts, clock, "rhea", PASSWORD)
    step = accounts.login("rhea", PASSWORD)
    with pytest.raises(TotpRequired):
        accounts.begin_enrolment(step.session_id)
    with pytest.raises(TotpRequired):
        accounts.confirm_enrolment(step.session_id, "123456")


def test_wrong_codes_count_and_a_correct_password_does_not_reset_them(
    accounts: AccountService, rhea: Account, clock: FakeClock, audit: AuditLog
) -> None:
    _, secret, _ = enrolled_session(accounts, clock, "rhea", PASSWORD)
    step = accounts.login("rhea", PASSWORD)
    for _ in range(accounts.max_failures - 1):
        with pytest.raises(TotpInvalid) as raised:
            accounts.verify_totp(step.session_id, "000000")
        assert raised.value.keeps_changes
    # Knowing the password must not buy a fresh set of guesses at the code.
    step = accounts.login("rhea", PASSWORD)
    assert rhea.failed_logins == accounts.max_failures - 1
    with pytest.raises(AccountLocked):
        accounts.verify_totp(step.session_id, "000000")
    with pytest.raises(SessionInvalid):  # the lock ended the pending session
        accounts.verify_totp(step.session_id, code(secret, clock))
    with pytest.raises(AccountLocked):
        accounts.login("rhea", PASSWORD)
    reasons = [e.details["reason"] for e in audit.search(tag="account:login_fail")]
    assert reasons == ["totp"] * accounts.max_failures


def test_a_complete_sign_in_resets_the_count(
    accounts: AccountService, rhea: Account, clock: FakeClock
) -> None:
    _, secret, _ = enrolled_session(accounts, clock, "rhea", PASSWORD)
    with pytest.raises(InvalidCredentials):
        accounts.login("rhea", WRONG)
    step = accounts.login("rhea", PASSWORD)
    assert rhea.failed_logins == 1
    accounts.verify_totp(step.session_id, code(secret, clock))
    assert rhea.failed_logins == 0


def test_recovery_codes_work_once_each(
    accounts: AccountService, rhea: Account, clock: FakeClock, audit: AuditLog
) -> None:
    _, _, recovery = enrolled_session(accounts, clock, "rhea", PASSWORD)
    step = accounts.login("rhea", PASSWORD)
    accounts.use_recovery_code(step.session_id, recovery[3].upper())
    assert accounts.session_principal(step.session_id).username == "rhea"
    again = accounts.login("rhea", PASSWORD)
    with pytest.raises(RecoveryCodeInvalid) as raised:
        accounts.use_recovery_code(again.session_id, recovery[3])
    assert raised.value.keeps_changes and rhea.failed_logins == 1
    with pytest.raises(SessionInvalid):  # a complete session takes no second factor
        accounts.use_recovery_code(step.session_id, recovery[4])
    accounts.use_recovery_code(again.session_id, recovery[4].replace("-", ""))
    entry = audit.search(tag="account:login")[-1]
    assert entry.details == {
        "via": "session",
        "second_factor": "recovery_code",
        "recovery_codes_left": 8,
    }


def test_an_operator_may_enrol_and_then_needs_the_code(
    accounts: AccountService, admin: Account, clock: FakeClock
) -> None:
    accounts.create(
        "nis.op",
        role="agency_operator",
        agency="nis",
        display_name="Op",
        password=PASSWORD,
        actor="ann",
    )
    step = accounts.login("nis.op", PASSWORD)
    assert not step.mfa_required
    enrolment = accounts.begin_enrolment(step.session_id)  # from a complete session
    accounts.confirm_enrolment(step.session_id, code(enrolment.secret, clock))
    assert accounts.session_principal(step.session_id).agency == "nis"
    later = accounts.login("nis.op", PASSWORD)
    assert later.mfa_required and not later.enrol_required


def test_re_enrolment_keeps_the_old_authenticator_until_the_new_one_is_confirmed(
    accounts: AccountService, rhea: Account, clock: FakeClock, audit: AuditLog
) -> None:
    session_id, old, old_recovery = enrolled_session(accounts, clock, "rhea", PASSWORD)
    new = accounts.begin_enrolment(session_id)
    assert new.secret != old
    pending = accounts.login("rhea", PASSWORD)
    accounts.verify_totp(pending.session_id, code(old, clock))  # the old one still works
    clock.advance(seconds=30)
    fresh = accounts.confirm_enrolment(session_id, code(new.secret, clock))
    assert not set(fresh) & set(old_recovery)
    clock.advance(seconds=30)
    step = accounts.login("rhea", PASSWORD)
    with pytest.raises(TotpInvalid):
        accounts.verify_totp(step.session_id, code(old, clock))
    with pytest.raises(RecoveryCodeInvalid):
        accounts.use_recovery_code(step.session_id, old_recovery[0])
    accounts.verify_totp(step.session_id, code(new.secret, clock))
    assert audit.search(tag="account:totp_enrol")[-1].details["re_enrolment"] is True


# The life of a session --------------------------------------------------------------


def test_a_session_ends_when_idle_and_at_its_absolute_expiry(
    accounts: AccountService, maria: Account, clock: FakeClock
) -> None:
    idle = accounts.login("maria", PASSWORD).session_id
    busy = accounts.login("maria", PASSWORD).session_id
    for i in range(25):  # 12 hours of requests every 29 minutes ...
        clock.advance(minutes=29)
        if clock.now - maria.created_at < timedelta(hours=12):
            accounts.session_principal(busy)
        if i == 1:  # 58 minutes without a request
            with pytest.raises(SessionInvalid) as raised:
                accounts.session_principal(idle)
            assert "idle" in raised.value.message
    with pytest.raises(SessionInvalid) as raised:  # ... end at 12 hours all the same
        accounts.session_principal(busy)
    assert "expired" in raised.value.message

    short = accounts.login("maria", PASSWORD).session_id
    clock.advance(minutes=29, seconds=59)
    accounts.session_principal(short)
    clock.advance(minutes=30)
    with pytest.raises(SessionInvalid):
        accounts.session_principal(short)
    with pytest.raises(SessionInvalid):
        accounts.csrf_token(short)


def test_a_pending_session_also_times_out(
    accounts: AccountService, rhea: Account, clock: FakeClock
) -> None:
    step = accounts.login("rhea", PASSWORD)
    clock.advance(minutes=31)
    with pytest.raises(SessionInvalid):
        accounts.pending_session(step.session_id)
    with pytest.raises(SessionInvalid):
        accounts.begin_enrolment(step.session_id)


def test_the_csrf_token_is_checked_when_asked(accounts: AccountService, maria: Account) -> None:
    step = accounts.login("maria", PASSWORD)
    other = accounts.login("maria", PASSWORD)
    for bad in (None, "", other.csrf_token, step.csrf_token[:-1]):
        with pytest.raises(CsrfInvalid) as raised:
            accounts.session_principal(step.session_id, csrf=bad, require_csrf=True)
        assert isinstance(raised.value, SessionInvalid) and raised.value.http_status == 403
    principal = accounts.session_principal(step.session_id, csrf=step.csrf_token, require_csrf=True)
    assert principal.username == "maria"
    assert accounts.session_principal(step.session_id, csrf="ignored").username == "maria"


def test_logging_out_ends_the_session_only(
    accounts: AccountService, maria: Account, audit: AuditLog
) -> None:
    step = accounts.login("maria", PASSWORD)
    other = accounts.login("maria", PASSWORD)
    accounts.logout(step.session_id)
    with pytest.raises(SessionInvalid):
        accounts.session_principal(step.session_id)
    assert accounts.session_principal(other.session_id).username == "maria"
    accounts.logout(step.session_id)  # again, and an unknown id: nothing happens
    accounts.logout("no-such-session")
    accounts.logout("")
    assert len(audit.search(tag="account:logout")) == 1


def test_pending_session_serves_only_pending_sessions(
    accounts: AccountService, maria: Account
) -> None:
    step = accounts.login("maria", PASSWORD)
    with pytest.raises(SessionInvalid):
        accounts.pending_session(step.session_id)
    for bad in ("", "x", step.csrf_token):
        with pytest.raises(SessionInvalid):
            accounts.session_principal(bad)


# Nothing secret is kept ----------------------------------------------------------


def test_no_secret_reaches_the_database_or_the_audit_log(
    accounts: AccountService,
    rhea: Account,
    clock: FakeClock,
    audit: AuditLog,
    db_session: Session,
    db_connection: Connection,
) -> None:
    session_id, totp_secret, recovery = enrolled_session(accounts, clock, "rhea", PASSWORD)
    step = accounts.login("rhea", PASSWORD)
    used_code = code(totp_secret, clock)
    accounts.verify_totp(step.session_id, used_code)
    with pytest.raises(InvalidCredentials):
        accounts.login("rhea", "a-wrong-guess-at-it")
    _, token = accounts.issue_token("rhea", name="notebook", actor="rhea")
    new_password = "amber-willow-canal-18"
    accounts.change_password("rhea", old=PASSWORD, new=new_password)
    accounts.reset("rhea", actor="ann", password="copper-meadow-frost-66")
    db_session.flush()

    secrets = [
        PASSWORD,
        ADMIN_PASSWORD,
        new_password,
        "copper-meadow-frost-66",
        "a-wrong-guess-at-it",
        totp_secret,
        session_id,
        step.session_id,
        token,
        token.split("_", 2)[2],
        *recovery,
        *(c.replace("-", "") for c in recovery),
    ]
    dump = database_dump(db_connection)
    logged = audit_dump(audit)
    assert audit.search(tag="account:")  # the log is not empty
    for secret in secrets:
        assert secret.encode() not in dump, secret
        assert secret not in logged, secret
    assert totp_secret.lower().encode() not in dump.lower()
