import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    CheckConstraint,
    Date,
    Index,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from prm_attribution.db import Base


class AttributionFxRate(Base):
    """How many units of ``base_currency`` one unit of ``currency`` was worth from
    ``valid_on`` (until the next rate of the pair): a projection of the incentives ledger's
    rates (``prm.fx.rate_set.v1``; its base is ``currency`` here, its quote
    ``base_currency``)."""

    __tablename__ = "fx_rates"
    __table_args__ = (UniqueConstraint("currency", "base_currency", "valid_on"),
                      CheckConstraint("rate > 0", name="rate_positive"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    base_currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(24, 10))
    valid_on: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class AttributionKpiCredit(Base):
    """A credit the credit KPIs count, with the figure (``sourced_revenue``,
    ``influenced_pipeline``...), currency and day it counts under: kept by triggers from the
    credits, results and deals (migration 0009; ``kpis.service`` reads it). Only the newest
    rules version's credits of won and open deals have a row."""

    __tablename__ = "attribution_kpi_credits"
    __table_args__ = (Index("ix_attribution_kpi_credits_partner", "partner_id", "model", "day",
                            postgresql_include=["figure", "currency", "credit_minor",
                                                "deal_id"]),)

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rules_version: Mapped[int]
    figure: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    day: Mapped[dt.date] = mapped_column(Date)
    credit_minor: Mapped[int] = mapped_column(BigInteger)
