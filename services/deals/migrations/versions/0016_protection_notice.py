"""The protection end last announced as coming, so that each is announced once.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0016", "0015"


def upgrade() -> None:
    op.add_column("deals", sa.Column("protection_warned_until", sa.Date()))


def downgrade() -> None:
    op.drop_column("deals", "protection_warned_until")
