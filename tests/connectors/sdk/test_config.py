from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.sdk.config import load_config, parse_config
from connectors.sdk.errors import ConnectorConfigInvalid
from connectors.sdk.sources.csv import CsvSourceConfig
from connectors.sdk.sources.http import HttpSourceConfig
from connectors.sdk.sources.sql import SqlSourceConfig

EXAMPLES = Path(__file__).parents[3] / "connectors" / "examples"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("tvet_trainees_csv.yaml", CsvSourceConfig),
        ("nis_contributions_sql.yaml", SqlSourceConfig),
        ("jobboard_jobseekers_http.yaml", HttpSourceConfig),
    ],
)
def test_examples_are_valid(name: str, kind: type) -> None:
    config = load_config(EXAMPLES / name)
    assert isinstance(config.source, kind)
    assert config.topic == f"lmis.{config.agency}.{config.dataset}.v1"


def _example(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "nis_contributions_sql.yaml").read_text())
    for path, value in changes.items():
        node = doc
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[p]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return doc


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source__watermark_column": None}, "source.watermark_column: required for type sql"),
        ({"source__type": "ftp"}, "source.type: type must be one of ['csv', 'http', 'sql']"),
        ({"source__tabel": "x"}, "source.tabel: unknown key"),
        ({"agency": "police"}, "agency: Input should be 'nso', 'nis', 'tvet', 'dol' or 'jobboard'"),
        ({"batch_size": 0}, "batch_size: Input should be greater than or equal to 1"),
        (
            {"kafka__security_protocol": "SASL_SSL"},
            "kafka: sasl_mechanism, sasl_username, sasl_password_file required when "
            "security_protocol uses SASL",
        ),
        (
            {"mapping__fields__period__code_table": "nope"},
            "mapping: fields.period.code_table: no code table 'nope'",
        ),
        ({"tokenise__emit": ["shoe_size"]}, "tokenise: emit: unknown token kinds ['shoe_size']"),
    ],
)
def test_errors_name_the_key_path(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConnectorConfigInvalid) as info:
        parse_config(_example(**changes), origin="nis.yaml")
    assert info.value.code == "connector.config_invalid"
    assert message in info.value.message, info.value.message


def test_csv_column_mode_needs_its_columns(tmp_path: Path) -> None:
    doc = yaml.safe_load((EXAMPLES / "tvet_trainees_csv.yaml").read_text())
    del doc["source"]["key_column"]
    with pytest.raises(ConnectorConfigInvalid, match=r"source: key_column required when"):
        parse_config(doc)


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("agency: nis\nsource: [unclosed\n")
    with pytest.raises(ConnectorConfigInvalid, match=r"bad\.yaml: line \d+ is not valid YAML"):
        load_config(path)


def test_kafka_settings_read_the_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "kafka.password"
    secret.write_text("s3cret-scram\n")
    doc = yaml.safe_load((EXAMPLES / "tvet_trainees_csv.yaml").read_text())
    doc["kafka"]["sasl_password_file"] = str(secret)
    settings = parse_config(doc).kafka.settings()
    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == "s3cret-scram"
    assert settings.security_protocol == "SASL_SSL" and settings.sasl_mechanism == "SCRAM-SHA-512"
    assert "s3cret" not in repr(settings)
