"""Webhooks service: ``uvicorn --factory prm_webhooks.main:create_app``."""

from fastapi import FastAPI

from prm_platform.app import create_service_app
from prm_webhooks.config import SCHEMA, Settings
from prm_webhooks.endpoints.endpoints import router as endpoints_router
from prm_webhooks.messages.endpoints import router as messages_router


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        title="PRM webhooks service",
        description="Webhook endpoints, and the signed, retried delivery of every context's "
        "events to them (Standard Webhooks).",
        schema=SCHEMA,
        settings=settings or Settings(),
        routers=[endpoints_router, messages_router],
        tags=[{"name": "webhook endpoints", "description": "Where vendor integrations and "
               "partners' systems receive events: URL, event-type filters, signing secrets, "
               "and the operations on their deliveries (test, recover, statistics)."},
              {"name": "webhook messages", "description": "Events as subscribers receive "
               "them, their deliveries and every attempt, and resending one."}],
    )
