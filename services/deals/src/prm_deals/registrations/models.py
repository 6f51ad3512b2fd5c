import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    TIMESTAMP,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_deals.db import Base

# Registrations a new one can conflict with (the partial indexes of the conflict check).
_OPEN = "status IN ('submitted', 'in_review', 'approved')"


class Deal(Base):
    """A deal a partner registered: the customer, what is sold, the expected amount and close
    date, and what the conflict check found."""

    __tablename__ = "deals"
    # The keyset-pagination indexes of the list filters (migrations create them, and the
    # conflict check's indexes on the customer keys).
    __table_args__ = (
        Index("ix_deals_partner_id_id", "partner_id", "id"),
        Index("ix_deals_status_id", "status", "id"),
        Index("uq_deals_partner_external_id", "partner_id", "external_id", unique=True,
              postgresql_where=text("external_id IS NOT NULL")),
        Index("ix_deals_open_domain_key", "customer_domain_key",
              postgresql_where=text(f"{_OPEN} AND customer_domain_key IS NOT NULL")),
        Index("ix_deals_open_blocks", "customer_blocks", postgresql_using="gin",
              postgresql_with={"fastupdate": "off"}, postgresql_where=text(_OPEN)),
        # The list grammar's sorts, ranges, filters, change feed and search (0015).
        Index("ix_deals_protected_until", "protected_until"),
        Index("ix_deals_expected_close_date_id", "expected_close_date", "id"),
        Index("ix_deals_amount_id", "amount", "id"),
        Index("ix_deals_customer_name_id", "customer_name", "id"),
        Index("ix_deals_updated_at_id", "updated_at", "id"),
        Index("ix_deals_created_at", "created_at"),
        Index("ix_deals_customer_country_id", "customer_country", "id"),
        Index("ix_deals_deal_type_id", "deal_type", "id"),
        Index("ix_deals_account_executive", "account_executive",
              postgresql_where=text("account_executive IS NOT NULL")),
        Index("ix_deals_external_id", "external_id",
              postgresql_where=text("external_id IS NOT NULL")),
        Index("ix_deals_closed_on", "closed_on", postgresql_where=text("closed_on IS NOT NULL")),
        Index("ix_deals_source_lead_id", "source_lead_id",
              postgresql_where=text("source_lead_id IS NOT NULL")),
        Index("ix_deals_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    external_id: Mapped[str | None] = mapped_column(String(100))
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_domain: Mapped[str] = mapped_column(String(253))
    customer_country: Mapped[str] = mapped_column(String(2))
    customer_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    customer_crm_ids: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    customer_name_key: Mapped[str] = mapped_column(String(200))
    customer_domain_key: Mapped[str | None] = mapped_column(String(253))
    # The name key's distinctive words, and the blocking keys conflict candidates are found
    # by (``normalise.blocks``).
    customer_core: Mapped[str] = mapped_column(String(200), server_default="")
    customer_blocks: Mapped[list[str]] = mapped_column(ARRAY(String(220)), server_default="{}")
    products: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    deal_type: Mapped[str] = mapped_column(String(10))
    private_offer: Mapped[bool] = mapped_column(Boolean)
    amount: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    currency: Mapped[str] = mapped_column(CHAR(3))
    expected_close_date: Mapped[dt.date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(20))
    protected_until: Mapped[dt.date | None] = mapped_column(Date)
    # The conflicts found when it was registered, as the registering partner was told them.
    conflicts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # {"outcome": status given, "reason": why}
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Why the status last changed (the rejection's, the loss's reason...).
    status_reason: Mapped[str | None] = mapped_column(String(500))
    won_amount: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    extensions: Mapped[int] = mapped_column(Integer, server_default="0")
    account_executive: Mapped[str | None] = mapped_column(String(200))
    # A partner's extension request that a rule of engagement sent to review.
    extension_requested_at: Mapped[dt.datetime | None] = mapped_column(
        TIMESTAMP(timezone=True))
    # The protection end last announced as coming (prm.deal.protection_ending.v1): once each.
    protection_warned_until: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # The lead the registration was converted from (its source), if any.
    source_lead_id: Mapped[uuid.UUID | None]
    # What a search looks in (prm_platform.listing), kept by PostgreSQL.
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(customer_name || ' ' || customer_domain)", persisted=True))


@dataclass(slots=True)
class NewDeal:
    """A registration decided and about to be written: the columns of ``Deal`` as plain
    attributes. The write is one SQL statement, not the ORM's, and building the ORM object
    cost a bulk push more than scoring the customer did."""

    id: uuid.UUID
    partner_id: uuid.UUID
    external_id: str | None
    customer_name: str
    customer_domain: str
    customer_country: str
    customer_address: dict[str, Any] | None
    customer_crm_ids: dict[str, str] | None
    customer_name_key: str
    customer_core: str
    customer_blocks: list[str]
    customer_domain_key: str | None
    products: list[dict[str, Any]]
    deal_type: str
    private_offer: bool
    amount: Decimal
    currency: str
    expected_close_date: dt.date
    notes: str | None
    status: str
    protected_until: dt.date | None
    conflicts: list[dict[str, Any]]
    decision: dict[str, Any] | None
    created_at: dt.datetime
    version: int = 1
    status_reason: str | None = None
    won_amount: Decimal | None = None
    closed_on: dt.date | None = None
    extensions: int = 0
    account_executive: str | None = None
    extension_requested_at: dt.datetime | None = None
    source_lead_id: uuid.UUID | None = None

    @property
    def updated_at(self) -> dt.datetime:
        return self.created_at


# A registration as read from the table, or as just decided.
AnyDeal = Deal | NewDeal


class DealCollaborator(Base):
    """Someone working the deal, on the partner's side or the vendor's."""

    __tablename__ = "deal_collaborators"
    __table_args__ = (
        UniqueConstraint("deal_id", "email"),
        CheckConstraint("side IN ('partner', 'vendor')", name="side"),
        Index("ix_deal_collaborators_deal_id_id", "deal_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class DealActivity(Base):
    """One entry of a deal's timeline: a change of status, a note, a collaborator added."""

    __tablename__ = "deal_activities"
    __table_args__ = (Index("ix_deal_activities_deal_id_id", "deal_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(String(4000))
    at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
