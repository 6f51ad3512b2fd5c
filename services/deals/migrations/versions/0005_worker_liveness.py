"""Worker liveness: each worker process reports whether its loops make progress, for /readyz.

Revision ID: 0005
Revises: 0004
"""

from prm_platform.migrations import create_worker_liveness_table, drop_worker_liveness_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_worker_liveness_table()


def downgrade() -> None:
    drop_worker_liveness_table()
