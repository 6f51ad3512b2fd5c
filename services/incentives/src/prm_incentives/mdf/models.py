"""Market development funds: budgets, partners' allocations, fund requests and claims with
their proof of performance. The money itself is in the ledger (``prm_incentives.ledger``):
these rows name the accounts and the transfers that hold it."""

import datetime as dt
import uuid

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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from prm_incentives.db import Base

REQUEST_STATUSES = ("submitted", "changes_requested", "approved", "rejected", "expired",
                    "claimed", "completed", "closed")
CLAIM_STATUSES = ("submitted", "approved", "rejected")


class Budget(Base):
    __tablename__ = "mdf_budgets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(CHAR(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    pool_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    # Requests for less than this are approved at once (null: every request is reviewed).
    auto_approve_below: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # What a search looks in (prm_platform.listing): the programme and the period, folded.
    search_text: Mapped[str] = mapped_column(
        Text, Computed("prm_fold(programme || ' ' || period)", persisted=True))

    __table_args__ = (
        UniqueConstraint("programme", "period", "currency", name="uq_mdf_budgets_programme"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("auto_approve_below IS NULL OR auto_approve_below > 0",
                        name="auto_approve_positive"),
        # The list grammar's filters, ranges, sorts, search and change feed.
        Index("ix_mdf_budgets_programme_id", "programme", "id"),
        Index("ix_mdf_budgets_period_id", "period", "id"),
        Index("ix_mdf_budgets_currency_amount", "currency", "amount"),
        Index("ix_mdf_budgets_created_at", "created_at"),
        Index("ix_mdf_budgets_updated_at_id", "updated_at", "id"),
        Index("ix_mdf_budgets_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )


class Allocation(Base):
    __tablename__ = "mdf_allocations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mdf_budgets.id"))
    partner_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(CHAR(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    allocation_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    committed_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    payable_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        UniqueConstraint("budget_id", "partner_id", name="uq_mdf_allocations_budget_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_mdf_allocations_partner_id", "partner_id", "id"),
        # The list grammar's filters, ranges and change feed (budget_id: the unique one).
        Index("ix_mdf_allocations_currency_amount", "currency", "amount"),
        Index("ix_mdf_allocations_created_at", "created_at"),
        Index("ix_mdf_allocations_updated_at_id", "updated_at", "id"),
    )


class FundRequest(Base):
    __tablename__ = "mdf_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    allocation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mdf_allocations.id"))
    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mdf_budgets.id"))
    partner_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(CHAR(3))
    activity_type: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(4000))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    planned_cost: Mapped[int] = mapped_column(BigInteger)
    expected_outcomes: Mapped[str] = mapped_column(String(2000))
    expected_leads: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    # The pending transfer allocation -> committed that reserves the planned cost.
    reservation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_transfers.id"))
    decision_due_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    claim_due_on: Mapped[dt.date | None] = mapped_column(Date)
    approved_by: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(1000))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # What a search looks in (prm_platform.listing): the activity's title, folded.
    search_text: Mapped[str] = mapped_column(Text, Computed("prm_fold(title)", persisted=True))

    __table_args__ = (
        CheckConstraint("planned_cost > 0", name="planned_cost_positive"),
        CheckConstraint("end_date >= start_date", name="dates"),
        CheckConstraint("status IN ('submitted', 'changes_requested', 'approved', 'rejected', "
                        "'expired', 'claimed', 'completed', 'closed')", name="status"),
        Index("ix_mdf_requests_partner_id", "partner_id", "id"),
        Index("ix_mdf_requests_allocation_id", "allocation_id", "id"),
        Index("ix_mdf_requests_decision_due_at", "decision_due_at",
              postgresql_where=text("status IN ('submitted', 'changes_requested')")),
        Index("ix_mdf_requests_claim_due_on", "claim_due_on",
              postgresql_where=text("status = 'approved'")),
        # The list grammar's filters, ranges, sorts, search and change feed.
        Index("ix_mdf_requests_budget_id_id", "budget_id", "id"),
        Index("ix_mdf_requests_status_id", "status", "id"),
        Index("ix_mdf_requests_activity_type_id", "activity_type", "id"),
        Index("ix_mdf_requests_currency_planned_cost", "currency", "planned_cost"),
        Index("ix_mdf_requests_start_date_id", "start_date", "id"),
        Index("ix_mdf_requests_end_date_id", "end_date", "id"),
        Index("ix_mdf_requests_title_id", "title", "id"),
        Index("ix_mdf_requests_claim_due_on_id", "claim_due_on", "id",
              postgresql_where=text("claim_due_on IS NOT NULL")),
        Index("ix_mdf_requests_created_at", "created_at"),
        Index("ix_mdf_requests_updated_at_id", "updated_at", "id"),
        Index("ix_mdf_requests_search_text", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "public.gin_trgm_ops"}),
    )


