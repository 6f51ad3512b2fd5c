"""What the webhooks service is, for the supervisor, the gateway and the contract generator."""

from pathlib import Path

from prm_contracts import (
    API_KEYS_TOPIC,
    ATTRIBUTION_TOPIC,
    CAMPAIGNS_TOPIC,
    DEALS_TOPIC,
    ENABLEMENT_TOPIC,
    HEALTH_TOPIC,
    INCENTIVES_TOPIC,
    LEADS_TOPIC,
    PARTNERS_TOPIC,
    WEBHOOKS_TOPIC,
)
from prm_platform.declaration import RoutePrefix, Scope, ServiceDeclaration

WEBHOOKS_READ = "webhooks:read"
WEBHOOKS_WRITE = "webhooks:write"

# Every context's topic whose events become webhooks (the service's own included: an endpoint
# may subscribe to its peers being disabled).
DELIVERED_TOPICS = (PARTNERS_TOPIC, DEALS_TOPIC, LEADS_TOPIC, INCENTIVES_TOPIC,
                    ATTRIBUTION_TOPIC, HEALTH_TOPIC, CAMPAIGNS_TOPIC, ENABLEMENT_TOPIC,
                    WEBHOOKS_TOPIC)

SERVICE = ServiceDeclaration(
    name="webhooks",
    schema="webhooks",
    description="Webhook endpoints of vendor integrations and partners' systems, and the "
    "signed, retried delivery of every context's events to them (Standard Webhooks).",
    app="prm_webhooks.main:create_app",
    worker="prm_webhooks.worker",
    routes=(RoutePrefix("/v1/webhook-endpoints", read=WEBHOOKS_READ, write=WEBHOOKS_WRITE),
            RoutePrefix("/v1/webhook-messages", read=WEBHOOKS_READ, write=WEBHOOKS_WRITE)),
    scopes=(
        Scope(WEBHOOKS_READ, "Read webhook endpoints, messages and delivery attempts.",
              partner=True),
        Scope(WEBHOOKS_WRITE, "Manage webhook endpoints, resend and recover messages.",
              partner=True),
    ),
    # Integrations are the vendor's admin's (and read_only's to read); a partner's, its admin's.
    roles={"partner_admin": (WEBHOOKS_READ, WEBHOOKS_WRITE)},
    problems={
        "webhook-target-refused": "The endpoint's URL is not allowed: not HTTPS, or its host "
        "resolves to a loopback, private, link-local or otherwise internal address.",
    },
    publishes=(WEBHOOKS_TOPIC,),
    consumes=(API_KEYS_TOPIC, *DELIVERED_TOPICS),
    migrations=Path(__file__).resolve().parents[2] / "alembic.ini",
    migration_order=60,
)
