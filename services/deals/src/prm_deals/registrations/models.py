import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CHAR, TIMESTAMP, Date, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from prm_deals.db import Base


class Deal(Base):
    """A deal a partner registered: the customer, the expected amount and close date."""

    __tablename__ = "deals"
    # The keyset-pagination indexes of the list filters (migrations create them).
    __table_args__ = (
        Index("ix_deals_partner_id_id", "partner_id", "id"),
        Index("ix_deals_status_id", "status", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_domain: Mapped[str] = mapped_column(String(253))
    customer_country: Mapped[str] = mapped_column(String(2))
    amount: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    currency: Mapped[str] = mapped_column(CHAR(3))
    expected_close_date: Mapped[dt.date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
