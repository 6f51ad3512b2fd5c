"""A partner's progress to the next tier, announced: its standing keeps a digest of the
progress last announced (tier, next tier, shortfalls, values) and that announcement's version.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("partner_tier_standing", sa.Column("progress_digest", sa.String(64)))
    op.add_column("partner_tier_standing", sa.Column("progress_version", sa.Integer(),
                                                     nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("partner_tier_standing", "progress_version")
    op.drop_column("partner_tier_standing", "progress_digest")
