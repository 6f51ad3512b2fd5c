"""Kafka clients configured the same way everywhere."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from prm_platform.settings import ServiceSettings

log = logging.getLogger("prm.kafka")


def connection_options(settings: ServiceSettings) -> dict[str, Any]:
    """Where the broker is and how this service authenticates to it: the same for every
    client (producer, consumers, admin) so that the broker's ACLs see one principal."""
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap,
                               "security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_security_protocol.startswith("SASL_"):
        password = settings.kafka_password.get_secret_value() if settings.kafka_password else ""
        if not (settings.kafka_username and password):
            raise ValueError(f"PRM_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} "
                             "needs PRM_KAFKA_USERNAME and PRM_KAFKA_PASSWORD (the service's own "
                             "broker user, deploy/README.md)")
        options |= {"sasl_mechanism": settings.kafka_sasl_mechanism,
                    "sasl_plain_username": settings.kafka_username,
                    "sasl_plain_password": password}
    return options


def make_admin(settings: ServiceSettings, **overrides: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection_options(settings), **overrides)


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    # acks=all always. Idempotence is configurable: real Kafka supports it, the embedded broker
    # does not (InitProducerId fails). Ordering per partition holds either way because aiokafka
    # sends one batch per partition at a time.
    return AIOKafkaProducer(
        **connection_options(settings),
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=0,
        request_timeout_ms=15000,
    )


def make_consumer(settings: ServiceSettings, group_id: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        **connection_options(settings),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=200,
        # The broker may hold a fetch this long when there is nothing new; it bounds the
        # delivery latency of a quiet topic (the default 500 ms would dominate it).
        fetch_max_wait_ms=50,
    )


async def ensure_topics(settings: ServiceSettings, topics: list[str]) -> None:
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(t, settings.kafka_partitions, settings.kafka_replication_factor)
                     for t in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another worker created it first
            log.info("created topics %s", missing)
    finally:
        await admin.close()
