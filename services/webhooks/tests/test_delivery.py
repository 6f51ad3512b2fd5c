"""Signed, at-least-once delivery to real local receivers."""

import asyncio
import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from prm_webhooks.delivery.fanout import ADDED, fan_out

INTERNAL = ("x-prm-principal", "traceparent", "tracestate", "x-request-id")


async def test_signed_delivery(live, vendor, consume, dispatcher, receiver, create_endpoint,
                               deal_event, settle):
    listening = receiver()
    endpoint = await create_endpoint(live, vendor, listening.url,
                                     headers={"X-Api-Token": "receiver-token"})
    partner = uuid.uuid4()
    event = deal_event(partner)
    await consume(event, event)  # a redelivered event is one message
    await settle(dispatcher())
    [request] = listening.received
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "prm.deal.approved.v1"
    assert payload["event_id"] == str(event.id)
    assert payload["partner_id"] == str(partner)
    assert payload["data"]["deal_id"] == event.data["deal_id"]
    assert request.headers["x-api-token"] == "receiver-token"
    assert not set(INTERNAL) & set(request.headers)
    assert "traceparent" not in payload and "source" not in payload
    messages = (await live.get("/v1/webhook-messages", headers=vendor)).json()["items"]
    assert [m["id"] for m in messages] == [request.headers["webhook-id"]]
    assert messages[0]["deliveries"][0]["status"] == "succeeded"
    attempts = (await live.get(f"/v1/webhook-messages/{messages[0]['id']}/attempts",
                               headers=vendor)).json()["items"]
    assert [(a["outcome"], a["response_status"]) for a in attempts] == [("succeeded", 204)]


async def test_retries_keep_the_webhook_id_until_it_arrives(live, vendor, consume, dispatcher,
                                                           receiver, create_endpoint,
                                                           deal_event, settle):
    """The receiver is down at first, then answers 500 twice, then takes it."""
    answers = iter([500, 500])
    probe = receiver()
    port = probe.port
    probe.stop()  # nothing listens on the port now
    endpoint = await create_endpoint(live, vendor, f"http://127.0.0.1:{port}/hooks")
    events = [deal_event(uuid.uuid4()) for _ in range(3)]
    await consume(*events)
    sender = dispatcher(retry_schedule_seconds=[0.1, 0.1, 0.1, 0.1, 0.1])
    await sender.run_once()
    await asyncio.wait(set(sender.in_flight))
    async with (await _session(sender)) as session:
        failed = (await session.execute(text(
            "SELECT count(*) FROM webhook_attempts WHERE response_status IS NULL"))).scalar_one()
    assert failed == 3  # connection refused, each recorded

    listening = receiver(lambda r, q: (next(answers, 200), {}, b"ok"), port=port)
    await settle(sender)
    ids = [r.headers["webhook-id"] for r in listening.received]
    assert len(set(ids)) == 3  # every event arrived
    assert len(ids) == 5  # ... after two 500s, with the same ids
    for request in listening.received:
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
    by_event = {r.json()["event_id"] for r in listening.received}
    assert by_event == {str(e.id) for e in events}


async def _session(sender):
    return sender.sessionmaker()


async def test_429_retry_after_is_honoured(live, vendor, consume, dispatcher, receiver,
                                           create_endpoint, deal_event, settle, sessionmaker):
    answers = iter([(429, {"Retry-After": "2"})])
    listening = receiver(lambda r, q: (*next(answers, (200, {})), b""))
    await create_endpoint(live, vendor, listening.url)
    await consume(deal_event(uuid.uuid4()))
    sender = dispatcher(retry_schedule_seconds=[0.05])
    await sender.run_once()
    await asyncio.wait(set(sender.in_flight))
    async with sessionmaker() as session:
        row = (await session.execute(text(
            "SELECT d.next_attempt_at, a.attempted_at, d.status FROM webhook_deliveries d "
            "JOIN webhook_attempts a ON a.delivery_id = d.id"))).one()
    assert row.status == "pending"
    # The schedule said 0.05 s; the receiver asked for 2.
    assert row.next_attempt_at - row.attempted_at >= dt.timedelta(seconds=2)
    await settle(sender)
    assert len(listening.received) == 2


