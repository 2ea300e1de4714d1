"""One hub served over HTTP per test module, on a PostgreSQL database of its own: the
parties and agreements of :func:`~tests.fixtures.hub.provision_hub`, an account and an
API token for every role, and an administrator who signs in with a password and TOTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from governance.policy.permissions import ACCOUNT_ROLES
from hub_api.wiring import accounts, governance_session
from lmis_hub.settings import Settings
from tests.fixtures.database import new_postgres_database
from tests.fixtures.hub import provision_hub
from tests.hub_api.http.server import serving

PASSWORD = "correct horse battery staple"
AGENCY = "nis"
DATASETS = ("nis/contribution", "tvet/trainee")


@dataclass(frozen=True)
class ServedHub:
    url: str
    settings: Settings
    tokens: dict[str, str]  # role -> an API token of an account with that role

    def user(self, role: str) -> str:
        return f"{role.replace('_', '-')}-1"


def _accounts(settings: Settings) -> dict[str, str]:
    tokens: dict[str, str] = {}
    with governance_session(settings, actor="setup") as gov:
        service = accounts(gov)
        for role in ACCOUNT_ROLES:
            username = f"{role.replace('_', '-')}-1"
            service.create(
                username,
                role=role,
                display_name=role.replace("_", " ").title(),
                password=PASSWORD,
                actor="cli",
                agency=AGENCY if role == "agency_operator" else None,
            )
            _, tokens[role] = service.issue_token(
                username, name="tests", actor=username, ttl=timedelta(days=1)
            )
    return tokens


@pytest.fixture(scope="module")
def hub_datasets() -> tuple[str, ...]:
    """The datasets the served hub has agreements for (a module may override it)."""
    return DATASETS


@pytest.fixture(scope="module")
def hub_api_settings() -> dict[str, Any]:
    """Extra ``ApiSettings`` fields of the served hub (a module may override it)."""
    return {}


@pytest.fixture(scope="module")
def served_hub(
    postgres_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    hub_datasets: tuple[str, ...],
    hub_api_settings: dict[str, Any],
) -> Iterator[ServedHub]:
    root: Path = tmp_path_factory.mktemp("api")
    with new_postgres_database(postgres_server_url, prefix="lmis_api") as url:
        hub = provision_hub(root, hub_datasets, database_url=url)
        api = hub.settings.api.model_copy(update={"secure_cookies": False, **hub_api_settings})
        settings = hub.settings.model_copy(update={"api": api})
        tokens = _accounts(settings)
        with serving(settings) as base:
            yield ServedHub(base, settings, tokens)
