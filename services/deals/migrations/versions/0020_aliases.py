"""The matcher's alias sources (its tables are added by the change that builds it).

Revision ID: 0020
Revises: 0019
"""

revision, down_revision = "0020", "0019"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
