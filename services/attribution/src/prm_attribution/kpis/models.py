import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    TIMESTAMP,
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
    """How many units of the base currency one unit of ``currency`` was worth from
    ``valid_on`` (until the next rate of the pair)."""

    __tablename__ = "fx_rates"
    __table_args__ = (UniqueConstraint("currency", "base_currency", "valid_on"),
                      CheckConstraint("rate > 0", name="rate_positive"),
                      # The list's sort and ranges (``kpis.listing``).
                      Index("ix_fx_rates_valid_on_id", "valid_on", "id"),
                      Index("ix_fx_rates_recorded_at", "recorded_at"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    base_currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(24, 10))
    valid_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
