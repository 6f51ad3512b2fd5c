"""The platform's scheduled purges, as a worker runs them, against the real PostgreSQL."""

import uuid

from sqlalchemy import text

from prm_events.worker import platform_jobs
from prm_platform.db import make_sessionmaker
from prm_platform.scheduler import Scheduler
from prm_platform.settings import ServiceSettings
from prm_stack.testing import scratch_schema


async def test_purges_drop_only_what_is_past_retention(prm_infra):
    settings = ServiceSettings(outbox_retention_days=7, inbox_retention_days=30)
    async with scratch_schema(prm_infra) as (engine, _):
        async with engine.begin() as connection:
            for days, published in ((8, True), (6, True), (9, False)):
                await connection.execute(text(
                    "INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at, "
                    "published_at) VALUES (:id, 't', 'k', 'e', '{}', "
                    "now() - make_interval(days => :d), "
                    "CASE WHEN :published THEN now() - make_interval(days => :d) END)"),
                    {"id": uuid.uuid4(), "d": days, "published": published})
            for days in (31, 29):
                await connection.execute(text(
                    "INSERT INTO inbox (consumer, event_id, event_type, outcome, processed_at) "
                    "VALUES ('c', :id, 'e', 'applied', now() - make_interval(days => :d))"),
                    {"id": uuid.uuid4(), "d": days})
            # 1,500 expired Idempotency-Keys: more than one batch.
            await connection.execute(text(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, "
                "expires_at) SELECT 's', 'k' || n, 'f', 'completed', now() - interval '2 days', "
                "now() - interval '1 day' FROM generate_series(1, 1500) n"))
            await connection.execute(text(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, "
                "expires_at) VALUES ('s', 'fresh', 'f', 'completed', now(), "
                "now() + interval '1 day')"))
            # A rate-limit bucket full again (a missing row means the same) and one still spent.
            await connection.execute(text(
                "INSERT INTO rate_buckets (limiter, subject, tokens, granted, updated_at, "
                "full_at) VALUES ('requests', 'full', 0, 1, now() - interval '2 minutes', "
                "now() - interval '1 minute'), ('requests', 'spent', 0, 1, now(), "
                "now() + interval '1 minute')"))

        results = await Scheduler(make_sessionmaker(engine), platform_jobs(settings)).run_once()
        assert set(results) == {"purge-idempotency-keys", "purge-published-outbox",
                                "purge-inbox", "purge-full-rate-buckets"}
        async with engine.connect() as connection:
            async def rows(sql: str) -> list:
                return [tuple(r) for r in await connection.execute(text(sql))]

            # The published row past retention goes; a recent one and an unpublished one stay.
            assert await rows("SELECT published_at IS NULL FROM outbox ORDER BY seq") == [
                (False,), (True,)]
            assert len(await rows("SELECT 1 FROM inbox")) == 1
            assert await rows("SELECT key FROM idempotency_keys") == [("fresh",)]
            assert await rows("SELECT subject FROM rate_buckets") == [("spent",)]
