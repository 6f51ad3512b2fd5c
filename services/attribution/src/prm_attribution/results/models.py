import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_attribution.db import Base


class AttributionResult(Base):
    """A deal's attribution by one model under one rules version (kept per version: a later
    version adds rows, it never rewrites these)."""

    __tablename__ = "attribution_results"

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rules_version: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(40), primary_key=True)
    basis: Mapped[str] = mapped_column(String(20))  # won or pipeline
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class AttributionCreditRow(Base):
    __tablename__ = "attribution_credits"
    # The KPIs read a page's partners' credits by model: the index answers them on its own.
    __table_args__ = (Index("ix_attribution_credits_partner_model", "partner_id", "model",
                            "deal_id", postgresql_include=["rules_version", "role",
                                                           "credit_minor"]),
                      CheckConstraint("credit_minor >= 0", name="credit_not_negative"))

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rules_version: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    # The partner's exact share of the deal as a fraction "p/q" (before rounding to minor units).
    share: Mapped[str] = mapped_column(Text)
    credit_minor: Mapped[int] = mapped_column(BigInteger)


class DatadrivenRun(Base):
    """One pass of the scheduled recompute over one state of the history (its fingerprint)
    under one rules version: the history version the data-driven credits were computed from.
    The same history again is not recomputed; the pass goes in batches (``after_deal_id``)."""

    __tablename__ = "datadriven_runs"
    __table_args__ = (UniqueConstraint("rules_version", "fingerprint",
                                       name="uq_datadriven_runs_history"),)

    history_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    rules_version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    history_deals: Mapped[int] = mapped_column(Integer)
    after_deal_id: Mapped[uuid.UUID | None]
    deals_recomputed: Mapped[int] = mapped_column(Integer)
    deals_changed: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))


class HistoryRevision(Base):
    """Its one row: the revision of the data-driven models' history, which triggers move at the
    commit of any change to it (migration 0008; ``service.history_for`` keeps a history read
    under a revision until it moves). ``epoch`` tells databases apart in one process."""

    __tablename__ = "history_revision"

    one: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=text("true"))
    epoch: Mapped[uuid.UUID]
    revision: Mapped[int] = mapped_column(BigInteger)
