"""What the stack tests with their own stack share: a stack of chosen services in a fresh
database on the session's PostgreSQL, with its own broker, whose webhooks may go to a
plain-HTTP loopback receiver (the session's shared stack refuses that, as it should); the
Standard Webhooks receiver; response helpers."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from prm_stack.embedded import free_port
from prm_stack.launch import RunningStack, fresh_database, running_stack
from prm_stack.testing import Infra

# The stack the delivering modules share (campaigns, health, leads, marketplace): the services
# each passes through, the intakes' signing secrets, health scored every second. Their
# records are their own (names, domains and ids tagged per run), so they pass on one stack.
DELIVERING_SERVICES = "gateway,partners,deals,incentives,attribution,webhooks,portal"
CAMPAIGN_SECRET = "whsec-campaign-stack"
MARKETPLACE_SECRET = "whsec-marketplace-stack"


@contextmanager
def own_stack(prm_infra: Infra, name: str, services: str, **env: str) -> Iterator[RunningStack]:
    """``services`` (the supervisor's PRM_STACK_ONLY) with ``env`` on top."""
    state_dir = Path(tempfile.mkdtemp(prefix=f"prm-{name}-"))
    try:
        with fresh_database(prm_infra.database_url, prefix=f"prm_{name}") as database_url, \
                running_stack(state_dir, {
                    "PRM_DATABASE_URL": database_url,
                    "PRM_KAFKA_BOOTSTRAP": None,
                    "PRM_INTERNAL_SECRET": prm_infra.internal_secret,
                    "PRM_GATEWAY_PORT": str(free_port()),
                    "PRM_STACK_ONLY": services,
                    "PRM_WEBHOOKS_ALLOW_HTTP": "true",
                    "PRM_WEBHOOKS_ALLOW_LOOPBACK": "true",
                    "PRM_WEBHOOKS_RETRY_SCHEDULE_SECONDS": json.dumps([0.5, 1.0] + [2.0] * 18),
                    "PRM_FAILED_AUTH_PER_MINUTE": "1000000", **env}) as running:
            yield running
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


class Receiver:
    """A Standard Webhooks receiver on 127.0.0.1: verifies each request's signature with the
    endpoint's secret (once known), keeps what it verified and why it refused the rest."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.received: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.accept(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leads"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def accept(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            if self.secret is None:
                self.refused.append("a request before the endpoint's secret was known")
                return 503  # retried later
            try:
                payload = Webhook(self.secret).verify(body, headers)
            except WebhookVerificationError as exc:
                self.refused.append(f"signature: {exc} ({headers.get('webhook-id')})")
                return 400
            self.received.append({**payload, "webhook-id": headers["webhook-id"]})
        return 204

    def of_lead(self, lead_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for p in self.received if p["data"].get("lead_id") == lead_id]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200, 201)), \
        f"{response.request.method} {response.request.url.path}: {response.status_code} " \
        f"{response.text}"
    body: dict[str, Any] = response.json()
    return body


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


def new_key(api: httpx.Client, admin: dict[str, str], name: str, scopes: list[str],
            partner_id: str | None = None) -> dict[str, str]:
    """A key issued through the gateway's API-key endpoint, as its Authorization header."""
    kind = {"kind": "partner", "partner_id": partner_id} if partner_id else {"kind": "vendor"}
    return bearer(ok(api.post("/v1/api-keys", headers=admin, json={
        "name": name, "scopes": scopes, **kind}), 201))
