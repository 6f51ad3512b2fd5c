"""Audit worker: records every context's events in the trail, keeps its key directory, and
deletes entries past the retention. ``python -m prm_audit.worker``."""

import datetime as dt
import functools

from prm_audit.config import SCHEMA, Settings
from prm_audit.declaration import AUDITED_TOPICS, SERVICE
from prm_audit.trail.recording import HANDLERS
from prm_audit.trail.retention import RETENTION_BATCH, purge_expired
from prm_events import credentials
from prm_events.worker import LINGER_MS, Subscription, WorkerSpec, main
from prm_platform.scheduler import Job


def spec(settings: Settings | None = None) -> WorkerSpec:
    settings = settings or Settings()
    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings, relay=False,
        subscriptions=[Subscription(name="trail", topics=list(AUDITED_TOPICS),
                                    handlers=HANDLERS),
                       credentials.subscription()],
        jobs=[Job("audit-retention", dt.timedelta(hours=1),
                  functools.partial(purge_expired, older_than_days=settings.retention_days),
                  batch=RETENTION_BATCH)],
        linger_ms=LINGER_MS,  # the trail is read after the fact (ARCHITECTURE.md)
    )


if __name__ == "__main__":
    main(spec())
