"""The leads tables (written through ``leads.service``'s statements; mapped here so that
migrations and models are checked against each other)."""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    TIMESTAMP,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_deals.db import Base

_TS = TIMESTAMP(timezone=True)


class LeadRoutingRule(Base):
    __tablename__ = "lead_routing_rules"
    __table_args__ = (
        Index("ix_lead_routing_rules_position", "position", "id"),
        Index("ix_lead_routing_rules_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB)
    partners: Mapped[dict[str, Any]] = mapped_column(JSONB)
    weighting: Mapped[dict[str, Any]] = mapped_column(JSONB)
    capacity: Mapped[dict[str, Any]] = mapped_column(JSONB)
    respond_within_hours: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)


class LeadRoutingRuleVersion(Base):
    __tablename__ = "lead_routing_rule_versions"

    rule_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[dt.datetime] = mapped_column(_TS)


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("uq_leads_owner_external_id", "owner_key", "external_id", unique=True,
              postgresql_where=text("external_id IS NOT NULL")),
        Index("ix_leads_partner_id_id", "partner_id", "id"),
        Index("ix_leads_status_id", "status", "id"),
        Index("ix_leads_updated_at_id", "updated_at", "id"),
        Index("ix_leads_created_at_id", "created_at", "id"),
        Index("ix_leads_external_id", "external_id",
              postgresql_where=text("external_id IS NOT NULL")),
        Index("ix_leads_company_country_id", "company_country", "id"),
        Index("ix_leads_offered_respond_by", "respond_by",
              postgresql_where=text("status = 'offered'")),
        Index("ix_leads_accepted_expires_at", "expires_at",
              postgresql_where=text("status IN ('accepted', 'queued')")),
        Index("ix_leads_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
        CheckConstraint("source IN ('vendor', 'partner')", name="source"),
        CheckConstraint("status IN ('new', 'offered', 'accepted', 'queued', 'converted', "
                        "'expired')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner_key: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))
    source_partner_id: Mapped[uuid.UUID | None]
    submitted_by: Mapped[str] = mapped_column(String(200))
    company_name: Mapped[str] = mapped_column(String(200))
    company_domain: Mapped[str] = mapped_column(String(253))
    company_country: Mapped[str] = mapped_column(String(2))
    industry: Mapped[str | None] = mapped_column(String(60))
    product: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(20))
    language: Mapped[str | None] = mapped_column(String(40))
    contact: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    notes: Mapped[str | None] = mapped_column(String(2000))
    estimated_amount: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    currency: Mapped[str | None] = mapped_column(CHAR(3))
    status: Mapped[str] = mapped_column(String(20))
    partner_id: Mapped[uuid.UUID | None]
    flagged: Mapped[bool] = mapped_column(Boolean)
    conflicts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    queue_reason: Mapped[str | None] = mapped_column(String(40))
    respond_by: Mapped[dt.datetime | None] = mapped_column(_TS)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(_TS)
    expires_at: Mapped[dt.datetime | None] = mapped_column(_TS)
    deal_id: Mapped[uuid.UUID | None]
    offers: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(company_name || ' ' || company_domain)", persisted=True))


class LeadAssignment(Base):
    """One offer of a lead (to a partner, or to the vendor's queue) and how it ended, with the
    explanation of why it went there."""

    __tablename__ = "lead_assignments"
    __table_args__ = (
        Index("ix_lead_assignments_lead_id_id", "lead_id", "id"),
        Index("ix_lead_assignments_partner_offered_at", "partner_id", "offered_at",
              postgresql_where=text("partner_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    partner_id: Mapped[uuid.UUID | None]
    rule_id: Mapped[uuid.UUID | None]
    rule_version: Mapped[int | None] = mapped_column(Integer)
    pool_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(20))
    outcome_reason: Mapped[str | None] = mapped_column(String(40))
    outcome_note: Mapped[str | None] = mapped_column(String(500))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    actor: Mapped[str] = mapped_column(String(200))
    offered_at: Mapped[dt.datetime] = mapped_column(_TS)
    respond_by: Mapped[dt.datetime | None] = mapped_column(_TS)
    decided_at: Mapped[dt.datetime | None] = mapped_column(_TS)


class LeadPool(Base):
    """The partners one rule version matched for a kind of lead, with their weights (by
    digest), and how many leads it gave out: the state of its fair order."""

    __tablename__ = "lead_pools"
    __table_args__ = (UniqueConstraint("rule_id", "rule_version", "digest"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rule_id: Mapped[uuid.UUID]
    rule_version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    members: Mapped[int] = mapped_column(Integer)
    picks: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)


class LeadPoolCount(Base):
    __tablename__ = "lead_pool_counts"

    pool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lead_pools.id", ondelete="CASCADE"), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    assigned: Mapped[int] = mapped_column(BigInteger)


class LeadPartnerSettings(Base):
    """A partner's lead intake: paused (until a time, or until resumed), its own cap on open
    offers, and how many offers it holds open now (kept by every offer and answer)."""

    __tablename__ = "lead_partner_settings"
    # Routing reads the paused ones on every lead.
    __table_args__ = (Index("ix_lead_partner_settings_paused", "partner_id",
                            postgresql_where=text("paused")),)

    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean)
    paused_until: Mapped[dt.datetime | None] = mapped_column(_TS)
    max_open: Mapped[int | None] = mapped_column(Integer)
    open_offers: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)


class LeadDirectoryState(Base):
    """One row: the partner directory's generation, moved by every statement that writes the
    directory (a trigger), so that routing knows when the pool members it keeps are stale."""

    __tablename__ = "lead_directory_state"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
