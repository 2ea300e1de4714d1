"""Administering accounts and API tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from governance.accounts.errors import (
    AccountDisabled,
    AccountExists,
    AccountForbidden,
    AccountInvalid,
    AccountUnknown,
    InvalidCredentials,
    PasswordWeak,
    SessionInvalid,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    TokenUnknown,
    TotpRequired,
)
from governance.accounts.models import ACCOUNT_ROLES, MFA_ROLES, Account, ApiToken
from governance.accounts.services import AccountService
from governance.audit.services import AuditLog
from governance.errors import GovernanceError
from tests.fixtures.database import database_dump
from tests.governance.accounts.conftest import (
    ADMIN_PASSWORD,
    PASSWORD,
    audit_dump,
    enrolled_session,
)
from tests.governance.conftest import FakeClock


def analyst(accounts: AccountService, name: str = "maria", **kwargs: object) -> Account:
    return accounts.create(
        name,
        role="lmis_analyst",
        display_name=name.title(),
        password=PASSWORD,
        actor=str(kwargs.pop("actor", "ann")),
        **kwargs,  # type: ignore[arg-type]
    )


# Creating accounts ----------------------------------------------------------------


def test_an_administrator_creates_an_account(
    accounts: AccountService, admin: Account, audit: AuditLog, clock: FakeClock
) -> None:
    account = analyst(accounts)
    assert (account.username, account.role, account.agency) == ("maria", "lmis_analyst", None)
    assert account.password_hash.startswith("$argon2id$") and PASSWORD not in account.password_hash
    assert account.must_change_password  # an administrator chose the password
    assert not admin.must_change_password  # the command line made the first administrator
    assert (account.failed_logins, account.created_by, account.created_at) == (0, "ann", clock.now)
    entry = audit.search(tag="account:create", subject="account:maria")[0]
    assert entry.actor == "ann"
    assert entry.details == {"role": "lmis_analyst", "agency": None, "must_change_password": True}
    assert accounts.get("maria") is account
    assert [a.username for a in accounts.list()] == ["ann", "maria"]


@pytest.mark.parametrize(
    "username", ["ab", "Maria", "ma ria", "-maria", ".maria", "x" * 65, "maría", "cli", "hub"]
)
def test_bad_or_reserved_user_names_are_refused(
    accounts: AccountService, admin: Account, username: str
) -> None:
    with pytest.raises(AccountInvalid):
        analyst(accounts, username)
    with pytest.raises(AccountUnknown):
        accounts.get(username)


def test_user_names_of_3_to_64_allowed_characters_are_accepted(
    accounts: AccountService, admin: Account
) -> None:
    for name in ("abc", "j.doe-2_x", "9" * 64):
        assert analyst(accounts, name).username == name


@pytest.mark.parametrize(
    ("role", "agency"),
    [
        ("agency_operator", None),  # an operator acts for an agency
        ("agency_operator", "nowhere"),  # which must be registered
        ("researcher", "nis"),  # nobody else belongs to an agency
        ("lmis_admin", "hub"),
        ("superuser", None),
        ("", None),
    ],
)
def test_bad_role_and_agency_combinations_are_refused(
    accounts: AccountService, admin: Account, role: str, agency: str | None
) -> None:
    with pytest.raises(AccountInvalid):
        accounts.create(
            "omar", role=role, display_name="Omar", password=PASSWORD, actor="ann", agency=agency
        )


def test_every_role_can_be_held_and_an_operator_names_a_registered_agency(
    accounts: AccountService, admin: Account
) -> None:
    for i, role in enumerate(ACCOUNT_ROLES):
        agency = "nis" if role == "agency_operator" else None
        account = accounts.create(
            f"user{i}", role=role, display_name=role, password=PASSWORD, actor="ann", agency=agency
        )
        assert (account.role, account.agency) == (role, agency)
        assert account.mfa_required == (role in MFA_ROLES)
    assert set(ACCOUNT_ROLES) - set(MFA_ROLES) == {"agency_operator", "lmis_analyst"}


def test_a_duplicate_user_name_is_refused(accounts: AccountService, admin: Account) -> None:
    analyst(accounts)
    with pytest.raises(AccountExists) as raised:
        analyst(accounts)
    assert raised.value.http_status == 409


@pytest.mark.parametrize("password", ["short-pw-1", "maria-is-my-name", "Password2026!"])
def test_weak_passwords_are_refused_without_repeating_them(
    accounts: AccountService, admin: Account, password: str
) -> None:
    with pytest.raises(PasswordWeak) as raised:
        accounts.create(
            "maria", role="researcher", display_name="M", password=password, actor="ann"
        )
    assert password not in str(raised.value)
    assert raised.value.http_status == 400


def test_only_enabled_administrators_or_the_command_line_administer(
    accounts: AccountService, admin: Account
) -> None:
    analyst(accounts)
    with pytest.raises(AccountForbidden):
        analyst(accounts, "omar", actor="maria")  # not an administrator
    for change in (accounts.disable, accounts.enable, accounts.unlock):
        with pytest.raises(AccountForbidden):
            change("ann", actor="maria")
    with pytest.raises(AccountForbidden):
        accounts.reset("ann", actor="maria", password=PASSWORD)
    accounts.create("bob", role="lmis_admin", display_name="Bob", password=PASSWORD, actor="cli")
    accounts.disable("bob", actor="ann")
    with pytest.raises(AccountForbidden):
        analyst(accounts, "omar", actor="bob")  # a disabled administrator
    # An actor that is no account is the command line's operator (their login name).
    assert analyst(accounts, "omar", actor="cli").created_by == "cli"
    assert analyst(accounts, "olga", actor="ops").created_by == "ops"
    assert not accounts.get("olga").must_change_password


def test_errors_carry_the_status_the_api_answers_with() -> None:
    assert issubclass(AccountInvalid, GovernanceError)
    statuses = {
        InvalidCredentials: 401,
        SessionInvalid: 401,
        TokenInvalid: 401,
        AccountDisabled: 403,
        AccountUnknown: 404,
        AccountExists: 409,
        AccountInvalid: 400,
    }
    assert {error: error.http_status for error in statuses} == statuses
    assert issubclass(TotpRequired, SessionInvalid)


# Disabling, resetting, changing a password ---------------------------------------


def test_disabling_ends_sessions_revokes_tokens_and_refuses_sign_in(
    accounts: AccountService, admin: Account, audit: AuditLog
) -> None:
    analyst(accounts, must_change_password=False)
    session_id = accounts.login("maria", PASSWORD).session_id
    _, token = accounts.issue_token("maria", name="laptop", actor="maria")
    accounts.disable("maria", actor="ann")
    with pytest.raises(SessionInvalid):
        accounts.session_principal(session_id)
    with pytest.raises(TokenRevoked):
        accounts.token_principal(token)
    with pytest.raises(AccountDisabled):
        accounts.login("maria", PASSWORD)
    with pytest.raises(InvalidCredentials):  # a wrong password tells nothing more
        accounts.login("maria", "wrong-password-entirely")
    with pytest.raises(AccountDisabled):
        accounts.issue_token("maria", name="again", actor="ann")
    entry = audit.search(tag="account:disable")[0]
    assert entry.details == {"sessions_ended": 1, "tokens_revoked": 1}
    accounts.disable("maria", actor="ann")  # again: nothing to do
    assert len(audit.search(tag="account:disable")) == 1

    accounts.enable("maria", actor="ann")
    assert accounts.session_principal(accounts.login("maria", PASSWORD).session_id)
    with pytest.raises(TokenRevoked):  # revoked tokens stay revoked
        accounts.token_principal(token)


def test_a_reset_clears_totp_recovery_codes_lock_and_sessions(
    accounts: AccountService, admin: Account, clock: FakeClock, audit: AuditLog
) -> None:
    accounts.create("rhea", role="researcher", display_name="Rhea", password=PASSWORD, actor="ann")
    session_id, _, recovery = enrolled_session(accounts, clock, "rhea", PASSWORD)
    account = accounts.get("rhea")
    assert account.totp_enrolled
    for _ in range(accounts.max_failures - 1):
        with pytest.raises(InvalidCredentials):
            accounts.login("rhea", "not-the-password-at-all")
    new_password = "amber-willow-canal-18"
    accounts.reset("rhea", actor="ann", password=new_password)
    assert (account.totp_confirmed_at, account.totp_last_step, account.failed_logins) == (
        None,
        None,
        0,
    )
    assert account.must_change_password
    with pytest.raises(SessionInvalid):
        accounts.session_principal(session_id)
    with pytest.raises(InvalidCredentials):
        accounts.login("rhea", PASSWORD)
    step = accounts.login("rhea", new_password)
    assert step.mfa_required and step.enrol_required and step.must_change_password
    with pytest.raises(TotpRequired):  # the old recovery codes went with the reset
        accounts.use_recovery_code(step.session_id, recovery[0])
    assert audit.search(tag="account:reset")[0].details == {
        "sessions_ended": 1,
        "totp_removed": True,
    }


def test_changing_ones_password(
    accounts: AccountService, admin: Account, db_session: Session
) -> None:
    analyst(accounts)
    keep = accounts.login("maria", PASSWORD)
    other = accounts.login("maria", PASSWORD)
    assert keep.must_change_password
    with pytest.raises(InvalidCredentials):
        accounts.change_password("maria", old="not-my-password-x", new="amber-willow-canal-18")
    assert accounts.get("maria").failed_logins == 1  # counted like a failed sign-in
    with pytest.raises(PasswordWeak):
        accounts.change_password("maria", old=PASSWORD, new=PASSWORD)
    with pytest.raises(PasswordWeak):
        accounts.change_password("maria", old=PASSWORD, new="short")
    accounts.change_password(
        "maria", old=PASSWORD, new="amber-willow-canal-18", current_session=keep.session_id
    )
    assert not accounts.get("maria").must_change_password
    assert accounts.session_principal(keep.session_id).username == "maria"
    with pytest.raises(SessionInvalid):
        accounts.session_principal(other.session_id)
    with pytest.raises(InvalidCredentials):
        accounts.login("maria", PASSWORD)
    assert not accounts.login("maria", "amber-willow-canal-18").must_change_password


# API tokens -------------------------------------------------------------------------


def test_a_token_is_issued_used_and_shown_once(
    accounts: AccountService,
    admin: Account,
    clock: FakeClock,
    audit: AuditLog,
    db_session: Session,
    db_connection: Connection,
) -> None:
    accounts.create(
        "nis.op",
        role="agency_operator",
        agency="nis",
        display_name="Op",
        password=PASSWORD,
        actor="ann",
    )
    row, token = accounts.issue_token("nis.op", name="nightly upload", actor="nis.op")
    assert token.startswith(f"lmis_{row.id}_")
    assert (row.role, row.agency, row.username, row.created_by) == (
        "agency_operator",
        "nis",
        "nis.op",
        "nis.op",
    )
    assert row.expires_at == clock.now + timedelta(days=90)
    clock.advance(minutes=5)
    principal = accounts.token_principal(token)
    assert (principal.username, principal.role, principal.agency, principal.via) == (
        "nis.op",
        "agency_operator",
        "nis",
        "token",
    )
    assert principal.token_id == row.id
    assert row.last_used_at == clock.now
    assert (
        [t.id for t in accounts.tokens("nis.op")] == [row.id] == [t.id for t in accounts.tokens()]
    )
    assert accounts.tokens("ann") == []
    db_session.flush()
    secret = token.split("_", 2)[2]
    dump = database_dump(db_connection)
    assert token.encode() not in dump and secret.encode() not in dump
    assert secret not in audit_dump(audit) and token not in audit_dump(audit)
    entry = audit.search(tag="api_token:issue")[0]
    assert (entry.subject, entry.details["owner"], entry.details["name"]) == (
        f"api_token:{row.id}",
        "nis.op",
        "nightly upload",
    )


def test_tokens_expire_and_are_revoked(
    accounts: AccountService, admin: Account, clock: FakeClock, audit: AuditLog
) -> None:
    analyst(accounts)
    short, short_token = accounts.issue_token(
        "maria", name="short", actor="maria", ttl=timedelta(hours=1)
    )
    long, long_token = accounts.issue_token("maria", name="long", actor="maria")
    clock.advance(hours=1)
    with pytest.raises(TokenExpired):
        accounts.token_principal(short_token)
    assert accounts.token_principal(long_token).username == "maria"
    analyst(accounts, "omar")
    with pytest.raises(AccountForbidden):  # not the owner, not an administrator
        accounts.revoke_token(long.id, actor="omar")
    accounts.revoke_token(long.id, actor="maria")
    accounts.revoke_token(long.id, actor="ann")  # again: nothing to do
    with pytest.raises(TokenRevoked):
        accounts.token_principal(long_token)
    assert long.revoked_by == "maria"
    assert [e.subject for e in audit.search(tag="api_token:revoke")] == [f"api_token:{long.id}"]
    with pytest.raises(TokenUnknown):
        accounts.revoke_token("000000000000", actor="ann")
    assert short.revoked_at is None


def test_forged_or_mangled_tokens_are_invalid(accounts: AccountService, admin: Account) -> None:
    analyst(accounts)
    row, token = accounts.issue_token("maria", name="x", actor="maria")
    other = accounts.issue_token("maria", name="y", actor="maria")[1]
    forged = f"lmis_{row.id}_{other.split('_', 2)[2]}"  # a real id with another token's secret
    for bad in (forged, token[:-1], "lmis_000000000000_" + "A" * 43, "", "garbage"):
        with pytest.raises(TokenInvalid):
            accounts.token_principal(bad)
    assert accounts.token_principal(token).token_id == row.id


def test_only_an_administrators_tokens_may_take_another_role_or_agency(
    accounts: AccountService, admin: Account
) -> None:
    analyst(accounts)
    with pytest.raises(AccountForbidden):
        accounts.issue_token("maria", name="x", actor="maria", role="lmis_admin")
    with pytest.raises(AccountForbidden):
        accounts.issue_token("maria", name="x", actor="ann", role="agency_operator", agency="nis")
    with pytest.raises(AccountForbidden):  # someone else's token
        accounts.issue_token("ann", name="x", actor="maria")
    machine, token = accounts.issue_token(
        "ann", name="tvet connector", actor="ann", role="agency_operator", agency="tvet"
    )
    principal = accounts.token_principal(token)
    assert (principal.username, principal.role, principal.agency, principal.token_id) == (
        "ann",
        "agency_operator",
        "tvet",
        machine.id,
    )
    with pytest.raises(AccountInvalid):
        accounts.issue_token("ann", name="x", actor="ann", role="agency_operator")
    with pytest.raises(AccountInvalid):
        accounts.issue_token("ann", name="x", actor="ann", role="agency_operator", agency="nope")
    with pytest.raises(AccountInvalid):
        accounts.issue_token("ann", name="x", actor="ann", role="king")
    # An administrator may issue a token for someone else, with that person's scope.
    row, _ = accounts.issue_token("maria", name="for maria", actor="ann")
    assert (row.role, row.agency, row.created_by) == ("lmis_analyst", None, "ann")


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1), timedelta(days=731)])
def test_token_lifetimes_are_bounded(
    accounts: AccountService, admin: Account, ttl: timedelta
) -> None:
    with pytest.raises(AccountInvalid):
        accounts.issue_token("ann", name="x", actor="ann", ttl=ttl)
    with pytest.raises(AccountInvalid):
        accounts.issue_token("ann", name="   ", actor="ann")
    assert accounts.tokens() == []


def test_token_rows_keep_only_a_digest(accounts: AccountService, admin: Account) -> None:
    row, token = accounts.issue_token("ann", name="x", actor="ann")
    assert len(row.secret_hash) == 64 and row.secret_hash not in token
    assert isinstance(row, ApiToken)
    assert ADMIN_PASSWORD not in row.secret_hash
