"""What the audit trail is, for the supervisor, the gateway and the contract generator."""

from pathlib import Path

from prm_contracts import TOPICS
from prm_platform.declaration import RoutePrefix, Scope, ServiceDeclaration

AUDIT_READ = "audit:read"

# Every topic a context publishes: each event is an entry of its service's chain.
AUDITED_TOPICS = tuple(TOPICS)

SERVICE = ServiceDeclaration(
    name="audit",
    schema="audit",
    description="The audit trail: who did what, to which record, when and with which key or "
    "user, across every service, kept from every context's events in a hash chain per "
    "service that a verification walks.",
    app="prm_audit.main:create_app",
    worker="prm_audit.worker",
    # Nothing here changes a record: verifying a chain reads it, so it needs the read scope.
    routes=(RoutePrefix("/v1/audit-entries", read=AUDIT_READ, write=AUDIT_READ),
            RoutePrefix("/v1/audit-verifications", read=AUDIT_READ, write=AUDIT_READ,
                        lists=False)),
    scopes=(Scope(AUDIT_READ, "Read the audit trail of every service (who did what, to which "
                  "record, when, from which key or user) and verify its hash chains. Vendor "
                  "only."),),
    # Held by admin (every scope) and read_only (every read); no other role reads the trail.
    roles={},
    publishes=(),
    consumes=AUDITED_TOPICS,
    migrations=Path(__file__).resolve().parents[2] / "alembic.ini",
    migration_order=80,
)
