import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from prm_contracts import DealApprovedV1
from prm_events.consumer import EventConsumer, Part
from prm_events.envelope import CloudEvent, new_event
from prm_platform.db import make_engine, make_sessionmaker
from prm_stack.testing import migrate, partner_headers, rolled_back_client, vendor_headers
from prm_webhooks.config import SCHEMA, Settings
from prm_webhooks.delivery.dispatcher import Dispatcher
from prm_webhooks.delivery.fanout import BARRED_STATUSES, HANDLERS
from prm_webhooks.main import create_app
from prm_webhooks.worker import spec

SERVICE_DIR = Path(__file__).resolve().parents[1]
SCOPES = ("webhooks:read", "webhooks:write")


def fast_settings(**overrides) -> Settings:
    """Development settings (http and loopback targets) with a schedule measured in tenths of
    a second, so that retries happen within a test."""
    return Settings(**{"allow_http": True, "allow_loopback": True,
                       "retry_schedule_seconds": [0.1, 0.2, 0.2, 0.2], "retry_jitter": 0,
                       "timeout_seconds": 2, "lease_seconds": 5, "poll_seconds": 0.02,
                       **overrides})


@pytest.fixture(scope="session")
def app(prm_infra):
    migrate(SERVICE_DIR, prm_infra)
    return create_app(fast_settings())


@pytest.fixture(scope="session")
def strict_app(prm_infra, app):
    """Production's target rules (http allowed only so that the address is what decides)."""
    return create_app(Settings(allow_http=True))


@pytest.fixture(scope="session")
async def engine(prm_infra, app):
    engine = make_engine(prm_infra.database_url, SCHEMA)
    yield engine
    await engine.dispose()


@pytest.fixture
async def client(app, engine):
    async with rolled_back_client(app, engine) as client:
        yield client


@pytest.fixture
async def strict_client(strict_app, engine):
    async with rolled_back_client(strict_app, engine) as client:
        yield client


@pytest.fixture(scope="session")
def live_app(prm_infra, app):
    """An app whose requests commit for real, for tests where the dispatcher (its own
    sessions) must see what the API wrote."""
    return create_app(fast_settings())


@pytest.fixture
async def live(live_app, engine):
    transport = httpx.ASGITransport(app=live_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    async with engine.begin() as connection:
        await connection.execute(text(
            "TRUNCATE webhook_attempts, webhook_deliveries, webhook_messages, "
            "webhook_endpoint_secrets, webhook_endpoints, outbox, inbox, idempotency_keys"))


@pytest.fixture
def sessionmaker(engine):
    return make_sessionmaker(engine)


@pytest.fixture
def vendor(prm_infra):
    return vendor_headers(prm_infra.internal_secret, SCOPES)


@pytest.fixture
def as_partner(prm_infra):
    def headers(partner_id, scopes=SCOPES):
        return partner_headers(prm_infra.internal_secret, partner_id, scopes)
    return headers


@pytest.fixture
def consume(sessionmaker):
    """Applies events the way the worker's consumer does: inbox row and fan-out in one
    transaction."""
    consumer = EventConsumer("webhooks.deliveries", [], HANDLERS, sessionmaker,
                             producer=None)  # type: ignore[arg-type]  # no dead letters here

    async def apply(*events: CloudEvent) -> None:
        for event in events:
            await consumer.apply(event)
    return apply


@pytest.fixture
def consume_as_worker(sessionmaker):
    """Applies events as the worker's one consumer does: every subscription of its spec (the
    deliveries and the credentials, partner standing included) in one transaction."""
    parts = [Part(sub.name, tuple(sub.topics), sub.handlers)
             for sub in spec(fast_settings()).subscriptions]
    consumer = EventConsumer.shared("webhooks.events", parts, sessionmaker,
                                    producer=None)  # type: ignore[arg-type]

    async def apply(*events: CloudEvent) -> None:
        for event in events:
            await consumer.apply_batch([event])
    return apply


def build_deal_event(partner_id: uuid.UUID, deal_id: uuid.UUID | None = None,
                     version: int = 2) -> CloudEvent:
    deal_id = deal_id or uuid.uuid4()
    payload = DealApprovedV1(deal_id=deal_id, partner_id=partner_id, status="approved",
                             version=version, protected_until="2027-01-01")
    return new_event(payload, source="/prm/deals", subject=str(deal_id), partner_id=partner_id,
                     traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")


@pytest.fixture
async def dispatcher(sessionmaker):
    made: list[Dispatcher] = []

    def build(**overrides) -> Dispatcher:
        resolver = overrides.pop("resolver", None)
        kwargs = {"resolver": resolver} if resolver else {}
        made.append(Dispatcher(sessionmaker, fast_settings(**overrides), **kwargs))
        return made[-1]
    yield build
    for built in made:
        await built.drain(timeout=1)


async def pending(sessionmaker) -> int:
    async with sessionmaker() as session:
        return (await session.execute(text(
            "SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints e "
            "ON e.id = d.endpoint_id LEFT JOIN credential_partners s "
            "ON s.partner_id = e.partner_id WHERE d.status = 'pending' AND e.enabled "
            "AND (s.status IS NULL OR s.status <> ALL(CAST(:barred AS text[])))"),
            {"barred": BARRED_STATUSES})).scalar_one()


async def run_until_settled(dispatcher: Dispatcher, sessionmaker, deadline: float = 20.0
                            ) -> None:
    """Run the dispatcher until no delivery is pending (but those of disabled endpoints,
    which wait for it to be enabled again, and those of barred partners' endpoints, held
    until the partner is active again)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        await dispatcher.run_once()
        if dispatcher.in_flight:
            await asyncio.wait(set(dispatcher.in_flight), timeout=0.05)
        elif await pending(sessionmaker) == 0:
            return
        else:
            await asyncio.sleep(0.02)
    raise AssertionError("deliveries still pending")


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    at: float
    peer: int = 0  # the client's port: one per connection

    def json(self) -> dict:
        return json.loads(self.body)


Behaviour = Callable[["Receiver", Received], tuple[int, dict[str, str], bytes]]


def ok(receiver: "Receiver", request: Received) -> tuple[int, dict[str, str], bytes]:
    return 204, {}, b""


@dataclass
class Receiver:
    """A partner's receiver: a real HTTP server on a local port, in a thread."""

    behaviour: Behaviour = ok
    port: int = 0
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                request = Received({k.lower(): v for k, v in self.headers.items()},
                                   self.rfile.read(length), self.path, time.monotonic(),
                                   self.client_address[1])
                receiver.received.append(request)
                status, headers, body = receiver.behaviour(receiver, request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver():
    started: list[Receiver] = []

    def start(behaviour: Behaviour = ok, port: int = 0) -> Receiver:
        started.append(Receiver(behaviour=behaviour, port=port).start())
        return started[-1]
    yield start
    for r in started:
        r.stop()


async def new_endpoint(client, principal, url: str, **fields) -> dict:
    response = await client.post("/v1/webhook-endpoints", headers=principal,
                                 json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()


# Helpers as fixtures: test modules cannot import conftest (pytest's importlib mode).
@pytest.fixture
def create_endpoint():
    return new_endpoint


@pytest.fixture
def deal_event():
    return build_deal_event


@pytest.fixture
def settle(sessionmaker):
    async def run(dispatcher: Dispatcher, deadline: float = 20.0) -> None:
        await run_until_settled(dispatcher, sessionmaker, deadline)
    return run
