"""Partners worker: publishes the outbox, keeps the key directory, and runs each part of the
programme's subscriptions (deal and programme events) and jobs.
``python -m prm_partners.worker``."""

from importlib import import_module

from prm_events import credentials
from prm_events.worker import WorkerSpec, main
from prm_partners.config import SCHEMA, Settings
from prm_partners.declaration import SERVICE
from prm_partners.main import PARTS


def spec(settings: Settings | None = None) -> WorkerSpec:
    parts = [import_module(f"{part.__name__}.background") for part in PARTS]
    return WorkerSpec(service=SERVICE.name, schema=SCHEMA, settings=settings or Settings(),
                      publishes=SERVICE.publishes,
                      subscriptions=[credentials.subscription(),
                                     *(s for part in parts for s in part.SUBSCRIPTIONS)],
                      jobs=[job for part in parts for job in part.JOBS])


if __name__ == "__main__":
    main(spec())
