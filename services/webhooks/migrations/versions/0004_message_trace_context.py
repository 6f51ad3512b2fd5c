"""The trace context of the event a message delivers (W3C traceparent, set while telemetry is
on), so that each delivery's span joins the trace of the request that caused the event.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    op.add_column("webhook_messages", sa.Column("traceparent", sa.String(55)))


def downgrade() -> None:
    op.drop_column("webhook_messages", "traceparent")
