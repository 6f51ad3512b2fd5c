"""Async SQLAlchemy engine and sessions, one Postgres schema per service.

Each service connects with ``search_path`` set to its own schema only, so every table it creates
or reads (its domain tables, outbox, inbox, idempotency keys, its Alembic version table) lives in
that schema. Giving a service its own database later is a change of DSN, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import MetaData, Result, event
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
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


# -- statements on asyncpg itself -------------------------------------------------------------

# A named parameter as SQLAlchemy's text() reads one: ``:name``, not a ``::type`` cast.
_PARAMETER = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
# Errors after which the connection is gone, though asyncpg may not have seen its socket close
# yet (the server's "terminating connection" error, a protocol left mid-operation).
CONNECTION_ERRORS = (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError,
                     asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)


class Statement:
    """SQL with ``:name`` parameters, run on asyncpg itself, inside the SQLAlchemy connection's
    transaction (or its autocommit). SQLAlchemy's execution of a statement (its context, result
    and cursor layers) costs about 80 microseconds of CPU beyond asyncpg's own, more than the
    statement itself on a hot path that runs one or two a request or an event; elsewhere
    ``text()`` reads better and costs nothing that matters.

    The values go to asyncpg as they are: the SQL casts what it needs. A statement traces as
    SQLAlchemy's do (a client span with its SQL, never its values) while telemetry is on."""

    def __init__(self, sql: str) -> None:
        self.names: list[str] = []

        def positional(match: re.Match[str]) -> str:
            if match.group(1) not in self.names:
                self.names.append(match.group(1))
            return f"${self.names.index(match.group(1)) + 1}"

        self.sql = _PARAMETER.sub(positional, sql)
        self._span = {"db.system.name": "postgresql", "db.query.text": self.sql}

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        missing = [n for n in self.names if n not in parameters]
        if missing:
            raise TypeError(f"missing the parameters {missing}")
        return [parameters[n] for n in self.names]

    async def fetch(self, connection: AsyncConnection | AsyncSession,
                    parameters: Mapping[str, Any] | None = None) -> list[Any]:
        return list(await self._run(connection, "fetch", self.arguments(parameters or {})))

    async def fetchrow(self, connection: AsyncConnection | AsyncSession,
                       parameters: Mapping[str, Any] | None = None) -> Any:
        return await self._run(connection, "fetchrow", self.arguments(parameters or {}))

    async def execute(self, connection: AsyncConnection | AsyncSession,
                      parameters: Mapping[str, Any] | None = None) -> None:
        await self._run(connection, "execute", self.arguments(parameters or {}))

    async def executemany(self, connection: AsyncConnection | AsyncSession,
                          rows: Sequence[Mapping[str, Any]]) -> None:
        """Every row's parameters at once (asyncpg pipelines them in one round trip)."""
        await self._run(connection, "executemany", [self.arguments(row) for row in rows],
                        spread=False)

    async def _run(self, connection: AsyncConnection | AsyncSession, method: str,
                   arguments: list[Any], *, spread: bool = True) -> Any:
        if isinstance(connection, AsyncSession):
            connection = await connection.connection()
        driver = await asyncpg_connection(connection)
        try:
            with telemetry.span("statement", kind=telemetry.SpanKind.CLIENT,
                                attributes=self._span):
                call = getattr(driver, method)
                return await (call(self.sql, *arguments) if spread else call(self.sql, arguments))
        except CONNECTION_ERRORS:
            # The connection ended and SQLAlchemy did not see it: it is told, and its pool
            # opens a new one instead of handing this one out again.
            await connection.invalidate()
            raise


async def asyncpg_connection(connection: AsyncConnection | AsyncSession) -> Any:
    """The asyncpg connection under ``connection``, in its transaction: SQLAlchemy begins one
    lazily, at its first statement, so a statement sent to asyncpg first begins it here (a
    connection in autocommit has none). Outside a transaction and not in autocommit, a
    statement would commit by itself, so that is refused."""
    if isinstance(connection, AsyncSession):
        connection = await connection.connection()
    raw = await connection.get_raw_connection()
    # SQLAlchemy's asyncpg adapter: its transaction and how it begins one are its own (the
    # lockfile pins the version; libs/platform/tests/test_statements.py fails if either changes).
    adapted: Any = raw.dbapi_connection
    if not adapted.autocommit and adapted._transaction is None:
        if not connection.in_transaction():
            raise RuntimeError("a statement outside a transaction on a connection that is not "
                               "in autocommit")
        await adapted._start_transaction()
    return raw.driver_connection
