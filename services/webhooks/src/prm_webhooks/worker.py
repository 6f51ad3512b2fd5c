"""Webhooks worker: turns every context's events into deliveries (in the inbox transaction),
sends due deliveries, publishes its outbox and keeps its key directory.
``python -m prm_webhooks.worker``."""

import asyncio
import datetime as dt
import functools
import logging
import signal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_events import credentials
from prm_events.worker import Subscription, WorkerSpec, run_worker
from prm_platform.db import make_engine, make_sessionmaker
from prm_platform.scheduler import Job
from prm_webhooks.config import SCHEMA, Settings
from prm_webhooks.declaration import DELIVERED_TOPICS, SERVICE
from prm_webhooks.delivery.dispatcher import Dispatcher
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
    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings,
        publishes=SERVICE.publishes,
        subscriptions=[Subscription(name="deliveries", topics=list(DELIVERED_TOPICS),
                                    handlers=HANDLERS),
                       credentials.subscription()],
        jobs=[Job("purge-webhook-messages", dt.timedelta(hours=1),
                  functools.partial(purge_messages,
                                    older_than_days=settings.message_retention_days),
                  batch=PURGE_BATCH)],
    )


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """The platform's worker and the dispatcher side by side; either ending ends both."""
    engine = make_engine(settings.database_url, SCHEMA, pool_size=5)
    dispatcher = Dispatcher(make_sessionmaker(engine), settings)
    tasks = [asyncio.create_task(run_worker(spec(settings), stop), name="worker"),
             asyncio.create_task(dispatcher.run(stop), name="dispatcher")]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if (error := task.exception()) is not None:
                raise error
    finally:
        stop.set()
        await engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s webhooks-worker %(levelname)s %(message)s")

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(Settings(), stop)

    asyncio.run(runner())


if __name__ == "__main__":
    main()
