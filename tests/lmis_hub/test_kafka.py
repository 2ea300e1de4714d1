"""Security settings reach both Kafka clients under the names each expects."""

from __future__ import annotations

from pathlib import Path

from lmis_hub.kafka import (
    kafka_python_config,
    kafka_python_group_config,
    librdkafka_config,
    librdkafka_group_config,
)
from lmis_hub.settings import KafkaSettings


def production() -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="k1:9093,k2:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="agency-nis",
        sasl_password="pw-from-vault",  # type: ignore[arg-type]
        ssl_cafile=Path("ca.pem"),
    )


def test_kafka_python_gets_sasl_and_tls() -> None:
    cfg = kafka_python_config(production())
    assert cfg["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert cfg["security_protocol"] == "SASL_SSL"
    assert cfg["sasl_mechanism"] == "SCRAM-SHA-512"
    assert cfg["sasl_plain_username"] == "agency-nis"
    assert cfg["sasl_plain_password"] == "pw-from-vault"
    assert cfg["ssl_cafile"] == "ca.pem"


def test_librdkafka_gets_sasl_and_tls() -> None:
    cfg = librdkafka_config(production())
    assert cfg["bootstrap.servers"] == "k1:9093,k2:9093"
    assert cfg["security.protocol"] == "sasl_ssl"
    assert cfg["sasl.mechanism"] == "SCRAM-SHA-512"
    assert cfg["sasl.username"] == "agency-nis"
    assert cfg["sasl.password"] == "pw-from-vault"
    assert cfg["ssl.ca.location"] == "ca.pem"


def test_plaintext_sends_no_credentials() -> None:
    plain = KafkaSettings(bootstrap_servers="127.0.0.1:9092")
    for cfg in (kafka_python_config(plain), librdkafka_config(plain)):
        assert not any("sasl" in key or "ssl" in key for key in cfg)


def test_group_consumers_commit_manually_with_short_sessions() -> None:
    plain = KafkaSettings()
    kp = kafka_python_group_config(plain, "g")
    rd = librdkafka_group_config(plain, "g")
    assert kp["enable_auto_commit"] is False and rd["enable.auto.commit"] is False
    assert kp["session_timeout_ms"] == rd["session.timeout.ms"] == 6000
    assert kp["group_id"] == rd["group.id"] == "g"
