"""Partners service: ``uvicorn --factory prm_partners.main:create_app``."""

from fastapi import FastAPI

from prm_partners.config import SCHEMA, Settings
from prm_partners.partners.endpoints import router as partners_router
from prm_platform.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        title="PRM partners service",
        description="Partner organisations and their lifecycle.",
        schema=SCHEMA,
        settings=settings or Settings(),
        routers=[partners_router],
        tags=[{"name": "partners", "description": "Partner organisations (resellers, MSPs, "
               "SIs, ISVs, distributors, referral partners) and their lifecycle."}],
    )
