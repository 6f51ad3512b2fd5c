"""Webhook endpoints and their secrets, messages, deliveries and attempts, with the platform's
tables as they are today (outbox, inbox, idempotency keys, scheduler, liveness, key directory).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from prm_platform.migrations import create_current_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    create_current_platform_tables("webhooks")
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("partner_id", sa.Uuid()),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String(200)), nullable=False),
        sa.Column("headers", postgresql.JSONB(), nullable=False),
        sa.Column("rate_limit", sa.Integer()),
        sa.Column("ordered", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(20)),
        sa.Column("failing_since", _TS),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_webhook_endpoints_partner_id_id", "webhook_endpoints",
                    ["partner_id", "id"])
    op.create_table(
        "webhook_endpoint_secrets",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("endpoint_id", sa.Uuid(),
                  sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS),
    )
    op.create_index("ix_webhook_endpoint_secrets_endpoint_id", "webhook_endpoint_secrets",
                    ["endpoint_id"])
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("event_id", sa.Uuid()),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("partner_id", sa.Uuid()),
        sa.Column("ordering_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        # Named as the models' metadata names it (a column's unique=True here would not be).
        sa.UniqueConstraint("event_id", name="uq_webhook_messages_event_id"),
    )
    op.create_index("ix_webhook_messages_partner_id_id", "webhook_messages", ["partner_id", "id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("message_id", sa.Uuid(),
                  sa.ForeignKey("webhook_messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(),
                  sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ordering_key", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("lease_token", sa.Uuid()),
        sa.Column("lease_until", _TS),
        sa.Column("leased_at", _TS),
        sa.Column("last_response_status", sa.Integer()),
        sa.Column("last_error", sa.String(500)),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("message_id", "endpoint_id",
                            name="uq_webhook_deliveries_message_id_endpoint_id"),
        sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')",
                           name="ck_webhook_deliveries_status"),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_webhook_deliveries_in_order", "webhook_deliveries",
                    ["endpoint_id", "ordering_key", "seq"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_webhook_deliveries_endpoint_id_leased_at", "webhook_deliveries",
                    ["endpoint_id", "leased_at"])
    op.create_index("ix_webhook_deliveries_endpoint_id_status_id", "webhook_deliveries",
                    ["endpoint_id", "status", "id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("delivery_id", sa.Uuid(),
                  sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("attempted_at", _TS, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("response_status", sa.Integer()),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text()),
        sa.Column("error", sa.String(500)),
    )
    op.create_index("ix_webhook_attempts_message_id_id", "webhook_attempts",
                    ["message_id", "id"])
    op.create_index("ix_webhook_attempts_endpoint_id_id", "webhook_attempts",
                    ["endpoint_id", "id"])


def downgrade() -> None:
    for table in ("webhook_attempts", "webhook_deliveries", "webhook_messages",
                  "webhook_endpoint_secrets", "webhook_endpoints"):
        op.drop_table(table)
    drop_platform_tables()
    for table in ("scheduled_jobs", "worker_liveness", "credential_keys",
                  "credential_partners"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
