"""Deals service: ``uvicorn --factory prm_deals.main:create_app``."""

from fastapi import FastAPI

from prm_deals.accounts.endpoints import router as accounts_router
from prm_deals.campaigns.endpoints import brand_router, engagement_router, launch_router
from prm_deals.campaigns.endpoints import intake_router as campaign_intake_router
from prm_deals.campaigns.endpoints import router as campaigns_router
from prm_deals.config import SCHEMA, Settings
from prm_deals.declaration import SERVICE
from prm_deals.leads.endpoints import batches_router as lead_batches_router
from prm_deals.leads.endpoints import capacity_router, intake_router
from prm_deals.leads.endpoints import router as leads_router
from prm_deals.leads.endpoints import rules_router as lead_rules_router
from prm_deals.mapping.endpoints import accounts_router as mapped_accounts_router
from prm_deals.mapping.endpoints import partnerships_router as mapping_router
from prm_deals.marketplace.endpoints import events_router as marketplace_events_router
from prm_deals.marketplace.endpoints import router as marketplace_router
from prm_deals.registrations.endpoints import batches_router
from prm_deals.registrations.endpoints import router as registrations_router
from prm_deals.rules.endpoints import router as rules_router
from prm_platform.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        title="PRM deals service",
        description="Deal registrations by partners, checked against the partner directory.",
        schema=SCHEMA,
        settings=settings or Settings(),
        body_limits=SERVICE.body_limits(),
        routers=[registrations_router, batches_router, accounts_router, rules_router,
                 leads_router, lead_batches_router, intake_router, lead_rules_router,
                 capacity_router, mapped_accounts_router, mapping_router,
                 marketplace_router, marketplace_events_router, campaigns_router,
                 brand_router, launch_router, engagement_router, campaign_intake_router],
        tags=[{"name": "deals", "description": "Deal registrations: a partner claims a "
               "customer opportunity so that the vendor can protect it from channel conflict."},
              {"name": "direct accounts", "description": "Named accounts of the vendor's "
               "direct sales, with their aliases: registering one is a channel conflict."},
              {"name": "engagement rules", "description": "The vendor's rules of engagement: "
               "ordered, versioned rules that decide a new registration at once."},
              {"name": "leads", "description": "Leads from the vendor's marketing and from "
               "partners' systems, routed to partners in fair, weighted turn, offered with an "
               "answer-by time, accepted or declined, and converted to deal registrations."},
              {"name": "lead routing", "description": "How leads are routed: ordered, "
               "versioned routing rules with a dry run, and partners' caps and pauses."},
              {"name": "account mapping", "description": "The vendor and a partner find the "
               "accounts they share: each side's populations, double opt-in, sharing levels "
               "per population, the overlap matrix and lists."},
              {"name": "marketplace", "description": "Cloud marketplace private offers made "
               "through partners for their registered deals (AWS, Azure, Google Cloud), their "
               "status in each marketplace's words and in one lifecycle, fees and margins, "
               "and the marketplaces' signed events."},
              {"name": "campaigns", "description": "Through-channel marketing: the vendor's "
               "campaign library (versioned, co-branded templates per language and audience), "
               "partners' brand profiles, launches rendered under the partner's brand (HTML "
               "and PDF, tracked links), and the engagement they bring back, whose form fills "
               "become leads."}],
    )
