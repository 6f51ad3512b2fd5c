"""Partners worker: publishes the outbox and keeps the key directory.
``python -m prm_partners.worker``."""

from prm_events import credentials
from prm_events.worker import WorkerSpec, main
from prm_partners.config import SCHEMA, Settings
from prm_partners.declaration import SERVICE


def spec(settings: Settings | None = None) -> WorkerSpec:
    return WorkerSpec(service=SERVICE.name, schema=SCHEMA, settings=settings or Settings(),
                      publishes=SERVICE.publishes, subscriptions=[credentials.subscription()])


if __name__ == "__main__":
    main(spec())
