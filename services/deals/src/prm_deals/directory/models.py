import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, Computed, Date, Index, Integer, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prm_deals.db import Base


class PartnerDirectoryEntry(Base):
    """What this service knows of a partner org, built only from the partners' events."""

    __tablename__ = "partner_directory"
    # Lead routing filters partners by these with @> and && (prm_deals.leads).
    __table_args__ = tuple(
        Index(f"ix_partner_directory_{column}", column, postgresql_using="gin")
        for column in ("countries_served", "languages", "specialisations", "certifications",
                       "markets"))

    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Type and status as the partners service sent them (tolerant reader: unknown values kept).
    type: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(40))
    # Where the partner sells (ISO 3166-1 alpha-2), the languages it works in (BCP 47) and its
    # specialisations, from the snapshot like the columns above.
    countries_served: Mapped[list[str]] = mapped_column(ARRAY(String(2)), server_default="{}")
    # Its markets: the countries it serves and its home country (kept by PostgreSQL), which a
    # routing rule's country condition reads through one index.
    markets: Mapped[list[str]] = mapped_column(
        ARRAY(String(2)), Computed("array_append(countries_served, country)", persisted=True))
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default="{}")
    specialisations: Mapped[list[str]] = mapped_column(ARRAY(String(60)), server_default="{}")
    # The codes of its certifications active now, distinct and sorted: recomputed from
    # partner_directory_certifications whenever one is earned or expires, and when the row is
    # first made (certifications that arrived before the partner).
    certifications: Mapped[list[str]] = mapped_column(ARRAY(String(60)), server_default="{}")
    # The partner's own version of the snapshot held; older snapshots are never taken.
    version: Mapped[int] = mapped_column(Integer)
    # How many events about this partner were applied, stale ones included. The inbox applies
    # each event once, so a count above the number of events published means a double apply.
    # Snapshot events only: a certification event changes the row without counting.
    events_applied: Mapped[int] = mapped_column(Integer)
    # When the partners service emitted the snapshot held (the CloudEvent's ``time``).
    last_event_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    # When this service last applied an event to the row.
    projected_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))


class PartnerDirectoryCertification(Base):
    """A certification of a partner as its events told it, kept so that an expiry takes away
    exactly its own code (another certification of the same code may still be active), and
    kept after it expired so that an earn arriving after its expiry is known to be stale."""

    __tablename__ = "partner_directory_certifications"

    # No foreign key to the directory: a certification may arrive before its partner.
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    certification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60))
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    # Set by the expiry (or revocation): the row no longer counts and is never active again.
    expired_on: Mapped[dt.date | None] = mapped_column(Date)
