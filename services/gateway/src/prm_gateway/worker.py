"""Gateway worker: publishes its outbox (API keys issued and revoked), keeps partner standing
from the partners' events and runs the gateway's scheduled jobs.
``python -m prm_gateway.worker``."""

from prm_contracts import PARTNERS_TOPIC
from prm_events.worker import Subscription, WorkerSpec, main
from prm_gateway.config import SCHEMA, Settings
from prm_gateway.declaration import SERVICE
from prm_gateway.standing.handlers import HANDLERS


def spec(settings: Settings | None = None) -> WorkerSpec:
    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings or Settings(),
        publishes=SERVICE.publishes,
        subscriptions=[Subscription(name="partner-standing", topics=[PARTNERS_TOPIC],
                                    handlers=HANDLERS)],
    )


if __name__ == "__main__":
    main(spec())
