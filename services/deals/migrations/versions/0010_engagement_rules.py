"""Rules of engagement: ordered rules that decide a new registration (approve, reject, review),
every version of each kept for the record; and the partner's tier in the directory, which the
rules look at.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision, down_revision = "0010", "0009"


def upgrade() -> None:
    op.add_column("partner_directory", sa.Column("tier", sa.String(40)))
    op.create_table(
        "engagement_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("conditions", postgresql.JSONB(), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(500)),
        sa.Column("protection_days", sa.Integer()),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_engagement_rules"),
        sa.CheckConstraint("outcome IN ('approve', 'reject', 'review')",
                           name="ck_engagement_rules_outcome"),
    )
    op.create_index("ix_engagement_rules_position", "engagement_rules", ["position", "id"])
    op.create_table(
        "engagement_rule_versions",
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rule", postgresql.JSONB(), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "version", name="pk_engagement_rule_versions"),
    )


def downgrade() -> None:
    op.drop_table("engagement_rule_versions")
    op.drop_table("engagement_rules")
    op.drop_column("partner_directory", "tier")
