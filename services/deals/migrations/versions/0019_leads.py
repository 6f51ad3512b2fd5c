"""Leads: received from the vendor's marketing or partners' systems, routed by ordered,
versioned rules to a partner in its weighted turn (pools and their counts), offered with an
answer-by time, every offer kept with its explanation; partners' lead capacity and pauses; and
the registration a lead became.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from prm_platform.migrations import search_column

revision, down_revision = "0019", "0018"

_TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.add_column("deals", sa.Column("source_lead_id", sa.Uuid()))
    # A partner's markets: the countries it serves and its home country, one GIN-indexed array
    # that a routing rule's country condition reads.
    op.add_column("partner_directory", sa.Column(
        "markets", postgresql.ARRAY(sa.String(2)),
        sa.Computed("array_append(countries_served, country)", persisted=True)))
    op.create_index("ix_partner_directory_markets", "partner_directory", ["markets"],
                    postgresql_using="gin")
    op.create_index("ix_deals_source_lead_id", "deals", ["source_lead_id"],
                    postgresql_where=sa.text("source_lead_id IS NOT NULL"))
    op.create_table(
        "lead_routing_rules",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("conditions", postgresql.JSONB(), nullable=False),
        sa.Column("partners", postgresql.JSONB(), nullable=False),
        sa.Column("weighting", postgresql.JSONB(), nullable=False),
        sa.Column("capacity", postgresql.JSONB(), nullable=False),
        sa.Column("respond_within_hours", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_lead_routing_rules_position", "lead_routing_rules", ["position", "id"])
    op.create_index("ix_lead_routing_rules_updated_at_id", "lead_routing_rules",
                    ["updated_at", "id"])
    op.create_table(
        "lead_routing_rule_versions",
        sa.Column("rule_id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("rule", postgresql.JSONB(), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.Uuid(), primary_key=True),
        # Whose external id it is: 'vendor', or the partner id of a partner's system.
        sa.Column("owner_key", sa.String(40), nullable=False),
        sa.Column("external_id", sa.String(100)),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("source_partner_id", sa.Uuid()),
        sa.Column("submitted_by", sa.String(200), nullable=False),
        sa.Column("company_name", sa.String(200), nullable=False),
        sa.Column("company_domain", sa.String(253), nullable=False),
        sa.Column("company_country", sa.String(2), nullable=False),
        sa.Column("industry", sa.String(60)),
        sa.Column("product", sa.String(100)),
        sa.Column("size", sa.String(20)),
        sa.Column("language", sa.String(40)),
        sa.Column("contact", postgresql.JSONB()),
        sa.Column("notes", sa.String(2000)),
        sa.Column("estimated_amount", sa.Numeric(19, 4)),
        sa.Column("currency", sa.CHAR(3)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("partner_id", sa.Uuid()),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("conflicts", postgresql.JSONB(), nullable=False),
        sa.Column("queue_reason", sa.String(40)),
        sa.Column("respond_by", _TS),
        sa.Column("accepted_at", _TS),
        sa.Column("expires_at", _TS),
        sa.Column("deal_id", sa.Uuid()),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint("source IN ('vendor', 'partner')", name="ck_leads_source"),
        sa.CheckConstraint("status IN ('new', 'offered', 'accepted', 'queued', 'converted', "
                           "'expired')", name="ck_leads_status"),
    )
    op.create_index("uq_leads_owner_external_id", "leads", ["owner_key", "external_id"],
                    unique=True, postgresql_where=sa.text("external_id IS NOT NULL"))
    op.create_index("ix_leads_partner_id_id", "leads", ["partner_id", "id"])
    op.create_index("ix_leads_status_id", "leads", ["status", "id"])
    op.create_index("ix_leads_updated_at_id", "leads", ["updated_at", "id"])
    op.create_index("ix_leads_created_at_id", "leads", ["created_at", "id"])
    op.create_index("ix_leads_external_id", "leads", ["external_id"],
                    postgresql_where=sa.text("external_id IS NOT NULL"))
    op.create_index("ix_leads_company_country_id", "leads", ["company_country", "id"])
    # The scheduler's scans: offers past their answer-by time, accepted leads past expiry.
    op.create_index("ix_leads_offered_respond_by", "leads", ["respond_by"],
                    postgresql_where=sa.text("status = 'offered'"))
    op.create_index("ix_leads_accepted_expires_at", "leads", ["expires_at"],
                    postgresql_where=sa.text("status IN ('accepted', 'queued')"))
    for statement in search_column("leads", "company_name || ' ' || company_domain"):
        op.execute(statement)
    op.create_table(
        "lead_assignments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("lead_id", sa.Uuid(), sa.ForeignKey("leads.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("partner_id", sa.Uuid()),
        sa.Column("rule_id", sa.Uuid()),
        sa.Column("rule_version", sa.Integer()),
        sa.Column("pool_id", sa.Uuid()),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("outcome_reason", sa.String(40)),
        sa.Column("outcome_note", sa.String(500)),
        sa.Column("explanation", postgresql.JSONB(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("offered_at", _TS, nullable=False),
        sa.Column("respond_by", _TS),
        sa.Column("decided_at", _TS),
    )
    op.create_index("ix_lead_assignments_lead_id_id", "lead_assignments", ["lead_id", "id"])
    op.create_index("ix_lead_assignments_partner_offered_at", "lead_assignments",
                    ["partner_id", "offered_at"],
                    postgresql_where=sa.text("partner_id IS NOT NULL"))
    op.create_table(
        "lead_pools",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("picks", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("rule_id", "rule_version", "digest",
                            name="uq_lead_pools_rule_id"),
    )
    op.create_table(
        "lead_pool_counts",
        sa.Column("pool_id", sa.Uuid(), sa.ForeignKey("lead_pools.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("partner_id", sa.Uuid(), primary_key=True),
        sa.Column("assigned", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "lead_partner_settings",
        sa.Column("partner_id", sa.Uuid(), primary_key=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_until", _TS),
        sa.Column("max_open", sa.Integer()),
        sa.Column("open_offers", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("lead_partner_settings", "lead_pool_counts", "lead_pools",
                  "lead_assignments", "leads", "lead_routing_rule_versions",
                  "lead_routing_rules"):
        op.drop_table(table)
    op.drop_index("ix_partner_directory_markets", "partner_directory")
    op.drop_column("partner_directory", "markets")
    op.drop_index("ix_deals_source_lead_id", "deals")
    op.drop_column("deals", "source_lead_id")
