"""Portal worker: keeps the partner home, the search entries, the notifications and partner
health's facts from every context's events, its key directory; scores partners' health and
publishes what crosses (its outbox relay); forgets old notifications.
``python -m prm_portal.worker``."""

import datetime as dt
import functools

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from prm_contracts import LEADS_TOPIC
from prm_events import credentials
from prm_events.worker import Subscription, WorkerSpec, main
from prm_platform.scheduler import Job
from prm_portal.config import SCHEMA, Settings
from prm_portal.declaration import READ_TOPICS, SERVICE
from prm_portal.health.background import SUBSCRIPTIONS as HEALTH
from prm_portal.health.background import jobs as health_jobs
from prm_portal.home.projection import HANDLERS as HOME
from prm_portal.notifications.feed import HANDLERS as FEED

PURGE_BATCH = 1000


async def purge_notifications(session: AsyncSession, older_than_days: int,
                              batch: int = PURGE_BATCH) -> int:
    result = await session.execute(text("""
        DELETE FROM notifications WHERE id IN (
            SELECT id FROM notifications
            WHERE occurred_at < now() - make_interval(days => :days) LIMIT :batch)"""),
        {"days": older_than_days, "batch": batch})
    return int(result.rowcount)  # type: ignore[attr-defined]


def spec(settings: Settings | None = None) -> WorkerSpec:
    settings = settings or Settings()
    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings,
        publishes=SERVICE.publishes,
        subscriptions=[Subscription(name="home", topics=list(READ_TOPICS), handlers=HOME),
                       *HEALTH,
                       Subscription(name="notifications",
                                    topics=[*READ_TOPICS, LEADS_TOPIC], handlers=FEED),
                       credentials.subscription()],
        jobs=[Job("purge-notifications", dt.timedelta(hours=1),
                  functools.partial(purge_notifications,
                                    older_than_days=settings.notification_retention_days),
                  batch=PURGE_BATCH), *health_jobs(settings.health_scoring_seconds)],
    )


if __name__ == "__main__":
    main(spec())
