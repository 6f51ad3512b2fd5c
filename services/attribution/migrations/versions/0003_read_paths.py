"""Indexes for the two hot reads: the data-driven models' history (the newest closed deals, in
order) and the KPIs' credits of a page's partners by model (answered from the index alone).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CLOSED = sa.text("status IN ('won', 'lost') AND closed_on IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_deals_closed_recent", "deals",
                    [sa.text("closed_on DESC"), sa.text("deal_id DESC")],
                    postgresql_where=CLOSED)
    # Leads with partner_id as the index it replaces did, so it serves those reads too.
    op.create_index("ix_attribution_credits_partner_model", "attribution_credits",
                    ["partner_id", "model", "deal_id"],
                    postgresql_include=["rules_version", "role", "credit_minor"])
    op.drop_index("ix_attribution_credits_partner_id", "attribution_credits")


def downgrade() -> None:
    op.create_index("ix_attribution_credits_partner_id", "attribution_credits",
                    ["partner_id", "deal_id"])
    op.drop_index("ix_attribution_credits_partner_model", "attribution_credits")
    op.drop_index("ix_deals_closed_recent", "deals")
