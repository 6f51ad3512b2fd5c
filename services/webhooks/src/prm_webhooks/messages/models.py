"""A message is one event as subscribers receive it (its id is the ``webhook-id``, the same for
every endpoint and every retry); a delivery is that message's way to one endpoint; attempts log
each try."""

import sqlalchemy as sa

from prm_webhooks.db import Base

_TS = sa.TIMESTAMP(timezone=True)

webhook_messages = sa.Table(
    "webhook_messages", Base.metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("event_id", sa.Uuid(), unique=True),  # None for a test ping
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("partner_id", sa.Uuid()),
    # The aggregate (the CloudEvent's subject): ordered endpoints get its events in sequence.
    sa.Column("ordering_key", sa.String(200), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),  # the exact bytes that are signed
    sa.Column("created_at", _TS, nullable=False),
    # Where the delivery spans join the trace (prm_platform.telemetry); never sent to endpoints.
    sa.Column("traceparent", sa.String(55)),
    sa.Index("ix_webhook_messages_partner_id_id", "partner_id", "id"),
    # The list's event-type filter and creation range (prm_webhooks.messages.listing).
    sa.Index("ix_webhook_messages_event_type_id", "event_type", "id"),
    sa.Index("ix_webhook_messages_created_at", "created_at"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries", Base.metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column("message_id", sa.Uuid(), sa.ForeignKey("webhook_messages.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("endpoint_id", sa.Uuid(),
              sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ordering_key", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", _TS, nullable=False),
    # A worker's claim: only the holder of the token may record the outcome, until the lease
    # runs out (then another worker may claim it again).
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
    sa.Index("ix_webhook_deliveries_due", "next_attempt_at",
             postgresql_where=sa.text("status = 'pending'")),
    sa.Index("ix_webhook_deliveries_in_order", "endpoint_id", "ordering_key", "seq",
             postgresql_where=sa.text("status = 'pending'")),
    sa.Index("ix_webhook_deliveries_endpoint_id_leased_at", "endpoint_id", "leased_at"),
    sa.Index("ix_webhook_deliveries_endpoint_id_status_id", "endpoint_id", "status", "id"),
)

webhook_attempts = sa.Table(
    "webhook_attempts", Base.metadata,
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
    sa.Index("ix_webhook_attempts_message_id_id", "message_id", "id"),
    sa.Index("ix_webhook_attempts_endpoint_id_id", "endpoint_id", "id"),
    # The lists' outcome and response-status filters and time range, within an endpoint (the
    # statistics' last 24 hours too).
    sa.Index("ix_webhook_attempts_endpoint_id_outcome_response_status", "endpoint_id",
             "outcome", "response_status", "id"),
    sa.Index("ix_webhook_attempts_endpoint_id_attempted_at", "endpoint_id", "attempted_at"),
)
