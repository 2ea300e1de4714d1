"""Who may do what through the API: the table as the LMIS unit agreed it (written out
here on purpose, so that a change to who may do what is a change to this test too),
deny by default, and agency operators held to their own agency."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from governance.policy.permissions import ACCOUNT_ROLES, PERMISSIONS, permit

ADMIN, ANALYST, OPERATOR = "lmis_admin", "lmis_analyst", "agency_operator"
STEERING, AUDITOR, RESEARCHER, CHECKER = (
    "steering_member",
    "auditor",
    "researcher",
    "output_checker",
)
EVERYONE = frozenset(ACCOUNT_ROLES)

AGREED = {
    "accounts:read": {ADMIN},
    "accounts:write": {ADMIN},
    "tokens:own": EVERYONE,
    "agencies:read": {OPERATOR, ADMIN, ANALYST, STEERING, AUDITOR},
    "agencies:write": {ADMIN},
    "keys:read": {OPERATOR, ADMIN, AUDITOR},
    "keys:write": {ADMIN},
    "agreements:read": {OPERATOR, ADMIN, ANALYST, STEERING, AUDITOR},
    "agreements:write": {ADMIN},
    "agreements:sign": {OPERATOR, ADMIN},
    "deliveries:read": {OPERATOR, ADMIN, ANALYST, AUDITOR},
    "quarantine:read": {OPERATOR, ADMIN},
    "quarantine:replay": {ADMIN},
    "lake:read": {ADMIN, ANALYST, AUDITOR},
    # the LMIS unit does not review its own audit trail: the committee and auditors do
    "audit:read": {STEERING, AUDITOR},
    "audit:verify": {STEERING, AUDITOR},
    "linkage:read": {ADMIN, ANALYST},
    "linkage:review": {ADMIN, ANALYST},
    "research:read": {RESEARCHER, ADMIN, CHECKER, OPERATOR},
    "research:apply": {RESEARCHER},
    "research:decide": {ADMIN},
    "research:agency_decide": {OPERATOR},
    "research:members": {RESEARCHER, ADMIN},
    "research:extract": {RESEARCHER},  # a member builds the extract they will use
    "research:download": {RESEARCHER},
    "outputs:submit": {RESEARCHER},
    "outputs:read": {RESEARCHER, CHECKER},
    "outputs:review": {CHECKER},
    "indicators:read": {ADMIN, ANALYST, STEERING, AUDITOR},
    "indicators:build": {ADMIN, ANALYST},
    "indicators:publish": {ADMIN},
    "metrics:read": {ADMIN, AUDITOR},
}


def test_the_table_is_the_agreed_one() -> None:
    assert {p: set(rule.roles) for p, rule in PERMISSIONS.items()} == AGREED


def test_changes_and_personal_level_reads_are_audited() -> None:
    for name, rule in PERMISSIONS.items():
        if name.split(":")[1] in (
            "write",
            "replay",
            "sign",
            "review",
            "apply",
            "decide",
            "extract",
            "download",
            "submit",
            "build",
            "publish",
        ):
            assert rule.audited, name  # fmt: skip
    assert PERMISSIONS["quarantine:read"].audited and PERMISSIONS["audit:read"].audited


@given(st.sampled_from(ACCOUNT_ROLES), st.sampled_from(sorted(PERMISSIONS)))
def test_a_role_is_allowed_exactly_where_the_table_says(role: str, permission: str) -> None:
    agency = "nis" if role == OPERATOR else None
    decision = permit(role, permission, agency=agency, resource_agency=agency)
    assert decision.allowed == (role in AGREED[permission])
    if not decision.allowed:
        assert decision.reason == "policy.role_not_permitted"


@given(st.text(min_size=1, max_size=30), st.sampled_from([*ACCOUNT_ROLES, "public", "root"]))
def test_anything_not_in_the_table_is_denied(permission: str, role: str) -> None:
    if permission in PERMISSIONS:
        return
    decision = permit(role, permission, agency=None, resource_agency=None)
    assert not decision.allowed and decision.reason == "policy.no_rule"


@given(
    st.sampled_from([p for p, r in AGREED.items() if OPERATOR in r]),
    st.sampled_from(["tvet", "nso", "dol"]),
)
def test_an_operator_is_held_to_their_own_agency(permission: str, other: str) -> None:
    assert permit(OPERATOR, permission, agency="nis", resource_agency="nis").allowed
    assert permit(OPERATOR, permission, agency="nis", resource_agency=None).allowed
    other_one = permit(OPERATOR, permission, agency="nis", resource_agency=other)
    if PERMISSIONS[permission].own_agency:
        assert not other_one.allowed and other_one.reason == "policy.other_agency_data"
    nowhere = permit(OPERATOR, permission, agency=None, resource_agency=None)
    assert not nowhere.allowed


def test_unknown_roles_are_denied() -> None:
    for permission in PERMISSIONS:
        assert not permit("public", permission, agency=None, resource_agency=None).allowed
        assert not permit("", permission, agency=None, resource_agency=None).allowed
