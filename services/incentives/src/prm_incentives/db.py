from typing import Any

from sqlalchemy.orm import DeclarativeBase

from prm_platform.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


def columns(model: Any) -> list[Any]:
    """A model's table columns for a Core select (rows with an attribute per column), but its
    ``search_text``: what a search looks in is no part of an answer."""
    return [column for column in model.__table__.c if column.key != "search_text"]
