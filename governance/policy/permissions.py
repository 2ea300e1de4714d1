"""What each role may do through the hub's interfaces, as a pure table.

The HTTP API asks :func:`permit` before every operation: a *permission* names the
operation (``agreements:write``), and the table below lists the roles that hold it.
Deny by default: a permission not in the table, or a role not listed for it, is denied
with the code of the reason. Agency operators hold their permissions for their own
agency only, so a request about another agency's data is denied
(``policy.other_agency_data``) even where the role is listed.

Data access proper (which fields of which dataset, under which agreement or project) is
decided by :func:`governance.policy.decision.decide`; a permission here only opens the
door to the operation, and the services behind it still apply their own rules (a
researcher downloads only the extracts of projects they are a member of).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from governance.accounts.models import ACCOUNT_ROLES
from governance.errors import NoPolicyRule, OtherAgencyData, PolicyDenied, RoleNotPermitted
from governance.policy.decision import Decision

__all__ = ["ACCOUNT_ROLES", "PERMISSIONS", "Permission", "permit"]


_LMIS = ("lmis_admin", "lmis_analyst")
_OVERSIGHT = ("steering_member", "auditor")


@dataclass(frozen=True)
class Permission:
    """``roles`` hold the permission; ``audited``: every decision on it is written to the
    audit log (it changes state or reads personal-level data); ``own_agency``: an agency
    operator holds it for their own agency only."""

    roles: tuple[str, ...]
    audited: bool = False
    own_agency: bool = True


PERMISSIONS: Mapping[str, Permission] = {
    # accounts and tokens
    "accounts:read": Permission(("lmis_admin",)),
    "accounts:write": Permission(("lmis_admin",), audited=True),
    "tokens:own": Permission(ACCOUNT_ROLES, audited=True),
    # agencies, their keys, agreements and deliveries
    "agencies:read": Permission(("agency_operator", *_LMIS, *_OVERSIGHT)),
    "agencies:write": Permission(("lmis_admin",), audited=True),
    "keys:read": Permission(("agency_operator", "lmis_admin", "auditor")),
    "keys:write": Permission(("lmis_admin",), audited=True),
    "agreements:read": Permission(("agency_operator", *_LMIS, *_OVERSIGHT)),
    "agreements:write": Permission(("lmis_admin",), audited=True),
    "agreements:sign": Permission(("agency_operator", "lmis_admin"), audited=True),
    "deliveries:read": Permission(("agency_operator", *_LMIS, "auditor")),
    # the quarantine holds refused messages: pseudonymised, but personal-level
    "quarantine:read": Permission(("agency_operator", "lmis_admin"), audited=True),
    "quarantine:replay": Permission(("lmis_admin",), audited=True),
    # the lake: metadata only
    "lake:read": Permission((*_LMIS, "auditor")),
    # the audit log
    "audit:read": Permission(_OVERSIGHT, audited=True),
    "audit:verify": Permission(_OVERSIGHT, audited=True),
    # linkage review shows pairs of pseudonymous records
    "linkage:read": Permission(_LMIS),
    "linkage:review": Permission(_LMIS, audited=True),
    # research access
    "research:read": Permission(("researcher", "lmis_admin", "output_checker", "agency_operator")),
    "research:apply": Permission(("researcher",), audited=True),
    "research:decide": Permission(("lmis_admin",), audited=True),
    "research:agency_decide": Permission(("agency_operator",), audited=True),
    "research:members": Permission(("researcher", "lmis_admin"), audited=True),
    "research:extract": Permission(("researcher",), audited=True),
    "research:download": Permission(("researcher",), audited=True),
    "outputs:submit": Permission(("researcher",), audited=True),
    "outputs:read": Permission(("researcher", "output_checker")),
    "outputs:review": Permission(("output_checker",), audited=True),
    # indicators: the published ones are public and need no permission
    "indicators:read": Permission((*_LMIS, *_OVERSIGHT)),
    "indicators:build": Permission(_LMIS, audited=True),
    "indicators:publish": Permission(("lmis_admin",), audited=True),
    # operations
    "metrics:read": Permission(("lmis_admin", "auditor")),
}


def permit(
    role: str, permission: str, *, agency: str | None, resource_agency: str | None
) -> Decision:
    """Allow or deny ``role`` (of ``agency``, for an operator) ``permission`` on a resource
    of ``resource_agency`` (None when the resource belongs to no agency)."""
    rule = PERMISSIONS.get(permission)
    if rule is None:
        return _deny(NoPolicyRule)
    if role not in rule.roles:
        return _deny(RoleNotPermitted)
    foreign = agency is None or (resource_agency is not None and resource_agency != agency)
    if role == "agency_operator" and rule.own_agency and foreign:
        return _deny(OtherAgencyData)
    return Decision(True, f"allow.{role}.{permission}")


def _deny(reason: type[PolicyDenied]) -> Decision:
    return Decision(False, reason.code)
