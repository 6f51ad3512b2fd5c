"""Worker liveness: each worker process reports whether its loops make progress, for /readyz.

Revision ID: 0004
Revises: 0003
"""

from prm_platform.migrations import create_worker_liveness_table, drop_worker_liveness_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_worker_liveness_table()


def downgrade() -> None:
    drop_worker_liveness_table()
