"""Audit trail: ``uvicorn --factory prm_audit.main:create_app``."""

from fastapi import FastAPI

from prm_audit.config import SCHEMA, Settings
from prm_audit.trail.endpoints import entries, verifications
from prm_platform.app import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        title="PRM audit trail",
        description="Who did what, to which record, when, from which key or user, across "
        "every service: an append-only entry per event, in a hash chain per service that a "
        "verification walks. Vendor only.",
        schema=SCHEMA,
        settings=settings,
        routers=[entries, verifications],
        tags=[{"name": "audit", "description": "The audit trail and the verification of its "
               "hash chains."}],
    )
