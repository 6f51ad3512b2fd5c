"""The newest version of a projected row wins, whatever order its events arrive in."""

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from prm_platform.db import make_sessionmaker
from prm_platform.projections import NewestVersion
from prm_stack.testing import scratch_schema

TABLE = ("CREATE TABLE directory (id uuid PRIMARY KEY, name text NOT NULL, version int NOT NULL,"
         " seen int NOT NULL, first_at int)")
RECORD = NewestVersion("directory", "id", {"id": None, "name": None, "version": None,
                                           "seen": "1", "first_at": None},
                       newer=("name", "version"),
                       always={"seen": "t.seen + 1",
                               "first_at": "least(t.first_at, excluded.first_at)"})


@settings(max_examples=1, deadline=None)  # the orders are drawn inside, on one database
@given(st.data())
async def test_any_order_of_arrival_keeps_the_newest(prm_infra, data):
    async with scratch_schema(prm_infra, TABLE) as (engine, _):
        sessions = make_sessionmaker(engine)
        for _ in range(25):
            row = uuid.uuid4()
            versions = data.draw(st.lists(st.integers(1, 50), min_size=1, max_size=8))
            async with sessions() as session:
                for version in versions:  # in the drawn order, repeats included
                    await RECORD(session, id=row, name=f"v{version}", version=version,
                                 first_at=version)
                await session.commit()
            async with sessions() as session:
                held = (await session.execute(text(
                    "SELECT name, version, seen, first_at FROM directory WHERE id = :id"),
                    {"id": row})).one()
            newest = max(versions)
            assert tuple(held) == (f"v{newest}", newest, len(versions), min(versions))


def test_only_plain_names_and_a_versioned_snapshot():
    with pytest.raises(ValueError):
        NewestVersion("directory; DROP TABLE x", "id", {"id": None, "version": None},
                      newer=("version",))
    with pytest.raises(ValueError):
        NewestVersion("directory", "id", {"id": None, "name": None}, newer=("name",))
    with pytest.raises(ValueError):  # a newer column that is not inserted
        NewestVersion("directory", "id", {"id": None, "version": None},
                      newer=("version", "name"))


async def test_parameters_must_match(prm_infra):
    async with scratch_schema(prm_infra, TABLE) as (engine, _):
        async with make_sessionmaker(engine)() as session:
            with pytest.raises(TypeError):
                await RECORD(session, id=uuid.uuid4(), name="x", version=1)
