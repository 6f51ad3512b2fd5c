"""Partners service: ``uvicorn --factory prm_partners.main:create_app``."""

from fastapi import APIRouter, Depends, FastAPI

from prm_partners import activity, applications, compliance, contacts, onboarding, tiers
from prm_partners.config import SCHEMA, Settings
from prm_partners.partners.endpoints import by_external_id
from prm_partners.partners.endpoints import router as partners_router
from prm_platform.app import create_service_app

# Each part of the programme, in the order the contract lists them.
PARTS = (applications, onboarding, compliance, contacts, tiers, activity)


def create_app(settings: Settings | None = None) -> FastAPI:
    from importlib import import_module

    from prm_partners.activity.endpoints import record_api_call

    # Every call a partner key makes here is a sign of its org's activity.
    routes = APIRouter(dependencies=[Depends(record_api_call)])
    routes.include_router(partners_router)
    routes.include_router(by_external_id)
    for part in PARTS:
        for router in import_module(f"{part.__name__}.endpoints").routers:
            routes.include_router(router)
    return create_service_app(
        title="PRM partners service",
        description="The partner programme: organisations and their lifecycle, applications, "
        "onboarding, certifications, agreements, compliance, tiers and contacts.",
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
              {"name": "tiers", "description": "Programme tiers that move by themselves, the "
               "FX rates they convert with, and each partner's tier history."},
              {"name": "activity", "description": "Partner activity, inactivity flags and "
               "time to first deal."}],
    )
