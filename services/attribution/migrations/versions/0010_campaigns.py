"""Through-channel marketing: the campaigns and their launches projected from
``prm.campaigns``, and the touchpoints an engagement makes, linked to their campaign and launch
(the campaign ROI).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0010", "0009"

TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("status", sa.String(40)),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "campaign_launches",
        sa.Column("launch_id", sa.Uuid(), primary_key=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_name", sa.String(300), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("mdf_request_id", sa.Uuid()),
        sa.Column("launched_at", TS, nullable=False),
    )
    op.create_index("ix_campaign_launches_campaign_id", "campaign_launches",
                    ["campaign_id", "launched_at"])
    op.create_index("ix_campaign_launches_partner_id", "campaign_launches",
                    ["partner_id", "launched_at"])
    op.add_column("touchpoints", sa.Column("campaign_id", sa.Uuid()))
    op.add_column("touchpoints", sa.Column("launch_id", sa.Uuid()))
    op.create_index("ix_touchpoints_campaign_id_id", "touchpoints", ["campaign_id", "id"],
                    postgresql_where=sa.text("campaign_id IS NOT NULL"))
    op.create_index("ix_touchpoints_launch_id", "touchpoints", ["launch_id"],
                    postgresql_where=sa.text("launch_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_touchpoints_launch_id", table_name="touchpoints")
    op.drop_index("ix_touchpoints_campaign_id_id", table_name="touchpoints")
    op.drop_column("touchpoints", "launch_id")
    op.drop_column("touchpoints", "campaign_id")
    op.drop_table("campaign_launches")
    op.drop_table("campaigns")
