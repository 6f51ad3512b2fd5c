"""The scheduler's table (periodic jobs run once per tick across replicas).

Revision ID: 0002
Revises: 0001
"""

from prm_platform.migrations import create_scheduler_table, drop_scheduler_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_scheduler_table()


def downgrade() -> None:
    drop_scheduler_table()
