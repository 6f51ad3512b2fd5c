"""The wins of deals as this service has applied them (migration 0009)."""

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CHAR, TIMESTAMP, CheckConstraint, Date, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from prm_incentives.db import Base


class DealWin(Base):
    """The win of a deal that stands: the newest version of ``prm.deal.won.v1`` applied, or the
    reversal that ended it (``prm.deal.win_reversed.v1``, final). A won event of that version
    or an older one is not applied again, whatever its event id, so a deal accrues once, on the
    amount its newest win holds."""

    __tablename__ = "deal_wins"

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    # The deal's own version of the event applied.
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(19, 4))
    currency: Mapped[str] = mapped_column(CHAR(3))
    closed_on: Mapped[dt.date] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('won', 'win_reversed')", name="status"),
    )
