import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base

DEFAULT_INACTIVITY_DAYS = 90
MIN_INACTIVITY_DAYS = 7
MAX_INACTIVITY_DAYS = 730


class PartnerActivity(Base):
    """The last signs of life of a partner, kept from events (by their time: the newest wins,
    the first deal keeps the earliest) and from its key's calls, and its inactivity flag."""

    __tablename__ = "partner_activity"

    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    last_deal_id: Mapped[uuid.UUID | None] = mapped_column()
    last_deal_registered_at: Mapped[dt.datetime | None] = mapped_column(
        TIMESTAMP(timezone=True))
    first_deal_id: Mapped[uuid.UUID | None] = mapped_column()
    first_deal_registered_at: Mapped[dt.datetime | None] = mapped_column(
        TIMESTAMP(timezone=True))
    last_certification_code: Mapped[str | None] = mapped_column(String(100))
    last_certification_earned_at: Mapped[dt.datetime | None] = mapped_column(
        TIMESTAMP(timezone=True))
    # Throttled: moved at most once an hour.
    last_api_call_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    # The last flag: when it was raised, and where the inactive stretch it flagged began. A
    # new stretch begins after any later activity, so the flag holds while
    # ``inactive_since`` is still the partner's last sign of life.
    inactivity_flagged_at: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    inactive_since: Mapped[dt.datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class ProgrammePolicy(Base):
    """The programme's policy: one row (the migration writes the defaults)."""

    __tablename__ = "programme_policy"
    __table_args__ = (
        CheckConstraint("id = 1", name="single"),
        CheckConstraint(f"inactivity_days BETWEEN {MIN_INACTIVITY_DAYS} AND "
                        f"{MAX_INACTIVITY_DAYS}", name="inactivity_days"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inactivity_days: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_by: Mapped[str | None] = mapped_column(String(200))
