"""What the partners worker runs for this part of the programme: event subscriptions and
periodic jobs."""

from prm_events.worker import Subscription
from prm_platform.scheduler import Job

SUBSCRIPTIONS: list[Subscription] = []
JOBS: list[Job] = []
