"""The double-entry ledger's tables.

Balances live in the account row and are changed only by the ledger's triggers, from the
transfer rows being written: ``ledger_apply_inserted`` applies the transfers a statement inserts
(each account updated once with their sums, migration 0007), ``ledger_apply_transfer`` the
resolution of a pending one (migration 0002). Both sides of a transfer move in the same
statement by the same amount, so debits equal credits per currency by construction, and
``ck_ledger_accounts_available_non_negative`` refuses any change that would take a flagged
account's available balance below zero, whatever the concurrency.
"""

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    CHAR,
    TIMESTAMP,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from prm_incentives.db import Base

ACCOUNT_KINDS = ("external", "fx", "budget_pool", "allocation", "committed", "payable", "paid")
TRANSFER_STATUSES = ("pending", "posted", "voided", "expired")


class Account(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(CHAR(3))
    name: Mapped[str] = mapped_column(String(200))
    # The budget (pool, allocation, committed, payable, paid) and the partner (allocation ...
    # paid) the account belongs to; none for external and FX accounts.
    budget_id: Mapped[uuid.UUID | None]
    partner_id: Mapped[uuid.UUID | None]
    # Available (posted credits - posted debits - pending debits) may never go below zero.
    non_negative: Mapped[bool]
    debits_posted: Mapped[int] = mapped_column(BigInteger)
    credits_posted: Mapped[int] = mapped_column(BigInteger)
    debits_pending: Mapped[int] = mapped_column(BigInteger)
    credits_pending: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # By when its balances (or anything else) last changed: the end of the second they did,
    # set by the trigger ``ledger_accounts_touch`` (migration 0011), for the accounts' change
    # feed. A second's resolution keeps the balance updates of a busy account HOT (the value,
    # and so its index entry, changes at most once a second); rounded up, a sync asking from
    # any time before a change, or from the last value it saw, still gets it.
    updated_at: Mapped[dt.datetime] = mapped_column(
        TIMESTAMP(timezone=True),
        server_default=text("date_trunc('second', statement_timestamp()) + interval '1 second'"))

    __table_args__ = (
        # The target of the transfers' (account, currency) foreign keys: a transfer's two
        # accounts are in the transfer's currency, checked by the database.
        UniqueConstraint("id", "currency", name="uq_ledger_accounts_id"),
        # One account per role: looked up by what it is, never duplicated by a race.
        UniqueConstraint("kind", "currency", "budget_id", "partner_id",
                         name="uq_ledger_accounts_kind", postgresql_nulls_not_distinct=True),
        CheckConstraint("kind IN ('external', 'fx', 'budget_pool', 'allocation', 'committed', "
                        "'payable', 'paid')", name="kind"),
        CheckConstraint("debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 "
                        "AND credits_pending >= 0", name="balances"),
        CheckConstraint("NOT non_negative OR credits_posted - debits_posted - debits_pending "
                        ">= 0", name="available_non_negative"),
        Index("ix_ledger_accounts_partner_id", "partner_id", "id"),
        # The list grammar's filters, range and change feed (kind and budget_id: through
        # uq_ledger_accounts_kind, which starts with the kind).
        Index("ix_ledger_accounts_currency_id", "currency", "id"),
        Index("ix_ledger_accounts_created_at", "created_at"),
        Index("ix_ledger_accounts_updated_at_id", "updated_at", "id"),
    )


class Conversion(Base):
    """A cross-currency move: two linked transfers, source -> FX(source currency) and
    FX(destination currency) -> destination, at the rate recorded for the business date."""

    __tablename__ = "ledger_conversions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    destination_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    source_amount: Mapped[int] = mapped_column(BigInteger)
    source_currency: Mapped[str] = mapped_column(CHAR(3))
    destination_amount: Mapped[int] = mapped_column(BigInteger)
    destination_currency: Mapped[str] = mapped_column(CHAR(3))
    # Destination units per source unit, as recorded for ``rate_date`` (the latest on or
    # before ``business_date``).
    rate: Mapped[Decimal] = mapped_column(Numeric(24, 10))
    rate_date: Mapped[dt.date] = mapped_column(Date)
    business_date: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("source_amount > 0 AND destination_amount > 0", name="amounts"),
        CheckConstraint("source_currency <> destination_currency", name="currencies"),
    )


