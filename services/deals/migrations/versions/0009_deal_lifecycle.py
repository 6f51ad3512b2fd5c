"""The registration's lifecycle after the conflict check (won amount and date, extensions, the
reason of the last change, the vendor's account executive) and its co-selling record: the
people working the deal on both sides and the activity timeline both see.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0009", "0008"


def upgrade() -> None:
    for column in (
        sa.Column("won_amount", sa.Numeric(19, 4)),
        sa.Column("closed_on", sa.Date()),
        sa.Column("extensions", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status_reason", sa.String(500)),
        sa.Column("account_executive", sa.String(200)),
    ):
        op.add_column("deals", column)
    # The expiry job's scan: open registrations by the end of their protection.
    op.create_index("ix_deals_open_protected_until", "deals", ["protected_until"],
                    postgresql_where=sa.text(
                        "status IN ('submitted', 'in_review', 'approved')"))
    op.create_table(
        "deal_collaborators",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(100)),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deal_collaborators"),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], ondelete="CASCADE",
                                name="fk_deal_collaborators_deal_id_deals"),
        sa.UniqueConstraint("deal_id", "email", name="uq_deal_collaborators_deal_id"),
        sa.CheckConstraint("side IN ('partner', 'vendor')", name="ck_deal_collaborators_side"),
    )
    op.create_table(
        "deal_activities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("text", sa.String(4000)),
        sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deal_activities"),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], ondelete="CASCADE",
                                name="fk_deal_activities_deal_id_deals"),
    )
    op.create_index("ix_deal_activities_deal_id_id", "deal_activities", ["deal_id", "id"])


def downgrade() -> None:
    op.drop_table("deal_activities")
    op.drop_table("deal_collaborators")
    op.drop_index("ix_deals_open_protected_until", "deals")
    for column in ("account_executive", "status_reason", "extensions", "closed_on",
                   "won_amount"):
        op.drop_column("deals", column)
