"""A locking read refreshes what the session already holds (prm_platform.db): the guarantee
that an action re-reads its record under the lock, whichever way it loaded it before."""

import uuid

from sqlalchemy import Integer, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from prm_platform.db import make_sessionmaker
from prm_stack.testing import scratch_schema

THINGS = "CREATE TABLE things (id uuid PRIMARY KEY, status text NOT NULL, version int NOT NULL)"


class Base(DeclarativeBase):
    pass


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(Integer)


async def test_a_locking_read_sees_what_another_transaction_committed(prm_infra):
    async with scratch_schema(prm_infra, THINGS) as (engine, _):
        sessions = make_sessionmaker(engine)
        thing_id = uuid.uuid4()
        async with sessions() as setup:
            setup.add(Thing(id=thing_id, status="approved", version=2))
            await setup.commit()
        ways = {
            "get": lambda s: s.get(Thing, thing_id, with_for_update=True),
            "select": lambda s: s.scalar(select(Thing).where(Thing.id == thing_id)
                                         .with_for_update()),
        }
        for way, locked_read in ways.items():
            async with sessions() as session:
                seen = await session.get(Thing, thing_id)  # read before the lock
                assert seen is not None
                before = seen.version
                async with sessions() as other:  # another caller changes it meanwhile
                    await other.execute(text("UPDATE things SET status = 'won', "
                                             "version = version + 1"))
                    await other.commit()
                locked = await locked_read(session)
                assert locked is seen  # the same object, refreshed
                assert (locked.status, locked.version) == ("won", before + 1), way
                # a plain read keeps the identity map's copy (only locks refresh)
                await session.rollback()