async def test_410_disables_the_endpoint(live, vendor, consume, dispatcher, receiver,
                                         create_endpoint, deal_event, settle, sessionmaker):
    listening = receiver(lambda r, q: (410, {}, b"gone"))
    endpoint = await create_endpoint(live, vendor, listening.url)
    await consume(deal_event(uuid.uuid4()))
    await settle(dispatcher())
    assert len(listening.received) == 1  # no retry after 410
    read = (await live.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=vendor)).json()
    assert read["enabled"] is False and read["disabled_reason"] == "gone"
    async with sessionmaker() as session:
        events = (await session.execute(text(
            "SELECT event_type, envelope FROM outbox"))).all()
    assert [e.event_type for e in events] == ["prm.webhook.endpoint.disabled.v1"]
    assert events[0].envelope["data"]["endpoint_id"] == endpoint["id"]
    assert events[0].envelope["data"]["reason"] == "gone"
    await consume(deal_event(uuid.uuid4()))  # a disabled endpoint gets no new messages
    async with sessionmaker() as session:
        assert (await session.execute(text(
            "SELECT count(*) FROM webhook_deliveries"))).scalar_one() == 1


async def test_failing_for_days_disables(live, vendor, consume, dispatcher, receiver,
                                         create_endpoint, deal_event, settle, sessionmaker):
    listening = receiver(lambda r, q: (503, {}, b"x" * 10000))
    endpoint = await create_endpoint(live, vendor, listening.url)
    async with sessionmaker() as session:
        await session.execute(text(
            "UPDATE webhook_endpoints SET failing_since = now() - interval '6 days'"))
        await session.commit()
    await consume(deal_event(uuid.uuid4()))
    await settle(dispatcher())
    read = (await live.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=vendor)).json()
    assert read["enabled"] is False and read["disabled_reason"] == "failing"
    async with sessionmaker() as session:
        body = (await session.execute(text(
            "SELECT response_body FROM webhook_attempts"))).scalar_one()
    assert len(body) == 4096  # the answer is kept only up to the cap


async def test_a_receiver_that_never_answers_holds_up_no_one(live, vendor, consume, dispatcher,
                                                            receiver, create_endpoint,
                                                            deal_event, sessionmaker):
    def hang(r, q):
        r.release.wait(30)
        return 200, {}, b""

    stuck = receiver(hang)
    healthy = receiver()
    await create_endpoint(live, vendor, stuck.url)
    await create_endpoint(live, vendor, healthy.url)
    await consume(*[deal_event(uuid.uuid4()) for _ in range(20)])
    sender = dispatcher(concurrency=8, per_endpoint_concurrency=2, timeout_seconds=10)
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        async with asyncio.timeout(8):  # well within the stuck attempts' timeout
            while len(healthy.received) < 20:  # noqa: ASYNC110 - counted in its thread
                await asyncio.sleep(0.05)
        assert len(stuck.received) <= 2  # its share of concurrency, still hanging
    finally:
        stuck.release.set()
        stop.set()
        await running


async def test_rotation_overlap_sends_both_signatures(live, vendor, consume, dispatcher,
                                                      receiver, create_endpoint, deal_event,
                                                      settle):
    listening = receiver()
    endpoint = await create_endpoint(live, vendor, listening.url)
    rotated = (await live.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret",
                               headers=vendor, json={"overlap_hours": 1})).json()
    await consume(deal_event(uuid.uuid4()))
    sender = dispatcher()
    await settle(sender)
    [during] = listening.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        Webhook(secret).verify(during.body, during.headers)

    # Rotated again without overlap: only the newest secret signs.
    newest = (await live.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret",
                              headers=vendor, json={"overlap_hours": 0})).json()
    await consume(deal_event(uuid.uuid4()))
    await settle(sender)
    after = listening.received[-1]
    Webhook(newest["secret"]).verify(after.body, after.headers)
    for old in (endpoint["secret"], rotated["secret"]):
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(after.body, after.headers)


async def test_ordered_endpoint_keeps_an_aggregates_order(live, vendor, consume, dispatcher,
                                                          receiver, create_endpoint,
                                                          deal_event, settle):
    failures = {"left": 2}
    lock = threading.Lock()

    def flaky_first(r, q):
        with lock:
            if q.json()["data"]["version"] == 2 and failures["left"]:
                failures["left"] -= 1
                return 503, {}, b""
        return 200, {}, b""

    listening = receiver(flaky_first)
    await create_endpoint(live, vendor, listening.url, ordered=True)
    deal, partner = uuid.uuid4(), uuid.uuid4()
    await consume(deal_event(partner, deal, version=2), deal_event(partner, deal, version=3))
    await settle(dispatcher())
    versions = [r.json()["data"]["version"] for r in listening.received]
    assert versions == [2, 2, 2, 3]  # 3 waited for 2


