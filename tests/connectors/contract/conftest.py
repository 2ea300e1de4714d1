"""The contract suite's producer; its nation is the one of ``tests/connectors/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.sdk.publisher import KafkaSender
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings


@pytest.fixture(scope="session")
def sender(kafka_bootstrap: str) -> Iterator[KafkaSender]:
    """One producer for the suite's in-process connectors and the hub's receipts."""
    kafka = KafkaSender(librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap)))
    try:
        yield kafka
    finally:
        kafka.close()
