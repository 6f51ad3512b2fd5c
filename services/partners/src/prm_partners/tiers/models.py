import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    DATE,
    NUMERIC,
    TIMESTAMP,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base

# Money as everywhere (CONVENTIONS.md); rates with 12 decimals, enough for VND -> KWD.
MONEY: NUMERIC[Decimal] = NUMERIC(19, 4)
RATE: NUMERIC[Decimal] = NUMERIC(24, 12)


class TierProgramme(Base):
    """The one row of the programme's tier settings (the migration creates it)."""

    __tablename__ = "tier_programme"
    __table_args__ = (CheckConstraint("id = 1", name="single"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base_currency: Mapped[str] = mapped_column(CHAR(3))
    demotion_grace_days: Mapped[int] = mapped_column(Integer)
    window_months: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class Tier(Base):
    __tablename__ = "tiers"
    # The list grammar's sorts, ranges and change feed (name and rank are unique besides).
    __table_args__ = (
        Index("ix_tiers_rank_id", "rank", "id"),
        Index("ix_tiers_created_at", "created_at"),
        Index("ix_tiers_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    description: Mapped[str | None] = mapped_column(String(500))
    min_revenue: Mapped[Decimal | None] = mapped_column(MONEY)
    min_revenue_currency: Mapped[str | None] = mapped_column(CHAR(3))
    min_certifications: Mapped[int] = mapped_column(Integer)
    min_won_deals: Mapped[int] = mapped_column(Integer)
    compliance_required: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class FxRate(Base):
    """``1 from_currency = rate to_currency`` from ``effective_on`` until the next rate of the
    pair: a projection of the incentives ledger's rates (``prm.fx.rate_set.v1``), which own
    them. ``version`` counts the times a pair's day took another rate (a rate entered here
    before the ledger owned them, replaced by the ledger's)."""

    __tablename__ = "fx_rates"
    __table_args__ = (
        Index("uq_fx_rates_pair_effective_on", "from_currency", "to_currency", "effective_on",
              unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    from_currency: Mapped[str] = mapped_column(CHAR(3))
    to_currency: Mapped[str] = mapped_column(CHAR(3))
    effective_on: Mapped[dt.date] = mapped_column(DATE)
    rate: Mapped[Decimal] = mapped_column(RATE)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class DealFact(Base):
    """A won deal as the tiers count it, one row per deal (a redelivery or replay upserts the
    same row), with its conversion to the base currency once a rate exists."""

    __tablename__ = "tier_deal_facts"
    __table_args__ = (
        Index("ix_tier_deal_facts_partner_id_closed_on", "partner_id", "closed_on"),
        Index("ix_tier_deal_facts_currency_closed_on", "currency", "closed_on"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # No foreign key: a deal event is kept even if it arrives before its partner's.
    partner_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(CHAR(3))
    closed_on: Mapped[dt.date] = mapped_column(DATE)
    deal_version: Mapped[int] = mapped_column(Integer)
    base_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    base_currency: Mapped[str | None] = mapped_column(CHAR(3))
    fx_rate: Mapped[Decimal | None] = mapped_column(RATE)
    fx_rate_on: Mapped[dt.date | None] = mapped_column(DATE)
    recorded_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class TierStanding(Base):
    """Where a partner's evaluation stands: the demotion pending (``pending_since`` set), the
    day it was last evaluated for (NULL: due again, e.g. after the tiers changed), and the
    progress last announced (``prm.partner.tier_progress.v1``): a digest of what it said and
    its version."""

    __tablename__ = "partner_tier_standing"
    __table_args__ = (Index("ix_partner_tier_standing_evaluated_on", "evaluated_on"),)

    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    pending_tier: Mapped[str | None] = mapped_column(String(60))
    pending_since: Mapped[dt.date | None] = mapped_column(DATE)
    evaluated_on: Mapped[dt.date | None] = mapped_column(DATE)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # SHA-256 (hex) of the last progress announced; NULL before the first.
    progress_digest: Mapped[str | None] = mapped_column(String(64))
    progress_version: Mapped[int] = mapped_column(Integer, server_default="0")


class TierChange(Base):
    __tablename__ = "partner_tier_history"
    __table_args__ = (
        Index("ix_partner_tier_history_partner_id_id", "partner_id", "id"),
        # The list grammar's filters, ranges and sorts.
        Index("ix_partner_tier_history_partner_id_direction_id", "partner_id", "direction",
              "id"),
        Index("ix_partner_tier_history_partner_id_to_tier_id", "partner_id", "to_tier", "id"),
        Index("ix_partner_tier_history_as_of_id", "as_of", "id"),
        Index("ix_partner_tier_history_changed_at", "changed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    from_tier: Mapped[str | None] = mapped_column(String(60))
    to_tier: Mapped[str | None] = mapped_column(String(60))
    direction: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(2000))
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONB)
    as_of: Mapped[dt.date] = mapped_column(DATE)
    partner_version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