async def test_a_dead_workers_deliveries_are_sent_by_another(live, vendor, consume,
                                                             dispatcher, receiver,
                                                             create_endpoint, deal_event,
                                                             settle, sessionmaker):
    """A worker claims and dies before sending (as if SIGKILLed); once its lease runs out,
    another worker sends the same message, with the same webhook-id."""
    listening = receiver()
    await create_endpoint(live, vendor, listening.url)
    await consume(deal_event(uuid.uuid4()))
    dead = dispatcher(lease_seconds=0.5)
    [claimed] = await dead.claim(10)  # ... and never records anything
    survivor = dispatcher()
    assert await survivor.claim(10) == []  # leased: not twice at once
    await asyncio.sleep(0.6)
    await settle(survivor)
    [request] = listening.received
    assert request.headers["webhook-id"] == str(claimed.message_id)
    async with sessionmaker() as session:
        assert (await session.execute(text(
            "SELECT attempts FROM webhook_deliveries"))).scalar_one() == 2


async def test_an_outcome_after_the_lease_was_lost_is_logged_but_settles_nothing(
        live, vendor, consume, dispatcher, receiver, create_endpoint, deal_event, sessionmaker):
    """A worker whose lease ran out while it sent: its attempt is on the log (it happened),
    the delivery stays with the worker that holds it now, and the endpoint's health is not
    its to change."""
    from prm_webhooks.delivery.dispatcher import Answer

    listening = receiver()
    await create_endpoint(live, vendor, listening.url)
    await consume(deal_event(uuid.uuid4()), deal_event(uuid.uuid4()))
    slow, taker = dispatcher(), dispatcher()
    first, second = await slow.claim(10)
    async with sessionmaker() as session:  # the first's lease went to another worker
        await session.execute(text(
            "UPDATE webhook_deliveries SET lease_token = :other WHERE id = :id"),
            {"other": uuid.uuid4(), "id": first.id})
        await session.execute(text("UPDATE webhook_endpoints SET failing_since = now()"))
        await session.commit()
    await taker.record(first, Answer(204, "", None, 12))
    await slow.record(second, Answer(500, "no", None, 7))
    async with sessionmaker() as session:
        deliveries = {row.id: row for row in (await session.execute(text(
            "SELECT id, status, lease_token, last_response_status, next_attempt_at > now() "
            "AS later FROM webhook_deliveries"))).all()}
        attempts = (await session.execute(text(
            "SELECT delivery_id, outcome, response_status, latency_ms, response_body "
            "FROM webhook_attempts ORDER BY latency_ms"))).all()
        failing = (await session.execute(text(
            "SELECT failing_since IS NOT NULL FROM webhook_endpoints"))).scalar_one()
    assert [tuple(a) for a in attempts] == [(second.id, "failed", 500, 7, "no"),
                                            (first.id, "succeeded", 204, 12, "")]
    lost = deliveries[first.id]
    assert (lost.status, lost.last_response_status) == ("pending", None)
    assert lost.lease_token is not None  # still the other worker's
    retried = deliveries[second.id]
    assert (retried.status, retried.lease_token, retried.last_response_status,
            retried.later) == ("pending", None, 500, True)
    assert failing  # the one success was not this worker's to record as health


async def test_operations(live, vendor, consume, dispatcher, receiver, create_endpoint,
                          deal_event, settle):
    """Test ping, failure, recover, resend, statistics, attempts log."""
    state = {"status": 500}
    listening = receiver(lambda r, q: (state["status"], {}, b"busy"))
    endpoint = await create_endpoint(live, vendor, listening.url)
    base = f"/v1/webhook-endpoints/{endpoint['id']}"
    started = dt.datetime.now(dt.UTC).isoformat()
    ping = await live.post(f"{base}/test", headers=vendor)
    assert ping.status_code == 202, ping.text
    await consume(deal_event(uuid.uuid4()))
    sender = dispatcher(retry_schedule_seconds=[0.01])
    await settle(sender)
    stats = (await live.get(f"{base}/stats", headers=vendor)).json()
    assert stats["failed"] == 2 and stats["attempts_24h"] == 4
    assert stats["failed_attempts_24h"] == 4
    failed = (await live.get(f"{base}/attempts?outcome=failed", headers=vendor)).json()
    assert len(failed["items"]) == 4 and failed["items"][0]["response_body"] == "busy"

    state["status"] = 200
    recovered = await live.post(f"{base}/recover", headers=vendor, json={"since": started})
    assert recovered.json() == {"recovered": 2}
    await settle(sender)
    assert {r.json()["type"] for r in listening.received[-2:]} == {
        "prm.webhook.test.v1", "prm.deal.approved.v1"}
    message = ping.json()["id"]
    resent = await live.post(f"/v1/webhook-messages/{message}/resend", headers=vendor,
                             json={"endpoint_id": endpoint["id"]})
    assert resent.status_code == 200 and resent.json()["status"] == "pending"
    await settle(sender)
    assert listening.received[-1].headers["webhook-id"] == message
    stats = (await live.get(f"{base}/stats", headers=vendor)).json()
    assert stats["succeeded"] == 2 and stats["failed"] == 0 and stats["pending"] == 0


