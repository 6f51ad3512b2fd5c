"""Account mapping (its tables are added by the change that builds it).

Revision ID: 0022
Revises: 0021
"""

revision, down_revision = "0022", "0021"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
