import datetime as dt
import uuid
from typing import Any

from sqlalchemy import TIMESTAMP, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_attribution.db import Base


class AttributionRuleSet(Base):
    """One published version of the rules; never changed once published."""

    __tablename__ = "attribution_rules"
    # The list's range on the publication time (``rules.listing``); the version's unique index
    # serves its filter and sort.
    __table_args__ = (Index("ix_attribution_rules_published_at", "published_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    notes: Mapped[str | None] = mapped_column(String(500))
    published_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
