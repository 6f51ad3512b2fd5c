import datetime as dt
import uuid
from typing import Any

from sqlalchemy import TIMESTAMP, BigInteger, CheckConstraint, Index, String, Text
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
    __table_args__ = (Index("ix_attribution_credits_partner_id", "partner_id", "deal_id"),
                      CheckConstraint("credit_minor >= 0", name="credit_not_negative"))

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rules_version: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    # The partner's exact share of the deal as a fraction "p/q" (before rounding to minor units).
    share: Mapped[str] = mapped_column(Text)
    credit_minor: Mapped[int] = mapped_column(BigInteger)
