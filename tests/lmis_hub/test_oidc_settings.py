"""The OpenID Connect settings (HUB_API__OIDC__*): off by default, the group mapping and
the second-factor values as JSON, incomplete or unsafe settings refused by name, and the
settings passed on to a child process intact."""

from __future__ import annotations

import pytest

from lmis_hub.errors import ConfigurationError
from lmis_hub.settings import load_settings, settings_environment

ISSUER = "https://id.gov.example/realms/ministry"


@pytest.fixture
def oidc_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("HUB_API__OIDC__ISSUER", ISSUER)
    monkeypatch.setenv("HUB_API__OIDC__CLIENT_ID", "lmis-hub")
    monkeypatch.setenv("HUB_API__OIDC__CLIENT_SECRET", "very-secret-value")
    return monkeypatch


def test_off_by_default() -> None:
    oidc = load_settings().api.oidc
    assert not oidc.enabled and oidc.issuer is None
    assert oidc.username_claim == "preferred_username" and oidc.groups_claim == "groups"
    assert oidc.mfa_claim_values == ["mfa", "otp", "hwk", "swk"]
    assert oidc.scopes == "openid profile email"


def test_from_the_environment_with_json_mappings(oidc_env: pytest.MonkeyPatch) -> None:
    oidc_env.setenv(
        "HUB_API__OIDC__ROLE_GROUPS",
        '{"lmis-admins": "lmis_admin", "nis-operators": "agency_operator:nis"}',
    )
    oidc_env.setenv("HUB_API__OIDC__MFA_CLAIM_VALUES", '["otp", "hwk"]')
    oidc = load_settings().api.oidc
    assert oidc.enabled and oidc.issuer == ISSUER and oidc.client_id == "lmis-hub"
    assert oidc.role_groups == {"lmis-admins": "lmis_admin", "nis-operators": "agency_operator:nis"}
    assert oidc.mfa_claim_values == ["otp", "hwk"]
    assert "very-secret-value" not in repr(load_settings())


def test_passed_on_to_a_child_process_intact(oidc_env: pytest.MonkeyPatch) -> None:
    oidc_env.setenv("HUB_API__OIDC__ROLE_GROUPS", '{"a b": "auditor"}')
    settings = load_settings()
    environment = settings_environment(settings)
    for name in [n for n in environment if n.startswith("HUB_API__OIDC__")]:
        oidc_env.delenv(name, raising=False)
    for name, value in environment.items():
        oidc_env.setenv(name, value)
    assert load_settings().api.oidc == settings.api.oidc


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("HUB_API__OIDC__CLIENT_SECRET", None, "client_secret"),
        ("HUB_API__OIDC__ISSUER", "http://id.gov.example", "https"),
        ("HUB_API__OIDC__SCOPES", "profile email", "openid"),
        ("HUB_API__OIDC__ROLE_GROUPS", '{"admins": "LMIS Admin"}', "role_groups"),
        ("HUB_API__OIDC__ROLE_GROUPS", '{"ops": "agency_operator:"}', "role_groups"),
        ("HUB_API__OIDC__ROLE_GROUPS", "not json", "not valid JSON"),
    ],
)
def test_incomplete_or_unsafe_settings_are_refused_by_name(
    oidc_env: pytest.MonkeyPatch, variable: str, value: str | None, problem: str
) -> None:
    if value is None:
        oidc_env.delenv(variable)
    else:
        oidc_env.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert "HUB_API__OIDC" in info.value.message and problem in info.value.message
    assert "very-secret-value" not in info.value.message


def test_plain_http_only_on_the_loopback_address(oidc_env: pytest.MonkeyPatch) -> None:
    oidc_env.setenv("HUB_API__OIDC__ISSUER", "http://127.0.0.1:8081/realms/test")
    assert load_settings().api.oidc.enabled
