"""The KPIs' counted credits: every credit the credit KPIs count, with the figure, currency and
day it counts under, kept by triggers whatever writes, so that ``GET /v1/attribution-kpis``
reads a page's partners' credits of a period by one index range each instead of every credit
of theirs joined to results and deals.

A credit counts when it is of its deal's newest rules version for its model (among the
deal's results), and its deal is won with a close date (``<role>_revenue`` on ``closed_on``)
or open (``<role>_pipeline`` on the UTC date of ``registered_at``; the open statuses of
``prm_attribution.results.service.OPEN_STATUSES``, written out here; the property test
``test_kpi_aggregates.py`` draws every status and counts with that tuple). The row holds the
credit in the result's currency: FX rates may arrive later, so conversion happens when the KPIs
are read.

``attribution_kpi_refresh(deal ids)`` makes the rows of those deals what the credits, results
and deals say now: it locks the deals' rows in id order (the lock the recompute and the deal
projection hold already; two transactions never refresh one deal from different views), then
deletes the rows no longer counted and upserts the others, writing only those that differ.
Statement-level triggers on ``attribution_credits``, ``attribution_results`` and ``deals``
(status, close date or registration changed; deleted; inserted with credits already there)
call it with the deals the statement touched (a result's deal only when it does not already
count that result's credits: the recompute's one statement refreshes its deal once), and a
TRUNCATE of any of them rebuilds the whole table. Rows are per deal, so
concurrent registrations of one partner never wait on one another here. Each statement of a
refresh reads after the lock (READ COMMITTED, the isolation of every transaction here), so it
sees whatever the deal's previous refresher committed.

The upgrade fills the table from the rows already there.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision, down_revision = "0009", "0008"

# The credits counted now, of the deals ``{deals}`` selects (a condition on a deal id
# column): each deal's newest result per model (its rules version and currency), that
# version's credits, the deal's status and dates.
_COUNTED = """
    SELECT c.deal_id, c.model, c.partner_id, c.rules_version,
        c.role || CASE WHEN d.status = 'won' THEN '_revenue' ELSE '_pipeline' END AS figure,
        r.currency,
        CASE WHEN d.status = 'won' THEN d.closed_on
             ELSE CAST(d.registered_at AT TIME ZONE 'UTC' AS date) END AS day,
        c.credit_minor
    FROM (SELECT DISTINCT ON (x.deal_id, x.model) x.deal_id, x.model, x.rules_version,
              x.currency FROM attribution_results x WHERE {deals_x}
          ORDER BY x.deal_id, x.model, x.rules_version DESC) r
    JOIN deals d ON d.deal_id = r.deal_id
    JOIN attribution_credits c ON c.deal_id = r.deal_id AND c.rules_version = r.rules_version
        AND c.model = r.model
    WHERE c.role IN ('sourced', 'influenced')
    AND ((d.status = 'won' AND d.closed_on IS NOT NULL)
         OR (d.status IN ('submitted', 'in_review', 'approved', 'registered')
             AND d.registered_at IS NOT NULL))
"""
_COLUMNS = "deal_id, model, partner_id, rules_version, figure, currency, day, credit_minor"
_KEY = "deal_id, model, partner_id"

_FUNCTIONS = (
    # Deal by deal, its rows compared first: a refresh that finds them as they should be (a
    # deal refreshed a second time by the same statement, from another table's trigger) writes
    # and locks nothing more. Planned once per connection (one deal by key: the generic plan
    # is the custom one, without planning each call).
    f"""
    CREATE FUNCTION attribution_kpi_refresh(ids uuid[]) RETURNS void LANGUAGE plpgsql
    SET search_path FROM CURRENT SET plan_cache_mode = force_generic_plan AS $$
    DECLARE
        one uuid;
    BEGIN
        IF ids IS NULL OR cardinality(ids) = 0 THEN
            RETURN;
        END IF;
        PERFORM 1 FROM deals WHERE deal_id = ANY(ids) ORDER BY deal_id FOR UPDATE;
        FOREACH one IN ARRAY ids LOOP
            WITH wanted AS ({_COUNTED.format(deals_x="x.deal_id = one")}),
            held AS (SELECT {_COLUMNS} FROM attribution_kpi_credits WHERE deal_id = one),
            changed AS (SELECT * FROM wanted EXCEPT ALL SELECT * FROM held),
            gone AS (
                DELETE FROM attribution_kpi_credits k
                USING (SELECT {_KEY} FROM held EXCEPT ALL SELECT {_KEY} FROM wanted) g
                WHERE k.deal_id = g.deal_id AND k.model = g.model
                AND k.partner_id = g.partner_id)
            INSERT INTO attribution_kpi_credits AS k ({_COLUMNS})
            SELECT {_COLUMNS} FROM changed ORDER BY {_KEY}
            ON CONFLICT ({_KEY}) DO UPDATE SET rules_version = EXCLUDED.rules_version,
                figure = EXCLUDED.figure,
                currency = EXCLUDED.currency, day = EXCLUDED.day,
                credit_minor = EXCLUDED.credit_minor;
        END LOOP;
    END $$
    """,
    f"""
    CREATE FUNCTION attribution_kpi_rebuild() RETURNS void LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        DELETE FROM attribution_kpi_credits;
        INSERT INTO attribution_kpi_credits ({_COLUMNS})
        {_COUNTED.format(deals_x="true")};
    END $$
    """,
    # The deals a statement touched: a credit's (the transition tables of its event), a
    # deal's whose status, close date or registration changed (or inserted over credits), a
    # result's unless its deal already counts that result's credits in that currency (so a
    # statement that writes a deal's results and credits together, as the recompute does,
    # refreshes the deal once, from the credits' trigger, whichever fires first: a result
    # counted at its own version is the newest, and a newer one written by the same statement
    # is not counted yet). A refresh is called only with deals.
    """
    CREATE FUNCTION attribution_kpi_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    DECLARE
        ids uuid[];
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            PERFORM attribution_kpi_rebuild();
            RETURN NULL;
        ELSIF TG_TABLE_NAME = 'deals' THEN
            IF TG_OP = 'INSERT' THEN
                ids := ARRAY(SELECT n.deal_id FROM kpi_new n WHERE EXISTS (
                    SELECT 1 FROM attribution_credits c WHERE c.deal_id = n.deal_id));
            ELSIF TG_OP = 'UPDATE' THEN
                ids := ARRAY(SELECT n.deal_id FROM kpi_new n JOIN kpi_old o USING (deal_id)
                             WHERE (n.status, n.closed_on, n.registered_at)
                                   IS DISTINCT FROM (o.status, o.closed_on, o.registered_at));
            ELSE
                ids := ARRAY(SELECT deal_id FROM kpi_old);
            END IF;
        ELSIF TG_TABLE_NAME = 'attribution_results' AND TG_OP <> 'DELETE' THEN
            ids := ARRAY(
                SELECT n.deal_id FROM kpi_new n WHERE NOT EXISTS (
                    SELECT 1 FROM attribution_kpi_credits k WHERE k.deal_id = n.deal_id
                    AND k.model = n.model AND k.rules_version = n.rules_version
                    AND k.currency = n.currency));
            IF TG_OP = 'UPDATE' THEN  -- a result moved to another key: its old deal too
                ids := ids || ARRAY(
                    SELECT o.deal_id FROM kpi_old o WHERE NOT EXISTS (
                        SELECT 1 FROM kpi_new n WHERE n.deal_id = o.deal_id
                        AND n.model = o.model AND n.rules_version = o.rules_version));
            END IF;
        ELSIF TG_OP = 'INSERT' THEN
            ids := ARRAY(SELECT deal_id FROM kpi_new);
        ELSIF TG_OP = 'DELETE' THEN
            ids := ARRAY(SELECT deal_id FROM kpi_old);
        ELSE
            ids := ARRAY(SELECT deal_id FROM kpi_new UNION ALL SELECT deal_id FROM kpi_old);
        END IF;
        IF cardinality(ids) > 0 THEN
            PERFORM attribution_kpi_refresh(ARRAY(SELECT DISTINCT unnest(ids) ORDER BY 1));
        END IF;
        RETURN NULL;
    END $$
    """,
)
_REFERENCING = {"INSERT": "NEW TABLE AS kpi_new",
                "UPDATE": "OLD TABLE AS kpi_old NEW TABLE AS kpi_new",
                "DELETE": "OLD TABLE AS kpi_old"}
_TRIGGERS = {"attribution_credits": ("INSERT", "UPDATE", "DELETE"),
             "attribution_results": ("INSERT", "UPDATE", "DELETE"),
             "deals": ("INSERT", "UPDATE", "DELETE")}


def upgrade() -> None:
    op.execute("CREATE TABLE attribution_kpi_credits (deal_id uuid NOT NULL, "
               "model varchar(40) NOT NULL, partner_id uuid NOT NULL, "
               "rules_version integer NOT NULL, figure varchar(30) NOT NULL, "
               "currency varchar(3) NOT NULL, day date NOT NULL, "
               "credit_minor bigint NOT NULL, "
               "CONSTRAINT pk_attribution_kpi_credits PRIMARY KEY (deal_id, model, partner_id))")
    for function in _FUNCTIONS:
        op.execute(function)
    # Filled before the partners' index is built (one sort instead of a million inserts).
    op.execute("SELECT attribution_kpi_rebuild()")
    op.execute("CREATE INDEX ix_attribution_kpi_credits_partner ON attribution_kpi_credits "
               "(partner_id, model, day) INCLUDE (figure, currency, credit_minor, deal_id)")
    # The registrations of a page's partners in a period, and their first win.
    op.execute("CREATE INDEX ix_deals_partner_registered ON deals (partner_id, registered_at) "
               "INCLUDE (status)")
    op.execute("CREATE INDEX ix_deals_partner_first_win ON deals (partner_id, closed_on) "
               "WHERE status = 'won'")
    for table, events in _TRIGGERS.items():
        for event in events:
            op.execute(f"CREATE TRIGGER attribution_kpi_{event.lower()} AFTER {event} ON {table} "
                       f"REFERENCING {_REFERENCING[event]} FOR EACH STATEMENT "
                       "EXECUTE FUNCTION attribution_kpi_changed()")
        op.execute(f"CREATE TRIGGER attribution_kpi_truncate AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION attribution_kpi_changed()")


def downgrade() -> None:
    for table, events in _TRIGGERS.items():
        for event in (*events, "TRUNCATE"):
            op.execute(f"DROP TRIGGER attribution_kpi_{event.lower()} ON {table}")
    op.execute("DROP INDEX ix_deals_partner_first_win")
    op.execute("DROP INDEX ix_deals_partner_registered")
    op.execute("DROP FUNCTION attribution_kpi_changed()")
    op.execute("DROP FUNCTION attribution_kpi_rebuild()")
    op.execute("DROP FUNCTION attribution_kpi_refresh(uuid[])")
    op.execute("DROP TABLE attribution_kpi_credits")
