"""What the partners service is, for the supervisor, the gateway and the contract generator."""

from pathlib import Path

from prm_contracts import API_KEYS_TOPIC, PARTNERS_TOPIC
from prm_platform.declaration import RoutePrefix, Scope, ServiceDeclaration

PARTNERS_READ = "partners:read"
PARTNERS_WRITE = "partners:write"

SERVICE = ServiceDeclaration(
    name="partners",
    schema="partners",
    description="Partner organisations and their lifecycle.",
    app="prm_partners.main:create_app",
    worker="prm_partners.worker",
    routes=(RoutePrefix("/v1/partners", read=PARTNERS_READ, write=PARTNERS_WRITE),),
    scopes=(
        Scope(PARTNERS_READ, "Read partner organisations.", partner=True, partner_default=True),
        Scope(PARTNERS_WRITE, "Create, change and move partner organisations through their "
              "lifecycle (a partner key may only rename its own).", partner=True),
    ),
    publishes=(PARTNERS_TOPIC,),
    # Its key directory (API keys, partners' standing): it checks callers' keys itself.
    consumes=(API_KEYS_TOPIC, PARTNERS_TOPIC),
    migrations=Path(__file__).resolve().parents[2] / "alembic.ini",
    migration_order=20,
)
