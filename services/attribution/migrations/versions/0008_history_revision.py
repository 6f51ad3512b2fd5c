"""The history revision: a counter that moves with every committed change to the data-driven
models' history (a deal entering, leaving or changing among the closed ones; a touch of a
closed deal; any touch recorded for a customer rather than a deal), so that the worker keeps
the history it read and reads it again only when the counter moved
(``results.service.history_for``).

Triggers keep it, whatever writes: an immediate one marks the transaction
(``prm_attribution.history_changed``, transaction-local) so that it never uses a kept history
while its own uncommitted changes differ from it, and a deferred one bumps the counter at
commit, after every other lock the transaction takes (no deadlock through the counter row; only
transactions that change the history wait on one another, briefly, at commit). ``epoch`` tells
databases apart in one process.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision, down_revision = "0008", "0007"

_CLOSED = "{row}.status IN ('won', 'lost') AND {row}.closed_on IS NOT NULL"
_DEAL_WHEN = {
    "INSERT": _CLOSED.format(row="NEW"),
    "DELETE": _CLOSED.format(row="OLD"),
    "UPDATE": f"(({_CLOSED.format(row='OLD')}) OR ({_CLOSED.format(row='NEW')})) AND "
              "(OLD.status, OLD.closed_on, OLD.customer_domain, OLD.deal_id) IS DISTINCT FROM "
              "(NEW.status, NEW.closed_on, NEW.customer_domain, NEW.deal_id)",
}
_FUNCTIONS = (
    # A touch counts for the history when it is a customer's (any closed deal of the customer
    # may count it) or its deal is closed. A deal's touch is written while the deal's row is
    # locked (registration, API, recompute), so its deal cannot close unseen in between.
    """
    CREATE FUNCTION history_touch_counts(t touchpoints) RETURNS boolean LANGUAGE sql STABLE
    SET search_path FROM CURRENT AS $$
        SELECT t.deal_id IS NULL OR EXISTS (
            SELECT 1 FROM deals d WHERE d.deal_id = t.deal_id
            AND d.status IN ('won', 'lost') AND d.closed_on IS NOT NULL)
    $$
    """,
    """
    CREATE FUNCTION history_mark() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_LEVEL = 'STATEMENT' THEN  -- TRUNCATE: no deferred trigger follows
            UPDATE history_revision SET revision = revision + 1;
        END IF;
        IF coalesce(current_setting('prm_attribution.history_changed', true), '') <> 'on' THEN
            PERFORM set_config('prm_attribution.history_changed', 'on', true);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION history_mark_touch() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF ((TG_OP <> 'DELETE' AND history_touch_counts(NEW))
                OR (TG_OP <> 'INSERT' AND history_touch_counts(OLD)))
                AND coalesce(current_setting('prm_attribution.history_changed', true), '')
                    <> 'on' THEN
            PERFORM set_config('prm_attribution.history_changed', 'on', true);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION history_bump() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF current_setting('prm_attribution.history_changed', true) = 'on' THEN
            UPDATE history_revision SET revision = revision + 1;
            PERFORM set_config('prm_attribution.history_changed', 'bumped', true);
        END IF;
        RETURN NULL;
    END $$
    """,
)


def upgrade() -> None:
    op.execute("CREATE TABLE history_revision (one boolean PRIMARY KEY DEFAULT true "
                "CHECK (one), epoch uuid NOT NULL, revision bigint NOT NULL)")
    op.execute("INSERT INTO history_revision (epoch, revision) VALUES (gen_random_uuid(), 0)")
    for function in _FUNCTIONS:
        op.execute(function)
    for event, when in _DEAL_WHEN.items():
        name = event.lower()
        op.execute(f"CREATE TRIGGER history_mark_{name} AFTER {event} ON deals FOR EACH ROW "
                   f"WHEN ({when}) EXECUTE FUNCTION history_mark()")
        op.execute(f"CREATE CONSTRAINT TRIGGER history_bump_{name} AFTER {event} ON deals "
                   f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({when}) "
                   "EXECUTE FUNCTION history_bump()")
    op.execute("CREATE TRIGGER history_mark AFTER INSERT OR UPDATE OR DELETE ON touchpoints "
               "FOR EACH ROW EXECUTE FUNCTION history_mark_touch()")
    op.execute("CREATE CONSTRAINT TRIGGER history_bump AFTER INSERT OR UPDATE OR DELETE "
               "ON touchpoints DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
               "EXECUTE FUNCTION history_bump()")
    for table in ("deals", "touchpoints"):
        op.execute(f"CREATE TRIGGER history_mark_truncate AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION history_mark()")


def downgrade() -> None:
    for table in ("deals", "touchpoints"):
        op.execute(f"DROP TRIGGER history_mark_truncate ON {table}")
    op.execute("DROP TRIGGER history_bump ON touchpoints")
    op.execute("DROP TRIGGER history_mark ON touchpoints")
    for event in _DEAL_WHEN:
        op.execute(f"DROP TRIGGER history_bump_{event.lower()} ON deals")
        op.execute(f"DROP TRIGGER history_mark_{event.lower()} ON deals")
    op.execute("DROP FUNCTION history_bump()")
    op.execute("DROP FUNCTION history_mark_touch()")
    op.execute("DROP FUNCTION history_mark()")
    op.execute("DROP FUNCTION history_touch_counts(touchpoints)")
    op.execute("DROP TABLE history_revision")
