"""Settings: HUB_ prefix, __ nesting, secrets masked, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmis_hub import config_reference
from lmis_hub.errors import ConfigurationError
from lmis_hub.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_nested_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HUB_KAFKA__BOOTSTRAP_SERVERS", "k1:9093,k2:9093")
    monkeypatch.setenv("HUB_STACK__BROKER_PORT", "29092")
    monkeypatch.setenv("HUB_LOG__FORMAT", "json")
    s = load_settings()
    assert s.data_dir == tmp_path
    assert s.kafka.bootstrap_servers == "k1:9093,k2:9093"
    assert s.stack.broker_port == 29092
    assert s.log.format == "json"
    assert s.database_url_value() == f"sqlite:///{(tmp_path / 'hub.db').resolve()}"


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://hub:s3cr3t-pw@db/hub")
    monkeypatch.setenv("HUB_KEY_ENCRYPTION_KEY", "a2V5LWVuY3J5cHRpb24ta2V5LW9mLTMyLWJ5dGVzISE=")
    s = load_settings()
    assert "s3cr3t-pw" not in repr(s)
    assert "s3cr3t-pw" not in str(s.model_dump())
    assert "a2V5" not in repr(s)
    assert s.database_url_value() == "postgresql://hub:s3cr3t-pw@db/hub"


def test_invalid_setting_names_the_variable_and_hides_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_STACK__BROKER_PORT", "99999999")
    monkeypatch.setenv("HUB_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("HUB_KAFKA__SASL_PASSWORD", "hunter2-secret")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = info.value.message
    assert "HUB_STACK__BROKER_PORT" in message
    assert "HUB_KAFKA" in message and "sasl_mechanism" in message
    assert "hunter2-secret" not in message
    assert info.value.code == "config.invalid"


def test_configuration_reference_in_the_docs_matches_the_settings() -> None:
    expected = config_reference.render()
    assert config_reference.block(ROOT / config_reference.DOCUMENT) == expected, (
        f"{config_reference.DOCUMENT} is out of date: "
        f"run `lmis-hub config reference --write {config_reference.DOCUMENT}`"
    )


def test_reference_lists_every_leaf_setting() -> None:
    text = config_reference.render()
    for variable in (
        "HUB_DATA_DIR",
        "HUB_DATABASE_URL",
        "HUB_KAFKA__BOOTSTRAP_SERVERS",
        "HUB_KAFKA__SASL_PASSWORD",
        "HUB_STACK__BROKER_PORT",
        "HUB_LAKE__WAREHOUSE",
        "HUB_LOG__FORMAT",
    ):
        assert f"`{variable}`" in text
    assert "Secret: never logged." in text
