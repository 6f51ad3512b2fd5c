"""Async SQLAlchemy engine and sessions, one Postgres schema per service.

Each service connects with ``search_path`` set to its own schema only, so every table it creates
or reads (its domain tables, outbox, inbox, idempotency keys, its Alembic version table) lives in
that schema. Giving a service its own database later is a change of DSN, nothing else.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import MetaData, Result, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session

from prm_platform import telemetry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


def make_engine(database_url: str, schema: str, *, pool_size: int = 10) -> AsyncEngine:
    check_schema_name(schema)
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per request; broken connections are invalidated
        # on first error instead, and recycled before server-side idle timeouts.
        pool_recycle=1800,
        # Bound values never reach a log or an error message (an API key's hash, personal data).
        hide_parameters=True,
        connect_args={"server_settings": {"search_path": schema, "timezone": "UTC"}},
    )
    telemetry.trace_engine(engine)  # a span per statement while telemetry is on
    return engine


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL of ``make_engine`` as a DSN asyncpg connects with on its own."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


def rows_affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched (``Result`` does not type ``rowcount``)."""
    return int(getattr(result, "rowcount", 0) or 0)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose transactions are READ ONLY (``BEGIN READ ONLY``, no extra round trip):
    PostgreSQL refuses any write in them. Every GET runs in one (``prm_platform.http``)."""
    return make_sessionmaker(engine.execution_options(postgresql_readonly=True))


@event.listens_for(Session, "do_orm_execute")
def _locked_reads_refresh(state: ORMExecuteState) -> None:
    """A locking read (``SELECT ... FOR UPDATE``, ``session.get(..., with_for_update=True)``)
    always refreshes the objects it returns. Without this, an object the session already holds
    keeps the attributes read before the lock was granted: an action that loaded its record,
    then locked it, checked a stale version and status, and twenty concurrent calls with one
    If-Match all passed. Every ORM session of every service gets it, so no action can forget."""
    if state.is_select and getattr(state.statement, "_for_update_arg", None) is not None:
        state.update_execution_options(populate_existing=True)
