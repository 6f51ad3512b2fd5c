import datetime as dt
import uuid

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    CheckConstraint,
    Date,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from prm_attribution.db import Base


class MdfActivity(Base):
    """An MDF fund request as the incentives' events told it: the activity the partner runs,
    its type and dates (the unit of MDF ROI)."""

    __tablename__ = "mdf_activities"
    __table_args__ = (
        Index("ix_mdf_activities_partner_id", "partner_id", "request_id"),
        # The MDF ROI list's filters and ranges (``kpis.listing``).
        Index("ix_mdf_activities_activity_type", "activity_type", "request_id",
              postgresql_where=text("activity_type IS NOT NULL")),
        Index("ix_mdf_activities_status", "status", "request_id"),
        Index("ix_mdf_activities_currency", "currency", "request_id"),
        Index("ix_mdf_activities_start_date", "start_date"),
        Index("ix_mdf_activities_end_date", "end_date"),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    # Only the submission carries these; a later event arriving first leaves them empty.
    activity_type: Mapped[str | None] = mapped_column(String(100))
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(40))
    planned_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class ProgrammeCost(Base):
    """What the programme spent on a partner, one row per source item: an approved MDF claim,
    a rebate or SPIFF accrual, or (negative) the reversal of one. Its id is derived from the
    source, so a redelivered or replayed event finds its row."""

    __tablename__ = "programme_costs"
    __table_args__ = (CheckConstraint("kind IN ('mdf', 'rebate', 'spiff')", name="known_kind"),
                      Index("ix_programme_costs_partner_id", "partner_id", "incurred_on"),
                      Index("ix_programme_costs_mdf_request_id", "mdf_request_id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    partner_id: Mapped[uuid.UUID]
    deal_id: Mapped[uuid.UUID | None]
    mdf_request_id: Mapped[uuid.UUID | None]
    # The claim's or the accrual's id in the incentives service.
    source_id: Mapped[uuid.UUID]
    # Integer minor units of ``currency``, as the ledger keeps them; negative for a reversal.
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    incurred_on: Mapped[dt.date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    source_event_id: Mapped[uuid.UUID]


class PayoutBatch(Base):
    """A partner's payout batch: the cash view of the costs above (it pays their payables, so
    it is reported beside the cost, never added to it)."""

    __tablename__ = "payouts"
    __table_args__ = (Index("ix_payouts_partner_id", "partner_id", "paid_on"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(40))
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    payment_reference: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)


class VendorFigure(Base):
    """A figure only the vendor knows, fed through the API: its total pipeline of a period (for
    the partners' pipeline contribution), or a cost line of acquiring partners (recruitment,
    onboarding) for the partner acquisition cost."""

    __tablename__ = "vendor_figures"
    __table_args__ = (
        CheckConstraint("period_from < period_to", name="period_not_empty"),
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        Index("uq_vendor_figures_total_pipeline", "period_from", "period_to", "currency",
              unique=True, postgresql_where=text("kind = 'total_pipeline'")),
        Index("ix_vendor_figures_period", "kind", "period_from"),
        # The list's filters, ranges and sort (``costs.listing``).
        Index("ix_vendor_figures_currency", "currency", "id"),
        Index("ix_vendor_figures_partner_type", "partner_type", "id",
              postgresql_where=text("partner_type IS NOT NULL")),
        Index("ix_vendor_figures_period_from_id", "period_from", "id"),
        Index("ix_vendor_figures_period_to", "period_to"),
        Index("ix_vendor_figures_recorded_at", "recorded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    period_from: Mapped[dt.date] = mapped_column(Date)
    period_to: Mapped[dt.date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    partner_type: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(String(500))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
