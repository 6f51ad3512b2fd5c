"""Incentives worker: publishes the outbox, keeps the partner directory and the key directory
from events, accrues rebates and SPIFFs on won deals and reverses them when a win is reversed,
expires pending transfers and fund requests past their deadlines and proof files uploaded
but never claimed, and trues up volume rebate
programmes whose period ended. ``python -m prm_incentives.worker``."""

import datetime as dt
from functools import partial

from prm_contracts import DEALS_TOPIC, PARTNERS_TOPIC
from prm_events import credentials
from prm_events.worker import Subscription, WorkerSpec, main
from prm_incentives.config import SCHEMA, Settings
from prm_incentives.declaration import SERVICE
from prm_incentives.directory.handlers import HANDLERS
from prm_incentives.ledger.service import expire_due
from prm_incentives.mdf.proofs import proof_jobs
from prm_incentives.mdf.service import expire_proof_uploads, expire_requests
from prm_incentives.rebates.handlers import HANDLERS as DEAL_HANDLERS
from prm_incentives.rebates.service import true_up_ended
from prm_platform.scheduler import Job

# Deadlines are minutes to days away: a minute's delay in releasing funds is harmless.
TRANSFER_EXPIRY = Job("expire-pending-transfers", dt.timedelta(minutes=1), expire_due,
                      batch=500)
REQUEST_EXPIRY = Job("expire-fund-requests", dt.timedelta(minutes=5), expire_requests,
                     batch=200)

# Uploads deleted per run of the expiry (rows only: an S3 object is left to the orphan sweep).
UPLOAD_EXPIRY_BATCH = 500


def upload_expiry_job(settings: Settings) -> Job:
    """Proof files no claim named in time; hourly, so one lives at most an hour past its
    expiry (a claim can no longer name it from the moment it expires)."""
    return Job("expire-proof-uploads", dt.timedelta(hours=1),
               partial(expire_proof_uploads,
                       ttl=dt.timedelta(hours=settings.proof_upload_ttl_hours),
                       batch=UPLOAD_EXPIRY_BATCH),
               batch=UPLOAD_EXPIRY_BATCH)


# Partners trued up per run (each a few queries and at most a few transfers).
TRUE_UP_BATCH = 100


def true_up_job(settings: Settings) -> Job:
    """Periods end at most daily; an hour's delay in truing one up is harmless."""
    return Job("true-up-rebate-periods", dt.timedelta(hours=1),
               partial(true_up_ended, batch=TRUE_UP_BATCH,
                       delay_days=settings.true_up_delay_days),
               batch=TRUE_UP_BATCH)


def spec(settings: Settings | None = None) -> WorkerSpec:
    settings = settings or Settings()
    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings,
        publishes=SERVICE.publishes,
        subscriptions=[Subscription(name="partner-directory", topics=[PARTNERS_TOPIC],
                                    handlers=HANDLERS),
                       Subscription(name="rebates", topics=[DEALS_TOPIC],
                                    handlers=DEAL_HANDLERS),
                       credentials.subscription()],
        jobs=[TRANSFER_EXPIRY, REQUEST_EXPIRY, true_up_job(settings), upload_expiry_job(settings),
              *proof_jobs(settings)],
    )


if __name__ == "__main__":
    main(spec())
