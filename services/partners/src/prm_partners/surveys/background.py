"""What the partners worker runs for survey campaigns: the events that trigger them, and the
job that sends scheduled campaigns' invitations and those whose delay is over."""

import datetime as dt

from prm_contracts import INCENTIVES_TOPIC, PARTNERS_TOPIC
from prm_events.worker import Subscription
from prm_partners.surveys import campaigns
from prm_partners.surveys.handlers import HANDLERS
from prm_platform.scheduler import Job

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(name="survey-campaigns", topics=[PARTNERS_TOPIC, INCENTIVES_TOPIC],
                 handlers=HANDLERS),
]
JOBS: list[Job] = [
    Job("survey-campaigns", dt.timedelta(minutes=10), campaigns.run_due, batch=campaigns.BATCH),
]
