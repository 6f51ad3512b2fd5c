import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from prm_incentives.db import Base


class PartnerDirectoryEntry(Base):
    """What this service knows of a partner org, built only from the partners' events."""

    __tablename__ = "partner_directory"

    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Type and status as the partners service sent them (tolerant reader: unknown values kept).
    type: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(40))
    # The partner's own version of the snapshot held; older snapshots are never taken.
    version: Mapped[int] = mapped_column(Integer)
    # How many events about this partner were applied, stale ones included. The inbox applies
    # each event once, so a count above the number of events published means a double apply.
    events_applied: Mapped[int] = mapped_column(Integer)
    # When the partners service emitted the snapshot held (the CloudEvent's ``time``).
    last_event_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # When this service last applied an event to the row.
    projected_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
