"""What the portal read model is, for the supervisor, the gateway and the contract generator."""

from pathlib import Path

from prm_contracts import (
    API_KEYS_TOPIC,
    DEALS_TOPIC,
    ENABLEMENT_TOPIC,
    HEALTH_TOPIC,
    INCENTIVES_TOPIC,
    LEADS_TOPIC,
    PARTNERS_TOPIC,
)
from prm_platform.declaration import (
    PARTNER_ROLES,
    VENDOR_ROLES,
    RoutePrefix,
    Scope,
    ServiceDeclaration,
)

PORTAL_READ = "portal:read"
PORTAL_WRITE = "portal:write"
HEALTH_READ = "health:read"
HEALTH_WRITE = "health:write"

# The contexts' scopes that decide what of theirs a person sees here (this service declares
# none of them: it shows each figure to whoever may read it at its source).
PARTNERS_READ = "partners:read"
DEALS_READ = "deals:read"
LEADS_READ = "leads:read"
INCENTIVES_READ = "incentives:read"
DIRECT_ACCOUNTS_READ = "direct_accounts:read"
CONTACTS_READ = "contacts:read"

# The topics whose events make the screens (partner health's own among them: its band
# crossings and early warnings notify the vendor's staff).
READ_TOPICS = (PARTNERS_TOPIC, DEALS_TOPIC, INCENTIVES_TOPIC, HEALTH_TOPIC)

_HEALTH = {"channel_manager": (HEALTH_READ, HEALTH_WRITE), "marketing": (HEALTH_READ,),
           "finance": (HEALTH_READ,)}

SERVICE = ServiceDeclaration(
    name="portal",
    schema="portal",
    description="The read model of people's screens: who am I, a partner's home, "
    "notifications (listed and streamed), search across records and partner health "
    "(scores, scorecards, early warning), kept from the events every context publishes.",
    app="prm_portal.main:create_app",
    worker="prm_portal.worker",
    routes=(RoutePrefix("/v1/me", read=PORTAL_READ, write=PORTAL_WRITE, lists=False),
            RoutePrefix("/v1/partner-home", read=PORTAL_READ, write=PORTAL_WRITE,
                        lists=False),
            RoutePrefix("/v1/notifications", read=PORTAL_READ, write=PORTAL_WRITE),
            RoutePrefix("/v1/search", read=PORTAL_READ, write=PORTAL_WRITE, lists=False),
            RoutePrefix("/v1/partner-health", read=HEALTH_READ, write=HEALTH_WRITE),
            RoutePrefix("/v1/health-model", read=HEALTH_READ, write=HEALTH_WRITE, lists=False),
            RoutePrefix("/v1/programme-health", read=HEALTH_READ, write=HEALTH_WRITE,
                        lists=False)),
    scopes=(
        Scope(PORTAL_READ, "Read one's own screens: who am I, the partner home, one's "
              "notifications and search (each figure and record only where the caller may "
              "read it at its source).", partner=True),
        Scope(PORTAL_WRITE, "Mark one's notifications read or dismissed.", partner=True),
        Scope(HEALTH_READ, "Read partners' health: scores, scorecards with what is behind "
              "every point, history, early-warning estimates, the programme's view and the "
              "health model."),
        Scope(HEALTH_WRITE, "Change the health model (a new version)."),
    ),
    # Every person has their screens; partner health is the vendor's (channel managers keep
    # its model).
    roles={role: (PORTAL_READ, PORTAL_WRITE, *_HEALTH.get(role, ()))
           for role in VENDOR_ROLES + PARTNER_ROLES if role not in ("admin", "read_only")},
    publishes=(HEALTH_TOPIC,),
    # Partner health also reads enablement (resources used, learning paths completed); the
    # notifications also tell of leads offered, waiting in the queue, withdrawn or closed.
    consumes=(API_KEYS_TOPIC, *READ_TOPICS, ENABLEMENT_TOPIC, LEADS_TOPIC),
    migrations=Path(__file__).resolve().parents[2] / "alembic.ini",
    migration_order=70,
)
