"""Webhooks worker: turns every context's events into deliveries (in the inbox transaction),
sends due deliveries, publishes its outbox and keeps its key directory and the partners' names.
``python -m prm_webhooks.worker``."""

import asyncio
import datetime as dt
import functools
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prm_contracts import PARTNERS_TOPIC
from prm_events import credentials
from prm_events.worker import Subscription, WorkerSpec, main
from prm_platform.scheduler import Job
from prm_webhooks import directory
from prm_webhooks.config import SCHEMA, Settings
from prm_webhooks.declaration import DELIVERED_TOPICS, SERVICE
from prm_webhooks.delivery.dispatcher import Dispatcher, sample_queue
from prm_webhooks.delivery.fanout import HANDLERS

PURGE_BATCH = 1000


async def purge_messages(session: AsyncSession, older_than_days: int,
                         batch: int = PURGE_BATCH) -> int:
    """Forget messages older than the retention whose deliveries are all settled (their
    deliveries and attempts go with them)."""
    result = await session.execute(text("""
        DELETE FROM webhook_messages WHERE id IN (
            SELECT m.id FROM webhook_messages m
            WHERE m.created_at < now() - make_interval(days => :days)
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                              WHERE d.message_id = m.id AND d.status = 'pending')
            LIMIT :batch)"""), {"days": older_than_days, "batch": batch})
    return int(result.rowcount)  # type: ignore[attr-defined]


def spec(settings: Settings | None = None) -> WorkerSpec:
    settings = settings or Settings()

    async def dispatch(sessionmaker: async_sessionmaker[AsyncSession], stop: asyncio.Event,
                       alive: Callable[[], None]) -> None:
        await Dispatcher(sessionmaker, settings).run(stop, alive)

    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings,
        publishes=SERVICE.publishes,
        subscriptions=[Subscription(name="deliveries", topics=list(DELIVERED_TOPICS),
                                    handlers=HANDLERS),
                       Subscription(name="partner-directory", topics=[PARTNERS_TOPIC],
                                    handlers=directory.HANDLERS),
                       credentials.subscription()],
        jobs=[Job("purge-webhook-messages", dt.timedelta(hours=1),
                  functools.partial(purge_messages,
                                    older_than_days=settings.message_retention_days),
                  batch=PURGE_BATCH)],
        # The dispatcher beside the consumers: a stalled one makes the worker stale.
        loops={"dispatcher": dispatch},
        samples=[sample_queue],
    )


if __name__ == "__main__":
    main(spec())
