"""Partner organisations and the platform tables (outbox, inbox, idempotency keys).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from prm_platform.migrations import create_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables("partners")
    op.create_table(
        "partners",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('reseller', 'msp', 'si', 'isv', 'distributor', 'referral')",
            name="ck_partners_type",
        ),
        sa.CheckConstraint(
            "status IN ('onboarding', 'active', 'suspended', 'terminated')",
            name="ck_partners_status",
        ),
    )
    op.create_index("ix_partners_status_id", "partners", ["status", "id"])
    op.create_index("ix_partners_country_id", "partners", ["country", "id"])
    op.create_index("ix_partners_type_id", "partners", ["type", "id"])


def downgrade() -> None:
    op.drop_table("partners")
    drop_platform_tables()
