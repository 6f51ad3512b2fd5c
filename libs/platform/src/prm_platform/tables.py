"""Tables the platform keeps in every service's own schema (created by each service's
migrations through ``prm_platform.migrations``)."""

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from prm_platform.db import new_metadata

platform_metadata = new_metadata()

idempotency_keys = Table(
    "idempotency_keys",
    platform_metadata,
    Column("scope", String(128), primary_key=True),
    Column("key", String(255), primary_key=True),
    # The claim's holder (``prm_platform.idempotency.Claim.owner``); added by a later revision.
    Column("owner", UUID(as_uuid=True)),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # in_progress | completed
    Column("locked_until", TIMESTAMP(timezone=True)),
    Column("status_code", Integer),
    Column("headers", JSONB),
    Column("body", LargeBinary),
    Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", TIMESTAMP(timezone=True), nullable=False),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
)

# Transactional outbox: written in the same transaction as the state change it announces.
outbox = Table(
    "outbox",
    platform_metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("envelope", JSONB, nullable=False),
    Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", TIMESTAMP(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Index("ix_outbox_unpublished", "seq", postgresql_where="published_at IS NULL"),
    Index("ix_outbox_key_unpublished", "key", "seq", postgresql_where="published_at IS NULL"),
)

# Periodic jobs: when each is next due (``prm_platform.scheduler``). Created by each service's
# second migration (the ``scheduler`` step of ``prm_platform.migrations.PLATFORM_STEPS``).
scheduled_jobs = Table(
    "scheduled_jobs",
    platform_metadata,
    Column("name", String(100), primary_key=True),
    Column("next_run_at", TIMESTAMP(timezone=True), nullable=False),
    Column("last_run_at", TIMESTAMP(timezone=True)),
    Column("last_result", BigInteger),
    Column("last_error", Text),
    Column("runs", BigInteger, nullable=False, server_default="0"),
)

# Worker liveness, as the service's API sees it (``prm_events.liveness``): each worker process
# reports every few seconds which of its loops lag. The API and the worker may run on different
# hosts, so the database, not a file, carries it to ``/readyz``.
worker_liveness = Table(
    "worker_liveness",
    platform_metadata,
    Column("worker", String(200), primary_key=True),  # host/pid/token
    Column("started_at", TIMESTAMP(timezone=True), nullable=False),
    # Last report, and the last moment every loop had made progress within the stale limit.
    Column("seen_at", TIMESTAMP(timezone=True), nullable=False),
    Column("progress_at", TIMESTAMP(timezone=True)),
    Column("lagging", Text, nullable=False, server_default=""),  # loop names, comma-separated
)

# Inbox: which events each consumer has applied (or dead-lettered); a redelivery is a no-op.
inbox = Table(
    "inbox",
    platform_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("event_type", String(200), nullable=False),
    Column("outcome", String(16), nullable=False),  # applied | ignored | dead_lettered
    Column("processed_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
)

# Rate-limit buckets shared by every replica of the service (``prm_platform.ratelimits``): one
# row per limiter and subject (an API key, a client address), leased from in small batches.
# UNLOGGED: no WAL on the hot path; a database crash empties it, which only forgives.
rate_buckets = Table(
    "rate_buckets",
    platform_metadata,
    Column("limiter", String(40), primary_key=True),
    Column("subject", String(200), primary_key=True),
    Column("tokens", Double, nullable=False),  # left when last leased from
    Column("granted", Integer, nullable=False),  # by the last lease
    Column("updated_at", TIMESTAMP(timezone=True), nullable=False),
    # When the bucket is full again: from then on the row means nothing and may be purged.
    Column("full_at", TIMESTAMP(timezone=True), nullable=False),
    prefixes=["UNLOGGED"],
)
