from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import DeclarativeBase

from prm_platform.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


async def driver(connection: AsyncConnection | AsyncSession) -> Any:
    """The asyncpg connection under ``connection``, in its transaction: for reads of many rows
    (conflict candidates, a routing pool's members) without SQLAlchemy's per-row cost."""
    if isinstance(connection, AsyncSession):
        connection = await connection.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection
