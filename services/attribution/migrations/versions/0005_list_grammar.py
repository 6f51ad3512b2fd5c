"""The list grammar (prm_platform.listing) of every list: the indexes of their filters, ranges,
sorts and change feed, and the searchable texts (the deals' customer, the partners' names).

The KPI list pages ``programme_partners``, every partner the programme knows of (of the
directory, a deal, a credit or a cost), kept by statement triggers on those tables whoever
writes them (the worker's projections, a bulk load) and filled here from them; it was a union
of the four computed for every page, which could be read in one direction only.

The deals' ``updated_at`` is from now on when the row or the deal's credits last changed here
(the attributed deals' change feed), no longer the time of the newest event applied.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from prm_platform.migrations import platform_step, search_column

revision, down_revision = "0005", "0004"
branch_labels = None
depends_on = None
_search_up, _search_down = platform_step("search")

_INDEXES = {
    "touchpoints": (
        "CREATE INDEX ix_touchpoints_kind_id ON touchpoints (kind, id)",
        "CREATE INDEX ix_touchpoints_source_id ON touchpoints (source, id)",
        "CREATE INDEX ix_touchpoints_occurred_at_id ON touchpoints (occurred_at, id)",
        "CREATE INDEX ix_touchpoints_recorded_at_id ON touchpoints (recorded_at, id)",
    ),
    "attribution_rules": (
        "CREATE INDEX ix_attribution_rules_published_at ON attribution_rules (published_at)",
    ),
    "deals": (
        "CREATE INDEX ix_deals_currency ON deals (currency, deal_id)",
        "CREATE INDEX ix_deals_deal_type ON deals (deal_type, deal_id)",
        "CREATE INDEX ix_deals_customer_country ON deals (customer_country, deal_id)",
        "CREATE INDEX ix_deals_amount ON deals (amount)",
        "CREATE INDEX ix_deals_closed_on ON deals (closed_on)",
        "CREATE INDEX ix_deals_registered_at ON deals (registered_at)",
        "CREATE INDEX ix_deals_updated_at_id ON deals (updated_at, deal_id)",
    ),
    "partner_directory": (
        "CREATE INDEX ix_partner_directory_type ON partner_directory (type, partner_id)",
        "CREATE INDEX ix_partner_directory_tier ON partner_directory (tier, partner_id) "
        "WHERE tier IS NOT NULL",
        "CREATE INDEX ix_partner_directory_country ON partner_directory (country, partner_id)",
    ),
    "fx_rates": (
        "CREATE INDEX ix_fx_rates_valid_on_id ON fx_rates (valid_on, id)",
        "CREATE INDEX ix_fx_rates_recorded_at ON fx_rates (recorded_at)",
    ),
    "vendor_figures": (
        "CREATE INDEX ix_vendor_figures_currency ON vendor_figures (currency, id)",
        "CREATE INDEX ix_vendor_figures_partner_type ON vendor_figures (partner_type, id) "
        "WHERE partner_type IS NOT NULL",
        "CREATE INDEX ix_vendor_figures_period_from_id ON vendor_figures (period_from, id)",
        "CREATE INDEX ix_vendor_figures_period_to ON vendor_figures (period_to)",
        "CREATE INDEX ix_vendor_figures_recorded_at ON vendor_figures (recorded_at)",
    ),
    "mdf_activities": (
        "CREATE INDEX ix_mdf_activities_activity_type ON mdf_activities "
        "(activity_type, request_id) WHERE activity_type IS NOT NULL",
        "CREATE INDEX ix_mdf_activities_status ON mdf_activities (status, request_id)",
        "CREATE INDEX ix_mdf_activities_currency ON mdf_activities (currency, request_id)",
        "CREATE INDEX ix_mdf_activities_start_date ON mdf_activities (start_date)",
        "CREATE INDEX ix_mdf_activities_end_date ON mdf_activities (end_date)",
    ),
}
# Each table that names a partner adds it to programme_partners (insert; a deal's update may
# move it to another partner).
_SOURCES = (("attribution_credits", "INSERT"), ("deals", "INSERT"), ("deals", "UPDATE"),
            ("programme_costs", "INSERT"), ("partner_directory", "INSERT"))
_KNOWN = """
    CREATE FUNCTION programme_partner_seen() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        INSERT INTO programme_partners (partner_id)
        SELECT DISTINCT partner_id FROM seen ORDER BY 1 ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$
"""
_SEARCH = {
    "deals": "coalesce(customer_name, '') || ' ' || coalesce(customer_domain, '')",
    "partner_directory": "name",
}


def upgrade() -> None:
    _search_up()
    op.execute("CREATE TABLE programme_partners (partner_id uuid PRIMARY KEY)")
    op.execute(_KNOWN)
    for table, event in _SOURCES:
        op.execute(f"CREATE TRIGGER programme_partner_{event.lower()} AFTER {event} ON {table} "
                   "REFERENCING NEW TABLE AS seen FOR EACH STATEMENT "
                   "EXECUTE FUNCTION programme_partner_seen()")
    op.execute("INSERT INTO programme_partners (partner_id) SELECT partner_id FROM ("
               + " UNION ".join(f"SELECT partner_id FROM {table}"
                                for table in dict.fromkeys(t for t, _ in _SOURCES))
               + ") known ORDER BY 1")
    for table, expression in _SEARCH.items():
        for statement in search_column(table, expression):
            op.execute(statement)
    for statements in _INDEXES.values():
        for statement in statements:
            op.execute(statement)


def downgrade() -> None:
    for statements in _INDEXES.values():
        for statement in statements:
            op.execute(f"DROP INDEX IF EXISTS {statement.split()[2]}")
    for table in _SEARCH:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_search_text")
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_text")
    for table, event in _SOURCES:
        op.execute(f"DROP TRIGGER programme_partner_{event.lower()} ON {table}")
    op.execute("DROP FUNCTION programme_partner_seen()")
    op.execute("DROP TABLE programme_partners")
    _search_down()
