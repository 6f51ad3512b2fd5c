"""A partner's onboarding progress, announced: a plan keeps the version of its last progress
event (a new plan goes on from its partner's earlier plans', so it only grows per partner).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("onboarding_plans", sa.Column("progress_version", sa.Integer(),
                                                nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("onboarding_plans", "progress_version")
