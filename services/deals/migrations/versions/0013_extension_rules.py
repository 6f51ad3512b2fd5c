"""Rules of engagement for extension requests as well as registrations, and a partner's
pending extension request on a registration.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0013", "0012"


def upgrade() -> None:
    op.add_column("engagement_rules", sa.Column("applies_to", sa.String(20), nullable=False,
                                                server_default="registration"))
    op.create_check_constraint("ck_engagement_rules_applies_to", "engagement_rules",
                               "applies_to IN ('registration', 'extension')")
    op.add_column("deals", sa.Column("extension_requested_at", sa.TIMESTAMP(timezone=True)))


def downgrade() -> None:
    op.drop_column("deals", "extension_requested_at")
    op.drop_constraint("ck_engagement_rules_applies_to", "engagement_rules")
    op.drop_column("engagement_rules", "applies_to")
