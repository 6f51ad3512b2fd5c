"""An endpoint is where one owner (the vendor, or one partner org) wants events delivered;
its secrets sign what is sent (more than one only during a rotation's overlap)."""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from prm_webhooks.db import Base

_TS = sa.TIMESTAMP(timezone=True)

webhook_endpoints = sa.Table(
    "webhook_endpoints", Base.metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    # The owning partner org: its endpoints receive only that org's events. None: the vendor's.
    sa.Column("partner_id", sa.Uuid()),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    # Filters of event types (prm_webhooks.endpoints.filters); empty: every type.
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
    # What a search looks in (prm_platform.listing), kept by PostgreSQL.
    sa.Column("search_text", sa.Text(),
              sa.Computed("prm_fold(url || ' ' || description)", persisted=True)),
    sa.Index("ix_webhook_endpoints_partner_id_id", "partner_id", "id"),
    # The list's filters, ranges, sorts, change feed and search (prm_webhooks.endpoints.listing).
    sa.Index("ix_webhook_endpoints_enabled_id", "enabled", "id"),
    sa.Index("ix_webhook_endpoints_disabled_reason_id", "disabled_reason", "id"),
    sa.Index("ix_webhook_endpoints_event_types", "event_types", postgresql_using="gin"),
    sa.Index("ix_webhook_endpoints_created_at", "created_at"),
    sa.Index("ix_webhook_endpoints_failing_since", "failing_since",
             postgresql_where=sa.text("failing_since IS NOT NULL")),
    sa.Index("ix_webhook_endpoints_updated_at_id", "updated_at", "id"),
    sa.Index("ix_webhook_endpoints_description_id", "description", "id"),
    sa.Index("ix_webhook_endpoints_search_text", "search_text", postgresql_using="gin",
             postgresql_ops={"search_text": "public.gin_trgm_ops"}),
)

# Kept in the clear: signing needs the secret itself (HMAC), not a digest of it.
webhook_endpoint_secrets = sa.Table(
    "webhook_endpoint_secrets", Base.metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("endpoint_id", sa.Uuid(), sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    # Set when a rotation replaced it: it still signs until then (the overlap).
    sa.Column("expires_at", _TS),
    sa.Index("ix_webhook_endpoint_secrets_endpoint_id", "endpoint_id"),
)
