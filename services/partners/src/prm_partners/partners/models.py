import datetime as dt
import uuid

from sqlalchemy import (
    CHAR,
    TIMESTAMP,
    Boolean,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base


class Partner(Base):
    __tablename__ = "partners"
    # The keyset-pagination indexes of the list filters (migrations create them).
    __table_args__ = (
        Index("ix_partners_country_id", "country", "id"),
        Index("ix_partners_status_id", "status", "id"),
        Index("ix_partners_type_id", "type", "id"),
        Index("ix_partners_tier_id", "tier", "id"),
        Index("ix_partners_parent_id_id", "parent_id", "id",
              postgresql_where=text("parent_id IS NOT NULL")),
        Index("uq_partners_external_id", "external_id", unique=True,
              postgresql_where=text("external_id IS NOT NULL")),
        # The list grammar's sorts, change feed, ranges, array filters and search.
        Index("ix_partners_name_id", "name", "id"),
        Index("ix_partners_updated_at_id", "updated_at", "id"),
        Index("ix_partners_created_at", "created_at"),
        Index("ix_partners_countries_served", "countries_served", postgresql_using="gin"),
        Index("ix_partners_specialisations", "specialisations", postgresql_using="gin"),
        Index("ix_partners_languages", "languages", postgresql_using="gin"),
        Index("ix_partners_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    countries_served: Mapped[list[str]] = mapped_column(ARRAY(String(2)), default=list)
    default_currency: Mapped[str | None] = mapped_column(CHAR(3))
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    specialisations: Mapped[list[str]] = mapped_column(ARRAY(String(60)), default=list)
    website_domain: Mapped[str | None] = mapped_column(String(253))
    # The vendor's CRM id of the org: unique, what integrations upsert by.
    external_id: Mapped[str | None] = mapped_column(String(100))
    # Two-tier distribution: the distributor a reseller buys through, and whether that
    # distributor's keys may read this reseller's records.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    parent_access: Mapped[bool] = mapped_column(Boolean, default=False)
    employees: Mapped[int | None] = mapped_column(Integer)
    # The programme tier's name (the tiers part of the service moves it).
    tier: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(String(500))
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    # When it first became active (time to first deal counts from here).
    activated_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # What a name search looks in (prm_platform.listing), kept by PostgreSQL.
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(name || ' ' || coalesce(website_domain, ''))", persisted=True))
