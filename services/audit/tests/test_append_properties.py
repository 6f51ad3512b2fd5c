"""Properties of appending: whatever the batches, redeliveries and replays, every event is one
entry, each chain is numbered from 1 without a gap in the order its events were first applied,
and it verifies from its genesis up to its head. The database numbers and hashes the entries
from the halves the worker encodes around the seq: those are the chain's own encoding."""

import datetime as dt
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from prm_audit.trail import chain
from prm_audit.trail.recording import service_of

from .conftest import TABLES, event, worker_consumer

_text = st.one_of(st.none(), st.text(max_size=30))
_times = st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9999, 1, 1),
                      timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-7))]))


@settings(max_examples=300, deadline=None)
@given(service=st.text(min_size=1, max_size=20), seq=st.integers(0, 2**63 - 1),
       type_=st.text(max_size=30), record=_text, actor=_text, request_id=_text,
       partner=st.one_of(st.none(), st.uuids()), occurred=_times, recorded=_times,
       digests=st.tuples(st.binary(min_size=32, max_size=32),
                         st.binary(min_size=32, max_size=32)))
def test_the_halves_around_the_seq_are_the_encoding(service, seq, type_, record, actor,
                                                    request_id, partner, occurred, recorded,
                                                    digests):
    entry = chain.Entry(service=service, seq=seq, event_id=uuid.uuid4(), occurred_at=occurred,
                        recorded_at=recorded, type=type_, record=record, partner_id=partner,
                        actor=actor, request_id=request_id, data_digest=digests[0],
                        facts_digest=digests[1])
    before, after = entry.around_seq()
    assert before + str(seq).encode() + after == entry.encoded()


SOURCES = ("/prm/incentives", "/prm/partners", "/prm/deals", "/elsewhere/x")
# A step: which events of the pool a poll brings (repeats are redeliveries), whether they are
# applied together or one by one, and whether the inbox forgot everything before (a replay
# past its retention: only the trail itself can then tell an event it has).
step = st.tuples(st.lists(st.integers(0, 11), min_size=1, max_size=8), st.booleans(),
                 st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(story=st.lists(step, min_size=1, max_size=6), sources=st.lists(
    st.sampled_from(SOURCES), min_size=12, max_size=12))
async def test_every_event_once_and_every_chain_gapless_and_verified(engine, sessionmaker,
                                                                     story, sources):
    async with engine.begin() as connection:
        await connection.execute(text("SET LOCAL prm_audit.maintenance = 'on'"))
        await connection.execute(text(f"TRUNCATE {TABLES}"))
    pool = [event("prm.partner.something.v1", {"partner_id": str(uuid.uuid4()), "n": i,
                                               "name": "Zoë \"quoted\" \u2028"},
                  source=source, subject=f"record-{i}")
            for i, source in enumerate(sources)]
    consumer = worker_consumer(sessionmaker)
    first_applied: list[uuid.UUID] = []
    for indexes, together, forget in story:
        if forget:
            async with engine.begin() as connection:
                await connection.execute(text("DELETE FROM inbox"))
        events = [pool[i] for i in indexes]
        if together:
            await consumer.apply_batch(events)
        else:
            for one in events:
                await consumer.apply_batch([one])
        for one in events:
            if one.id not in first_applied:
                first_applied.append(one.id)

    async with engine.connect() as connection:
        rows = (await connection.execute(text(
            "SELECT * FROM audit_entries ORDER BY service, seq"))).all()
        heads = {row.service: row for row in (await connection.execute(text(
            "SELECT * FROM audit_chains"))).all()}
    assert sorted(row.event_id for row in rows) == sorted(first_applied)
    by_id = {e.id: e for e in pool}
    for service, head in heads.items():
        entries = [row for row in rows if row.service == service]
        assert [row.seq for row in entries] == list(range(1, len(entries) + 1))
        assert [row.event_id for row in entries] == [
            i for i in first_applied if service_of(by_id[i].source) == service]
        walk = chain.Walk(0, chain.genesis(service))
        assert chain.check(walk, entries, {}) is None
        assert (head.head_seq, bytes(head.head_hash)) == (walk.seq, walk.hash)
        assert (head.anchor_seq, bytes(head.anchor_hash)) == (0, chain.genesis(service))



async def test_a_rollback_forgets_what_it_noted_and_a_savepoints_does_not(engine, sessionmaker,
                                                                          fresh):
    from prm_audit.trail.recording import record

    from .conftest import claim_approved

    partner = uuid.uuid4()
    kept, dropped = claim_approved(uuid.uuid4(), partner), claim_approved(uuid.uuid4(), partner)
    async with sessionmaker() as session:  # each begun as the consumer's, by a statement
        await session.execute(text("SELECT 1"))
        await record(session, kept)
        savepoint = await session.begin_nested()  # another part's handler, undone
        await savepoint.rollback()
        await session.commit()
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))
        await record(session, dropped)
        await session.rollback()
        await session.commit()  # the same session, used again
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT event_id FROM audit_entries"))
                ).scalars().all() == [kept.id]


async def test_writers_of_several_chains_at_once_neither_deadlock_nor_break_them(
        engine, sessionmaker, fresh):
    """Batches naming the same chains in opposite orders, at once: every chain stays gapless
    and verified (each writer locks its chains in service order, so none deadlocks)."""
    import asyncio

    from .conftest import claim_approved, tier_changed

    partner = uuid.uuid4()
    batches = []
    for n in range(4):
        mixed = [claim_approved(uuid.uuid4(), partner) if i % 2 else tier_changed(partner)
                 for i in range(10)]
        batches.append(mixed if n % 2 else mixed[::-1])
    consumers = [worker_consumer(sessionmaker) for _ in batches]
    await asyncio.gather(*(c.apply_batch(b) for c, b in zip(consumers, batches, strict=True)))
    async with engine.connect() as connection:
        rows = (await connection.execute(text(
            "SELECT * FROM audit_entries ORDER BY service, seq"))).all()
    assert len(rows) == 40
    for service in ("incentives", "partners"):
        entries = [row for row in rows if row.service == service]
        assert [row.seq for row in entries] == list(range(1, 21))
        assert chain.check(chain.Walk(0, chain.genesis(service)), entries, {}) is None
