"""SPIFFs and their accruals (migration 0004). The SPIFF's fund is its ledger pool."""

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    CHAR,
    TIMESTAMP,
    BigInteger,
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


class Spiff(Base):
    __tablename__ = "spiffs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(CHAR(3))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    bonus_kind: Mapped[str] = mapped_column(String(10))
    fixed_amount: Mapped[int | None] = mapped_column(BigInteger)
    rate: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    sku_prefixes: Mapped[list[str]] = mapped_column(JSONB)
    deal_types: Mapped[list[str]] = mapped_column(JSONB)
    fund: Mapped[int] = mapped_column(BigInteger)
    partner_cap: Mapped[int | None] = mapped_column(BigInteger)
    pool_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # What a search looks in (prm_platform.listing): the name, folded.
    search_text: Mapped[str] = mapped_column(Text, Computed("prm_fold(name)", persisted=True))

    __table_args__ = (
        UniqueConstraint("name", name="uq_spiffs_name"),
        # The list grammar's filters, ranges, sorts, search and change feed.
        Index("ix_spiffs_bonus_kind_id", "bonus_kind", "id"),
        Index("ix_spiffs_currency_fund", "currency", "fund"),
        Index("ix_spiffs_name_id", "name", "id"),
        Index("ix_spiffs_starts_on_id", "starts_on", "id"),
        Index("ix_spiffs_ends_on_id", "ends_on", "id"),
        Index("ix_spiffs_created_at", "created_at"),
        Index("ix_spiffs_updated_at_id", "updated_at", "id"),
        Index("ix_spiffs_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )


class SpiffAccrual(Base):
    __tablename__ = "spiff_accruals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    spiff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spiffs.id"))
    partner_id: Mapped[uuid.UUID]
    deal_id: Mapped[uuid.UUID]
    closed_on: Mapped[dt.date] = mapped_column(Date)
    deal_type: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(CHAR(3))
    deal_amount: Mapped[int] = mapped_column(BigInteger)
    base_amount: Mapped[int] = mapped_column(BigInteger)
    bonus: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    capped_by: Mapped[str | None] = mapped_column(String(10))
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
        # One accrual of a deal per SPIFF stands; those of the deal's earlier wins are
        # superseded.
        Index("uq_spiff_accruals_deal", "spiff_id", "deal_id", unique=True,
              postgresql_where=text("status <> 'superseded'")),
        Index("ix_spiff_accruals_partner", "spiff_id", "partner_id"),
        Index("ix_spiff_accruals_partner_id", "partner_id", "id"),
        # The list grammar's filters, ranges, sort and change feed (spiff_id:
        # ix_spiff_accruals_partner, which starts with it).
        Index("ix_spiff_accruals_deal_id", "deal_id"),
        Index("ix_spiff_accruals_status_id", "status", "id"),
        Index("ix_spiff_accruals_currency_amount", "currency", "amount"),
        Index("ix_spiff_accruals_closed_on_id", "closed_on", "id"),
        Index("ix_spiff_accruals_created_at", "created_at"),
        Index("ix_spiff_accruals_updated_at_id", "updated_at", "id"),
    )
