"""Deals worker: publishes the outbox, keeps the partner directory from the partners' events,
expires registrations whose protection ran out and announces those whose protection ends
soon, recycles lead offers left unanswered and expires leads nobody converted, keeps the
vendor's direct accounts in its account-mapping population, keeps the MDF fund requests
campaign launches may name.
``python -m prm_deals.worker``."""

import datetime as dt
import functools

from prm_contracts import INCENTIVES_TOPIC, PARTNERS_TOPIC
from prm_deals.campaigns import funding
from prm_deals.config import SCHEMA, Settings
from prm_deals.declaration import SERVICE
from prm_deals.directory.handlers import HANDLERS
from prm_deals.leads import service as leads
from prm_deals.mapping import service as mapping
from prm_deals.registrations import lifecycle
from prm_events import credentials
from prm_events.worker import Subscription, WorkerSpec, main
from prm_platform.scheduler import Job

# Protection is counted in days; a registration expires within minutes of its last one.
EXPIRY = Job("expire-registrations", dt.timedelta(minutes=5), lifecycle.expire, batch=500)
# Offers are answered within hours: an unanswered one is recycled within a minute of its time.
RECYCLE_LEADS = Job("recycle-leads", dt.timedelta(minutes=1), leads.recycle_overdue, batch=200)
EXPIRE_LEADS = Job("expire-leads", dt.timedelta(hours=1), leads.expire, batch=500)
# The vendor's direct accounts reach its mapping population within minutes of a change.
SYNC_DIRECT_ACCOUNTS = Job("map-direct-accounts", dt.timedelta(minutes=5),
                           mapping.sync_direct_accounts, batch=1000)


def spec(settings: Settings | None = None) -> WorkerSpec:
    settings = settings or Settings()
    # Checked hourly: the notice is counted in days.
    notice = Job("announce-protection-ending", dt.timedelta(hours=1), functools.partial(
        lifecycle.warn_protection_ending, notice_days=settings.protection_notice_days),
        batch=500)
    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings,
        publishes=SERVICE.publishes,
        subscriptions=[Subscription(name="partner-directory", topics=[PARTNERS_TOPIC],
                                    handlers=HANDLERS),
                       Subscription(name="mdf-fund-requests", topics=[INCENTIVES_TOPIC],
                                    handlers=funding.HANDLERS),
                       credentials.subscription()],
        jobs=[EXPIRY, notice, RECYCLE_LEADS, EXPIRE_LEADS, SYNC_DIRECT_ACCOUNTS,
              Job("purge-mapped-accounts", dt.timedelta(hours=6), functools.partial(
                  mapping.purge, settle_days=settings.mapping_settle_days), batch=1000)],
    )


if __name__ == "__main__":
    main(spec())