class Transfer(Base):
    """Money moved from one account to another of the same currency. Immutable once written,
    except that a pending transfer is resolved once: posted (in full or in part), voided or
    expired (trigger ``ledger_transfers_immutable``)."""

    __tablename__ = "ledger_transfers"

    # Chosen by the client: the same id twice is one transfer.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    debit_account_id: Mapped[uuid.UUID]
    credit_account_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(CHAR(3))
    # Minor units of the currency (cents; yen; fils): never a float.
    amount: Mapped[int] = mapped_column(BigInteger)
    pending: Mapped[bool]
    status: Mapped[str] = mapped_column(String(10))
    # What actually moved: the amount, the part of a pending one that was posted, or 0 once
    # voided or expired; null while pending.
    posted_amount: Mapped[int | None] = mapped_column(BigInteger)
    # A pending transfer expires ``timeout_seconds`` after it was made (``expires_at``).
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transfers.id"))
    conversion_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_conversions.id"))
    code: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        ForeignKeyConstraint(["debit_account_id", "currency"],
                             ["ledger_accounts.id", "ledger_accounts.currency"],
                             name="fk_ledger_transfers_debit_account_id_ledger_accounts"),
        ForeignKeyConstraint(["credit_account_id", "currency"],
                             ["ledger_accounts.id", "ledger_accounts.currency"],
                             name="fk_ledger_transfers_credit_account_id_ledger_accounts"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        CheckConstraint("status IN ('pending', 'posted', 'voided', 'expired')", name="status"),
        CheckConstraint(
            "(status = 'pending' AND pending AND posted_amount IS NULL)"
            " OR (status = 'posted' AND posted_amount > 0 AND posted_amount <= amount"
            "     AND (pending OR posted_amount = amount))"
            " OR (status IN ('voided', 'expired') AND pending AND posted_amount = 0)",
            name="resolution"),
        CheckConstraint("(timeout_seconds IS NULL) = (expires_at IS NULL) "
                        "AND (expires_at IS NULL OR pending)", name="expiry_pending_only"),
        Index("ix_ledger_transfers_expires_at", "expires_at",
              postgresql_where=text("status = 'pending' AND expires_at IS NOT NULL")),
        Index("ix_ledger_transfers_reverses_id", "reverses_id",
              postgresql_where=text("reverses_id IS NOT NULL")),
        # The list grammar's filters, ranges and order (time, then id: the ids are the
        # clients'; an account's transfers are found through its entries); the payable credits
        # of a partner (payouts, statements) by credit account.
        Index("ix_ledger_transfers_credit_account_id", "credit_account_id", "id"),
        # Pending, voided and expired transfers only: a few (most are posted), and none of the
        # posted ones a busy ledger writes costs an entry here.
        Index("ix_ledger_transfers_status_id", "status", "id",
              postgresql_where=text("status <> 'posted'")),
        Index("ix_ledger_transfers_currency_amount", "currency", "amount"),
        Index("ix_ledger_transfers_code_id", "code", "id"),
        Index("ix_ledger_transfers_created_at_id", "created_at", "id"),
        Index("ix_ledger_transfers_conversion_id", "conversion_id",
              postgresql_where=text("conversion_id IS NOT NULL")),
        Index("ix_ledger_transfers_resolved_at", "resolved_at",
              postgresql_where=text("resolved_at IS NOT NULL")),
    )


class Entry(Base):
    """One side of a transfer's effect on one account, append-only: the account's history.
    ``pending`` reserves, ``posted`` moves, ``released`` gives a reservation back."""

    __tablename__ = "ledger_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_transfers.id"))
    side: Mapped[str] = mapped_column(String(6))
    phase: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("side IN ('debit', 'credit')", name="side"),
        CheckConstraint("phase IN ('pending', 'posted', 'released')", name="phase"),
        Index("ix_ledger_entries_account_id", "account_id", "id"),
        Index("ix_ledger_entries_transfer_id", "transfer_id"),
    )


class FxRate(Base):
    """A recorded exchange rate: ``quote`` units per ``base`` unit, from ``effective_on``."""

    __tablename__ = "ledger_fx_rates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    base: Mapped[str] = mapped_column(CHAR(3))
    quote: Mapped[str] = mapped_column(CHAR(3))
    rate: Mapped[Decimal] = mapped_column(Numeric(24, 10))
    effective_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        UniqueConstraint("base", "quote", "effective_on", name="uq_ledger_fx_rates_base"),
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint("base <> quote", name="pair"),
        # The list grammar's sort and ranges (base and quote: uq_ledger_fx_rates_base).
        Index("ix_ledger_fx_rates_effective_on_id", "effective_on", "id"),
        Index("ix_ledger_fx_rates_created_at", "created_at"),
    )
