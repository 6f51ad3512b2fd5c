"""API keys and the platform tables (outbox, inbox, idempotency keys).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from prm_platform.migrations import create_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables("gateway")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("partner_id", sa.Uuid()),
        sa.Column("scopes", ARRAY(sa.String(40)), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(100)),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("expires_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("revoked_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("last_used_at", sa.TIMESTAMP(timezone=True)),
        sa.CheckConstraint("kind IN ('vendor', 'partner')", name="ck_api_keys_kind"),
        sa.CheckConstraint("(kind = 'partner') = (partner_id IS NOT NULL)",
                           name="ck_api_keys_partner_bound"),
        sa.UniqueConstraint("secret_hash", name="uq_api_keys_secret_hash"),
    )
    op.create_index("ix_api_keys_partner_id_id", "api_keys", ["partner_id", "id"])


def downgrade() -> None:
    op.drop_table("api_keys")
    drop_platform_tables()
