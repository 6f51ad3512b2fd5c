import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, Computed, Date, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from prm_attribution.db import Base


class PartnerDirectoryEntry(Base):
    """What this service knows of a partner org (for KPIs by type, tier and country), built only
    from the partners' events."""

    __tablename__ = "partner_directory"
    # The KPI list's filters and name search (``kpis.listing``).
    __table_args__ = (
        Index("ix_partner_directory_type", "type", "partner_id"),
        Index("ix_partner_directory_tier", "tier", "partner_id",
              postgresql_where=text("tier IS NOT NULL")),
        Index("ix_partner_directory_country", "country", "partner_id"),
        Index("ix_partner_directory_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    # When the partner joined the programme: the earliest event seen of it (time to first deal
    # counts from here).
    joined_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    last_event_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # The first time its status became active, and the completion of its onboarding plan
    # (partner acquisition: partners activated in a period; time to first value).
    activated_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    onboarding_completed_at: Mapped[dt.datetime | None] = mapped_column(
        TIMESTAMP(timezone=True))
    # What a name search looks in (prm_platform.listing), kept by PostgreSQL.
    search_text: Mapped[str] = mapped_column(Text, Computed("prm_fold(name)", persisted=True))


class PartnerCertification(Base):
    """A certification a partner's contact earned, from the partners' events (certification
    velocity)."""

    __tablename__ = "certifications"
    __table_args__ = (Index("ix_certifications_partner_id", "partner_id", "earned_on"),)

    certification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    code: Mapped[str] = mapped_column(String(100))
    earned_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    expired_on: Mapped[dt.date | None] = mapped_column(Date)
    source_event_id: Mapped[uuid.UUID]


class ProgrammePartner(Base):
    """Every partner the programme knows of: of the directory, of a deal, of a credit or of a
    cost (a partner whose partner events have not arrived yet included), once seen kept. Kept
    by the database (triggers on those tables, migration 0005) whoever writes them; the KPI
    list pages it."""

    __tablename__ = "programme_partners"

    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
