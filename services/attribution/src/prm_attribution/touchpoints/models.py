import datetime as dt
import uuid
from typing import Any

from sqlalchemy import TIMESTAMP, CheckConstraint, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prm_attribution.db import Base


class Touchpoint(Base):
    """Something a partner did for a deal, or for a customer (then it counts for that
    customer's deals closed after it)."""

    __tablename__ = "touchpoints"
    __table_args__ = (
        CheckConstraint("deal_id IS NOT NULL OR customer_domain IS NOT NULL",
                        name="deal_or_customer"),
        Index("ix_touchpoints_deal_id", "deal_id"),
        Index("ix_touchpoints_customer_domain", "customer_domain"),
        Index("ix_touchpoints_partner_id_id", "partner_id", "id"),
        Index("ix_touchpoints_mdf_request_id", "mdf_request_id",
              postgresql_where=text("mdf_request_id IS NOT NULL")),
        # The campaign filter of the list, and a campaign's touches per launch (its ROI).
        Index("ix_touchpoints_campaign_id_id", "campaign_id", "id",
              postgresql_where=text("campaign_id IS NOT NULL")),
        Index("ix_touchpoints_launch_id", "launch_id",
              postgresql_where=text("launch_id IS NOT NULL")),
        # The list's filters, ranges and sort (``touchpoints.listing``).
        Index("ix_touchpoints_kind_id", "kind", "id"),
        Index("ix_touchpoints_source_id", "source", "id"),
        Index("ix_touchpoints_occurred_at_id", "occurred_at", "id"),
        Index("ix_touchpoints_recorded_at_id", "recorded_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID]
    deal_id: Mapped[uuid.UUID | None]
    customer_domain: Mapped[str | None] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # event (from a deals' event, id derived from it) or api
    source: Mapped[str] = mapped_column(String(10))
    recorded_by: Mapped[str] = mapped_column(String(200))
    # When it was recorded here (an event's touch: when the event was applied), for pulling
    # the touches recorded since a time.
    recorded_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # The MDF activity (fund request) this touch was part of: its revenue counts for the
    # activity's return.
    mdf_request_id: Mapped[uuid.UUID | None]
    # The campaign and the partner's launch of it whose engagement this touch is (from the
    # campaigns' events only): its revenue counts for the campaign's return.
    campaign_id: Mapped[uuid.UUID | None]
    launch_id: Mapped[uuid.UUID | None]
