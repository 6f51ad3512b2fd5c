"""Deals worker: publishes the outbox and keeps the partner directory from the partners' events.
``python -m prm_deals.worker``."""

from prm_contracts import PARTNERS_TOPIC
from prm_deals.config import SCHEMA, Settings
from prm_deals.declaration import SERVICE
from prm_deals.directory.handlers import HANDLERS
from prm_events import credentials
from prm_events.worker import Subscription, WorkerSpec, main


def spec(settings: Settings | None = None) -> WorkerSpec:
    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings or Settings(),
        publishes=SERVICE.publishes,
        subscriptions=[Subscription(name="partner-directory", topics=[PARTNERS_TOPIC],
                                    handlers=HANDLERS),
                       credentials.subscription()],
    )


if __name__ == "__main__":
    main(spec())
