"""The key directory: API keys and partners' standing, kept from events, so that the service
checks callers' keys itself (prm_platform.credentials).

Revision ID: 0007
Revises: 0006
"""

from prm_platform.migrations import create_credential_tables, drop_credential_tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_credential_tables()


def downgrade() -> None:
    drop_credential_tables()
