"""What the attribution service is, for the supervisor, the edge and the contract generator."""

from pathlib import Path

from prm_contracts import (
    API_KEYS_TOPIC,
    ATTRIBUTION_TOPIC,
    CAMPAIGNS_TOPIC,
    DEALS_TOPIC,
    FX_RATES_TOPIC,
    INCENTIVES_TOPIC,
    PARTNERS_TOPIC,
)
from prm_platform.declaration import RoutePrefix, Scope, ServiceDeclaration

ATTRIBUTION_READ = "attribution:read"
ATTRIBUTION_WRITE = "attribution:write"

SERVICE = ServiceDeclaration(
    name="attribution",
    schema="attribution",
    description="Who earned the revenue: touchpoints from the deals' events and the API, "
    "published versioned rules for sourced and influenced, nine attribution models with "
    "credits in integer minor units that sum exactly to the deal's amount, and programme KPIs "
    "(revenue, pipeline contribution, ROPI, MDF ROI, campaign ROI, CLTV, acquisition cost, "
    "certification velocity) from the deals', partners', incentives' and campaigns' events.",
    app="prm_attribution.main:create_app",
    worker="prm_attribution.worker",
    routes=(RoutePrefix("/v1/touchpoints", read=ATTRIBUTION_READ, write=ATTRIBUTION_WRITE),
            RoutePrefix("/v1/attribution-rules", read=ATTRIBUTION_READ,
                        write=ATTRIBUTION_WRITE),
            RoutePrefix("/v1/attributed-deals", read=ATTRIBUTION_READ,
                        write=ATTRIBUTION_WRITE),
            RoutePrefix("/v1/attribution-vendor-figures", read=ATTRIBUTION_READ,
                        write=ATTRIBUTION_WRITE),
            # A report over a period the caller names, not a list of resources.
            RoutePrefix("/v1/attribution-kpis", read=ATTRIBUTION_READ,
                        write=ATTRIBUTION_WRITE, lists=False)),
    scopes=(
        Scope(ATTRIBUTION_READ, "Read touchpoints, attribution rules, credits and KPIs (a "
              "partner key: its own org's).", partner=True, partner_default=True),
        Scope(ATTRIBUTION_WRITE, "Record touchpoints (a partner key: its own org's); publish "
              "attribution rules and the vendor's figures (vendor keys).",
              partner=True),
    ),
    roles={
        "channel_manager": (ATTRIBUTION_READ, ATTRIBUTION_WRITE),
        "finance": (ATTRIBUTION_READ,),
        "marketing": (ATTRIBUTION_READ,),
        "partner_admin": (ATTRIBUTION_READ, ATTRIBUTION_WRITE),
        "partner_sales": (ATTRIBUTION_READ,),
        "partner_finance": (ATTRIBUTION_READ,),
        # Records its org's workshops and events as touchpoints.
        "partner_marketing": (ATTRIBUTION_READ, ATTRIBUTION_WRITE),
    },
    # A recompute reads the deal's results first.
    operation_scopes={"POST /v1/attributed-deals/{deal_id}/recompute": (ATTRIBUTION_READ,)},
    # Its refusals are the platform's generic problems (not-found, forbidden, ...).
    problems={},
    publishes=(ATTRIBUTION_TOPIC,),
    # The deals' lifecycle (touches and amounts), the partner directory (with certifications,
    # activation and onboarding), the programme's costs from the incentives, the campaigns'
    # launches and engagements (marketing touches), and the key directory: it checks callers'
    # keys itself.
    consumes=(API_KEYS_TOPIC, DEALS_TOPIC, INCENTIVES_TOPIC, FX_RATES_TOPIC, PARTNERS_TOPIC,
              CAMPAIGNS_TOPIC),
    migrations=Path(__file__).resolve().parents[2] / "alembic.ini",
    migration_order=50,
)
