"""Partner activity and inactivity flags, and the programme policy (its inactivity threshold).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_activity",
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id"), primary_key=True),
        sa.Column("last_deal_id", sa.Uuid()),
        sa.Column("last_deal_registered_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("first_deal_id", sa.Uuid()),
        sa.Column("first_deal_registered_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("last_certification_code", sa.String(100)),
        sa.Column("last_certification_earned_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("last_api_call_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("inactivity_flagged_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("inactive_since", sa.TIMESTAMP(timezone=True)),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
    )
    policy = op.create_table(
        "programme_policy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inactivity_days", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200)),
        sa.CheckConstraint("id = 1", name="ck_programme_policy_single"),
        sa.CheckConstraint("inactivity_days BETWEEN 7 AND 730",
                           name="ck_programme_policy_inactivity_days"),
    )
    # The one row, with the defaults: reads and writes never have to create it.
    op.execute(policy.insert().values(id=1, inactivity_days=90, version=1,
                                      updated_at=sa.func.now()))


def downgrade() -> None:
    op.drop_table("programme_policy")
    op.drop_table("partner_activity")

