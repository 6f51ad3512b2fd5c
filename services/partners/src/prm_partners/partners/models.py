import datetime as dt
import uuid

from sqlalchemy import TIMESTAMP, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from prm_partners.db import Base


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(TIMESTAMP(timezone=True))
