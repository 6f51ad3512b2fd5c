"""Attribution worker: publishes the outbox, keeps the deal, partner, programme-cost,
campaign and FX rate projections, recomputes a deal's credits as its events arrive (a campaign
engagement's touch among them), and brings the data-driven credits up to date as the history
grows. ``python -m prm_attribution.worker``."""

from prm_attribution.campaigns.handlers import HANDLERS as CAMPAIGN_HANDLERS
from prm_attribution.config import SCHEMA, Settings
from prm_attribution.costs.handlers import HANDLERS as COST_HANDLERS
from prm_attribution.deals.handlers import HANDLERS as DEAL_HANDLERS
from prm_attribution.declaration import SERVICE
from prm_attribution.directory.handlers import HANDLERS as DIRECTORY_HANDLERS
from prm_attribution.kpis.handlers import HANDLERS as FX_HANDLERS
from prm_attribution.results.background import DATADRIVEN_RECOMPUTE
from prm_contracts import (
    CAMPAIGNS_TOPIC,
    DEALS_TOPIC,
    FX_RATES_TOPIC,
    INCENTIVES_TOPIC,
    PARTNERS_TOPIC,
)
from prm_events import credentials
from prm_events.worker import LINGER_MS, Subscription, WorkerSpec, main


def spec(settings: Settings | None = None) -> WorkerSpec:
    return WorkerSpec(
        service=SERVICE.name, schema=SCHEMA, settings=settings or Settings(),
        publishes=SERVICE.publishes,
        subscriptions=[Subscription(name="deals", topics=[DEALS_TOPIC], handlers=DEAL_HANDLERS),
                       Subscription(name="partner-directory", topics=[PARTNERS_TOPIC],
                                    handlers=DIRECTORY_HANDLERS),
                       Subscription(name="programme-costs", topics=[INCENTIVES_TOPIC],
                                    handlers=COST_HANDLERS),
                       # The incentives ledger owns the FX rates; the KPIs keep a projection.
                       Subscription(name="fx-rates", topics=[FX_RATES_TOPIC],
                                    handlers=FX_HANDLERS),
                       # Campaign engagements become marketing touches.
                       Subscription(name="campaigns", topics=[CAMPAIGNS_TOPIC],
                                    handlers=CAMPAIGN_HANDLERS),
                       credentials.subscription()],
        jobs=[DATADRIVEN_RECOMPUTE],
        linger_ms=LINGER_MS,  # credits and KPIs are reports (ARCHITECTURE.md)
    )


if __name__ == "__main__":
    main(spec())
