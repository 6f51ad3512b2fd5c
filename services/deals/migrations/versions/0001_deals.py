"""Deal registrations, the partner directory projection and the platform tables (outbox, inbox,
idempotency keys).

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
    create_platform_tables("deals")
    # A copy of what the partners service announced; no constraints on its values, so that the
    # projection never refuses an event the published contract allows.
    op.create_table(
        "partner_directory",
        sa.Column("partner_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("events_applied", sa.Integer(), nullable=False),
        sa.Column("last_event_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("projected_at", sa.TIMESTAMP(timezone=True), nullable=False),
    )
    # No foreign key to partner_directory: the projection may be dropped and rebuilt from the
    # topic without touching the registrations.
    op.create_table(
        "deals",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_name", sa.String(200), nullable=False),
        sa.Column("customer_domain", sa.String(253), nullable=False),
        sa.Column("customer_country", sa.String(2), nullable=False),
        sa.Column("amount", sa.Numeric(19, 4), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("expected_close_date", sa.Date(), nullable=False),
        sa.Column("notes", sa.String(2000)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("updated_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_deals_amount_positive"),
        sa.CheckConstraint(
            "status IN ('registered', 'approved', 'rejected', 'won', 'lost', 'expired')",
            name="ck_deals_status",
        ),
    )
    op.create_index("ix_deals_partner_id_id", "deals", ["partner_id", "id"])
    op.create_index("ix_deals_status_id", "deals", ["status", "id"])


def downgrade() -> None:
    op.drop_table("deals")
    op.drop_table("partner_directory")
    drop_platform_tables()
