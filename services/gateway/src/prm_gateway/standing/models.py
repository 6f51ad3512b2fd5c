import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from prm_gateway.db import Base


class PartnerStanding(Base):
    """A partner org's lifecycle status, kept from the partners' events: the edge refuses the
    keys and users of suspended and offboarded orgs."""

    __tablename__ = "partner_standing"

    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Kept as the producer sent it (a tolerant reader: a status this gateway does not know yet
    # is stored, and only the barred ones are refused).
    status: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
