"""Signing in through an identity provider, on SQLite and PostgreSQL: groups to one role
(a pure rule, checked with hypothesis), the second factor the provider must attest, the
account made and kept up to date by the provider, what such an account cannot do here,
and the audit of every sign-in and refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.accounts.errors import (
    AccountDisabled,
    AccountInvalid,
    AmbiguousRoleFromGroups,
    ExternalAccount,
    ExternalAccountConflict,
    InvalidCredentials,
    NoRoleFromGroups,
    SecondFactorNotAttested,
    TokenRevoked,
)
from governance.accounts.external import (
    ExternalIdentity,
    GroupRole,
    role_from_groups,
)
from governance.accounts.models import MFA_ROLES, Account
from governance.accounts.services import AccountService
from governance.audit.services import AuditLog
from governance.errors import GovernanceError
from tests.governance.accounts.conftest import PASSWORD
from tests.governance.conftest import FakeClock

PROVIDER = "https://id.gov.example/realms/ministry"
ROLE_GROUPS = {
    "lmis-admins": "lmis_admin",
    "lmis-analysts": "lmis_analyst",
    "data-team": "lmis_analyst",
    "nis-operators": "agency_operator:nis",
    "tvet-operators": "agency_operator:tvet",
    "ghost-operators": "agency_operator:ghost",
    "typo": "lmis_wizard",
}
SECOND_FACTORS = ("mfa", "otp", "hwk", "swk")


def identity(
    username: str = "ravi",
    groups: tuple[str, ...] = ("lmis-analysts",),
    methods: tuple[str, ...] = ("pwd",),
    subject: str | None = None,
    name: str | None = "Ravi",
) -> ExternalIdentity:
    return ExternalIdentity(
        provider=PROVIDER,
        subject=subject or f"sub-{username}",
        username=username,
        display_name=name,
        groups=groups,
        methods=methods,
    )


def sign_in(accounts: AccountService, who: ExternalIdentity) -> str:
    step = accounts.external_sign_in(who, role_groups=ROLE_GROUPS, second_factors=SECOND_FACTORS)
    assert not step.mfa_required and not step.enrol_required
    return step.session_id


def entries(audit: AuditLog, tag: str) -> list[dict[str, Any]]:
    return [e.as_dict() for e in audit.iter_all() if e.tag == tag]


# Groups to one role: the pure rule ---------------------------------------------------

group_names = st.sampled_from(["a", "b", "c", "d", "e", "f"])
role_values = st.sampled_from(["lmis_admin", "auditor", "agency_operator:nis"])


@given(
    groups=st.lists(group_names, max_size=6),
    mapping=st.dictionaries(group_names, role_values, max_size=6),
)
def test_groups_give_one_role_or_a_refusal(groups: list[str], mapping: dict[str, str]) -> None:
    given_roles = {mapping[g] for g in groups if g in mapping}
    if not given_roles:
        with pytest.raises(NoRoleFromGroups):
            role_from_groups(groups, mapping)
    elif len(given_roles) > 1:
        with pytest.raises(AmbiguousRoleFromGroups):
            role_from_groups(groups, mapping)
    else:
        role, used = role_from_groups(groups, mapping)
        assert str(role) == given_roles.pop()
        assert set(used) == {g for g in groups if g in mapping}
        assert list(used) == sorted(used)


def test_a_group_role_names_an_agency_for_operators() -> None:
    assert GroupRole.parse("agency_operator:nis") == GroupRole("agency_operator", "nis")
    assert GroupRole.parse("auditor") == GroupRole("auditor", None)
    assert str(GroupRole("agency_operator", "nis")) == "agency_operator:nis"


# The account, made and kept up to date -----------------------------------------------


def test_the_first_sign_in_makes_the_account_and_a_complete_session(
    accounts: AccountService, audit: AuditLog
) -> None:
    session_id = sign_in(accounts, identity(username="Ravi.Kumar"))
    principal = accounts.session_principal(session_id)
    assert (principal.username, principal.role, principal.agency) == (
        "ravi.kumar",
        "lmis_analyst",
        None,
    )
    account = accounts.get("ravi.kumar")
    assert account.external and account.identity_provider == PROVIDER
    assert account.external_subject == "sub-Ravi.Kumar"
    assert account.display_name == "Ravi" and not account.must_change_password
    [created] = entries(audit, "account:create")
    assert created["details"] == {
        "via": "oidc",
        "provider": PROVIDER,
        "role": "lmis_analyst",
        "agency": None,
        "groups": ["lmis-analysts"],
    }
    [login] = entries(audit, "account:login")
    assert login["actor"] == "ravi.kumar"
    assert login["details"] == {
        "via": "oidc",
        "provider": PROVIDER,
        "second_factor": "none",
        "groups": ["lmis-analysts"],
        "role": "lmis_analyst",
        "agency": None,
    }


def test_every_sign_in_takes_the_role_agency_and_name_from_the_provider(
    accounts: AccountService, audit: AuditLog, clock: FakeClock
) -> None:
    first = sign_in(accounts, identity(groups=("lmis-analysts",)))
    _, token = accounts.issue_token("ravi", name="x", actor="ravi", ttl=timedelta(days=1))
    clock.advance(minutes=1)
    sign_in(accounts, identity(groups=("nis-operators", "data-lake-readers"), name="R. Kumar"))
    account = accounts.get("ravi")
    assert (account.role, account.agency, account.display_name) == (
        "agency_operator",
        "nis",
        "R. Kumar",
    )
    assert accounts.session_principal(first).role == "agency_operator"  # sessions follow
    with pytest.raises(TokenRevoked):  # tokens carried the old role
        accounts.token_principal(token)
    login = entries(audit, "account:login")[-1]["details"]
    assert login["changed"] == {
        "role": ["lmis_analyst", "agency_operator"],
        "agency": [None, "nis"],
        "display_name": ["Ravi", "R. Kumar"],
    }
    assert login["tokens_revoked"] == 1
    assert len(entries(audit, "account:create")) == 1
    # the same role again: nothing changes, tokens stay
    _, token = accounts.issue_token("ravi", name="y", actor="ravi", ttl=timedelta(days=1))
    sign_in(accounts, identity(groups=("nis-operators",), name="R. Kumar"))
    assert "changed" not in entries(audit, "account:login")[-1]["details"]
    assert accounts.token_principal(token).agency == "nis"


# Refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "error"),
    [
        ((), NoRoleFromGroups),
        (("staff",), NoRoleFromGroups),
        (("lmis-analysts", "nis-operators"), AmbiguousRoleFromGroups),
        (("nis-operators", "tvet-operators"), AmbiguousRoleFromGroups),
        (("ghost-operators",), AccountInvalid),  # an agency the hub does not know
        (("typo",), AccountInvalid),  # a role the hub does not have
    ],
)
def test_groups_that_give_no_single_valid_role_are_refused_and_audited(
    accounts: AccountService, audit: AuditLog, groups: tuple[str, ...], error: type[GovernanceError]
) -> None:
    with pytest.raises(error):
        sign_in(accounts, identity(groups=groups))
    assert accounts.session.get(Account, "ravi") is None
    [refusal] = entries(audit, "account:login_fail")
    assert refusal["subject"] == "account:ravi"
    details = refusal["details"]
    assert details["reason"] == error.code
    assert details["via"] == "oidc" and details["groups_seen"] == len(groups)


@pytest.mark.parametrize("role_group", ["lmis-admins", "nis-operators", "lmis-analysts"])
@pytest.mark.parametrize("methods", [(), ("pwd",), ("pwd", "otp"), ("hwk",), ("pwd", "sms")])
def test_roles_that_need_a_second_factor_need_the_provider_to_attest_one(
    accounts: AccountService, role_group: str, methods: tuple[str, ...]
) -> None:
    role = GroupRole.parse(ROLE_GROUPS[role_group]).role
    attested = bool(set(methods) & set(SECOND_FACTORS))
    who = identity(groups=(role_group,), methods=methods)
    if role in MFA_ROLES and not attested:
        with pytest.raises(SecondFactorNotAttested):
            sign_in(accounts, who)
        assert accounts.session.get(Account, "ravi") is None
    else:
        assert accounts.session_principal(sign_in(accounts, who)).role == role


@pytest.mark.parametrize("username", ["Ada Lovelace", "ab", "cli", "hub", "émile", ""])
def test_a_user_name_the_hub_does_not_take_is_refused(
    accounts: AccountService, audit: AuditLog, username: str
) -> None:
    with pytest.raises(AccountInvalid):
        sign_in(accounts, identity(username=username))
    [refusal] = entries(audit, "account:login_fail")
    assert refusal["details"]["reason"] == "account.invalid"


def test_a_password_account_of_the_same_name_is_not_taken_over(
    accounts: AccountService, admin: Account
) -> None:
    with pytest.raises(ExternalAccountConflict):
        sign_in(accounts, identity(username="ann", groups=("lmis-admins",), methods=("otp",)))
    assert not accounts.get("ann").external


def test_another_person_at_the_provider_with_a_reused_name_is_refused(
    accounts: AccountService,
) -> None:
    sign_in(accounts, identity(username="ravi", subject="person-1"))
    with pytest.raises(ExternalAccountConflict, match="another hub account"):
        sign_in(accounts, identity(username="ravi", subject="person-2"))
    # and one person renamed at the provider keeps one account, not two
    with pytest.raises(ExternalAccountConflict, match="has the hub account 'ravi'"):
        sign_in(accounts, identity(username="ravi.k", subject="person-1"))


def test_a_disabled_account_stays_out(accounts: AccountService, admin: Account) -> None:
    sign_in(accounts, identity())
    accounts.disable("ravi", actor="ann")
    with pytest.raises(AccountDisabled):
        sign_in(accounts, identity(groups=("nis-operators",)))
    assert accounts.get("ravi").role == "lmis_analyst"  # nothing applied to it


# What the provider holds cannot be done here ------------------------------------------


def test_no_password_no_reset_no_authenticator_for_a_provider_account(
    accounts: AccountService, admin: Account
) -> None:
    session_id = sign_in(accounts, identity())
    for password in (PASSWORD, "!external", ""):
        with pytest.raises(InvalidCredentials):
            accounts.login("ravi", password)
    assert accounts.get("ravi").failed_logins == 0
    with pytest.raises(ExternalAccount):
        accounts.reset("ravi", actor="ann", password="a-new-long-password-42")
    with pytest.raises(ExternalAccount):
        accounts.change_password("ravi", old="!external", new="a-new-long-password-42")
    with pytest.raises(ExternalAccount):
        accounts.begin_enrolment(session_id)


def test_a_refusal_before_anyone_is_known_is_audited(
    accounts: AccountService, audit: AuditLog
) -> None:
    accounts.external_refusal(PROVIDER, "auth.oidc_token")
    [entry] = entries(audit, "account:login_fail")
    assert (entry["actor"], entry["subject"]) == ("hub", f"identity_provider:{PROVIDER}")
    assert entry["details"] == {"via": "oidc", "reason": "auth.oidc_token"}
