"""The outbox no longer sends a NOTIFY per commit (it serialised commits); the relay polls.

Revision ID: 0006
Revises: 0005
"""

from prm_platform.migrations import drop_outbox_notify, restore_outbox_notify

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_outbox_notify()


def downgrade() -> None:
    restore_outbox_notify("gateway")
