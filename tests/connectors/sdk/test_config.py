from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.sdk.config import load_config, parse_config
from connectors.sdk.errors import ConnectorConfigInvalid, RecordIdFromIdentifier
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
    assert config.topic == f"lmis.{config.agency}.{config.dataset}.v{config.schema_major}"


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
        ({"agency": "Police"}, "agency: agency code 'Police' must be 2-32 lower-case letters"),
        ({"agency": "receipts"}, "agency: agency code 'receipts' is a reserved topic name"),
        ({"batch_size": 0}, "batch_size: Input should be greater than or equal to 1"),
        (
            {"kafka__security_protocol": "SASL_SSL"},
            "kafka: sasl_mechanism, sasl_username, sasl_password_file required when "
            "security_protocol uses SASL",
        ),
        (
            {"mapping__fields__contribution_month__code_table": "nope"},
            "mapping: fields.contribution_month.code_table: no code table 'nope'",
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
    doc["kafka"].update(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="agency-tvet",
        sasl_password_file=str(secret),
    )
    settings = parse_config(doc).kafka.settings()
    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == "s3cret-scram"
    assert settings.security_protocol == "SASL_SSL" and settings.sasl_mechanism == "SCRAM-SHA-512"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("record_id", "message"),
    [
        (
            {"column": "nis_number"},
            "mapping: fields.record_id: the record id comes from column 'nis_number', which is "
            "mapped as identifier nis_number",
        ),
        (
            {"template": "{contribution_id}-{nis_number}"},
            "column 'nis_number', which is mapped as identifier nis_number",
        ),
        ({"column": "insured_person_no"}, "whose name says it is a person number"),
    ],
)
def test_a_record_id_from_an_identifier_is_refused_naming_file_and_field(
    tmp_path: Path, record_id: dict[str, str], message: str
) -> None:
    doc = _example()
    doc["mapping"]["fields"]["record_id"] = record_id
    path = tmp_path / "nis_contribution.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(RecordIdFromIdentifier) as info:
        load_config(path)
    assert info.value.code == "connector.record_id_identifier"
    assert info.value.message.startswith(f"{path}: ")
    assert message in info.value.message, info.value.message


def test_the_record_id_field_leaves_as_an_id_of_the_connectors_own_dataset() -> None:
    doc = _example()
    doc["mapping"]["fields"]["record_id"] = {"column": "contribution_id"}
    config = parse_config(doc, origin="nis.yaml")
    assert config.mapping.fields["record_id"].record_id_of == config.dataset
    doc["mapping"]["fields"]["record_id"]["record_id_of"] = "employer"
    with pytest.raises(ConnectorConfigInvalid, match="must be this dataset"):
        parse_config(doc, origin="nis.yaml")


def test_every_agency_config_takes_record_ids_from_non_identifier_row_keys() -> None:
    agencies = Path(__file__).parents[3] / "connectors" / "agencies"
    configs = [load_config(p) for p in sorted(agencies.glob("*/*.yaml"))]
    assert len(configs) == 16
    for config in configs:
        assert config.mapping.fields["record_id"].record_id_of == config.dataset
    placement = next(c for c in configs if c.dataset == "placement")
    assert placement.mapping.fields["vacancy_record_id"].record_id_of == "vacancy"
