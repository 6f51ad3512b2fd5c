"""Partners service: ``uvicorn --factory prm_partners.main:create_app``."""

from fastapi import APIRouter, Depends, FastAPI

from prm_partners.activity import background as activity_background
from prm_partners.activity import endpoints as activity_endpoints
from prm_partners.applications import background as applications_background
from prm_partners.applications import endpoints as applications_endpoints
from prm_partners.compliance import background as compliance_background
from prm_partners.compliance import endpoints as compliance_endpoints
from prm_partners.config import SCHEMA, Settings
from prm_partners.contacts import background as contacts_background
from prm_partners.contacts import endpoints as contacts_endpoints
from prm_partners.learning import background as learning_background
from prm_partners.learning import endpoints as learning_endpoints
from prm_partners.onboarding import background as onboarding_background
from prm_partners.onboarding import endpoints as onboarding_endpoints
from prm_partners.partners.endpoints import by_external_id
from prm_partners.partners.endpoints import router as partners_router
from prm_partners.resources import endpoints as resources_endpoints
from prm_partners.surveys import background as surveys_background
from prm_partners.surveys import endpoints as surveys_endpoints
from prm_partners.tiers import background as tiers_background
from prm_partners.tiers import endpoints as tiers_endpoints
from prm_platform.app import create_service_app

# Each part of the programme, in the order the contract lists them: its routers, and its
# worker's subscriptions and jobs.
ENDPOINTS = (applications_endpoints, onboarding_endpoints, compliance_endpoints,
             contacts_endpoints, tiers_endpoints, activity_endpoints, surveys_endpoints,
             learning_endpoints, resources_endpoints)
BACKGROUND = (applications_background, onboarding_background, compliance_background,
              contacts_background, tiers_background, activity_background, surveys_background,
              learning_background)


def create_app(settings: Settings | None = None) -> FastAPI:
    from prm_partners.activity.endpoints import record_api_call

    # Every call a partner key makes here is a sign of its org's activity.
    routes = APIRouter(dependencies=[Depends(record_api_call)])
    routes.include_router(partners_router)
    routes.include_router(by_external_id)
    for part in ENDPOINTS:
        for router in part.routers:
            routes.include_router(router)
    return create_service_app(
        title="PRM partners service",
        description="The partner programme: organisations and their lifecycle, applications, "
        "onboarding, certifications, agreements, compliance, tiers, contacts and "
        "satisfaction surveys.",
        schema=SCHEMA,
        settings=settings or Settings(),
        routers=[routes],
        tags=[{"name": "partners", "description": "Partner organisations (resellers, MSPs, "
               "MSSPs, SIs, ISVs, distributors, referral partners) and their lifecycle."},
              {"name": "applications", "description": "Prospects applying to the programme, "
               "scored against the Ideal Partner Profile, and their review."},
              {"name": "onboarding", "description": "Onboarding templates and each partner's "
               "plan, whose tasks complete by hand or from events."},
              {"name": "compliance", "description": "Certifications, agreements and each "
               "partner's compliance with the programme's requirements."},
              {"name": "contacts", "description": "People at a partner, with their roles; "
               "export and erasure of one contact's personal data."},
              {"name": "tiers", "description": "Programme tiers that move by themselves "
               "(revenue converted with the incentives ledger's FX rates) and each partner's "
               "tier history."},
              {"name": "activity", "description": "Partner activity, inactivity flags and "
               "time to first deal."},
              {"name": "surveys", "description": "Partner satisfaction surveys (PSAT, partner "
               "NPS): answers through the API or the survey tool's signed intake, each "
               "partner's results, and the campaigns that invite partners' contacts to them on "
               "a schedule or after events."},
              {"name": "learning", "description": "Learning paths imported from the LMS, "
               "partners' contacts enrolled in them (on joining, on a tier change, by hand), "
               "course completions by API or the LMS's signed intake, the certification a "
               "completed path grants, progress and KPIs."},
              {"name": "enablement", "description": "The enablement library: documents, "
               "videos, links and sales tools in language variants, each shown only to the "
               "audience it is for (partner roles, tiers, types, countries, certifications), "
               "signed download links that expire, the uses recorded per person and org, and "
               "their KPIs."}],
    )
