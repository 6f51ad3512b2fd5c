import datetime as dt
import uuid
from typing import Any

from sqlalchemy import TIMESTAMP, Computed, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base


class PartnerApplication(Base):
    """A prospect's application to the programme, scored against the Ideal Partner Profile
    when it arrived."""

    __tablename__ = "partner_applications"
    __table_args__ = (
        Index("ix_partner_applications_status_id", "status", "id"),
        # The list grammar's filters, ranges, sorts, change feed and search.
        Index("ix_partner_applications_type_id", "type", "id"),
        Index("ix_partner_applications_country_id", "country", "id"),
        Index("ix_partner_applications_partner_id", "partner_id",
              postgresql_where=text("partner_id IS NOT NULL")),
        Index("ix_partner_applications_countries_served", "countries_served",
              postgresql_using="gin"),
        Index("ix_partner_applications_specialisations", "specialisations",
              postgresql_using="gin"),
        Index("ix_partner_applications_fit_score_id", "fit_score", "id"),
        Index("ix_partner_applications_company_name_id", "company_name", "id"),
        Index("ix_partner_applications_created_at", "created_at"),
        Index("ix_partner_applications_decided_at", "decided_at",
              postgresql_where=text("decided_at IS NOT NULL")),
        Index("ix_partner_applications_updated_at_id", "updated_at", "id"),
        Index("ix_partner_applications_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    countries_served: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    specialisations: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    website_domain: Mapped[str | None] = mapped_column(String(253))
    employees: Mapped[int | None] = mapped_column(Integer)
    contact: Mapped[dict[str, Any]] = mapped_column(JSONB)
    message: Mapped[str | None] = mapped_column(String(4000))
    status: Mapped[str] = mapped_column(String(20))  # submitted | approved | declined
    fit_score: Mapped[int] = mapped_column(Integer)
    # {"profile_version": n, "criteria": [{field, weight, points, reason}]}
    fit: Mapped[dict[str, Any]] = mapped_column(JSONB)
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(company_name || ' ' || coalesce(website_domain, ''))",
                       persisted=True))


class IdealPartnerProfile(Base):
    """The vendor's one profile: weighted criteria applications are scored by."""

    __tablename__ = "ideal_partner_profile"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
