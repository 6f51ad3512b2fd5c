"""Partners worker: publishes the outbox. ``python -m prm_partners.worker``."""

from prm_events.worker import WorkerSpec, main
from prm_partners.config import SCHEMA, Settings


def spec(settings: Settings | None = None) -> WorkerSpec:
    return WorkerSpec(service="partners", schema=SCHEMA, settings=settings or Settings())


if __name__ == "__main__":
    main(spec())
