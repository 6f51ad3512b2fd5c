"""Kafka clients configured the same way everywhere."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from prm_platform.settings import ServiceSettings

log = logging.getLogger("prm.kafka")


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    # acks=all always. Idempotence is configurable: real Kafka supports it, the embedded broker
    # does not (InitProducerId fails). Ordering per partition holds either way because aiokafka
    # sends one batch per partition at a time.
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=0,
        request_timeout_ms=15000,
    )


def make_consumer(settings: ServiceSettings, group_id: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
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
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
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
