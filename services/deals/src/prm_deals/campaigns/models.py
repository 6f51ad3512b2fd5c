"""The campaign tables: the vendor's campaign library (a draft and its published versions),
partners' brand profiles, launches with their rendered assets, the engagement they bring back,
and the MDF fund requests a launch may name (a projection of the incentives' events)."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_deals.db import Base

_TS = TIMESTAMP(timezone=True)


class Campaign(Base):
    """A campaign of the library: its draft content (``content``: links, assets, audience)
    and, once published, its newest published version. Partners launch published versions."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_status_id", "status", "id"),
        Index("ix_campaigns_created_at_id", "created_at", "id"),
        Index("ix_campaigns_updated_at_id", "updated_at", "id"),
        Index("ix_campaigns_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # draft, published, retired
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_version: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)
    search_text: Mapped[str] = mapped_column(Text, Computed("prm_fold(name)", persisted=True))


class CampaignVersion(Base):
    """A published version of a campaign: never changed, what launches render."""

    __tablename__ = "campaign_versions"

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[dt.datetime] = mapped_column(_TS)


class BrandProfile(Base):
    """A partner's brand: the values its launches' templates merge in."""

    __tablename__ = "brand_profiles"

    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)


class CampaignLaunch(Base):
    """A partner's launch of a published campaign version in one language: the brand as it
    was, the tracked links and the rendered assets, kept as launched."""

    __tablename__ = "campaign_launches"
    __table_args__ = (
        UniqueConstraint("ref", name="uq_campaign_launches_ref"),
        # One fund request pays for one launch.
        Index("uq_campaign_launches_mdf_request_id", "mdf_request_id", unique=True,
              postgresql_where=text("mdf_request_id IS NOT NULL")),
        Index("ix_campaign_launches_partner_id_id", "partner_id", "id"),
        Index("ix_campaign_launches_campaign_id_id", "campaign_id", "id"),
        Index("ix_campaign_launches_language_id", "language", "id"),
        Index("ix_campaign_launches_launched_at_id", "launched_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"))
    campaign_version: Mapped[int] = mapped_column(Integer)
    partner_id: Mapped[uuid.UUID]
    language: Mapped[str] = mapped_column(String(35))
    ref: Mapped[str] = mapped_column(String(32))
    mdf_request_id: Mapped[uuid.UUID | None]
    brand: Mapped[dict[str, Any]] = mapped_column(JSONB)
    links: Mapped[dict[str, Any]] = mapped_column(JSONB)
    assets: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    launched_by: Mapped[str] = mapped_column(String(200))
    launched_at: Mapped[dt.datetime] = mapped_column(_TS)


class CampaignEngagement(Base):
    """An open, click, form fill or conversion of a launch, once per the reporter's id."""

    __tablename__ = "campaign_engagements"
    __table_args__ = (
        UniqueConstraint("launch_id", "external_id", name="uq_campaign_engagements_launch_id"),
        Index("ix_campaign_engagements_partner_id_id", "partner_id", "id"),
        Index("ix_campaign_engagements_campaign_id_id", "campaign_id", "id"),
        Index("ix_campaign_engagements_kind_id", "kind", "id"),
        Index("ix_campaign_engagements_occurred_at_id", "occurred_at", "id"),
        Index("ix_campaign_engagements_received_at_id", "received_at", "id"),
        Index("ix_campaign_engagements_launch_id_id", "launch_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    launch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaign_launches.id"))
    campaign_id: Mapped[uuid.UUID]
    partner_id: Mapped[uuid.UUID]
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[dt.datetime] = mapped_column(_TS)
    asset: Mapped[str | None] = mapped_column(String(60))
    link: Mapped[str | None] = mapped_column(String(60))
    company_domain: Mapped[str | None] = mapped_column(String(253))
    company_name: Mapped[str | None] = mapped_column(String(200))
    company_country: Mapped[str | None] = mapped_column(String(2))
    lead_id: Mapped[uuid.UUID | None]
    source: Mapped[str] = mapped_column(String(10))  # api or intake
    received_at: Mapped[dt.datetime] = mapped_column(_TS)


class MdfFundRequest(Base):
    """An MDF fund request as the incentives' events tell it: whose, and its status."""

    __tablename__ = "mdf_fund_requests"

    request_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    activity_type: Mapped[str | None] = mapped_column(String(60))
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)
