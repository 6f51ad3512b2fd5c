"""What the partners worker runs for the learning part: enrolments from its own events."""

from prm_contracts import PARTNERS_TOPIC
from prm_events.worker import Subscription
from prm_partners.learning.handlers import HANDLERS
from prm_platform.scheduler import Job

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(name="learning", topics=[PARTNERS_TOPIC], handlers=HANDLERS),
]
JOBS: list[Job] = []
