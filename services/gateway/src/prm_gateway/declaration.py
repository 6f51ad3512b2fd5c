"""What the gateway is: the edge, owner of API keys and of the merged contract."""

from pathlib import Path

from prm_contracts import API_KEYS_TOPIC, PARTNERS_TOPIC
from prm_platform.declaration import RoutePrefix, Scope, ServiceDeclaration

API_KEYS_READ = "api_keys:read"
API_KEYS_WRITE = "api_keys:write"

SERVICE = ServiceDeclaration(
    name="gateway",
    schema="gateway",
    description="The edge: API keys, authentication, routing, the merged OpenAPI contract.",
    app="prm_gateway.main:create_app",
    worker="prm_gateway.worker",
    edge=True,
    # Served by the gateway itself, not forwarded.
    routes=(RoutePrefix("/v1/api-keys", read=API_KEYS_READ, write=API_KEYS_WRITE),),
    scopes=(
        Scope(API_KEYS_READ, "List and read API keys, never their secrets (a partner's "
              "credentials: its own org's keys).", partner=True),
        Scope(API_KEYS_WRITE, "Create and revoke API keys, never with more power than the "
              "caller (a partner's credentials: its own org's partner keys).", partner=True),
    ),
    # A partner's administrator manages its org's keys; the vendor's admin role holds admin.
    roles={"partner_admin": (API_KEYS_READ, API_KEYS_WRITE)},
    operation_scopes={"POST /v1/api-keys/{key_id}/revoke": (API_KEYS_READ,)},
    problems={
        "partner-inactive": "The partner organisation these credentials act for is suspended "
                            "or offboarded; its keys and users are refused until it is active "
                            "again.",
        "key-partner-not-eligible": "A partner key was asked for a partner organisation the "
                                    "gateway does not know (yet) or that is offboarded.",
    },
    publishes=(API_KEYS_TOPIC,),
    consumes=(PARTNERS_TOPIC,),
    migrations=Path(__file__).resolve().parents[2] / "alembic.ini",
    migration_order=10,
)