class Claim(Base):
    __tablename__ = "mdf_claims"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mdf_requests.id"))
    partner_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(CHAR(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    approved_amount: Mapped[int | None] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(4000))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(1000))
    # The posted transfer committed -> payable of the approved amount.
    payable_transfer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ledger_transfers.id"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('submitted', 'approved', 'rejected')", name="status"),
        CheckConstraint("(status = 'approved') = (approved_amount IS NOT NULL) AND "
                        "(approved_amount IS NULL OR approved_amount BETWEEN 1 AND amount)",
                        name="approved_amount"),
        # A request is claimed once: a second claim while one is open or approved is refused
        # by the database, however the two arrive.
        Index("ix_mdf_claims_request_id", "request_id", unique=True,
              postgresql_where=text("status IN ('submitted', 'approved')")),
        Index("ix_mdf_claims_partner_id", "partner_id", "id"),
        # The list grammar's filters, ranges and change feed.
        Index("ix_mdf_claims_request_id_id", "request_id", "id"),
        Index("ix_mdf_claims_status_id", "status", "id"),
        Index("ix_mdf_claims_currency_amount", "currency", "amount"),
        Index("ix_mdf_claims_created_at", "created_at"),
        Index("ix_mdf_claims_updated_at_id", "updated_at", "id"),
    )


class ProofFile(Base):
    """A proof-of-performance file with its SHA-256: its content in this row, or in an
    S3-compatible store under ``object_key`` (``prm_incentives.mdf.proofs``). Uploaded on its
    own it belongs to its partner's org and to no claim until a claim names it
    (``proof_ids``); one no claim names expires (``expire_proof_uploads``)."""

    __tablename__ = "mdf_proof_files"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    claim_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("mdf_claims.id"))
    # The org the file belongs to; null only in rows an older release wrote with their claim
    # (whose partner owns them).
    partner_id: Mapped[uuid.UUID | None]
    # "pending" while a presigned upload has not been checked yet (its size and SHA-256 are the
    # ones announced), "stored" once the file is known to be as recorded.
    status: Mapped[str] = mapped_column(String(10), server_default="stored")
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(CHAR(64))
    store: Mapped[str] = mapped_column(String(20), server_default="postgres")
    object_key: Mapped[str | None] = mapped_column(String(1024))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("size >= 0", name="size"),
        CheckConstraint("(store = 'postgres' AND content IS NOT NULL AND object_key IS NULL "
                        "AND size = octet_length(content)) OR "
                        "(store = 's3' AND content IS NULL AND object_key IS NOT NULL)",
                        name="stored"),
        CheckConstraint("claim_id IS NOT NULL OR partner_id IS NOT NULL", name="owned"),
        CheckConstraint("status IN ('pending', 'stored')", name="status"),
        Index("ix_mdf_proof_files_claim_id", "claim_id", "id"),
        # The uploads no claim names yet, oldest first: what the expiry job reads.
        Index("ix_mdf_proof_files_unclaimed", "created_at",
              postgresql_where=text("claim_id IS NULL")),
    )
