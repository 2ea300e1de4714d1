"""Client configuration for both Kafka libraries, built from :class:`KafkaSettings`.

One place turns the hub's settings (bootstrap, TLS, SASL/SCRAM) into the option
names each client expects, so connectors, the ingest worker and tests connect the
same way to the embedded broker and to a production cluster.

Consumer groups: a group's first join completes after about half the session timeout
on the embedded broker (23 s with the clients' 45 s default, 3 s with 6 s), so group
consumers use a 6 s session timeout, the smallest brokers accept by default
(``HUB_KAFKA__GROUP_SESSION_TIMEOUT_MS``). A member that dies without leaving (SIGKILL)
keeps its partitions until its session expires: a worker started again after a crash
consumed again after about 11 s with 6 s, 4 s with 2 s (which the embedded broker
accepts).
"""

from __future__ import annotations

from typing import Any

from lmis_hub.settings import KafkaSettings

GROUP_HEARTBEAT_INTERVAL_MS = 500
#: A group subscribed by pattern (the ingest workers) finds a topic created after it
#: joined at its next metadata refresh: within 10 s rather than librdkafka's 5 minutes.
GROUP_TOPIC_REFRESH_MS = 10_000


def _heartbeat_ms(settings: KafkaSettings) -> int:
    """Heartbeats well inside the session: at most every 500 ms, a quarter of it."""
    return min(GROUP_HEARTBEAT_INTERVAL_MS, settings.group_session_timeout_ms // 4)


def kafka_python_config(settings: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for kafka-python's clients (KafkaProducer, KafkaConsumer…)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    if settings.security_protocol.endswith("SSL"):
        if settings.ssl_cafile:
            config["ssl_cafile"] = str(settings.ssl_cafile)
        if settings.ssl_certfile:
            config["ssl_certfile"] = str(settings.ssl_certfile)
        if settings.ssl_keyfile:
            config["ssl_keyfile"] = str(settings.ssl_keyfile)
    config.update(extra)
    return config


def kafka_python_group_config(
    settings: KafkaSettings, group_id: str, **extra: Any
) -> dict[str, Any]:
    """kafka-python consumer options for a consumer group with manual commits."""
    return kafka_python_config(
        settings,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.group_session_timeout_ms,
        heartbeat_interval_ms=_heartbeat_ms(settings),
        **extra,
    )


def librdkafka_config(settings: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """A configuration dict for confluent-kafka (librdkafka property names)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": settings.client_id,
        "security.protocol": settings.security_protocol.lower(),
    }
    if settings.security_protocol.startswith("SASL"):
        config["sasl.mechanism"] = settings.sasl_mechanism
        config["sasl.username"] = settings.sasl_username
        config["sasl.password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    if settings.security_protocol.endswith("SSL"):
        if settings.ssl_cafile:
            config["ssl.ca.location"] = str(settings.ssl_cafile)
        if settings.ssl_certfile:
            config["ssl.certificate.location"] = str(settings.ssl_certfile)
        if settings.ssl_keyfile:
            config["ssl.key.location"] = str(settings.ssl_keyfile)
    config.update(extra)
    return config


def librdkafka_group_config(settings: KafkaSettings, group_id: str, **extra: Any) -> dict[str, Any]:
    """confluent-kafka consumer configuration for a group with manual commits."""
    return librdkafka_config(
        settings,
        **{
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": settings.group_session_timeout_ms,
            "heartbeat.interval.ms": _heartbeat_ms(settings),
            "topic.metadata.refresh.interval.ms": GROUP_TOPIC_REFRESH_MS,
            # The ingest workers subscribe to many topics of one partition each. The
            # default range assignor hands partition 0 of every topic to the same
            # member, so a second worker of the group would get nothing at all until
            # the first died; round robin spreads the partitions over every member.
            "partition.assignment.strategy": "roundrobin",
            **extra,
        },
    )
