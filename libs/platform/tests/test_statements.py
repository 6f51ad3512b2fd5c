"""Statements run on asyncpg itself (``prm_platform.db.Statement``): in the SQLAlchemy
connection's transaction, whichever statement comes first, or in its autocommit; never
committing by themselves otherwise; the connection invalidated once it has ended."""

import asyncpg
import pytest
from sqlalchemy import text

from prm_platform.db import CONNECTION_ERRORS, Statement, make_sessionmaker
from prm_stack.testing import scratch_schema

TABLE = "CREATE TABLE things (id int PRIMARY KEY, name text)"
INSERT = Statement("INSERT INTO things (id, name) VALUES (:id, :name) RETURNING id")
COUNT = Statement("SELECT count(*) AS n FROM things WHERE id >= :low")


def test_named_parameters_become_positional_and_casts_stay():
    statement = Statement("SELECT CAST(:a AS int) + CAST(:b AS int), :a, 'x'::text")
    assert statement.sql == "SELECT CAST($1 AS int) + CAST($2 AS int), $1, 'x'::text"
    assert statement.names == ["a", "b"]
    assert statement.arguments({"b": 2, "a": 1, "unused": 3}) == [1, 2]
    with pytest.raises(TypeError, match="missing the parameters"):
        statement.arguments({"a": 1})


async def test_a_statement_first_in_a_session_runs_in_its_transaction(prm_infra):
    """SQLAlchemy begins its transaction at its first statement; sent to asyncpg first, the
    statement begins it, so a rollback takes it back with the rest."""
    async with scratch_schema(prm_infra, TABLE) as (engine, _):
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            assert (await INSERT.fetchrow(session, {"id": 1, "name": "first"}))["id"] == 1
            await session.execute(text("INSERT INTO things VALUES (2, 'second')"))
            await session.rollback()
        async with sessions() as session:
            await INSERT.fetchrow(session, {"id": 3, "name": "kept"})
            await session.commit()
        async with engine.connect() as connection:
            assert (await connection.execute(text(
                "SELECT array_agg(id) FROM things"))).scalar_one() == [3]


async def test_in_autocommit_each_statement_commits(prm_infra):
    async with scratch_schema(prm_infra, TABLE) as (engine, _):
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await INSERT.fetchrow(connection, {"id": 1, "name": "a"})
            await connection.rollback()  # nothing to roll back: it committed
        async with engine.connect() as connection:
            await connection.begin()
            assert [r["n"] for r in await COUNT.fetch(connection, {"low": 0})] == [1]


async def test_outside_a_transaction_a_statement_is_refused(prm_infra):
    """On a connection neither in a transaction nor in autocommit, asyncpg would commit the
    statement by itself, unseen by SQLAlchemy."""
    async with scratch_schema(prm_infra, TABLE) as (engine, _), engine.connect() as connection:
        with pytest.raises(RuntimeError, match="outside a transaction"):
            await INSERT.fetchrow(connection, {"id": 1, "name": "a"})


async def test_a_connection_that_ended_is_invalidated(prm_infra):
    """Ended by the server: the error reaches the caller and the pool opens a new connection
    next time instead of handing the dead one out again."""
    async with scratch_schema(prm_infra, TABLE) as (engine, _):
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            pid = (await Statement("SELECT pg_backend_pid() AS pid").fetchrow(connection))["pid"]
            async with engine.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await other.commit()
            # Which error depends on when the client reads the server's farewell: a server
            # error, a closed connection, or a protocol still busy with the farewell.
            with pytest.raises((*CONNECTION_ERRORS, asyncpg.PostgresError)):
                await COUNT.fetchrow(connection, {"low": 0})
            assert connection.invalidated
        async with engine.connect() as connection:
            await connection.begin()
            assert (await COUNT.fetchrow(connection, {"low": 0}))["n"] == 0
