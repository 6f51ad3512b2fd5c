"""The notification stream: what is committed arrives, in the order it can no longer change,
and a client resuming with Last-Event-ID misses nothing and gets nothing twice."""

import asyncio
import uuid

import pytest

from prm_contracts import DealApprovedV1
from prm_events.envelope import new_event
from prm_platform.security import Principal, PrincipalKind
from prm_portal.notifications import stream
from prm_portal.notifications.feed import notify

READS = frozenset({"portal:read", "deals:read"})


def approved(partner_id: uuid.UUID):
    deal = uuid.uuid4()
    return new_event(DealApprovedV1(deal_id=deal, partner_id=partner_id, status="approved",
                                    version=2, protected_until="2027-06-30"),
                     source="/prm/deals", subject=str(deal), partner_id=partner_id)


def reader(partner_id: uuid.UUID) -> Principal:
    return Principal(subject="user:ana", kind=PrincipalKind.partner, partner_id=partner_id,
                     scopes=READS)


class Listener:
    """A stream read in the background, its events collected as (id, notification)."""

    def __init__(self, app, principal, position, **timing) -> None:
        import orjson

        self.received: list[tuple[str, dict]] = []
        self.heartbeats = 0
        self.chunks = 0
        self.changed = asyncio.Event()
        self.waker = stream.Waker(app.state.waker.dsn)

        async def run() -> None:
            async for chunk in stream.events(
                    app.state.read_sessionmaker, self.waker, principal, position,
                    render=lambda row: {"id": str(row.id), "event_id": str(row.event_id)},
                    heartbeat=timing.get("heartbeat", 30.0), poll=timing.get("poll", 30.0),
                    lasting=timing.get("lasting", 60.0)):
                text = chunk.decode()
                self.chunks += 1
                if text.startswith(": keep-alive"):
                    self.heartbeats += 1
                elif text.startswith("id: "):
                    lines = dict(line.split(": ", 1) for line in text.strip().split("\n"))
                    assert lines["event"] == "notification"
                    self.received.append((lines["id"], orjson.loads(lines["data"])))
                self.changed.set()
        self.task = asyncio.create_task(run())

    async def started(self) -> "Listener":
        """Once the stream listens (its first chunk, the retry advice, is sent after)."""
        await self.wait_for(lambda: self.chunks > 0, timeout=10)
        return self

    async def wait_for(self, done, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                await self.changed.wait()
                self.changed.clear()

    async def until(self, count: int, timeout: float = 10.0) -> list[tuple[str, dict]]:
        await self.wait_for(lambda: len(self.received) >= count, timeout)
        return self.received

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.waker.close()


async def test_committed_notifications_arrive_at_once_and_resume_after_the_last(
        app, consume, fresh):
    partner = uuid.uuid4()
    start = await stream.start_position(app.state.read_sessionmaker)
    listener = await Listener(app, reader(partner), start).started()
    first = [approved(partner) for _ in range(3)]
    await consume(*first)
    received = await listener.until(3)  # woken by NOTIFY, not the 30 s poll
    assert [n["event_id"] for _, n in received] == [str(e.id) for e in first]
    await listener.stop()
    # Gone for a while: what happened meanwhile comes on resuming after the last id seen.
    later = [approved(partner) for _ in range(2)]
    await consume(*later, approved(uuid.uuid4()))  # and nothing of another org
    resumed = Listener(app, reader(partner), stream.parse_position(received[-1][0]))
    again = await resumed.until(2)
    await asyncio.sleep(0.3)
    assert [n["event_id"] for _, n in again] == [str(e.id) for e in later]
    await resumed.stop()


async def test_a_stream_woken_as_its_client_leaves_ends_at_once(app, fresh):
    """The client goes away in the very step a notification wakes the stream: the stream
    ends then, not a poll (or its whole lifetime) later."""
    start = await stream.start_position(app.state.read_sessionmaker)
    listener = await Listener(app, reader(uuid.uuid4()), start).started()
    await asyncio.sleep(0.5)  # looked, found nothing: waiting for a wake
    listener.waker._wake()
    listener.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await listener.task
    await listener.waker.close()


async def test_a_transaction_committing_late_is_not_passed_over(app, sessionmaker, consume,
                                                                fresh):
    """A notification whose transaction began first but commits last must not be skipped by
    a stream that already sent a later one."""
    partner = uuid.uuid4()
    listener = await Listener(app, reader(partner),
                              await stream.start_position(app.state.read_sessionmaker)).started()
    slow_event, fast_event = approved(partner), approved(partner)
    async with sessionmaker() as slow:
        await notify(slow, slow_event)  # its row is written, its transaction still open
        await consume(fast_event)
        await asyncio.sleep(0.5)
        assert listener.received == []  # held back while an older transaction runs
        await slow.commit()
    received = await listener.until(2)
    assert [n["event_id"] for _, n in received] == [str(slow_event.id), str(fast_event.id)]
    await listener.stop()


async def test_a_quiet_stream_sends_heartbeats(app, fresh):
    listener = Listener(app, reader(uuid.uuid4()),
                        await stream.start_position(app.state.read_sessionmaker),
                        heartbeat=0.1, poll=0.05)
    await listener.wait_for(lambda: listener.heartbeats >= 2, timeout=5)
    await listener.stop()


async def test_the_stream_endpoint(client, as_partner):
    response = await client.get("/v1/notifications/stream", headers={
        **as_partner(uuid.uuid4()), "Last-Event-ID": "not-a-position"})
    assert response.status_code == 422
    assert "Last-Event-ID" in response.text
    refused = await client.get("/v1/notifications/stream",
                               headers=as_partner(uuid.uuid4(), ("deals:read",)))
    assert refused.status_code == 403
