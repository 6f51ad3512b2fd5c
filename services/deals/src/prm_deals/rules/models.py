import datetime as dt
import uuid
from typing import Any

from sqlalchemy import TIMESTAMP, Boolean, CheckConstraint, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_deals.db import Base


class EngagementRule(Base):
    """A rule of engagement (written through ``rules.service``'s statements; mapped here so
    that migrations and models are checked against each other)."""

    __tablename__ = "engagement_rules"
    __table_args__ = (
        Index("ix_engagement_rules_position", "position", "id"),
        Index("ix_engagement_rules_updated_at_id", "updated_at", "id"),
        CheckConstraint("outcome IN ('approve', 'reject', 'review')", name="outcome"),
        CheckConstraint("applies_to IN ('registration', 'extension')", name="applies_to"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB)
    outcome: Mapped[str] = mapped_column(String(10))
    applies_to: Mapped[str] = mapped_column(String(20), server_default="registration")
    reason: Mapped[str | None] = mapped_column(String(500))
    protection_days: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class EngagementRuleVersion(Base):
    """A rule as it was at one version (kept after the rule changes or is deleted)."""

    __tablename__ = "engagement_rule_versions"

    rule_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
