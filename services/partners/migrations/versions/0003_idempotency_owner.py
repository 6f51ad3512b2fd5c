"""Idempotency-Key claims record their owner (a request that outlived its lease cannot complete
or release a claim a retry took over).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from prm_platform.migrations import add_idempotency_owner

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_idempotency_owner()


def downgrade() -> None:
    op.execute("ALTER TABLE idempotency_keys DROP COLUMN owner")
