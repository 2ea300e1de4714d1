"""Rendering pages: one Jinja2 environment (autoescaped), the layout's context (who is
signed in, their CSRF token, the navigation their role may use) and a few filters.

Pages never carry personal-level data in their URLs, and never inline a script or a
style (the Content-Security-Policy forbids both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from governance.accounts.services import Principal
from governance.policy.permissions import permit

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
STATIC_DIR = HERE / "static"

ROLE_NAMES = {
    "agency_operator": "Agency operator",
    "lmis_admin": "LMIS unit administrator",
    "lmis_analyst": "LMIS unit analyst",
    "researcher": "Researcher",
    "output_checker": "Output checker",
    "steering_member": "Steering committee member",
    "auditor": "Auditor",
}


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    permission: str | None = None  # None: everyone signed in


#: The signed-in navigation; an item shows only to roles holding its permission.
NAVIGATION = (
    NavItem("/work/agencies", "Agencies", "agencies:read"),
    NavItem("/work/agreements", "Agreements", "agreements:read"),
    NavItem("/work/ingest", "Ingest", "deliveries:read"),
    NavItem("/work/quarantine", "Quarantine", "quarantine:read"),
    NavItem("/work/linkage", "Linkage review", "linkage:read"),
    NavItem("/work/research", "Research", "research:read"),
    NavItem("/work/airlock", "Airlock", "outputs:review"),
    NavItem("/work/audit", "Audit log", "audit:read"),
    NavItem("/account", "My account"),
)


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page: nobody (the public), or a signed-in principal with the
    session's CSRF token for the forms."""

    principal: Principal | None = None
    csrf_token: str | None = None
    display_name: str | None = None

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.principal.role, self.principal.role) if self.principal else ""

    def may(self, permission: str) -> bool:
        if self.principal is None:
            return False
        p = self.principal
        return permit(p.role, permission, agency=p.agency, resource_agency=p.agency).allowed

    def navigation(self) -> list[NavItem]:
        if self.principal is None:
            return []
        return [n for n in NAVIGATION if n.permission is None or self.may(n.permission)]


def _when(value: datetime | date | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _number(value: float | int | None, decimals: int = 1) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{decimals}f}"


#: The units of measure of the package, as a reader says them.
UNIT_NAMES = {
    "PT": "per cent",
    "PS": "persons",
    "DAYS": "days",
    "PER_1000": "per 1,000 insured persons",
    "XDC": "national currency",
}

TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.filters["unit"] = lambda code: UNIT_NAMES.get(code, code)
TEMPLATES.env.filters["number"] = _number
TEMPLATES.env.globals["role_names"] = ROLE_NAMES


def render(
    request: Request,
    template: str,
    viewer: Viewer,
    *,
    title: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` in the layout, for ``viewer``."""
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"viewer": viewer, "title": title, "path": request.url.path, **context},
        status_code=status_code,
    )
