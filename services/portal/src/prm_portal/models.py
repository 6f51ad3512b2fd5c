"""The read model's tables (the migrations make them; ``alembic check`` proves both agree).
Most are read and written as SQL text; the lists and the search build on these objects."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from prm_portal.db import Base

_TS = sa.TIMESTAMP(timezone=True)
_M = Base.metadata


def _column(name: str, kind: Any, **kwargs: Any) -> sa.Column[Any]:
    return sa.Column(name, kind, nullable=kwargs.pop("nullable", False), **kwargs)


partner_cards = sa.Table(
    "partner_cards", _M,
    sa.Column("partner_id", sa.Uuid(), primary_key=True),
    _column("name", sa.Text()), _column("type", sa.Text()), _column("country", sa.Text()),
    _column("status", sa.Text()), _column("tier", sa.Text(), nullable=True),
    _column("version", sa.Integer()), _column("as_of", _TS),
)

tier_changes = sa.Table(
    "tier_changes", _M,
    sa.Column("partner_id", sa.Uuid(), primary_key=True),
    _column("tier", sa.Text(), nullable=True), _column("previous_tier", sa.Text(), nullable=True),
    _column("direction", sa.Text()), _column("criteria", JSONB()), _column("reason", sa.Text()),
    _column("changed_at", _TS), _column("version", sa.Integer()),
)

onboarding = sa.Table(
    "onboarding", _M,
    sa.Column("partner_id", sa.Uuid(), primary_key=True),
    _column("plan_id", sa.Uuid()), _column("completed_at", _TS), _column("as_of", _TS),
)

# The partners service's last word on a partner's progress (its event's payload, newest
# version kept): towards the next tier, and through the onboarding plan.
tier_progress = sa.Table(
    "tier_progress", _M,
    sa.Column("partner_id", sa.Uuid(), primary_key=True),
    _column("progress", JSONB()), _column("version", sa.Integer()), _column("as_of", _TS),
)

onboarding_progress = sa.Table(
    "onboarding_progress", _M,
    sa.Column("partner_id", sa.Uuid(), primary_key=True),
    _column("progress", JSONB()), _column("version", sa.Integer()), _column("as_of", _TS),
)

certifications = sa.Table(
    "certifications", _M,
    sa.Column("certification_id", sa.Uuid(), primary_key=True),
    _column("partner_id", sa.Uuid()), _column("code", sa.Text()),
    _column("contact_id", sa.Uuid(), nullable=True),
    _column("earned_on", sa.Date(), nullable=True),
    _column("expires_on", sa.Date(), nullable=True),
    _column("expired_on", sa.Date(), nullable=True), _column("as_of", _TS),
    sa.Index("ix_certifications_partner_id", "partner_id"),
)

# Each group of a deal's fields keeps the version of the event that set it, so that any order
# of arrival ends with the newest of each (home/projection.py).
deals = sa.Table(
    "deals", _M,
    sa.Column("deal_id", sa.Uuid(), primary_key=True),
    _column("partner_id", sa.Uuid()),
    _column("customer_name", sa.Text(), nullable=True),
    _column("customer_domain", sa.Text(), nullable=True),
    _column("status", sa.Text()), _column("version", sa.Integer()),
    _column("amount", sa.Numeric(), nullable=True),
    _column("currency", sa.Text(), nullable=True),
    _column("amount_version", sa.Integer(), server_default="0"),
    _column("protected_until", sa.Date(), nullable=True),
    _column("protected_version", sa.Integer(), server_default="0"),
    _column("as_of", _TS),
    sa.Index("ix_deals_partner_id_status", "partner_id", "status"),
)

mdf_allocations = sa.Table(
    "mdf_allocations", _M,
    sa.Column("allocation_id", sa.Uuid(), primary_key=True),
    _column("partner_id", sa.Uuid()), _column("amount", sa.Numeric()),
    _column("currency", sa.Text()), _column("as_of", _TS),
    sa.Index("ix_mdf_allocations_partner_id", "partner_id"),
)

mdf_requests = sa.Table(
    "mdf_requests", _M,
    sa.Column("request_id", sa.Uuid(), primary_key=True),
    _column("partner_id", sa.Uuid()), _column("allocation_id", sa.Uuid()),
    _column("status", sa.Text()), _column("planned", sa.Numeric()),
    _column("currency", sa.Text()), _column("activity_type", sa.Text(), nullable=True),
    _column("activity_version", sa.Integer(), server_default="0"),
    _column("version", sa.Integer()), _column("as_of", _TS),
    sa.Index("ix_mdf_requests_partner_id", "partner_id"),
)

mdf_claims = sa.Table(
    "mdf_claims", _M,
    sa.Column("claim_id", sa.Uuid(), primary_key=True),
    _column("request_id", sa.Uuid()), _column("partner_id", sa.Uuid()),
    _column("status", sa.Text()), _column("claimed", sa.Numeric()),
    _column("approved", sa.Numeric(), nullable=True), _column("currency", sa.Text()),
    _column("version", sa.Integer()), _column("as_of", _TS),
    sa.Index("ix_mdf_claims_partner_id", "partner_id"),
    sa.Index("ix_mdf_claims_request_id", "request_id"),
)

# A rebate's or SPIFF's accrual and its reversal: one row each.
accruals = sa.Table(
    "accruals", _M,
    sa.Column("accrual_id", sa.Uuid(), primary_key=True),
    sa.Column("movement", sa.Text(), primary_key=True),
    _column("partner_id", sa.Uuid()), _column("kind", sa.Text()),
    _column("amount", sa.Numeric()), _column("currency", sa.Text()), _column("as_of", _TS),
    sa.Index("ix_accruals_partner_id", "partner_id"),
)

payouts = sa.Table(
    "payouts", _M,
    sa.Column("batch_id", sa.Uuid(), primary_key=True),
    _column("partner_id", sa.Uuid()), _column("status", sa.Text()),
    _column("total", sa.Numeric()), _column("currency", sa.Text()),
    _column("period_from", sa.Date()), _column("period_to", sa.Date()),
    _column("paid_on", sa.Date(), nullable=True),
    _column("payment_reference", sa.Text(), nullable=True),
    _column("version", sa.Integer()), _column("as_of", _TS),
    sa.Index("ix_payouts_partner_id", "partner_id"),
)

# One per event and audience (a partner org's people, or the vendor's staff): its id is derived
# from both, so the primary key keeps them unique. ``xid`` (the writing transaction's id) and
# ``seq`` order the streams (notifications/stream.py).
notifications = sa.Table(
    "notifications", _M,
    sa.Column("id", sa.Uuid(), primary_key=True),
    _column("event_id", sa.Uuid()), _column("audience", sa.Text()),
    _column("partner_id", sa.Uuid(), nullable=True), _column("scope", sa.Text()),
    _column("kind", sa.Text()), _column("title", sa.Text()), _column("body", sa.Text()),
    _column("data", JSONB()), _column("subject_type", sa.Text()),
    _column("subject_id", sa.Uuid()), _column("occurred_at", _TS),
    _column("xid", sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text::bigint)")),
    _column("seq", sa.BigInteger()),
    sa.Index("ix_notifications_audience_partner_id_occurred_at", "audience", "partner_id",
             "occurred_at", "id"),
    sa.Index("ix_notifications_audience_partner_id_xid", "audience", "partner_id", "xid",
             "seq"),
    sa.Index("ix_notifications_occurred_at", "occurred_at"),
    # A vendor stream's poll (its audience, any partner), in stream order.
    sa.Index("ix_notifications_audience_xid", "audience", "xid", "seq"),
)

notification_marks = sa.Table(
    "notification_marks", _M,
    sa.Column("notification_id", sa.Uuid(),
              sa.ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("subject", sa.Text(), primary_key=True),
    _column("read_at", _TS, nullable=True), _column("dismissed_at", _TS, nullable=True),
    sa.Index("ix_notification_marks_subject", "subject"),
)

search_entries = sa.Table(
    "search_entries", _M,
    sa.Column("kind", sa.Text(), primary_key=True),
    sa.Column("id", sa.Uuid(), primary_key=True),
    _column("partner_id", sa.Uuid(), nullable=True), _column("title", sa.Text()),
    _column("subtitle", sa.Text()), _column("status", sa.Text(), nullable=True),
    _column("version", sa.Integer()), _column("updated_at", _TS),
    sa.Column("search_text", sa.Text(),
              sa.Computed("prm_fold(title || ' ' || subtitle)", persisted=True)),
    # The folded title, for the ranks "is the query" and "starts with it".
    sa.Column("title_key", sa.Text(), sa.Computed("prm_fold(title)", persisted=True)),
    sa.Index("ix_search_entries_partner_id", "partner_id"),
    sa.Index("ix_search_entries_title_key", "title_key",
             postgresql_ops={"title_key": "text_pattern_ops"}),
    sa.Index("ix_search_entries_updated_at", sa.text("updated_at DESC"), "kind", "id"),
    sa.Index("ix_search_entries_search_text", "search_text", postgresql_using="gin",
             postgresql_ops={"search_text": "public.gin_trgm_ops"}),
)

# --- partner health (health/) ---------------------------------------------------------------

health_facts = sa.Table(
    "health_facts", _M,
    sa.Column("kind", sa.Text(), primary_key=True),
    sa.Column("ref_id", sa.Uuid(), primary_key=True),
    _column("partner_id", sa.Uuid()), _column("occurred_on", sa.Date()),
    _column("value", sa.Numeric(), nullable=True), _column("currency", sa.Text(), nullable=True),
    _column("event_id", sa.Uuid()), _column("recorded_at", _TS),
    sa.Index("ix_health_facts_partner_id_occurred_on", "partner_id", "occurred_on"),
)

health_due = sa.Table(
    "health_due", _M,
    sa.Column("partner_id", sa.Uuid(), primary_key=True), _column("since", _TS),
)

health_models = sa.Table(
    "health_models", _M,
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    _column("spec", JSONB()), _column("created_at", _TS),
    _column("created_by", sa.Text(), nullable=True),
)

partner_health = sa.Table(
    "partner_health", _M,
    sa.Column("partner_id", sa.Uuid(), primary_key=True),
    _column("score", sa.Numeric(5, 2), nullable=True), _column("band", sa.Text(), nullable=True),
    _column("model_version", sa.Integer()), _column("computed_on", sa.Date()),
    _column("computed_at", _TS), _column("pillars", JSONB()),
    _column("previous_score", sa.Numeric(5, 2), nullable=True),
    _column("previous_band", sa.Text(), nullable=True),
    _column("trend", sa.Numeric(6, 2), nullable=True),
    _column("churn_risk", sa.Numeric(5, 4), nullable=True),
    _column("churn_drivers", JSONB(), nullable=True),
    _column("growth", sa.Numeric(5, 4), nullable=True),
    _column("growth_drivers", JSONB(), nullable=True),
    _column("risk_raised", sa.Boolean(), server_default=sa.false()),
    _column("partner_type", sa.Text(), nullable=True),
    _column("partner_tier", sa.Text(), nullable=True),
    _column("partner_country", sa.Text(), nullable=True),
    # Sortable (keyset pages need a column that is never null): unscored sorts lowest.
    sa.Column("score_rank", sa.Numeric(5, 2), sa.Computed("coalesce(score, -1)", persisted=True),
              nullable=False),
    sa.Column("churn_rank", sa.Numeric(5, 4),
              sa.Computed("coalesce(churn_risk, -1)", persisted=True), nullable=False),
    _column("version", sa.Integer()),
    sa.Index("ix_partner_health_score_rank", "score_rank", "partner_id"),
    sa.Index("ix_partner_health_churn_rank", "churn_rank", "partner_id"),
    sa.Index("ix_partner_health_band", "band"),
    sa.Index("ix_partner_health_partner_type", "partner_type"),
    sa.Index("ix_partner_health_partner_tier", "partner_tier"),
    sa.Index("ix_partner_health_partner_country", "partner_country"),
    sa.Index("ix_partner_health_computed_on", "computed_on"),
)

health_history = sa.Table(
    "health_history", _M,
    sa.Column("partner_id", sa.Uuid(), primary_key=True),
    sa.Column("computed_on", sa.Date(), primary_key=True),
    _column("score", sa.Numeric(5, 2), nullable=True), _column("band", sa.Text(), nullable=True),
    _column("model_version", sa.Integer()), _column("pillars", JSONB()),
    _column("churn_risk", sa.Numeric(5, 4), nullable=True),
    _column("growth", sa.Numeric(5, 4), nullable=True),
)

health_estimators = sa.Table(
    "health_estimators", _M,
    sa.Column("target", sa.Text(), primary_key=True), _column("model", JSONB()),
    _column("trained_at", _TS),
)
