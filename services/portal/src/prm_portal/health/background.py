"""What the portal worker runs for partner health: the facts' subscription and the jobs."""

import datetime as dt

from prm_contracts import DEALS_TOPIC, ENABLEMENT_TOPIC, INCENTIVES_TOPIC, PARTNERS_TOPIC
from prm_events.worker import Subscription
from prm_platform.scheduler import Job
from prm_portal.health import service
from prm_portal.health.facts import HANDLERS

SUBSCRIPTIONS: list[Subscription] = [
    Subscription(name="health", topics=[PARTNERS_TOPIC, DEALS_TOPIC, INCENTIVES_TOPIC,
                                        ENABLEMENT_TOPIC],
                 handlers=dict(HANDLERS)),
]


def jobs(scoring_seconds: float) -> list[Job]:
    """Partners whose facts changed are scored within ``scoring_seconds`` (a full batch runs
    again at once); every partner is due again each day, since the windows move; the
    estimators learn weekly."""
    return [
        Job("score-partner-health", dt.timedelta(seconds=scoring_seconds), service.score_due,
            batch=service.SCORING_BATCH),
        Job("refresh-partner-health", dt.timedelta(hours=6), service.mark_stale),
        Job("train-health-estimators", dt.timedelta(days=7), service.train_estimators),
    ]
