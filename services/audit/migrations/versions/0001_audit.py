"""The audit trail: one entry per event of every context, in a hash chain per service, and each
chain's head and anchor; with the platform's tables as they are today (outbox, inbox,
idempotency keys, scheduler, liveness, key directory).

The entries are append-only: a trigger refuses UPDATE, DELETE and TRUNCATE unless the
transaction set ``prm_audit.maintenance`` (retention and erasure do, ``trail.recording``), and
even then an UPDATE may change only the data and its erasure mark. The chain, not the trigger,
is what proves the trail intact: whoever can bypass the trigger is found by a verification.

Revision ID: 0001
Revises:
"""

from alembic import op

from prm_platform.migrations import create_current_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = {
    "audit_entries": """
        id uuid PRIMARY KEY, event_id uuid NOT NULL, service text NOT NULL,
        seq bigint NOT NULL, occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL, type text NOT NULL, record text, partner_id uuid,
        actor text, request_id text, data jsonb NOT NULL, data_digest bytea NOT NULL,
        facts_digest bytea NOT NULL, hash bytea NOT NULL, erased_by uuid,
        CONSTRAINT uq_audit_entries_event_id UNIQUE (event_id),
        CONSTRAINT uq_audit_entries_service UNIQUE (service, seq)""",
    "audit_chains": """
        service text PRIMARY KEY, head_seq bigint NOT NULL, head_hash bytea NOT NULL,
        anchor_seq bigint NOT NULL, anchor_hash bytea NOT NULL, anchored_at timestamptz""",
}

_INDEXES = (
    "CREATE INDEX ix_audit_entries_actor_id ON audit_entries (actor, id)",
    "CREATE INDEX ix_audit_entries_record_id ON audit_entries (record, id)",
    "CREATE INDEX ix_audit_entries_type_id ON audit_entries (type, id)",
    "CREATE INDEX ix_audit_entries_service_id ON audit_entries (service, id)",
    "CREATE INDEX ix_audit_entries_partner_id_id ON audit_entries (partner_id, id)",
    "CREATE INDEX ix_audit_entries_request_id ON audit_entries (request_id)",
    "CREATE INDEX ix_audit_entries_occurred_at_id ON audit_entries (occurred_at, id)",
    "CREATE INDEX ix_audit_entries_contact_id ON audit_entries ((data ->> 'contact_id')) "
    "WHERE data ? 'contact_id'",
)

_GUARD = """
CREATE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('prm_audit.maintenance', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.id, NEW.event_id, NEW.service, NEW.seq, NEW.occurred_at,
            NEW.recorded_at, NEW.type, NEW.record, NEW.partner_id, NEW.actor, NEW.request_id,
            NEW.data_digest, NEW.facts_digest, NEW.hash)
            IS DISTINCT FROM (OLD.id, OLD.event_id, OLD.service, OLD.seq, OLD.occurred_at,
            OLD.recorded_at, OLD.type, OLD.record, OLD.partner_id, OLD.actor, OLD.request_id,
            OLD.data_digest, OLD.facts_digest, OLD.hash) THEN
        RAISE EXCEPTION 'an audit entry''s data and erasure mark alone may change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$"""


def upgrade() -> None:
    create_current_platform_tables("audit")
    for table, columns in _TABLES.items():
        op.execute(f"CREATE TABLE {table} ({columns})")
    for statement in _INDEXES:
        op.execute(statement)
    op.execute(_GUARD)
    op.execute("CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON "
               "audit_entries FOR EACH ROW EXECUTE FUNCTION audit_entries_guard()")
    op.execute("CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_guard()")


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP FUNCTION IF EXISTS audit_entries_guard()")
    drop_platform_tables()
    for table in ("scheduled_jobs", "worker_liveness", "credential_keys",
                  "credential_partners"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP FUNCTION IF EXISTS prm_fold(text)")
