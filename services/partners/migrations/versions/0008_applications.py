"""Applications to the partner programme, and the Ideal Partner Profile they are scored
against.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_applications",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("company_name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("countries_served", ARRAY(sa.String(2)), nullable=False),
        sa.Column("specialisations", ARRAY(sa.String(60)), nullable=False),
        sa.Column("website_domain", sa.String(253)),
        sa.Column("employees", sa.Integer()),
        sa.Column("contact", JSONB, nullable=False),
        sa.Column("message", sa.String(4000)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("fit_score", sa.Integer(), nullable=False),
        sa.Column("fit", JSONB, nullable=False),
        sa.Column("decision_reason", sa.String(500)),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("partner_id", sa.Uuid(), sa.ForeignKey("partners.id")),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('submitted', 'approved', 'declined')",
                           name="ck_partner_applications_status"),
        sa.CheckConstraint("fit_score BETWEEN 0 AND 100",
                           name="ck_partner_applications_fit_score"),
    )
    op.create_index("ix_partner_applications_status_id", "partner_applications",
                    ["status", "id"])
    # One profile per vendor: the criteria and weights applications are scored by.
    op.create_table(
        "ideal_partner_profile",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("criteria", JSONB, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_ideal_partner_profile_single"),
    )


def downgrade() -> None:
    op.drop_table("ideal_partner_profile")
    op.drop_table("partner_applications")
