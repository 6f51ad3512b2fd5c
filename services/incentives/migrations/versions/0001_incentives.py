"""The platform's tables as they are today (outbox, inbox, idempotency keys, scheduler, worker
liveness, key directory) and the partner directory projection.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from prm_platform.credentials import credential_metadata
from prm_platform.migrations import create_current_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_current_platform_tables("incentives")
    # A copy of what the partners service announced; no constraints on its values, so that the
    # projection never refuses an event the published contract allows.
    op.create_table(
        "partner_directory",
        sa.Column("partner_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("tier", sa.String(40)),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("events_applied", sa.Integer(), nullable=False),
        sa.Column("last_event_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("projected_at", sa.TIMESTAMP(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("partner_directory")
    for table in reversed(credential_metadata.sorted_tables):
        op.execute(f"DROP TABLE IF EXISTS {table.name}")
    for name in ("worker_liveness", "scheduled_jobs"):
        op.execute(f"DROP TABLE IF EXISTS {name}")
    drop_platform_tables()
