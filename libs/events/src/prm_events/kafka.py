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


def make_consumer(settings: ServiceSettings, group_id: str, *topics: str,
                  linger_ms: int | None = None) -> AIOKafkaConsumer:
    """``linger_ms``: let events gather this long while they flow (``BUSY_FETCH_WAIT_MS`` if
    None), for a consumer whose readers can wait that long: the broker holds each fetch until
    ``LINGER_FETCH_MIN_BYTES`` have come or the time is up, so that a steady trickle arrives
    in a few large polls rather than many small ones (each poll costs a transaction, inbox
    rows, a fetch and a wake-up whatever it carries)."""
    return AIOKafkaConsumer(
        *topics,
        **connection_options(settings),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=200,
        # The broker holds a fetch this long when there is nothing new (the embedded broker
        # answers only then, even when records arrive meanwhile), so it bounds an event's
        # delivery: 200 ms while records flow (a fetch every 50 ms cost each consumer and the
        # broker more than applying the events did; docs/benchmarks.md). A consumer quiet for
        # a while waits longer (fetch_wait).
        fetch_max_wait_ms=BUSY_FETCH_WAIT_MS if linger_ms is None else linger_ms,
        # Kafka answers a fetch as soon as this much has come (the embedded broker holds every
        # fetch that found nothing new for its whole wait anyway).
        fetch_min_bytes=1 if linger_ms is None else LINGER_FETCH_MIN_BYTES,
        # aiokafka's background fetch routine wakes this often even with a fetch outstanding
        # (5 times a second by default); a fetch's answer, a poll taking records and a
        # rebalance wake it at once, so the timeout is only its safety net.
        consumer_timeout_ms=1000,
    )


BUSY_FETCH_WAIT_MS = 200
IDLE_FETCH_WAIT_MS = 500  # after a few seconds without records
DEEP_IDLE_FETCH_WAIT_MS = 1000  # after half a minute without records
# A lingering consumer's fetch returns early once this much has come: a full poll's worth
# (max_poll_records of about 1-2 KiB each).
LINGER_FETCH_MIN_BYTES = 256 * 1024


def fetch_wait(consumer: AIOKafkaConsumer, ms: int) -> None:
    """Change how long the broker may hold ``consumer``'s fetches from the next one on: short
    while records flow, longer while none come, so that an idle stack's consumers ask the
    broker a few times a second rather than twenty. aiokafka reads the value for every fetch
    from its fetcher; a version that no longer has it fails here, loudly, at the first call."""
    fetcher = consumer._fetcher
    if not hasattr(fetcher, "_fetch_max_wait_ms"):
        raise RuntimeError("aiokafka's fetcher has no _fetch_max_wait_ms: fetch_wait needs "
                           "another way to change the fetch wait")
    fetcher._fetch_max_wait_ms = ms


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
