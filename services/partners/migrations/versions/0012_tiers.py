"""Programme tiers, FX rates and tier history.

The programme's tier settings (one row, created here with EUR, a 30-day demotion grace and a
12-month window), the tiers and their criteria, FX rates by pair and effective date, the won
deals the tiers count (one row per deal, with the rate that converted it), each partner's
standing (a pending demotion) and its tier history.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(19, 4)
RATE = sa.Numeric(24, 12)
STAMP = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tier_programme",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("base_currency", sa.CHAR(3), nullable=False),
        sa.Column("demotion_grace_days", sa.Integer(), nullable=False),
        sa.Column("window_months", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_tier_programme_single"),
        sa.CheckConstraint("demotion_grace_days BETWEEN 0 AND 3650",
                           name="ck_tier_programme_grace"),
        sa.CheckConstraint("window_months BETWEEN 1 AND 120", name="ck_tier_programme_window"),
    )
    op.execute("INSERT INTO tier_programme (id, base_currency, demotion_grace_days, "
               "window_months, version, updated_at) VALUES (1, 'EUR', 30, 12, 1, now())")
    op.create_table(
        "tiers",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(500)),
        sa.Column("min_revenue", MONEY),
        sa.Column("min_revenue_currency", sa.CHAR(3)),
        sa.Column("min_certifications", sa.Integer(), nullable=False),
        sa.Column("min_won_deals", sa.Integer(), nullable=False),
        sa.Column("compliance_required", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.UniqueConstraint("name", name="uq_tiers_name"),
        sa.UniqueConstraint("rank", name="uq_tiers_rank"),
        sa.CheckConstraint("rank >= 0", name="ck_tiers_rank"),
        sa.CheckConstraint("min_revenue >= 0", name="ck_tiers_min_revenue"),
        sa.CheckConstraint("(min_revenue IS NULL) = (min_revenue_currency IS NULL)",
                           name="ck_tiers_min_revenue_currency"),
        sa.CheckConstraint("min_certifications >= 0 AND min_won_deals >= 0",
                           name="ck_tiers_minimums"),
    )
    op.create_table(
        "fx_rates",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("from_currency", sa.CHAR(3), nullable=False),
        sa.Column("to_currency", sa.CHAR(3), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("rate", RATE, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.CheckConstraint("rate > 0", name="ck_fx_rates_rate"),
        sa.CheckConstraint("from_currency <> to_currency", name="ck_fx_rates_pair"),
    )
    # Serves the lookup of a pair's latest rate on or before a day, and the uniqueness of a
    # (pair, day).
    op.create_index("uq_fx_rates_pair_effective_on", "fx_rates",
                    ["from_currency", "to_currency", "effective_on"], unique=True)
    op.create_index("ix_fx_rates_from_currency_id", "fx_rates", ["from_currency", "id"])
    op.create_index("ix_fx_rates_to_currency_id", "fx_rates", ["to_currency", "id"])
    op.create_table(
        "tier_deal_facts",
        sa.Column("deal_id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=False),
        sa.Column("deal_version", sa.Integer(), nullable=False),
        sa.Column("base_amount", MONEY),
        sa.Column("base_currency", sa.CHAR(3)),
        sa.Column("fx_rate", RATE),
        sa.Column("fx_rate_on", sa.Date()),
        sa.Column("recorded_at", STAMP, nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_tier_deal_facts_amount"),
        sa.CheckConstraint("(base_amount IS NULL) = (fx_rate IS NULL)",
                           name="ck_tier_deal_facts_converted"),
    )
    op.create_index("ix_tier_deal_facts_partner_id_closed_on", "tier_deal_facts",
                    ["partner_id", "closed_on"])
    op.create_index("ix_tier_deal_facts_currency_closed_on", "tier_deal_facts",
                    ["currency", "closed_on"])
    op.create_table(
        "partner_tier_standing",
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), primary_key=True),
        sa.Column("pending_tier", sa.String(60)),
        sa.Column("pending_since", sa.Date()),
        sa.Column("evaluated_on", sa.Date()),
        sa.Column("updated_at", STAMP, nullable=False),
    )
    op.create_index("ix_partner_tier_standing_evaluated_on", "partner_tier_standing",
                    ["evaluated_on"])
    op.create_table(
        "partner_tier_history",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("from_tier", sa.String(60)),
        sa.Column("to_tier", sa.String(60)),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("criteria", JSONB, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("partner_version", sa.Integer(), nullable=False),
        sa.Column("changed_at", STAMP, nullable=False),
        sa.CheckConstraint("direction IN ('promotion', 'demotion')",
                           name="ck_partner_tier_history_direction"),
    )
    op.create_index("ix_partner_tier_history_partner_id_id", "partner_tier_history",
                    ["partner_id", "id"])


def downgrade() -> None:
    for table in ("partner_tier_history", "partner_tier_standing", "tier_deal_facts",
                  "fx_rates", "tiers", "tier_programme"):
        op.drop_table(table)
