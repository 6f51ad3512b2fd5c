"""Metrics (PRM_TELEMETRY): the /metrics of every API and worker parses as Prometheus text and
moves when requests and events flow; requests are labelled by route template, never by path;
the edge never passes /metrics on; with telemetry off nothing is served.

The stack runs as processes (``python -m prm_stack run``: the gateway, the partners and the
webhooks services). An API key the gateway announces is applied by the partners worker; a
partner the partners API creates is published by its relay, applied by the gateway worker, and
delivered by the webhooks worker to a local receiver."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from prm_stack.launch import RunningStack, stack_in_fresh_database
from prm_stack.testing import Infra, eventually

pytestmark = pytest.mark.stack

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def stack(prm_infra: Infra) -> Iterator[RunningStack]:
    with stack_in_fresh_database(prm_infra.database_url, prm_infra.kafka_bootstrap,
                                 prm_infra.internal_secret, {
                                     # Its own broker: another stack's workers on the
                                     # session's broker share the consumer groups' names.
                                     "PRM_KAFKA_BOOTSTRAP": None,
                                     "PRM_STACK_ONLY": "gateway,partners,webhooks",
                                     "PRM_TELEMETRY": "true",
                                     # The receiver below is on loopback, over plain HTTP.
                                     "PRM_WEBHOOKS_ALLOW_HTTP": "true",
                                     "PRM_WEBHOOKS_ALLOW_LOOPBACK": "true"},
                                 prefix="prm-metrics-") as running:
        yield running


def scrape(stack: RunningStack, process: str) -> tuple[str, Samples]:
    """The process's /metrics, straight from its port, parsed (a parse error fails the test)."""
    answer = httpx.get(f"http://127.0.0.1:{stack.port(process)}/metrics", timeout=10,
                       trust_env=False)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return answer.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` that carry ``labels`` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def has(samples: Samples, name: str, **labels: str) -> bool:
    wanted = set(labels.items())
    return any(n == name and wanted <= found for n, found in samples)


def test_apis_count_requests_by_route_template(stack: RunningStack) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    _, before = scrape(stack, "partners-api")
    route = "/v1/partners/{partner_id}"
    with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False) as api:
        created = api.post("/v1/partners", headers=admin, json={
            "name": f"Metrics {uuid.uuid4().hex[:6]}", "type": "reseller", "country": "US"})
        assert created.status_code == 201, created.text
        partner_id = created.json()["id"]
        for _ in range(3):
            assert api.get(f"/v1/partners/{partner_id}", headers=admin).status_code == 200
        # Answered as a GET by a layer that copies the request: still its route's template.
        assert api.head(f"/v1/partners/{partner_id}", headers=admin).status_code == 200
        missing = str(uuid.uuid4())
        assert api.get(f"/v1/partners/{missing}", headers=admin).status_code == 404
        assert api.get(f"/v1/partners/{missing}/no-such-thing",
                       headers=admin).status_code == 404
        assert api.get("/v1/partners").status_code == 401  # refused by the edge middleware
    text, after = scrape(stack, "partners-api")

    requests = "prm_http_requests_total"
    assert value(after, requests, method="GET", route=route, status="200") \
        - value(before, requests, method="GET", route=route, status="200") == 3
    assert value(after, requests, method="GET", route=route, status="404") \
        - value(before, requests, method="GET", route=route, status="404") == 1
    assert value(after, requests, method="POST", route="/v1/partners", status="201") \
        - value(before, requests, method="POST", route="/v1/partners", status="201") == 1
    assert value(after, requests, method="GET", route="/v1/partners", status="401") \
        - value(before, requests, method="GET", route="/v1/partners", status="401") == 1
    assert value(after, requests, method="GET", route="unmatched", status="404") \
        - value(before, requests, method="GET", route="unmatched", status="404") == 1
    assert value(after, requests, method="HEAD", route=route, status="200") \
        - value(before, requests, method="HEAD", route=route, status="200") == 1
    assert value(after, "prm_http_request_duration_seconds_count", method="GET", route=route) \
        - value(before, "prm_http_request_duration_seconds_count", method="GET",
                route=route) == 4
    # Never a raw path: no id the requests named is a label anywhere.
    for named in (partner_id, missing):
        assert named not in text
    assert value(after, "prm_db_pool_connections", pool="partners", state="size") > 0
    assert has(after, "process_cpu_seconds_total")  # the process's own figures too


def test_idempotent_replays_are_counted(stack: RunningStack) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_key}",
             "Idempotency-Key": str(uuid.uuid4())}
    body = {"name": f"Replayed {uuid.uuid4().hex[:6]}", "type": "si", "country": "GB"}
    _, before = scrape(stack, "partners-api")
    with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False) as api:
        first = api.post("/v1/partners", headers=admin, json=body)
        again = api.post("/v1/partners", headers=admin, json=body)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    _, after = scrape(stack, "partners-api")
    assert value(after, "prm_idempotency_replays_total") \
        - value(before, "prm_idempotency_replays_total") == 1


def test_workers_count_what_they_publish_and_apply(stack: RunningStack) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    _, relay_before = scrape(stack, "partners-worker")
    _, consumer_before = scrape(stack, "gateway-worker")
    with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False) as api:
        created = api.post("/v1/partners", headers=admin, json={
            "name": f"Flowing {uuid.uuid4().hex[:6]}", "type": "reseller", "country": "US"})
        assert created.status_code == 201, created.text

    def published() -> Samples | None:
        _, now = scrape(stack, "partners-worker")
        total = "prm_outbox_published_events_total"
        return now if value(now, total) > value(relay_before, total) else None

    relay = eventually(published, "the partners relay counts the partner's event")
    # The gateway worker applies it (partner standing): its group's events and apply time.
    group = "gateway.events"

    def applied() -> Samples | None:
        _, now = scrape(stack, "gateway-worker")
        events = "prm_consumer_events_total"
        return now if value(now, events, group=group) > value(consumer_before, events,
                                                                group=group) else None

    consumer = eventually(applied, "the gateway worker counts the event it applied")
    assert value(consumer, "prm_consumer_apply_seconds_count", group=group) \
        > value(consumer_before, "prm_consumer_apply_seconds_count", group=group)
    assert value(consumer, "prm_consumer_event_delay_seconds_count", group=group) \
        > value(consumer_before, "prm_consumer_event_delay_seconds_count", group=group)
    # The partners worker applies the admin key's announcement with its own group (its
    # consumer may still be joining its group when the relay has already published).
    def announced() -> Samples | None:
        _, now = scrape(stack, "partners-worker")
        return now if value(now, "prm_consumer_events_total", group="partners.events") >= 1 \
            else None

    eventually(announced, "the partners worker counts the key's announcement it applied")

    # Sampled gauges: the backlog drains to nothing, lag is known per topic read.
    def drained() -> bool:
        _, now = scrape(stack, "partners-worker")
        return (has(now, "prm_outbox_backlog_events")
                and value(now, "prm_outbox_backlog_events") == 0
                and value(now, "prm_outbox_oldest_age_seconds") == 0
                and has(now, "prm_consumer_lag_messages", group="partners.events",
                        topic="prm.api-keys"))

    eventually(drained, "the partners outbox gauges say it drained")
    # The platform's purges ran once at start: each scheduler run is counted.
    assert value(relay, "prm_scheduler_runs_total", scheduled_job="purge-inbox",
                 outcome="ok") >= 1
    assert value(relay, "prm_db_pool_connections", pool="partners", state="size") > 0


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_webhook_attempts_and_queue_are_counted(stack: RunningStack) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    admin = {"Authorization": f"Bearer {stack.admin_key}"}
    try:
        _, before = scrape(stack, "webhooks-worker")
        with httpx.Client(base_url=stack.gateway_url, timeout=30, trust_env=False) as api:
            endpoint = api.post("/v1/webhook-endpoints", headers=admin, json={
                "url": f"http://127.0.0.1:{receiver.server_port}/hooks",
                "event_types": ["partner.*"]})
            assert endpoint.status_code == 201, endpoint.text
            created = api.post("/v1/partners", headers=admin, json={
                "name": f"Hooked {uuid.uuid4().hex[:6]}", "type": "reseller", "country": "US"})
            assert created.status_code == 201, created.text

        attempts = "prm_webhook_attempts_total"

        def delivered() -> Samples | None:
            _, now = scrape(stack, "webhooks-worker")
            return now if value(now, attempts, outcome="succeeded") \
                > value(before, attempts, outcome="succeeded") else None

        after = eventually(delivered, "the webhooks worker counts the delivery")
        assert value(after, attempts, outcome="failed") == value(before, attempts,
                                                                 outcome="failed")
        assert has(after, "prm_webhook_queue_deliveries", state="due")
        assert has(after, "prm_webhook_queue_deliveries", state="waiting")
    finally:
        receiver.shutdown()


def test_metrics_never_pass_through_the_edge(stack: RunningStack) -> None:
    through = httpx.get(f"{stack.gateway_url}/metrics", timeout=10, trust_env=False)
    assert through.status_code == 404
    assert through.headers["content-type"] == "application/problem+json"
    # A process asked through any proxy refuses too, whatever the edge in front of it.
    for process in ("gateway", "partners-api"):
        forwarded = httpx.get(f"http://127.0.0.1:{stack.port(process)}/metrics", timeout=10,
                              headers={"X-Forwarded-For": "203.0.113.7"}, trust_env=False)
        assert forwarded.status_code == 404, process
        assert forwarded.json()["type"] == "/problems/not-found"
    # The gateway's own /metrics answers from inside, and counts its proxying by template.
    _, gateway = scrape(stack, "gateway")
    assert has(gateway, "prm_http_requests_total")


async def test_with_telemetry_off_nothing_is_served(prm_infra: Infra) -> None:
    from prm_partners.config import Settings
    from prm_partners.main import create_app

    app = create_app(Settings(telemetry=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://partners") as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    await app.state.engine.dispose()


def test_make_run_gives_workers_a_metrics_port_only_with_telemetry(monkeypatch, tmp_path):
    from prm_stack.embedded import free_port
    from prm_stack.supervisor import Options, StackError, Supervisor, process_table

    table = process_table()
    workers = [p.name for p in table if p.kind == "worker"]
    options = Options(root=tmp_path, state_dir=tmp_path, gateway_port=free_port(),
                      api_workers=1, processes=table, migrated={}, start_timeout=60)
    monkeypatch.delenv("PRM_TELEMETRY", raising=False)
    assert [Supervisor(options).ports[name] for name in workers] == [None] * len(workers)
    monkeypatch.setenv("PRM_TELEMETRY", "true")
    ports = [Supervisor(options).ports[name] for name in workers]
    assert all(isinstance(port, int) for port in ports) and len(set(ports)) == len(workers)
    monkeypatch.setenv("PRM_TELEMETRY", "sometimes")
    with pytest.raises(StackError, match="PRM_TELEMETRY"):
        Supervisor(options)
