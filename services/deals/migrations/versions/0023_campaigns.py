"""Through-channel marketing: the campaign library (drafts and published versions), partners'
brand profiles, launches with their rendered assets, their engagement, and the MDF fund
requests a launch may name.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from prm_platform.migrations import search_column

revision, down_revision = "0023", "0022"

_TS = sa.TIMESTAMP(timezone=True)


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}_id", table, [column, "id"])


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("content", postgresql.JSONB(), nullable=False),
        sa.Column("published_version", sa.Integer()),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    _indexes("campaigns", "status", "created_at", "updated_at")
    for statement in search_column("campaigns", "name"):
        op.execute(statement)
    op.create_table(
        "campaign_versions",
        sa.Column("campaign_id", sa.Uuid(), sa.ForeignKey(
            "campaigns.id", name="fk_campaign_versions_campaign_id_campaigns"),
            primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("content", postgresql.JSONB(), nullable=False),
        sa.Column("published_by", sa.String(200), nullable=False),
        sa.Column("published_at", _TS, nullable=False),
    )
    op.create_table(
        "brand_profiles",
        sa.Column("partner_id", sa.Uuid(), primary_key=True),
        sa.Column("fields", postgresql.JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "campaign_launches",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("campaign_id", sa.Uuid(), sa.ForeignKey(
            "campaigns.id", name="fk_campaign_launches_campaign_id_campaigns"), nullable=False),
        sa.Column("campaign_version", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("ref", sa.String(32), nullable=False),
        sa.Column("mdf_request_id", sa.Uuid()),
        sa.Column("brand", postgresql.JSONB(), nullable=False),
        sa.Column("links", postgresql.JSONB(), nullable=False),
        sa.Column("assets", postgresql.JSONB(), nullable=False),
        sa.Column("launched_by", sa.String(200), nullable=False),
        sa.Column("launched_at", _TS, nullable=False),
        sa.UniqueConstraint("ref", name="uq_campaign_launches_ref"),
    )
    op.create_index("uq_campaign_launches_mdf_request_id", "campaign_launches",
                    ["mdf_request_id"], unique=True,
                    postgresql_where=sa.text("mdf_request_id IS NOT NULL"))
    _indexes("campaign_launches", "partner_id", "campaign_id", "language", "launched_at")
    op.create_table(
        "campaign_engagements",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("launch_id", sa.Uuid(), sa.ForeignKey(
            "campaign_launches.id", name="fk_campaign_engagements_launch_id_campaign_launches"),
            nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("occurred_at", _TS, nullable=False),
        sa.Column("asset", sa.String(60)),
        sa.Column("link", sa.String(60)),
        sa.Column("company_domain", sa.String(253)),
        sa.Column("company_name", sa.String(200)),
        sa.Column("company_country", sa.String(2)),
        sa.Column("lead_id", sa.Uuid()),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.UniqueConstraint("launch_id", "external_id",
                            name="uq_campaign_engagements_launch_id"),
    )
    _indexes("campaign_engagements", "partner_id", "campaign_id", "kind", "occurred_at",
             "received_at", "launch_id")
    op.create_table(
        "mdf_fund_requests",
        sa.Column("request_id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("activity_type", sa.String(60)),
        sa.Column("updated_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("mdf_fund_requests", "campaign_engagements", "campaign_launches",
                  "brand_profiles", "campaign_versions", "campaigns"):
        op.drop_table(table)
