"""What the partners worker runs for this part of the programme: event subscriptions and
periodic jobs."""

import datetime as dt

from prm_events.worker import Subscription
from prm_partners.compliance.service import expire
from prm_platform.scheduler import Job

SUBSCRIPTIONS: list[Subscription] = []
# Certifications past their last day become expired; dates change once a day, so hourly is
# prompt enough (and a full batch runs again at once).
EXPIRY_BATCH = 500
JOBS: list[Job] = [Job(name="expire-certifications", interval=dt.timedelta(hours=1),
                       run=expire, batch=EXPIRY_BATCH)]
