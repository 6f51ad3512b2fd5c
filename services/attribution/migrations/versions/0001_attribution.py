"""The platform's tables as they are today (key directory included), the partner and deal
projections, touchpoints, versioned attribution rules (version 1: the defaults), results and
credits per model and rules version, and FX rates.

Revision ID: 0001
Revises:
"""

import datetime as dt
import uuid

import orjson
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from prm_platform.credentials import credential_metadata
from prm_platform.migrations import create_current_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.TIMESTAMP(timezone=True)
# Version 1 as published with the service; a later version never changes it.
DEFAULT_RULES = {
    "sourcing": {"touch_kinds": ["registration"], "requires_approval": True},
    "time_decay_half_life_days": "7",
    "custom_kind_weights": {"registration": "3", "co_sell": "2", "referral": "2"},
    "custom_default_weight": "1", "history_deals": 2000, "shapley_exact_up_to": 12,
    "shapley_samples": 1000, "shapley_seed": 1,
}


def upgrade() -> None:
    create_current_platform_tables("attribution")
    op.create_table(
        "partner_directory",
        sa.Column("partner_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("tier", sa.String(40)),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("joined_at", TS, nullable=False),
        sa.Column("last_event_at", TS, nullable=False),
    )
    op.create_table(
        "deals",
        sa.Column("deal_id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_name", sa.String(200)),
        sa.Column("customer_domain", sa.String(253)),
        sa.Column("customer_country", sa.String(2)),
        sa.Column("amount", sa.Numeric(19, 4)),
        sa.Column("currency", sa.String(3)),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("registered_at", TS),
        sa.Column("closed_on", sa.Date()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("attribution_revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_deals_customer_domain", "deals", ["customer_domain"])
    op.create_index("ix_deals_status_closed_on", "deals", ["status", "closed_on"])
    op.create_index("ix_deals_partner_id", "deals", ["partner_id", "deal_id"])
    op.create_table(
        "touchpoints",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid()),
        sa.Column("customer_domain", sa.String(253)),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("evidence", JSONB(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.CheckConstraint("deal_id IS NOT NULL OR customer_domain IS NOT NULL",
                           name="deal_or_customer"),
    )
    op.create_index("ix_touchpoints_deal_id", "touchpoints", ["deal_id"])
    op.create_index("ix_touchpoints_customer_domain", "touchpoints", ["customer_domain"])
    op.create_index("ix_touchpoints_partner_id_id", "touchpoints", ["partner_id", "id"])
    rules = op.create_table(
        "attribution_rules",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", JSONB(), nullable=False),
        sa.Column("notes", sa.String(500)),
        sa.Column("published_by", sa.String(200), nullable=False),
        sa.Column("published_at", TS, nullable=False),
        # Named as the models' metadata names it (a column's unique=True here would not be).
        sa.UniqueConstraint("version", name="uq_attribution_rules_version"),
    )
    op.bulk_insert(rules, [{
        "id": uuid.UUID("0193c1d0-0000-7000-8000-000000000001"), "version": 1,
        "rules": orjson.loads(orjson.dumps(DEFAULT_RULES)),
        "notes": "The defaults the service was published with.", "published_by": "migration",
        "published_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}])
    op.create_table(
        "attribution_results",
        sa.Column("deal_id", sa.Uuid(), primary_key=True),
        sa.Column("rules_version", sa.Integer(), primary_key=True),
        sa.Column("model", sa.String(40), primary_key=True),
        sa.Column("basis", sa.String(20), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("details", JSONB(), nullable=False),
        sa.Column("computed_at", TS, nullable=False),
    )
    op.create_table(
        "attribution_credits",
        sa.Column("deal_id", sa.Uuid(), primary_key=True),
        sa.Column("rules_version", sa.Integer(), primary_key=True),
        sa.Column("model", sa.String(40), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("share", sa.Text(), nullable=False),
        sa.Column("credit_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("credit_minor >= 0", name="credit_not_negative"),
    )
    op.create_index("ix_attribution_credits_partner_id", "attribution_credits",
                    ["partner_id", "deal_id"])
    op.create_table(
        "fx_rates",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("base_currency", sa.String(3), nullable=False),
        sa.Column("rate", sa.Numeric(24, 10), nullable=False),
        sa.Column("valid_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.UniqueConstraint("currency", "base_currency", "valid_on",
                            name="uq_fx_rates_currency"),
        sa.CheckConstraint("rate > 0", name="rate_positive"),
    )


def downgrade() -> None:
    for table in ("fx_rates", "attribution_credits", "attribution_results",
                  "attribution_rules", "touchpoints", "deals", "partner_directory"):
        op.drop_table(table)
    for table in reversed(credential_metadata.sorted_tables):
        op.execute(f"DROP TABLE IF EXISTS {table.name}")
    for name in ("worker_liveness", "scheduled_jobs"):
        op.execute(f"DROP TABLE IF EXISTS {name}")
    drop_platform_tables()
