import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from prm_attribution.db import Base


class Campaign(Base):
    """A through-channel marketing campaign as the deals service's events told it: its name
    and status at its newest version. A launch arriving before the campaign's own event leaves
    a row of version 0 named as the launch named it, which the campaign's event replaces."""

    __tablename__ = "campaigns"

    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    # published or retired; null until the campaign's own event arrives.
    status: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)


class CampaignLaunch(Base):
    """A partner's launch of a campaign under its own brand (the unit a campaign's cost and
    touches come from), optionally funded by an MDF fund request of the partner."""

    __tablename__ = "campaign_launches"
    __table_args__ = (
        # The campaign ROI: a page of campaigns' launches of a period, all or one partner's.
        Index("ix_campaign_launches_campaign_id", "campaign_id", "launched_at"),
        Index("ix_campaign_launches_partner_id", "partner_id", "launched_at"),
    )

    launch_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    campaign_id: Mapped[uuid.UUID]
    # The campaign's name when launched (the campaign's row keeps the current one).
    campaign_name: Mapped[str] = mapped_column(String(300))
    partner_id: Mapped[uuid.UUID]
    # As the launch said; its cost counts only when the request is the launch's partner's.
    mdf_request_id: Mapped[uuid.UUID | None]
    launched_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
