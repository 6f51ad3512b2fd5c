"""Partners worker: publishes the outbox, keeps the key directory, and runs each part of the
programme's subscriptions (deal and programme events) and jobs.
``python -m prm_partners.worker``."""

from prm_events import credentials
from prm_events.worker import LINGER_MS, WorkerSpec, main
from prm_partners.config import SCHEMA, Settings
from prm_partners.declaration import SERVICE
from prm_partners.main import BACKGROUND


def spec(settings: Settings | None = None) -> WorkerSpec:
    return WorkerSpec(service=SERVICE.name, schema=SCHEMA, settings=settings or Settings(),
                      publishes=SERVICE.publishes,
                      subscriptions=[credentials.subscription(),
                                     *(s for part in BACKGROUND for s in part.SUBSCRIPTIONS)],
                      jobs=[job for part in BACKGROUND for job in part.JOBS],
                      # Activity, tiers, onboarding, surveys: read as standings, not the
                      # moment after the event (ARCHITECTURE.md).
                      linger_ms=LINGER_MS)


if __name__ == "__main__":
    main(spec())
