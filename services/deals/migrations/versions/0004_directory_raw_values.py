"""The partner directory keeps a partner's type and status as the producer sent them, up to the
contract's 40 characters (a value a newer partners service adds is kept, not refused).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("partner_directory", "type", type_=sa.String(40))
    op.alter_column("partner_directory", "status", type_=sa.String(40))


def downgrade() -> None:
    op.alter_column("partner_directory", "type", type_=sa.String(20))
    op.alter_column("partner_directory", "status", type_=sa.String(20))
