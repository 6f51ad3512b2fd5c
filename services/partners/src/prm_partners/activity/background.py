"""What the partners worker runs for this part of the programme: event subscriptions and
periodic jobs."""

import datetime as dt

from prm_contracts import DEALS_TOPIC, PARTNERS_TOPIC
from prm_events.worker import Subscription
from prm_partners.activity import service
from prm_partners.activity.handlers import HANDLERS
from prm_platform.scheduler import Job

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(name="activity", topics=[DEALS_TOPIC, PARTNERS_TOPIC], handlers=HANDLERS),
]
# Inactivity is counted in days: an hourly check is soon enough. A full batch runs again.
JOBS: list[Job] = [Job("flag-inactive-partners", dt.timedelta(hours=1), service.flag_inactive,
                       batch=200)]