async def test_a_freed_slot_is_used_at_once_not_after_the_poll(live, vendor, consume,
                                                               dispatcher, receiver,
                                                               create_endpoint, deal_event,
                                                               sessionmaker):
    """With its endpoint's share in flight the loop does not sleep a whole poll interval: the
    next delivery starts when an attempt ends (one at a time here, a 5 s poll)."""
    listening = receiver()
    await create_endpoint(live, vendor, listening.url)
    await consume(*[deal_event(uuid.uuid4()) for _ in range(6)])
    sender = dispatcher(per_endpoint_concurrency=1, poll_seconds=5)
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        started = asyncio.get_running_loop().time()
        while len(listening.received) < 6:
            assert asyncio.get_running_loop().time() - started < 4.5, \
                f"{len(listening.received)} of 6 delivered: the loop waited for its poll"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await running
    async with sessionmaker() as session:
        assert (await session.execute(text(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
        ))).scalar_one() == 6


async def test_deliveries_committed_here_wake_the_idle_dispatcher(live, vendor, consume,
                                                                 dispatcher, receiver,
                                                                 create_endpoint, deal_event):
    """An idle dispatcher (a 5 s poll) sends what the consumer beside it commits at once, not
    at its next poll; a rolled-back fan-out wakes nothing."""
    listening = receiver()
    await create_endpoint(live, vendor, listening.url)
    sender = dispatcher(poll_seconds=5)
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        await asyncio.sleep(0.3)  # it found nothing and sleeps its poll
        await consume(deal_event(uuid.uuid4()))
        started = asyncio.get_running_loop().time()
        while not listening.received:
            assert asyncio.get_running_loop().time() - started < 3, "it waited for its poll"
            await asyncio.sleep(0.02)
        woken = []
        ADDED.listeners.add(lambda: woken.append(True))
        async with sender.sessionmaker() as session:
            await fan_out(session, deal_event(uuid.uuid4()))
            await session.rollback()
        assert woken == []
    finally:
        ADDED.listeners.clear()
        stop.set()
        await running


async def test_a_backlog_is_claimed_a_share_at_a_time(live, vendor, consume, dispatcher,
                                                      receiver, create_endpoint, deal_event,
                                                      sessionmaker):
    """Hundreds due for each endpoint: a claim takes each one's share (or what its rate limit
    allows) and no more, and another worker finds every share leased."""
    listening = receiver()
    busy = await create_endpoint(live, vendor, listening.url)
    limited = await create_endpoint(live, vendor, f"{listening.url}/limited", rate_limit=2)
    await consume(*[deal_event(uuid.uuid4()) for _ in range(300)])
    first = dispatcher(per_endpoint_concurrency=4)
    second = dispatcher(per_endpoint_concurrency=4)
    claimed = await first.claim(64)
    by_endpoint = {}
    for delivery in claimed:
        by_endpoint[str(delivery.endpoint_id)] = by_endpoint.get(str(delivery.endpoint_id),
                                                                 0) + 1
    assert by_endpoint == {busy["id"]: 4, limited["id"]: 2}
    assert await second.claim(64) == []  # every share is leased


async def test_an_event_is_one_message_even_past_the_inbox(live, vendor, receiver,
                                                          create_endpoint, deal_event,
                                                          sessionmaker):
    """The message and its deliveries are one statement: an event fanned out twice (its inbox
    row gone, say) stays one message with one delivery per endpoint."""
    listening = receiver()
    await create_endpoint(live, vendor, listening.url)
    await create_endpoint(live, vendor, f"{listening.url}/second")
    event = deal_event(uuid.uuid4())
    for _ in range(2):
        async with sessionmaker() as session:
            await fan_out(session, event)
            await session.commit()
    async with sessionmaker() as session:
        counts = (await session.execute(text(
            "SELECT (SELECT count(*) FROM webhook_messages), "
            "(SELECT count(*) FROM webhook_deliveries)"))).one()
    assert tuple(counts) == (1, 2)
