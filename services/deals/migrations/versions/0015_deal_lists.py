"""The deal and direct account lists' grammar: filters, sorts, change feed and search, each
served by an index.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

from prm_platform.migrations import platform_step, search_column

revision, down_revision = "0015", "0014"
_search_up, _search_down = platform_step("search")

_DEALS = {
    "ix_deals_expected_close_date_id": "deals (expected_close_date, id)",
    "ix_deals_amount_id": "deals (amount, id)",
    "ix_deals_customer_name_id": "deals (customer_name, id)",
    "ix_deals_updated_at_id": "deals (updated_at, id)",
    "ix_deals_created_at": "deals (created_at)",
    "ix_deals_customer_country_id": "deals (customer_country, id)",
    "ix_deals_deal_type_id": "deals (deal_type, id)",
    "ix_deals_protected_until": "deals (protected_until)",
    "ix_deals_account_executive": "deals (account_executive) "
                                  "WHERE account_executive IS NOT NULL",
    "ix_deals_external_id": "deals (external_id) WHERE external_id IS NOT NULL",
    "ix_deals_closed_on": "deals (closed_on) WHERE closed_on IS NOT NULL",
    "ix_engagement_rules_updated_at_id": "engagement_rules (updated_at, id)",
    "ix_deal_collaborators_deal_id_id": "deal_collaborators (deal_id, id)",
    "ix_direct_accounts_name_id": "direct_accounts (name, id)",
    "ix_direct_accounts_updated_at_id": "direct_accounts (updated_at, id)",
    "ix_direct_accounts_created_at": "direct_accounts (created_at)",
    "ix_direct_accounts_owner": "direct_accounts (owner) WHERE owner IS NOT NULL",
    "ix_direct_accounts_country": "direct_accounts (country) WHERE country IS NOT NULL",
}


def upgrade() -> None:
    _search_up()
    # The open-deals-only index on protected_until is replaced by one over every deal, which
    # serves the expiry job as well as the list's protection-expiry range.
    op.execute("DROP INDEX IF EXISTS ix_deals_open_protected_until")
    statements = [*search_column("deals", "customer_name || ' ' || customer_domain"),
                  *search_column("direct_accounts", "name || ' ' || coalesce(domain, '')")]
    statements += [f"CREATE INDEX {name} ON {target}" for name, target in _DEALS.items()]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for name in _DEALS:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for table in ("deals", "direct_accounts"):
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_search_text")
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_text")
    op.execute("CREATE INDEX ix_deals_open_protected_until ON deals (protected_until) "
               "WHERE status IN ('submitted', 'in_review', 'approved')")
    _search_down()
