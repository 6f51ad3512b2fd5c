"""Traces (PRM_TELEMETRY, prm_platform.telemetry): one ``POST /v1/deals`` is one trace, from the
gateway's request through the deals service, its SQL and its outbox row, the relay's send to
the broker, every worker that applies the deal's event, to the webhook delivery to a
subscribed endpoint; and every log line is a JSON object naming the trace and the request.

The whole stack runs as processes (``python -m prm_stack run``), each exporting its spans over
OTLP/HTTP to a receiver this test runs (``prm_stack.testing.OtlpReceiver``)."""

from __future__ import annotations

import importlib
import json
import secrets
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from prm_contracts import DEALS_TOPIC
from prm_platform.declaration import services
from prm_stack.embedded import free_port
from prm_stack.launch import RunningStack, fresh_database, running_stack
from prm_stack.supervisor import LOG_HEADER
from prm_stack.testing import Infra, OtlpReceiver, ReceivedSpan, eventually

pytestmark = pytest.mark.stack

REGISTERED = "prm.deal.registered.v1"
DEAL = {
    "customer": {"name": "Initech Traces", "domain": "initech-traces.example", "country": "US"},
    "amount": {"amount": "42000.00", "currency": "USD"},
    "expected_close_date": "2031-06-30",
}


class Hooks:
    """A webhook receiver on 127.0.0.1 that answers 204 and keeps the headers it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hooks.received.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def stack(prm_infra: Infra, collector: OtlpReceiver) -> Iterator[RunningStack]:
    state_dir = Path(tempfile.mkdtemp(prefix="prm-traces-"))
    try:
        with fresh_database(prm_infra.database_url) as database_url, running_stack(state_dir, {
            "PRM_DATABASE_URL": database_url,
            "PRM_KAFKA_BOOTSTRAP": None,  # its own broker: no other stack's consumers
            "PRM_INTERNAL_SECRET": prm_infra.internal_secret,
            "PRM_GATEWAY_PORT": str(free_port()),
            "PRM_TELEMETRY": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": None,
            "PRM_WEBHOOKS_ALLOW_HTTP": "true",
            "PRM_WEBHOOKS_ALLOW_LOOPBACK": "true",
        }) as running:
            yield running
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def deal_consumers() -> set[str]:
    """The workers that apply a registration: of those that read the deals' topic (by the
    declarations), those with a handler for it (by their specs; the others skip it unread)."""
    return {f"{d.name}-worker" for d in services()
            if d.worker and DEALS_TOPIC in d.consumes
            and any(REGISTERED in sub.handlers
                    for sub in importlib.import_module(d.worker).spec().subscriptions
                    if DEALS_TOPIC in sub.topics)}


@pytest.fixture(scope="module")
def registration(stack: RunningStack, collector: OtlpReceiver
                 ) -> tuple[str, str, list[ReceivedSpan], Hooks]:
    """A deal registered through the gateway (called directly, so that its span is the trace's
    root) with a webhook endpoint subscribed: the trace id, the request id, the trace's spans
    once every consumer and the delivery are in it, and the webhook receiver."""
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    hooks = Hooks()
    gateway = f"http://127.0.0.1:{stack.port('gateway')}"
    with httpx.Client(base_url=gateway, timeout=30, trust_env=False) as api:
        endpoint = api.post("/v1/webhook-endpoints", headers=admin, json={
            "url": hooks.url, "event_types": ["deal.registered"]})
        assert endpoint.status_code == 201, endpoint.text
        partner = api.post("/v1/partners", headers=admin, json={
            "name": f"Traced {uuid.uuid4().hex[:6]}", "type": "reseller", "country": "US"})
        assert partner.status_code == 201, partner.text
        activated = api.post(f"/v1/partners/{partner.json()['id']}/activate", headers=admin)
        assert activated.status_code == 200, activated.text
        key = str(uuid.uuid4())

        def register() -> tuple[str, str] | None:
            """A registration in a trace of its own (the caller's traceparent: its span is
            not exported, so the gateway's is the trace's first), until the partner's events
            reached the deals service and it is accepted."""
            trace_id, request_id = secrets.token_hex(16), uuid.uuid4().hex
            answer = api.post("/v1/deals", json={**DEAL, "partner_id": partner.json()["id"]},
                              headers={**admin, "Idempotency-Key": key,
                                       "X-Request-Id": request_id,
                                       "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
            if answer.status_code == 422:
                return None
            assert answer.status_code == 201, answer.text
            return trace_id, request_id

        trace_id, request_id = eventually(register, "the partner became eligible")
    expected = deal_consumers()

    def complete() -> list[ReceivedSpan] | None:
        spans = collector.trace(trace_id)
        applied = {s.service for s in spans if s.name == f"apply {REGISTERED}"}
        delivered = [s for s in spans if s.name == "webhook delivery"]
        # Whole: a span may be sent before its parent (it ends first).
        ids = {s.span_id for s in spans}
        whole = sum(s.parent_id not in ids for s in spans) == 1
        return spans if expected <= applied and delivered and whole else None

    spans = eventually(complete, "every consumer's and the delivery's spans, all parents")
    return trace_id, request_id, spans, hooks


def is_query(span: ReceivedSpan) -> bool:
    return "postgresql" in (span.attributes.get("db.system"), span.attributes.get("db.system.name"))


def one(spans: list[ReceivedSpan], **match: str) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(s.service, s.name) for s in spans])
    return found[0]


def test_a_registration_is_one_trace_from_request_to_webhook(registration) -> None:
    trace_id, _, spans, hooks = registration
    by_id = {s.span_id: s for s in spans}

    def ancestors(span: ReceivedSpan) -> list[str]:
        chain = []
        while span.parent_id in by_id:
            span = by_id[span.parent_id]
            chain.append(f"{span.service}:{span.name}")
        return chain

    # One tree: every span's parent is in the trace, but the gateway's request (the caller's).
    roots = [s for s in spans if s.parent_id not in by_id]
    assert [(s.service, s.kind) for s in roots] == [("gateway", "SERVER")], roots
    # The gateway's call to the deals service, and the service's request under it.
    call = one([s for s in spans if not is_query(s)], service="gateway", kind="CLIENT")
    served = one(spans, service="deals", kind="SERVER")
    assert served.parent_id == call.span_id
    assert served.attributes.get("http.route") == "/v1/deals"
    # Its SQL, and the outbox row of the registration.
    queries = [s for s in spans if s.service == "deals" and is_query(s)]
    statements = [str(q.attributes.get("db.statement") or q.attributes.get("db.query.text"))
                  for q in queries if q.parent_id == served.span_id]
    assert any("INSERT INTO outbox" in statement for statement in statements), statements
    recorded = one(spans, service="deals", name=f"outbox {REGISTERED}")
    assert "deals:" + served.name in ancestors(recorded)
    # The relay's send, a child of the outbox row (not of the relay's loop).
    sent = one(spans, service="deals-worker", name=f"send {DEALS_TOPIC}",
               parent_id=recorded.span_id)
    assert sent.kind == "PRODUCER" and not sent.error
    # Each worker that reads the topic applied the event under that send.
    applied = [s for s in spans if s.name == f"apply {REGISTERED}"]
    assert {s.service for s in applied} == deal_consumers()
    for span in applied:
        assert span.kind == "CONSUMER" and not span.error
        assert f"deals-worker:send {DEALS_TOPIC}" in ancestors(span), ancestors(span)
    # The webhook delivery, under the webhooks worker's application of the event; the
    # receiver got no trace context of ours.
    delivery = one(spans, name="webhook delivery")
    assert delivery.service == "webhooks-worker" and not delivery.error
    assert delivery.attributes.get("http.response.status_code") == 204
    assert f"webhooks-worker:apply {REGISTERED}" in ancestors(delivery)
    assert hooks.received and not any("traceparent" in h for h in hooks.received)
    assert all(s.trace_id == trace_id for s in spans)


def test_log_lines_are_json_with_trace_and_request_ids(stack: RunningStack, registration
                                                       ) -> None:
    trace_id, request_id, spans, _ = registration
    lines = (stack.state_dir / "logs" / "gateway.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message", "service"} <= r.keys()
                           for r in records)
    # The gateway's access log line of the registration: its trace, its span, its request.
    mine = [r for r in records if r.get("request_id") == request_id]
    assert mine, records[-5:]
    assert {r["trace_id"] for r in mine} == {trace_id}
    gateway = one(spans, service="gateway", kind="SERVER")
    assert {r["span_id"] for r in mine} == {gateway.span_id}
    # And the other way round: the request spans name the request id.
    served = one(spans, service="deals", kind="SERVER")
    for span in (gateway, served):
        assert span.attributes.get("http.response.header.x_request_id") == (request_id,)
    # A worker's lines too: every line of the webhooks worker's log is a JSON object.
    worker = [line for line in (stack.state_dir / "logs" / "webhooks-worker.log").read_text()
              .splitlines() if line and not line.startswith(LOG_HEADER)]
    assert worker
    assert not [line for line in worker if not from_worker(line)], worker


def from_worker(line: str) -> bool:
    """A JSON log line of the webhooks worker."""
    try:
        return bool(json.loads(line)["service"] == "webhooks-worker")
    except (ValueError, KeyError, TypeError):
        return False
