import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base


class Partner(Base):
    __tablename__ = "partners"
    # The keyset-pagination indexes of the list filters (migrations create them).
    __table_args__ = (
        Index("ix_partners_country_id", "country", "id"),
        Index("ix_partners_status_id", "status", "id"),
        Index("ix_partners_type_id", "type", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
