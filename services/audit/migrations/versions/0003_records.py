"""Every record an entry names: the event's subject and each id of its data (a claim's event is
keyed by its allocation, but names the claim, its request and its partner too), so that the
trail answers what happened to a record whatever the event was keyed by. Derived from the
entry's hashed fields, so verification checks it too; the append-only trigger covers it.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE audit_entries ADD COLUMN records text[]")
    op.execute("SET LOCAL prm_audit.maintenance = 'on'")
    op.execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only")
    op.execute("""UPDATE audit_entries SET records = ARRAY(
        SELECT DISTINCT v COLLATE "C" FROM (
            SELECT record AS v WHERE record IS NOT NULL
            UNION ALL SELECT value FROM jsonb_each_text(data)
                WHERE key LIKE '%\\_id' AND jsonb_typeof(data -> key) = 'string'
            UNION ALL SELECT data -> 'partner' ->> 'id'
                WHERE jsonb_typeof(data -> 'partner' -> 'id') = 'string') AS ids (v)
        ORDER BY 1)""")
    op.execute("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only")
    op.execute("ALTER TABLE audit_entries ALTER COLUMN records SET NOT NULL")
    op.execute("DROP INDEX ix_audit_entries_record_id")
    op.execute("CREATE INDEX ix_audit_entries_records ON audit_entries USING gin (records)")
    op.execute(_GUARD)


def downgrade() -> None:
    op.execute("DROP INDEX ix_audit_entries_records")
    op.execute("CREATE INDEX ix_audit_entries_record_id ON audit_entries (record, id)")
    op.execute("ALTER TABLE audit_entries DROP COLUMN records")


_GUARD = """
CREATE OR REPLACE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('prm_audit.maintenance', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.id, NEW.event_id, NEW.service, NEW.seq, NEW.occurred_at,
            NEW.recorded_at, NEW.type, NEW.record, NEW.records, NEW.partner_id, NEW.actor,
            NEW.request_id, NEW.data_digest, NEW.facts_digest, NEW.hash)
            IS DISTINCT FROM (OLD.id, OLD.event_id, OLD.service, OLD.seq, OLD.occurred_at,
            OLD.recorded_at, OLD.type, OLD.record, OLD.records, OLD.partner_id, OLD.actor,
            OLD.request_id, OLD.data_digest, OLD.facts_digest, OLD.hash) THEN
        RAISE EXCEPTION 'an audit entry''s data and erasure mark alone may change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$"""
