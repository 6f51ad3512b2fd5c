"""Fault tests of webhook delivery through the whole stack (``python -m prm_stack run``).

A real HTTP receiver runs in a thread of the test: it verifies every request's signature with
the ``standardwebhooks`` library and records each ``webhook-id`` and the event it carries. A
vendor endpoint for the partners' lifecycle events is registered through the gateway, then
partners are created and activated through the gateway (two events each) while something
breaks:

* the receiver goes down (connections refused) for a while and comes back;
* the ``webhooks-worker`` process is SIGKILLed (the supervisor restarts it; the deliveries it
  had leased are sent again once their lease runs out);
* the broker is SIGKILLed (the supervisor restarts it and sends again what the outboxes held).

In the end every partner event committed in the partners outbox has reached the receiver,
correctly signed; an event arriving twice does so only with the same ``webhook-id``, and every
delivery is recorded as succeeded. The retry schedule and the lease are shortened through the
service's settings (``PRM_WEBHOOKS_*``) so that recovery happens within the test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from prm_stack.embedded import free_port, remove_data
from prm_stack.launch import RunningStack, fresh_database, running_stack

PARTNERS = 60
EVENTS = 2 * PARTNERS  # created and activated
# The events the load makes and the receiver subscribes to (the partners service also announces
# each new active partner's progress to the next tier, when its worker has evaluated it).
LIFECYCLE = ("partner.created", "partner.status_changed")

pytestmark = pytest.mark.stack

# What the webhooks service needs to deliver to a local receiver within a test: http and
# loopback targets, retries a second or two apart (twenty of them) rather than minutes, and a
# lease that runs out in seconds after its worker died.
WEBHOOK_ENV = {
    "PRM_WEBHOOKS_ALLOW_HTTP": "true",
    "PRM_WEBHOOKS_ALLOW_LOOPBACK": "true",
    "PRM_WEBHOOKS_RETRY_SCHEDULE_SECONDS": json.dumps([0.5, 1.0] + [2.0] * 18),
    "PRM_WEBHOOKS_RETRY_JITTER": "0.1",
    "PRM_WEBHOOKS_TIMEOUT_SECONDS": "3",
    "PRM_WEBHOOKS_LEASE_SECONDS": "5",
    "PRM_RATE_LIMIT_PER_MINUTE": "100000000",
}


# -- the receiver ----------------------------------------------------------------------------

@dataclass
class Receipt:
    webhook_id: str
    event_id: str
    event_type: str
    received_at: float


@dataclass
class Receiver:
    """A Standard Webhooks receiver on 127.0.0.1 that can go down and come back on its port."""

    port: int = field(default_factory=free_port)
    secret: str | None = None
    # How long it takes to answer after accepting a request (a slow receiver keeps deliveries
    # in flight, so that a worker killed at any moment is killed in the middle of some).
    answer_after: float = 0.0
    receipts: list[Receipt] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a request was not accepted
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/prm"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.accept(body, {k.lower(): v for k, v in self.headers.items()})
                time.sleep(receiver.answer_after)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Down: the port refuses connections until ``start`` again."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accept(self, body: bytes, headers: dict[str, str]) -> int:
        if self.secret is None:
            with self.lock:
                self.refused.append("a request before the endpoint's secret was known")
            return 503
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            with self.lock:
                self.refused.append(f"signature: {exc} ({headers.get('webhook-id')})")
            return 400
        with self.lock:
            self.receipts.append(Receipt(headers["webhook-id"], payload.get("event_id", ""),
                                         payload.get("type", ""), time.time()))
        return 204

    def by_event(self) -> dict[str, set[str]]:
        """Each event id received, with the webhook-ids it came with."""
        seen: dict[str, set[str]] = defaultdict(set)
        with self.lock:
            for receipt in self.receipts:
                seen[receipt.event_id].add(receipt.webhook_id)
        return seen


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


# -- the stack -------------------------------------------------------------------------------

@pytest.fixture
def webhooks_stack(prm_infra) -> Iterator[tuple[RunningStack, str]]:
    """The whole stack with its own database and broker (so no other stack's workers share its
    consumer groups, and the broker can be killed)."""
    state_dir = Path(tempfile.mkdtemp(prefix="prm-"))
    try:
        with fresh_database(prm_infra.database_url, prefix="prm_webhooks") as database_url, \
                running_stack(state_dir, {
                    **WEBHOOK_ENV, "PRM_DATABASE_URL": database_url,
                    "PRM_KAFKA_BOOTSTRAP": None,
                    # The services the load and its checks touch (a start in half the time).
                    "PRM_STACK_ONLY": "gateway,partners,webhooks",
                    "PRM_INTERNAL_SECRET": prm_infra.internal_secret,
                    "PRM_GATEWAY_PORT": str(free_port())}) as stack:
            yield stack, database_url.replace("postgresql+asyncpg://", "postgresql://")
    finally:
        remove_data(state_dir / "pgdata")
        shutil.rmtree(state_dir, ignore_errors=True)


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float,
                   what: Callable[[], Awaitable[str]] | str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    detail = what if isinstance(what, str) else await what()
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {detail}")


async def register_endpoint(client: httpx.AsyncClient, headers: dict[str, str],
                            receiver: Receiver) -> str:
    created = await client.post("/v1/webhook-endpoints", headers=headers, json={
        "url": receiver.url, "description": "fault test receiver",
        "event_types": list(LIFECYCLE)})
    assert created.status_code == 201, created.text
    receiver.secret = created.json()["secret"]
    return str(created.json()["id"])


async def partner_changes(client: httpx.AsyncClient, headers: dict[str, str],
                          count: int = PARTNERS, pause: float = 0.02) -> None:
    """``count`` partners created and activated through the gateway, a steady stream."""
    for i in range(count):
        created = await client.post("/v1/partners", headers=headers, json={
            "name": f"Webhook Partner {i}", "type": "reseller", "country": "NL"})
        assert created.status_code == 201, created.text
        activated = await client.post(f"/v1/partners/{created.json()['id']}/activate",
                                      headers={**headers, "If-Match": created.headers["etag"]})
        assert activated.status_code == 200, activated.text
        await asyncio.sleep(pause)


async def committed_events(db: asyncpg.Connection) -> set[str]:
    rows = await db.fetch("SELECT event_id FROM partners.outbox "
                          "WHERE event_type = ANY($1::text[])",
                          [f"prm.{kind}.v1" for kind in LIFECYCLE])
    return {str(row["event_id"]) for row in rows}


async def all_delivered(db: asyncpg.Connection, receiver: Receiver) -> bool:
    expected = await committed_events(db)
    return len(expected) >= EVENTS and expected <= receiver.by_event().keys()


def diagnosis(db: asyncpg.Connection, stack: RunningStack, receiver: Receiver
              ) -> Callable[[], Awaitable[str]]:
    async def explain() -> str:
        expected = await committed_events(db)
        missing = expected - receiver.by_event().keys()
        deliveries = await db.fetch(
            "SELECT d.status, d.attempts, d.last_error, m.event_id, d.lease_until "
            "FROM webhooks.webhook_deliveries d JOIN webhooks.webhook_messages m "
            "ON m.id = d.message_id WHERE d.status <> 'succeeded' LIMIT 20")
        messages = await db.fetchval("SELECT count(*) FROM webhooks.webhook_messages")
        unpublished = await db.fetchval("SELECT count(*) FROM partners.outbox "
                                        "WHERE published_at IS NULL")
        log = stack.state_dir / "logs" / "webhooks-worker.log"
        tail = log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)"
        return "\n".join([
            f"every committed partner event delivered: {len(expected)} committed, "
            f"{len(receiver.by_event())} received, {len(missing)} missing, "
            f"{messages} webhook messages, {unpublished} partner events unpublished",
            f"refused by the receiver: {receiver.refused[:5]}",
            *(str(dict(row)) for row in deliveries),
            "--- webhooks worker log ---", tail])
    return explain


async def check_exactly_once_in_effect(db: asyncpg.Connection, receiver: Receiver) -> None:
    await asyncio.sleep(2)  # anything still in flight arrives, and must change nothing
    assert receiver.refused == [], receiver.refused[:5]
    expected = await committed_events(db)
    seen = receiver.by_event()
    assert len(expected) == EVENTS
    assert seen.keys() == expected, "only the partner events committed were delivered"
    several = {event: ids for event, ids in seen.items() if len(ids) != 1}
    assert several == {}, f"an event arrived under more than one webhook-id: {several}"
    # One message per event, one delivery each, every one settled as succeeded.
    assert await db.fetchval("SELECT count(*) FROM webhooks.webhook_messages") == EVENTS
    statuses = dict(await db.fetch("SELECT status, count(*) FROM webhooks.webhook_deliveries "
                                   "GROUP BY status"))
    assert statuses == {"succeeded": EVENTS}, statuses


# -- the tests -------------------------------------------------------------------------------

async def test_receiver_down_then_back_gets_every_event(webhooks_stack, receiver):
    stack, dsn = webhooks_stack
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    db = await asyncpg.connect(dsn)
    down_for = 6.0
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30,
                                     trust_env=False) as client:
            await register_endpoint(client, admin, receiver)

            async def outage() -> None:
                await wait_for(lambda: _at_least(receiver, EVENTS // 4), 60,
                               "a quarter of the events received before the outage")
                receiver.stop()
                await asyncio.sleep(down_for)
                receiver.start()

            await asyncio.gather(partner_changes(client, admin), outage())
        await wait_for(lambda: all_delivered(db, receiver), 90,
                       diagnosis(db, stack, receiver))
        await check_exactly_once_in_effect(db, receiver)
        # The outage was real: attempts failed while the receiver was down, then succeeded.
        failed = await db.fetchval("SELECT count(*) FROM webhooks.webhook_attempts "
                                   "WHERE outcome = 'failed'")
        assert failed > 0, "no attempt failed: the receiver's outage was not noticed"
        retried = await db.fetchval("SELECT count(*) FROM webhooks.webhook_deliveries "
                                    "WHERE attempts > 1")
        assert retried > 0
    finally:
        await db.close()


async def test_delivery_worker_killed_mid_stream_loses_nothing(webhooks_stack, receiver):
    stack, dsn = webhooks_stack
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    db = await asyncpg.connect(dsn)
    worker_pid = stack.pid("webhooks-worker")
    receiver.answer_after = 0.2  # four deliveries in flight at any moment of the stream
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30,
                                     trust_env=False) as client:
            await register_endpoint(client, admin, receiver)

            async def kill_worker_midway() -> None:
                await wait_for(lambda: _at_least(receiver, EVENTS // 3), 60,
                               "a third of the events received before the kill")
                stack.kill("webhooks-worker", signal.SIGKILL)

            await asyncio.gather(partner_changes(client, admin), kill_worker_midway())
        # Restarted before anything is judged (the stream may have been delivered already).
        await wait_for(lambda: _replaced(stack, "webhooks-worker", worker_pid), 60,
                       "the supervisor restarted the webhooks worker")
        await wait_for(lambda: all_delivered(db, receiver), 90,
                       diagnosis(db, stack, receiver))
        assert stack.pid("webhooks-worker") != worker_pid, \
            "the supervisor restarted the webhooks worker"
        assert stack.process.poll() is None
        await check_exactly_once_in_effect(db, receiver)
        # The kill landed on deliveries in flight: the receiver had them, the worker died
        # before recording that, and they came again (same webhook-id) once their lease ran
        # out.
        with receiver.lock:
            arrivals = len(receiver.receipts)
        assert arrivals > EVENTS, "no delivery was in flight when the worker was killed"
    finally:
        await db.close()


async def test_broker_killed_mid_stream_loses_no_webhook(webhooks_stack, receiver):
    stack, dsn = webhooks_stack
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    db = await asyncpg.connect(dsn)
    broker_pid = stack.pid("broker")
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30,
                                     trust_env=False) as client:
            await register_endpoint(client, admin, receiver)

            async def kill_broker_midway() -> None:
                await wait_for(lambda: _at_least(receiver, EVENTS // 3), 60,
                               "a third of the events received before the kill")
                stack.kill("broker", signal.SIGKILL)

            await asyncio.gather(partner_changes(client, admin), kill_broker_midway())
        # Restarted before anything is judged (the stream may have been delivered already).
        await wait_for(lambda: _replaced(stack, "broker", broker_pid), 60,
                       "the supervisor restarted the broker")
        await wait_for(lambda: all_delivered(db, receiver), 120,
                       diagnosis(db, stack, receiver))
        assert stack.pid("broker") != broker_pid, "the supervisor restarted the broker"
        assert stack.process.poll() is None
        assert "sending again the events it held" in stack.output()
        await check_exactly_once_in_effect(db, receiver)
    finally:
        await db.close()


async def _replaced(stack: RunningStack, name: str, pid: int) -> bool:
    return stack.pid(name) != pid


async def _at_least(receiver: Receiver, count: int) -> bool:
    return len(receiver.by_event()) >= count
