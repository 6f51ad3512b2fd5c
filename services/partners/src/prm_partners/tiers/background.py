"""What the partners worker runs for this part of the programme: event subscriptions and
periodic jobs."""

import datetime as dt

from prm_contracts import DEALS_TOPIC, FX_RATES_TOPIC, PARTNERS_TOPIC
from prm_events.worker import Subscription
from prm_partners.tiers import service
from prm_partners.tiers.handlers import FX_HANDLERS, HANDLERS
from prm_platform.scheduler import Job

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(name="tiers", topics=[DEALS_TOPIC, PARTNERS_TOPIC], handlers=HANDLERS),
    # The incentives ledger owns the FX rates; the tiers keep a projection of them.
    Subscription(name="fx-rates", topics=[FX_RATES_TOPIC], handlers=FX_HANDLERS),
]
# Every active partner once a day (pending demotions mature, deals leave the window), and
# within minutes those made due by a change of the tiers, the settings or an FX rate.
JOBS: list[Job] = [
    Job("evaluate-tiers", dt.timedelta(minutes=10), service.evaluate_due,
        batch=service.EVALUATION_BATCH),
]
