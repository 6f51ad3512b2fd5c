"""Cloud marketplace private offers (its tables are added by the change that builds it).

Revision ID: 0021
Revises: 0020
"""

revision, down_revision = "0021", "0020"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
