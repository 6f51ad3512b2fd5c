"""A notification's id is derived from its event and audience (notifications/feed.py), so its
primary key already keeps one per event and audience: the unique index over the two, which
every notification written also updated, goes.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision, down_revision = "0005", "0004"


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS uq_notifications_event_id_audience")


def downgrade() -> None:
    op.execute("CREATE UNIQUE INDEX uq_notifications_event_id_audience ON notifications "
               "(event_id, audience)")
