from sqlalchemy.orm import DeclarativeBase

from prm_platform.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
