"""The outbox no longer sends a NOTIFY per commit (it serialised commits); the relay polls.

Revision ID: 0005
Revises: 0004
"""

from prm_platform.migrations import drop_outbox_notify, restore_outbox_notify

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_outbox_notify()


def downgrade() -> None:
    restore_outbox_notify("partners")
