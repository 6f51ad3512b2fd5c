"""Rebate programmes and their accruals (migration 0003). The money is in the ledger: an
accrual names the transfer that moved it (programme expense -> the partner's payable)."""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CHAR,
    TIMESTAMP,
    BigInteger,
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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_incentives.db import Base


class RebateProgramme(Base):
    __tablename__ = "rebate_programmes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(CHAR(3))
    basis: Mapped[str] = mapped_column(String(10))
    trailing_days: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    # Tried in order, the first match applies; volumes in minor units, rates decimal strings.
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    expense_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # What a search looks in (prm_platform.listing): the name, folded.
    search_text: Mapped[str] = mapped_column(Text, Computed("prm_fold(name)", persisted=True))

    __table_args__ = (
        UniqueConstraint("name", name="uq_rebate_programmes_name"),
        CheckConstraint("basis IN ('tier', 'volume')", name="basis"),
        CheckConstraint("trailing_days BETWEEN 1 AND 731", name="trailing_days"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),
        # The list grammar's filters, ranges, sorts, search and change feed.
        Index("ix_rebate_programmes_basis_id", "basis", "id"),
        Index("ix_rebate_programmes_currency_id", "currency", "id"),
        Index("ix_rebate_programmes_name_id", "name", "id"),
        Index("ix_rebate_programmes_starts_on_id", "starts_on", "id"),
        Index("ix_rebate_programmes_ends_on", "ends_on",
              postgresql_where=text("ends_on IS NOT NULL")),
        Index("ix_rebate_programmes_created_at", "created_at"),
        Index("ix_rebate_programmes_updated_at_id", "updated_at", "id"),
        Index("ix_rebate_programmes_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )


class RebateAccrual(Base):
    __tablename__ = "rebate_accruals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rebate_programmes.id"))
    partner_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(10))
    deal_id: Mapped[uuid.UUID | None]
    closed_on: Mapped[dt.date] = mapped_column(Date)
    period_from: Mapped[dt.date | None] = mapped_column(Date)
    period_to: Mapped[dt.date | None] = mapped_column(Date)
    deal_type: Mapped[str | None] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(CHAR(3))
    deal_amount: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    base_amount: Mapped[int] = mapped_column(BigInteger)
    volume: Mapped[int] = mapped_column(BigInteger)
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    rule_index: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transfers.id"))
    reversal_transfer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ledger_transfers.id"))
    reason: Mapped[str | None] = mapped_column(String(500))
    # The version of the deal's win it was computed from (null: accrued before it was kept).
    deal_version: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        # One accrual of a deal per programme stands; those of the deal's earlier wins are
        # superseded.
        Index("uq_rebate_accruals_deal", "programme_id", "deal_id", unique=True,
              postgresql_where=text("kind = 'deal' AND status <> 'superseded'")),
        Index("uq_rebate_accruals_true_up", "programme_id", "partner_id", "period_from",
              "period_to", unique=True, postgresql_where=text("kind = 'true_up'")),
        Index("ix_rebate_accruals_partner", "programme_id", "partner_id", "closed_on"),
        Index("ix_rebate_accruals_partner_id", "partner_id", "id"),
        # The list grammar's filters, ranges, sort and change feed (programme_id:
        # ix_rebate_accruals_partner, which starts with it).
        Index("ix_rebate_accruals_deal_id", "deal_id",
              postgresql_where=text("deal_id IS NOT NULL")),
        Index("ix_rebate_accruals_status_id", "status", "id"),
        Index("ix_rebate_accruals_kind_id", "kind", "id"),
        Index("ix_rebate_accruals_currency_amount", "currency", "amount"),
        Index("ix_rebate_accruals_closed_on_id", "closed_on", "id"),
        Index("ix_rebate_accruals_created_at", "created_at"),
        Index("ix_rebate_accruals_updated_at_id", "updated_at", "id"),
    )
