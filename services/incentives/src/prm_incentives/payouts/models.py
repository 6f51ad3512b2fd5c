"""Payout batches and their lines (migration 0005)."""

import datetime as dt
import uuid

from sqlalchemy import (
    CHAR,
    TIMESTAMP,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from prm_incentives.db import Base


class PayoutBatch(Base):
    __tablename__ = "payout_batches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(CHAR(3))
    period_from: Mapped[dt.date] = mapped_column(Date)
    period_to: Mapped[dt.date] = mapped_column(Date)
    total: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    approved_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    exported_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    paid_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    payment_reference: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        UniqueConstraint("payment_reference", name="uq_payout_batches_payment_reference"),
        Index("ix_payout_batches_partner_id", "partner_id", "id"),
        # The list grammar's filters, ranges, sorts and change feed (payment_reference: the
        # unique one).
        Index("ix_payout_batches_status_id", "status", "id"),
        Index("ix_payout_batches_currency_total", "currency", "total"),
        Index("ix_payout_batches_period_from_id", "period_from", "id"),
        Index("ix_payout_batches_period_to_id", "period_to", "id"),
        Index("ix_payout_batches_paid_on", "paid_on", postgresql_where=text("paid_on IS NOT NULL")),
        Index("ix_payout_batches_created_at", "created_at"),
        Index("ix_payout_batches_updated_at_id", "updated_at", "id"),
    )


class PayoutLine(Base):
    __tablename__ = "payout_lines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payout_batches.id"))
    # The transfer that credited the payable account: paid at most once.
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_transfers.id"))
    payable_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    source: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[uuid.UUID | None]
    earned_on: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_transfer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ledger_transfers.id"))

    __table_args__ = (
        UniqueConstraint("transfer_id", name="uq_payout_lines_transfer_id"),
        Index("ix_payout_lines_batch_id", "batch_id", "id"),
    )
