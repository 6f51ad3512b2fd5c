"""What the partners worker runs for this part of the programme: event subscriptions and
periodic jobs."""

import datetime as dt

from prm_contracts import DEALS_TOPIC, PARTNERS_TOPIC
from prm_events.worker import Subscription
from prm_partners.onboarding import service
from prm_partners.onboarding.handlers import HANDLERS
from prm_platform.scheduler import Job

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(name="onboarding", topics=[PARTNERS_TOPIC, DEALS_TOPIC], handlers=HANDLERS),
]
# Contacts send no event: plans waiting for them are checked when a contact is added, and
# in turns here.
JOBS: list[Job] = [Job("onboarding-contacts-check", dt.timedelta(minutes=5),
                       service.check_contacts)]
