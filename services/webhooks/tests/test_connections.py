"""The deliveries' HTTP client: connections kept alive between deliveries and dropped after an
answer read only to its cap; no proxy from the environment; no cookies kept."""

import uuid

from sqlalchemy import text


async def test_connections_are_kept_alive_between_deliveries(
        live, vendor, consume, dispatcher, receiver, create_endpoint, deal_event, settle):
    listening = receiver()
    await create_endpoint(live, vendor, listening.url)
    sender = dispatcher()
    for _ in range(4):
        await consume(deal_event(uuid.uuid4()))
        await settle(sender)
    assert len(listening.received) == 4
    assert len({r.peer for r in listening.received}) == 1


async def test_an_answer_longer_than_the_cap_drops_its_connection(
        live, vendor, consume, dispatcher, sessionmaker, receiver, create_endpoint, deal_event,
        settle):
    """The rest of a long answer is never read (beyond the client's buffer, a few hundred
    kilobytes): the connection goes, the next delivery opens another, and what is kept is the
    cap's length."""
    listening = receiver(lambda r, q: (200, {}, b"x" * 8_000_000))
    await create_endpoint(live, vendor, listening.url)
    sender = dispatcher(response_body_bytes=1000)
    for _ in range(2):
        await consume(deal_event(uuid.uuid4()))
        await settle(sender)
    assert len({r.peer for r in listening.received}) == 2
    async with sessionmaker() as session:
        bodies = (await session.execute(text(
            "SELECT response_body FROM webhook_attempts"))).scalars().all()
    assert [len(b) for b in bodies] == [1000, 1000]


async def test_no_proxy_from_the_environment(
        live, vendor, consume, dispatcher, receiver, create_endpoint, deal_event, settle,
        monkeypatch):
    target, proxy = receiver(), receiver()
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url.removesuffix("/hooks"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    await create_endpoint(live, vendor, target.url)
    await consume(deal_event(uuid.uuid4()))
    await settle(dispatcher())
    assert len(target.received) == 1 and proxy.received == []


async def test_cookies_are_neither_kept_nor_sent(
        live, vendor, consume, dispatcher, receiver, create_endpoint, deal_event, settle):
    """A receiver's Set-Cookie would otherwise ride along on every later delivery to its
    host, whichever endpoint (and org) it is for."""
    listening = receiver(lambda r, q: (204, {"Set-Cookie": "session=abc; Path=/"}, b""))
    await create_endpoint(live, vendor, listening.url)
    await create_endpoint(live, vendor, listening.url.replace("/hooks", "/other"))
    sender = dispatcher()
    for _ in range(2):
        await consume(deal_event(uuid.uuid4()))
        await settle(sender)
    assert len(listening.received) == 4
    assert all("cookie" not in r.headers for r in listening.received)
    assert all(set(r.headers) >= {"webhook-id", "webhook-signature", "content-type"}
               and "accept-encoding" not in r.headers for r in listening.received)
