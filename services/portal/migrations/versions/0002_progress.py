"""A partner's progress towards its next tier and through its onboarding plan, as the partners
service last announced them (the newest version kept).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision, down_revision = "0002", "0001"

_TABLES = {
    "tier_progress": """
        partner_id uuid PRIMARY KEY, progress jsonb NOT NULL, version integer NOT NULL,
        as_of timestamptz NOT NULL""",
    "onboarding_progress": """
        partner_id uuid PRIMARY KEY, progress jsonb NOT NULL, version integer NOT NULL,
        as_of timestamptz NOT NULL""",
}


def upgrade() -> None:
    for table, columns in _TABLES.items():
        op.execute(f"CREATE TABLE {table} ({columns})")


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"DROP TABLE {table}")
