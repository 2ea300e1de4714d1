"""The demo's HTTP API: an account for each role (the people of the demo's research
project among them), and the API started in the background on the embedded stack.

The accounts' passwords are made once and kept in the demo's key folder (readable by
its owner only), so a second demo prints the same ones; each person enrols a TOTP
authenticator at their first sign-in where their role needs one. This is for a demo on
one's own machine: a real hub's accounts are made by the LMIS unit (docs/guide/api.md).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from hub_api.demo.parties import DemoSecrets, write_secret
from hub_api.wiring import accounts, governance_session
from infra.api_server import ApiServer
from lmis_hub.errors import HubError
from lmis_hub.settings import Settings, settings_environment

#: user name, role, agency; the researcher, approvers and checker are the research demo's.
ACCOUNTS = (
    ("lmis.ann", "lmis_admin", None),
    ("lmis.bob", "lmis_admin", None),
    ("analyst.lee", "lmis_analyst", None),
    ("nis.ops", "agency_operator", "nis"),
    ("dr.joseph", "researcher", None),
    ("oc.carter", "output_checker", None),
    ("steering.sam", "steering_member", None),
    ("auditor.kim", "auditor", None),
)
PASSWORDS = "demo-accounts.json"


@dataclass
class ApiReport:
    url: str | None = None
    server: str = ""
    accounts: list[dict[str, Any]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "server": self.server,
            "accounts": self.accounts,
            "created": self.created,
            "error": self.error,
        }


def _passwords(keys: DemoSecrets) -> dict[str, str]:
    path = keys.keys_dir / PASSWORDS
    known: dict[str, str] = json.loads(path.read_text("utf-8")) if path.exists() else {}
    missing = [user for user, _, _ in ACCOUNTS if user not in known]
    if missing:
        known |= {user: f"demo-{secrets.token_urlsafe(12)}" for user in missing}
        write_secret(path, json.dumps(known, indent=2).encode("utf-8"))
    return known


def start_api(settings: Settings, keys: DemoSecrets) -> ApiReport:
    """Make the demo accounts that are missing and start the API unless it runs."""
    report = ApiReport()
    settings = settings.model_copy(
        update={
            "key_encryption_key": keys.kek,
            # the embedded stack serves plain HTTP on the loopback address
            "api": settings.api.model_copy(update={"secure_cookies": False}),
        }
    )
    passwords = _passwords(keys)
    try:
        with governance_session(settings, actor="demo") as gov:
            service = accounts(gov)
            have = {a.username for a in service.list()}
            for user, role, agency in ACCOUNTS:
                if user not in have:
                    service.create(
                        user,
                        role=role,
                        display_name=user,
                        password=passwords[user],
                        actor="demo",
                        agency=agency,
                    )
                    report.created.append(user)
        server = ApiServer(settings)
        report.server = server.start(settings_environment(settings))
        report.url = server.url
    except HubError as exc:
        report.error = str(exc)
    report.accounts = [
        {"user": user, "role": role, "agency": agency, "password": passwords[user]}
        for user, role, agency in ACCOUNTS
    ]
    return report
