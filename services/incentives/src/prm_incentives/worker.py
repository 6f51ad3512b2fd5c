"""Incentives worker: publishes the outbox, keeps the partner directory and the key directory
from events, accrues rebates and SPIFFs on won deals, and expires pending transfers and fund
requests past their deadlines.
``python -m prm_incentives.worker``."""

import datetime as dt

from prm_contracts import DEALS_TOPIC, PARTNERS_TOPIC
from prm_events import credentials
from prm_events.worker import Subscription, WorkerSpec, main
from prm_incentives.config import SCHEMA, Settings
from prm_incentives.declaration import SERVICE
from prm_incentives.directory.handlers import HANDLERS
from prm_incentives.ledger.service import expire_due
from prm_incentives.mdf.service import expire_requests
from prm_incentives.rebates.handlers import HANDLERS as DEAL_HANDLERS
from prm_platform.scheduler import Job

# Deadlines are minutes to days away: a minute's delay in releasing funds is harmless.
TRANSFER_EXPIRY = Job("expire-pending-transfers", dt.timedelta(minutes=1), expire_due,
                      batch=500)
REQUEST_EXPIRY = Job("expire-fund-requests", dt.timedelta(minutes=5), expire_requests,
                     batch=200)


def spec(settings: Settings | None = None) -> WorkerSpec:
    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings or Settings(),
        publishes=SERVICE.publishes,
        subscriptions=[Subscription(name="partner-directory", topics=[PARTNERS_TOPIC],
                                    handlers=HANDLERS),
                       Subscription(name="rebates", topics=[DEALS_TOPIC],
                                    handlers=DEAL_HANDLERS),
                       credentials.subscription()],
        jobs=[TRANSFER_EXPIRY, REQUEST_EXPIRY],
    )


if __name__ == "__main__":
    main(spec())
