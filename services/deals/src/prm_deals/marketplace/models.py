"""The marketplace tables: private offers made through partners on the cloud marketplaces,
their status changes, and the marketplace events received (each once)."""

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
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_deals.db import Base

_TS = TIMESTAMP(timezone=True)


class MarketplaceOffer(Base):
    """A private offer on a cloud marketplace, made through a partner for the customer of one
    of its deal registrations. Money in integer minor units of ``currency``."""

    __tablename__ = "marketplace_offers"
    __table_args__ = (
        # One offer per marketplace offer id (several offers may not have one yet).
        UniqueConstraint("marketplace", "external_offer_id",
                         name="uq_marketplace_offers_marketplace"),
        Index("ix_marketplace_offers_partner_id_id", "partner_id", "id"),
        Index("ix_marketplace_offers_deal_id_id", "deal_id", "id"),
        Index("ix_marketplace_offers_status_id", "status", "id"),
        Index("ix_marketplace_offers_kind_id", "kind", "id"),
        Index("ix_marketplace_offers_marketplace_id", "marketplace", "id"),
        Index("ix_marketplace_offers_external_offer_id", "external_offer_id",
              postgresql_where=text("external_offer_id IS NOT NULL")),
        Index("ix_marketplace_offers_created_at_id", "created_at", "id"),
        Index("ix_marketplace_offers_updated_at_id", "updated_at", "id"),
        CheckConstraint("marketplace IN ('aws', 'azure', 'gcp')", name="marketplace"),
        CheckConstraint("status IN ('draft', 'published', 'accepted', 'active', 'expired', "
                        "'cancelled', 'replaced')", name="status"),
        CheckConstraint("wholesale_minor >= 0 AND markup_minor >= 0 AND fee_minor >= 0 "
                        "AND fee_minor <= wholesale_minor + markup_minor", name="money"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"))
    marketplace: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(40))
    external_offer_id: Mapped[str | None] = mapped_column(String(200))
    agreement_id: Mapped[str | None] = mapped_column(String(200))
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_domain: Mapped[str] = mapped_column(String(253))
    customer_country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(CHAR(3))
    wholesale_minor: Mapped[int] = mapped_column(BigInteger)
    markup_minor: Mapped[int] = mapped_column(BigInteger)
    # The marketplace's fee: a percentage of the gross (``fee_percent``), or an amount.
    fee_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    duration_months: Mapped[int | None] = mapped_column(Integer)
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    marketplace_status: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))
    win_deal_on_acceptance: Mapped[bool] = mapped_column(Boolean)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(_TS)
    deal_won_at: Mapped[dt.datetime | None] = mapped_column(_TS)
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)


class MarketplaceOfferChange(Base):
    """One change of an offer's status: the marketplace's word and the lifecycle's, who or
    which event changed it."""

    __tablename__ = "marketplace_offer_changes"
    __table_args__ = (
        Index("ix_marketplace_offer_changes_offer_id_id", "offer_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("marketplace_offers.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    marketplace_status: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))
    previous_status: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(10))  # api or event
    event_id: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(_TS)


class MarketplaceEvent(Base):
    """A marketplace event received, by its id, with the answer it was given: the same event
    again is answered the same and changes nothing."""

    __tablename__ = "marketplace_events"

    marketplace: Mapped[str] = mapped_column(String(10), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    offer_id: Mapped[uuid.UUID | None]
    answer: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[dt.datetime] = mapped_column(_TS)
